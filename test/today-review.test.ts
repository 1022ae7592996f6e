/**
 * Adversarial review of the tenth pass's fixes (today-review), on real sockets: a "drain"
 * listener added above highWaterMark (twice, then close()), interim 1xx answers
 * to CONNECT as a proxy may write them (split across packets, with headers, over 16 KiB in all).
 */

import { describe, expect, it } from "vitest";
import type { WebSocket as ServerSocket } from "ws";
import type { EvtWebSocketError } from "../src/index.js";
import { conn, server, sleep } from "./helpers/harness.js";
import { type Behaviour, handProxy } from "./helpers/proxy.js";
import { until } from "./helpers/server.js";

async function failure(p: Promise<unknown>): Promise<EvtWebSocketError> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: EvtWebSocketError) => e,
  );
}

/** A server whose sockets stop reading until resume(): the client's buffer grows. */
async function held() {
  const sockets: ServerSocket[] = [];
  const s = await server({
    onConnection: (ws) => {
      sockets.push(ws);
      ws.pause();
    },
    onMessage: () => {},
  });
  return {
    url: s.url,
    sockets,
    resume: () => {
      for (const ws of sockets) ws.resume();
    },
  };
}

const fill = (c: { send(b: Uint8Array): unknown; bufferedAmount: number }, bytes: number) => {
  while (c.bufferedAmount <= bytes) c.send(new Uint8Array(64 * 1024));
};

const marks = { lowWaterMark: 64 * 1024, highWaterMark: 1024 * 1024 };

describe('a "drain" listener added while the buffer is above highWaterMark', () => {
  it("two listeners added above the mark: one drain, each hears it once", async () => {
    const s = await held();
    const c = conn<Uint8Array, Uint8Array>({ ...marks, reconnect: false });
    await c.dial(s.url);
    fill(c, 4 * 1024 * 1024);
    let a = 0;
    let b = 0;
    c.on("drain", () => a++);
    c.on("drain", () => b++);
    s.resume();
    await c.drained();
    await until(() => a === 1, "the drain");
    await sleep(50);
    expect([a, b]).toEqual([1, 1]);
  });

  it("close() before the buffer falls: no drain once close() has settled", async () => {
    const s = await held();
    const c = conn<Uint8Array, Uint8Array>({ ...marks, reconnect: false });
    await c.dial(s.url);
    fill(c, 4 * 1024 * 1024);
    const drains: string[] = [];
    c.on("drain", () => drains.push(c.state));
    const closing = c.close();
    s.resume();
    await closing;
    const atClose = drains.length;
    await sleep(50);
    expect(drains.length).toBe(atClose);
  });
});

/** The normal tunnel, its answer written in `parts`, each in its own TCP write some ms apart. */
const slowTunnel =
  (...parts: string[]): Behaviour =>
  (_n, client, _target, open) => {
    const up = open();
    up.once("connect", async () => {
      for (const part of parts) {
        client.write(part);
        await sleep(15);
      }
      client.pipe(up);
      up.pipe(client);
      client.resume();
    });
    up.on("close", () => client.destroy());
    client.on("close", () => up.destroy());
  };

describe("interim answers to CONNECT", () => {
  it("a 103 with headers split across packets mid-line, then 'HTTP/1.1 200' with bare LFs and no reason: the tunnel opens", async () => {
    const s = await server();
    const proxy = await handProxy(
      slowTunnel("HTTP/1.1 10", "3 Early Hints\r\nLink: </a>\r\n", "\r", "\nHTTP/1.1 200\n", "\n"),
    );
    const c = conn({ proxy: proxy.url, reconnect: false, matchMsg: (a, b) => a === b });
    await c.dial(s.url);
    expect(await c.request("through", { timeoutMs: 5000 })).toBe("through");
    await c.close();
  });

  it("interim answers of 20 KiB in all, in separate packets: oversized (16 KiB counts across them)", async () => {
    const s = await server();
    const one = `HTTP/1.1 102 Processing\r\nX-Pad: ${"p".repeat(1000)}\r\n\r\n`;
    const proxy = await handProxy(slowTunnel(...Array.from({ length: 20 }, () => one)));
    const c = conn({ proxy: proxy.url, reconnect: false });
    const error = await failure(c.dial(s.url));
    expect(error.message + String((error.cause as Error | undefined)?.message)).toContain("oversized");
  });
});
