/**
 * How the client reads a proxy's answer to CONNECT, on real sockets with a hand-made proxy that
 * writes the answer the test chose: answers that are not HTTP, too big, cut short or followed
 * by a hang-up. Each failure is one failed attempt under the retry rules, and the proxy's
 * socket is closed.
 */

import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import type { EvtWebSocketError } from "../src/index.js";
import { conn, fast, uncaughtExceptions } from "./helpers/harness.js";
import { handProxy } from "./helpers/proxy.js";
import { until } from "./helpers/server.js";

async function failure(p: Promise<unknown>): Promise<EvtWebSocketError> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: EvtWebSocketError) => e,
  );
}

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
