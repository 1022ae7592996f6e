/**
 * Third adversarial review of the proxy path (issue 16), on real sockets: answers to `CONNECT`
 * as proxies write them (interim 1xx answers, a status code with a fourth digit, HTTP/1.0, the
 * target's refusal in the same packet as the 200, a 407 with a keep-alive body, a 101), a proxy
 * that asks for respite with 429 or 503 and `Retry-After`, `wss:` to a target name only the
 * proxy can resolve (SNI and the certificate are the target's), and credentials that need
 * percent-encoding, through proxy-chain, with the canary looked for in everything produced.
 */

import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { connect as netConnect } from "node:net";
import { inspect } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { WebSocketServer } from "ws";
import { CANARY, canaryHits } from "../chaos/canary.js";
import type { EvtWebSocketError, ReconnectingInfo } from "../src/index.js";
import { type Chain, mintChain, mintPathTooLong } from "./helpers/cert.js";
import { conn, fast, onCleanup, server } from "./helpers/harness.js";
import { type Behaviour, handProxy, proxyChain, type TestProxy, tinyproxy, tunnel } from "./helpers/proxy.js";
import { channelMessages } from "./helpers/secrets.js";
import { until } from "./helpers/server.js";
import { tlsEchoServer } from "./helpers/tls-server.js";
import { requireTools } from "./helpers/tools.js";
import { upgradeServer } from "./helpers/upgrade-server.js";

async function failure(p: Promise<unknown>): Promise<EvtWebSocketError> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: EvtWebSocketError) => e,
  );
}

/** A target name no resolver knows (RFC 6761 `.test`): only the proxy below can reach it. */
const TARGET_NAME = "wss-target.test";

let targetChain: Chain;
let ipOnlyChain: Chain;
beforeAll(async () => {
  targetChain = await mintChain(`DNS:${TARGET_NAME}`);
  ipOnlyChain = await mintChain("IP:127.0.0.1");
});
afterEach(() => {
  vi.unstubAllEnvs();
});
afterAll(() => {
  targetChain.remove();
  ipOnlyChain.remove();
});

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

describe("wss: through a tunnel to a name only the proxy resolves", () => {
  /** A CONNECT proxy that reaches every target name at 127.0.0.1 (as a proxy with its own DNS). */
  const resolvingProxy = () =>
    handProxy((_n, client, target) => {
      const up = netConnect({ host: "127.0.0.1", port: target.port });
      up.on("error", () => client.destroy());
      up.once("connect", () => {
        client.write("HTTP/1.1 200 Connection established\r\n\r\n");
        client.pipe(up);
        up.pipe(client);
        client.resume();
      });
      up.on("close", () => client.destroy());
      client.on("close", () => up.destroy());
    });

  it("SNI names the target and its certificate is verified for the target's name; the client never resolves it", async () => {
    const s = await tlsEchoServer({ cert: targetChain.serverCert, key: targetChain.serverKey });
    const proxy = await resolvingProxy();
    const c = conn({ proxy: proxy.url, reconnect: false, tls: { ca: targetChain.ca } });
    await c.dial(`wss://${TARGET_NAME}:${s.port}/`);
    expect(proxy.connects).toEqual([`${TARGET_NAME}:${s.port}`]);
    expect(s.servernames).toEqual([TARGET_NAME]);
    await c.close();
  });

  it("a certificate for the address the proxy reached (not the target's name): ERR_TLS_CERT_ALTNAME_INVALID, not retried", async () => {
    const s = await tlsEchoServer({ cert: ipOnlyChain.serverCert, key: ipOnlyChain.serverKey });
    const proxy = await resolvingProxy();
    const c = conn({ proxy: proxy.url, reconnect: fast, tls: { ca: ipOnlyChain.ca } });
    const error = await failure(c.dial(`wss://${TARGET_NAME}:${s.port}/`));
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect((error.cause as { code?: string }).code).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
    expect(proxy.connects).toHaveLength(1);
  });
});

/** A ws echo server on [::1], port 0, closed after the test; returns its port. */
async function ipv6Echo(): Promise<number> {
  const wss = new WebSocketServer({ host: "::1", port: 0 });
  await new Promise((r) => wss.once("listening", r));
  wss.on("connection", (ws) => ws.on("message", (d, binary) => ws.send(d, { binary })));
  onCleanup(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise((r) => wss.close(r));
  });
  return (wss.address() as AddressInfo).port;
}

/** Dials ws://[::1]:port through `proxy` and checks a request goes both ways and the CONNECT had brackets. */
async function throughToIpv6(port: number, proxy: TestProxy): Promise<void> {
  const c = conn({ proxy: proxy.url, reconnect: false, matchMsg: (a, b) => a === b });
  await c.dial(`ws://[::1]:${port}/`);
  expect(await c.request("v6", { timeoutMs: 5000 })).toBe("v6");
  expect(proxy.connects).toEqual([`[::1]:${port}`]);
  await c.close();
}

describe("an IPv6 target", () => {
  it("proxy-chain: CONNECT [::1]:port, the connection opens", async () => {
    const port = await ipv6Echo();
    await throughToIpv6(port, await proxyChain());
  });
});

describe("an IPv6 target through tinyproxy", requireTools("tinyproxy"), () => {
  it("tinyproxy: CONNECT [::1]:port, the connection opens", async () => {
    const port = await ipv6Echo();
    await throughToIpv6(port, await tinyproxy([port]));
  });
});

describe("tinyproxy's own BasicAuth, an independent 407", requireTools("tinyproxy"), () => {
  // tinyproxy's config takes letters, digits and a few marks only; %2D is a needless encoding of "-".
  const user = "ops";
  const password = "s3cr3t-Pass";

  it("percent-encoded credentials open the tunnel; none get its 407 (with a body): proxyStatus 407, not retried; wrong ones get its 401", async () => {
    const s = await server();
    const proxy = await tinyproxy([Number(new URL(s.url).port)], { user, password });
    const c = conn({ proxy: `http://${user}:s3cr3t%2DPass@127.0.0.1:${proxy.port}`, reconnect: false });
    await c.dial(s.url);
    expect(c.state).toBe("open");
    await c.close();
    const none = conn({ proxy: proxy.url, reconnect: fast });
    const error = await failure(none.dial(s.url));
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect(error.details).toEqual({ proxyStatus: 407 });
    // tinyproxy 1.11 answers wrong credentials with 401 and WWW-Authenticate, not 407.
    const wrong = conn({ proxy: `http://${user}:nope@127.0.0.1:${proxy.port}`, reconnect: false });
    expect((await failure(wrong.dial(s.url))).details).toEqual({ proxyStatus: 401 });
    expect(proxy.connects).toHaveLength(3);
    expect(s.connections).toBe(1);
  });
});

describe("certificates that fail verification in ways a retry cannot fix: not retried, direct or through a tunnel", () => {
  /** The server certificate and the CA to trust, for each way to fail. */
  const misissued = {
    // A certificate for clients only (extendedKeyUsage=clientAuth) served as a server's.
    INVALID_PURPOSE: async () => ({
      cert: readFileSync(targetChain.files.clientCert, "utf8"),
      key: readFileSync(targetChain.files.clientKey, "utf8"),
      ca: targetChain.ca,
    }),
    // Signed by an intermediate CA whose root allows none (pathlen:0).
    PATH_LENGTH_EXCEEDED: async () => {
      const minted = await mintPathTooLong();
      onCleanup(async () => minted.remove());
      return minted;
    },
  };

  it.each([
    ["INVALID_PURPOSE", "direct"],
    ["INVALID_PURPOSE", "proxy"],
    ["PATH_LENGTH_EXCEEDED", "direct"],
    ["PATH_LENGTH_EXCEEDED", "proxy"],
  ] as const)(
    "%s, %s: ERR_DIAL_FAILED with the TLS error as cause, one attempt only",
    async (code, route) => {
      const { cert, key, ca } = await misissued[code]();
      const s = await tlsEchoServer({ cert, key });
      const proxy = await proxyChain();
      const c = conn({
        reconnect: { ...fast, maxAttempts: 2 },
        tls: { ca },
        ...(route === "proxy" ? { proxy: proxy.url } : {}),
      });
      const error = await failure(c.dial(s.url));
      expect(error.code).toBe("ERR_DIAL_FAILED");
      expect((error.cause as { code?: string }).code).toBe(code);
      expect(s.servernames).toHaveLength(0); // no handshake finished
      expect(proxy.connects).toHaveLength(route === "proxy" ? 1 : 0);
    },
  );
});

describe("credentials in the proxy URL", () => {
  it("go to the proxy only: the server's upgrade request has no Proxy-Authorization", async () => {
    const s = await upgradeServer(() => undefined);
    const proxy = await proxyChain({ user: "user", password: CANARY });
    const c = conn({ proxy: `http://user:${CANARY}@127.0.0.1:${proxy.port}`, reconnect: false });
    await c.dial(s.url);
    expect(s.arrivals).toHaveLength(1);
    expect(s.arrivals[0]!.headers["proxy-authorization"]).toBeUndefined();
    expect(canaryHits(s.arrivals[0]!.headers)).toEqual([]);
    await c.close();
  });

  it("a user name and password with @ : / # % percent-encoded reach the proxy decoded", async () => {
    const s = await server();
    const user = "ops@corp";
    const password = `${CANARY}:p@ss/#%`;
    const proxy = await proxyChain({ user, password });
    const c = conn({
      proxy: `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${proxy.port}`,
      reconnect: false,
    });
    await c.dial(s.url);
    expect(c.state).toBe("open");
    await c.close();
  });

  it.each([
    ["user:@", "an empty password"],
    ["user@", "no password"],
  ])("%s (%s): the proxy gets the user and an empty password", async (userinfo) => {
    const s = await server();
    const proxy = await proxyChain({ user: "user", password: "" });
    const c = conn({ proxy: `http://${userinfo}127.0.0.1:${proxy.port}`, reconnect: false });
    await c.dial(s.url);
    expect(c.state).toBe("open");
    await c.close();
  });

  it("percent-encoded credentials, refused (407), or read from HTTPS_PROXY: never in an error, event, log line or channel payload, encoded, decoded or in base64", async () => {
    const user = `u${CANARY}`;
    const password = `${CANARY}@/#`;
    const encoded = `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
    const forms = [
      CANARY,
      encodeURIComponent(password),
      Buffer.from(`${user}:${password}`).toString("base64"),
      Buffer.from(`${user}:${password}`).toString("base64url"),
    ];
    const hits = (v: unknown) => {
      const text = inspect(v, { depth: 12, showHidden: true });
      return [...canaryHits(v), ...forms.filter((f) => text.includes(f))];
    };
    const produced = channelMessages();
    const lines: string[] = [];
    const log = (line: string) => void lines.push(line);
    const logger = { debug: log, info: log, warn: log, error: log };
    const s = await upgradeServer(() => undefined);
    // 1: refused credentials (407), retried once as shouldReconnect says.
    const refusing = await proxyChain({ user, password: "other" });
    const c1 = conn({
      proxy: `http://${encoded}@127.0.0.1:${refusing.port}`,
      reconnect: { ...fast, maxAttempts: 1, shouldReconnect: () => true },
      logger,
    });
    for (const event of ["error", "close", "reconnecting", "state"] as const)
      c1.on(event, (payload: unknown) => void produced.push(payload));
    produced.push(await failure(c1.dial(s.url)));
    expect(refusing.connects).toHaveLength(2);
    // 2: the same credentials from HTTPS_PROXY for wss:, to a proxy port that refuses TCP.
    const gone = await proxyChain();
    const gonePort = gone.port;
    await gone.close();
    vi.stubEnv("https_proxy", "");
    vi.stubEnv("no_proxy", "");
    vi.stubEnv("NO_PROXY", "");
    vi.stubEnv("HTTPS_PROXY", `http://${encoded}@127.0.0.1:${gonePort}`);
    const c2 = conn({ proxy: "env", reconnect: false, logger });
    for (const event of ["error", "close", "state"] as const)
      c2.on(event, (payload: unknown) => void produced.push(payload));
    produced.push(await failure(c2.dial("wss://127.0.0.1:9/")));
    expect(lines.length).toBeGreaterThan(2);
    expect(produced.length).toBeGreaterThan(5);
    expect(hits(lines)).toEqual([]);
    expect(hits(produced)).toEqual([]);
  });
});
