/**
 * How the client reads a proxy's answer to CONNECT, on real sockets with a hand-made proxy that
 * writes the answer the test chose: answers as proxies write them (interim 1xx answers, a
 * status code with a fourth digit, HTTP/1.0, the target's refusal in the same packet as the
 * 200, a 407 with a keep-alive body, a 101), answers that are not HTTP, too big, cut short or
 * followed by a hang-up, and a proxy's 429 or 503 with Retry-After. Each failure is one failed
 * attempt under the retry rules, and the proxy's socket is closed.
 */

import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EvtWebSocketError, ReconnectingInfo } from "../src/index.js";
import { type Chain, mintChain } from "./helpers/cert.js";
import { conn, fast, server, uncaughtExceptions } from "./helpers/harness.js";
import { type Behaviour, handProxy, tunnel } from "./helpers/proxy.js";
import { until } from "./helpers/server.js";
import { tlsEchoServer } from "./helpers/tls-server.js";

let ipOnlyChain: Chain;
beforeAll(async () => {
  ipOnlyChain = await mintChain("IP:127.0.0.1");
});
afterAll(() => {
  ipOnlyChain.remove();
});

async function failure(p: Promise<unknown>): Promise<EvtWebSocketError> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: EvtWebSocketError) => e,
  );
}

/**
 * The normal tunnel, with `answer` written instead of a plain 200 once the target is reached
 * (`answer` may hold several HTTP answers, or be written in pieces: `parts`).
 */
const tunnelWith =
  (...parts: string[]): Behaviour =>
  (_n, client, _target, open) => {
    const up = open();
    up.once("connect", () => {
      for (const part of parts) client.write(part);
      client.pipe(up);
      up.pipe(client);
      client.resume();
    });
    up.on("close", () => client.destroy());
    client.on("close", () => up.destroy());
  };

/** Answers every CONNECT with `answer` and keeps the connection open (reads on, as a keep-alive proxy). */
const answerWith =
  (answer: string): Behaviour =>
  (_n, client) => {
    client.resume();
    client.write(answer);
  };

describe("a proxy's answer that is not the whole story", () => {
  it("close() while the proxy's answer is half read: ERR_CLOSED, the proxy's socket closed", async () => {
    const proxy = await handProxy((_n, client) => {
      client.resume();
      client.write("HTTP/1.1 200 Conn");
    });
    const c = conn({ proxy: proxy.url, connectTimeoutMs: Infinity });
    const dialed = failure(c.dial("ws://127.0.0.1:9/"));
    await until(() => proxy.connects.length === 1, "CONNECT arrived");
    // Give the half answer time to be read.
    await new Promise((r) => setTimeout(r, 50));
    await c.close();
    expect((await dialed).code).toBe("ERR_CLOSED");
    await until(() => proxy.openClients() === 0, "the proxy's socket closed");
  });

  it.each(["ws", "wss"] as const)(
    "%s: 200, then the proxy hangs up before the handshake: each a failed attempt under the retry rules, every socket closed",
    async (scheme) => {
      const uncaught = uncaughtExceptions();
      const proxy = await handProxy((_n, client) => {
        client.resume(); // reads on, so it sees the client's end
        client.end("HTTP/1.1 200 OK\r\n\r\n");
      });
      const errors: EvtWebSocketError[] = [];
      const c = conn({
        proxy: proxy.url,
        reconnect: { ...fast, maxAttempts: 2 },
        onError: (e) => void errors.push(e),
      });
      const error = await failure(c.dial(`${scheme}://127.0.0.1:9/`));
      expect(error.code).toBe("ERR_RECONNECT_EXHAUSTED");
      expect(proxy.connects).toHaveLength(3);
      expect((error.cause as EvtWebSocketError).code).toBe("ERR_DIAL_FAILED");
      await until(() => proxy.openClients() === 0, "every proxy socket closed");
      expect(uncaught).toEqual([]);
    },
  );
});

describe("a proxy whose answer to CONNECT is not HTTP, too big, or missing", () => {
  it.each([
    [
      "hangs up without a word",
      (c: Socket): void => void c.end(),
      "closed the connection before answering CONNECT",
    ],
    [
      "hangs up after half a status line",
      (c: Socket): void => void c.end("HTTP/1.1 20"),
      "closed the connection before answering CONNECT",
    ],
    [
      "answers with something that is not HTTP",
      (c: Socket): void => void c.write("SSH-2.0-OpenSSH_9.6\r\n\r\n"),
      "did not answer CONNECT with HTTP",
    ],
    [
      "sends 17 KiB of header without a blank line",
      (c: Socket): void => void c.write(`HTTP/1.1 200 OK\r\nX: ${"a".repeat(17 * 1024)}`),
      "sent an oversized answer",
    ],
    ["resets the connection", (c: Socket): void => void c.resetAndDestroy(), "failed: read ECONNRESET"],
  ] as const)(
    "%s: ERR_DIAL_FAILED saying so, one failed attempt, the proxy's socket closed",
    async (_what, answer, says) => {
      const uncaught = uncaughtExceptions();
      const proxy = await handProxy((_n, client) => {
        client.resume();
        answer(client);
      });
      const c = conn({ proxy: proxy.url, reconnect: false });
      const error = await failure(c.dial("ws://127.0.0.1:9/"));
      expect(error.code).toBe("ERR_DIAL_FAILED");
      expect(error.message).toContain(says);
      expect(error.details).toEqual({});
      expect(proxy.connects).toHaveLength(1);
      await until(() => proxy.openClients() === 0, "the proxy's socket closed");
      expect(uncaught).toEqual([]);
    },
  );
});

describe("answers to CONNECT as proxies write them", () => {
  it.each(["ws", "wss"] as const)(
    "%s: an interim answer (100 Continue, then 102) before the 200: the tunnel opens (RFC 9110 15.2: a client reads past 1xx)",
    async (scheme) => {
      const s =
        scheme === "wss"
          ? await tlsEchoServer({ cert: ipOnlyChain.serverCert, key: ipOnlyChain.serverKey })
          : await server();
      const proxy = await handProxy(
        tunnelWith(
          "HTTP/1.1 100 Continue\r\n\r\n",
          "HTTP/1.1 102 Processing\r\nX-Note: wait\r\n\r\nHTTP/1.1 200 Connection established\r\nProxy-Agent: hand\r\n\r\n",
        ),
      );
      const c = conn({
        proxy: proxy.url,
        reconnect: false,
        ...(scheme === "wss" ? { tls: { ca: ipOnlyChain.ca } } : {}),
        matchMsg: (a, b) => a === b,
      });
      await c.dial(s.url);
      expect(await c.request("through", { timeoutMs: 5000 })).toBe("through");
      await c.close();
      await until(() => proxy.openClients() === 0, "the proxy's socket closed");
    },
  );

  it("a status code with a fourth digit (HTTP/1.1 2000) is not a 200: ERR_DIAL_FAILED (not HTTP), not a wait for a handshake that never comes", async () => {
    const proxy = await handProxy(answerWith("HTTP/1.1 2000 OK\r\n\r\n"));
    const c = conn({ proxy: proxy.url, connectTimeoutMs: 3000, reconnect: false });
    const error = await failure(c.dial("ws://127.0.0.1:9/"));
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect(error.message).toContain("did not answer CONNECT with HTTP");
    await until(() => proxy.openClients() === 0, "the proxy's socket closed");
  });

  it("an interim answer that never ends is bounded as one answer is: oversized, the socket closed", async () => {
    const proxy = await handProxy(answerWith("HTTP/1.1 100 Continue\r\n\r\n".repeat(1000)));
    const c = conn({ proxy: proxy.url, connectTimeoutMs: 5000, reconnect: false });
    const error = await failure(c.dial("ws://127.0.0.1:9/"));
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect(error.message).toContain("oversized");
    await until(() => proxy.openClients() === 0, "the proxy's socket closed");
  });

  it("HTTP/1.0 200 with extra headers: the tunnel opens", async () => {
    const s = await server();
    const proxy = await handProxy(
      tunnelWith("HTTP/1.0 200 Connection established\r\nProxy-agent: Apache/2.4\r\nVia: 1.0 hand\r\n\r\n"),
    );
    const c = conn({ proxy: proxy.url, reconnect: false });
    await c.dial(s.url);
    expect(c.state).toBe("open");
    // The proxy's headers are the proxy's: conn.handshake describes the server's 101 only.
    expect(c.handshake?.headers).toEqual({});
    await c.close();
  });

  it("the target's 503 in the same packet as the 200: read as the target's answer (details.status, its Retry-After), not the proxy's", async () => {
    const proxy = await handProxy(
      answerWith(
        "HTTP/1.1 200 OK\r\nProxy-Agent: hand\r\n\r\nHTTP/1.1 503 Busy\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n",
      ),
    );
    const waits: ReconnectingInfo[] = [];
    const c = conn({
      proxy: proxy.url,
      reconnect: { ...fast, maxAttempts: 1 },
      onReconnecting: (i) => void waits.push(i),
    });
    const error = await failure(c.dial("ws://127.0.0.1:9/"));
    const cause = error.cause as EvtWebSocketError;
    expect(cause.code).toBe("ERR_DIAL_FAILED");
    expect(cause.details).toEqual({ status: 503 });
    expect(waits.map((w) => w.serverDelayMs)).toEqual([0]);
    await until(() => proxy.openClients() === 0, "the proxy's sockets closed");
  });

  it("407 with Proxy-Authenticate, keep-alive and a chunked body: proxyStatus 407, not retried, the proxy's socket closed by the client", async () => {
    const proxy = await handProxy(
      answerWith(
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="corp"\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\ndenied\r\n',
      ),
    );
    const c = conn({ proxy: proxy.url, reconnect: fast });
    const error = await failure(c.dial("ws://127.0.0.1:9/"));
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect(error.details).toEqual({ proxyStatus: 407 });
    expect(proxy.connects).toHaveLength(1);
    await until(() => proxy.openClients() === 0, "the proxy's socket closed");
  });

  it("a proxy answering 101 itself: no tunnel (proxyStatus 101)", async () => {
    const proxy = await handProxy(
      answerWith("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
    );
    const c = conn({ proxy: proxy.url, reconnect: false });
    const error = await failure(c.dial("ws://127.0.0.1:9/"));
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect(error.details).toEqual({ proxyStatus: 101 });
    await until(() => proxy.openClients() === 0, "the proxy's socket closed");
  });
});

describe("a proxy that asks for respite: 429 or 503 with Retry-After", () => {
  it.each([503, 429])(
    "the proxy's %i with Retry-After: 1: serverDelayMs 1000, the next CONNECT at least 1 s later (measured on the proxy), beyond maxDelayMs as for a server",
    async (status) => {
      const s = await server();
      const at: number[] = [];
      const proxy = await handProxy((n, client, target, open) => {
        at.push(performance.now());
        if (n === 0)
          answerWith(`HTTP/1.1 ${status} Busy\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n`)(
            n,
            client,
            target,
            open,
          );
        else tunnel(n, client, target, open);
      });
      const waits: ReconnectingInfo[] = [];
      const c = conn({ proxy: proxy.url, reconnect: fast, onReconnecting: (i) => void waits.push(i) });
      await c.dial(s.url);
      expect(waits).toHaveLength(1);
      expect(waits[0]!.serverDelayMs).toBe(1000);
      expect((waits[0]!.error as EvtWebSocketError).details).toEqual({ proxyStatus: status });
      expect(at).toHaveLength(2);
      expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(1000);
      await c.close();
    },
  );

  it("the proxy's 502 with Retry-After is not a wait the server set (only 429 and 503 are, as for a server)", async () => {
    const proxy = await handProxy(
      answerWith("HTTP/1.1 502 Bad Gateway\r\nRetry-After: 600\r\nContent-Length: 0\r\n\r\n"),
    );
    const waits: ReconnectingInfo[] = [];
    const c = conn({
      proxy: proxy.url,
      reconnect: { ...fast, maxAttempts: 1 },
      onReconnecting: (i) => void waits.push(i),
    });
    await failure(c.dial("ws://127.0.0.1:9/"));
    expect(waits).toHaveLength(1);
    expect(waits[0]!.serverDelayMs).toBeUndefined();
    expect(proxy.connects).toHaveLength(2);
  });
});
