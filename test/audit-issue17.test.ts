/**
 * Audit of issue 17 ("Delivery you can reason about"): promises of the issue that no other test
 * pinned exactly, against real `ws` servers on 127.0.0.1.
 */

import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { conn, fast, server } from "./helpers/harness.js";
import { until } from "./helpers/server.js";
import { stalledServer } from "./helpers/stalled-server.js";

/** Counts reads of `ws`'s `bufferedAmount` (the read a watched send costs) while `fn` runs. */
async function bufferedReads(fn: () => Promise<void> | void): Promise<number> {
  const proto = WebSocket.prototype as unknown as object;
  const desc = Object.getOwnPropertyDescriptor(proto, "bufferedAmount")!;
  let reads = 0;
  Object.defineProperty(proto, "bufferedAmount", {
    ...desc,
    get(this: WebSocket) {
      reads++;
      return desc.get!.call(this);
    },
  });
  try {
    await fn();
  } finally {
    Object.defineProperty(proto, "bufferedAmount", desc);
  }
  return reads;
}

describe("issue 17: an unused feature costs nothing on the hot path", () => {
  it('once the last "drain" listener is removed, sends no longer read the buffered amount (after the first, which stops the watch)', async () => {
    let got = 0;
    const s = await server({ onMessage: () => void got++ });
    const c = conn();
    await c.dial(s.url);
    const send100 = () => {
      for (let i = 0; i < 100; i++) c.send("x");
    };
    const unwatched = await bufferedReads(send100);
    const off = c.on("drain", () => {});
    const offOther = c.on("drain", () => {});
    const watched = await bufferedReads(send100);
    off();
    off(); // a second call removes nothing more
    const oneLeft = await bufferedReads(send100);
    offOther();
    // Let the flush reports asked for while watched come back.
    await until(() => got === 300, "the first 300 messages");
    const after = await bufferedReads(send100);
    await until(() => got === 400, "every message");
    expect(unwatched).toBe(0);
    expect(watched).toBeGreaterThanOrEqual(100);
    expect(oneLeft).toBeGreaterThanOrEqual(100);
    // The first send after the last listener left reads once and stops the watch.
    expect(after).toBeLessThanOrEqual(1);
  });
});

describe('issue 17: "drain" heard once at a time (the Node streams pattern)', () => {
  it("a producer that listens for one drain whenever the buffer is above highWaterMark sends everything, and pays nothing after", async () => {
    const s = await stalledServer();
    const KiB = 1024;
    const c = conn<Uint8Array, Uint8Array>({ lowWaterMark: 64 * KiB, highWaterMark: 256 * KiB });
    await c.dial(s.url);
    const piece = new Uint8Array(64 * KiB);
    let sent = 0;
    let waits = 0;
    setTimeout(() => s.resume(), 50); // the server reads only once the buffer has backed up
    while (sent < 8 * 1024 * KiB) {
      if (c.bufferedAmount > 256 * KiB) {
        waits++;
        await new Promise<void>((resolve) => {
          const off = c.on("drain", () => {
            off();
            resolve();
          });
        });
        expect(c.bufferedAmount).toBeLessThanOrEqual(64 * KiB);
      }
      c.send(piece);
      sent += piece.byteLength;
    }
    await until(() => s.bytes === sent, "every byte");
    expect(waits).toBeGreaterThanOrEqual(1);
    // Every listener removed itself: after at most one read, sends no longer read the buffered amount.
    const reads = await bufferedReads(() => {
      for (let i = 0; i < 100; i++) c.send(new Uint8Array(8));
    });
    expect(reads).toBeLessThanOrEqual(1);
  });
});

describe("issue 17: the promises no other test pinned exactly", () => {
  it("messages() holds 1024 messages by default (a WHATWG socket, which cannot pause, shows the bound): the 1025th overflows", async () => {
    // Node's ws pauses instead, a read's worth late, so the exact bound shows where it cannot.
    const push = (n: number) => (ws: import("ws").WebSocket) => {
      for (let i = 0; i < n; i++) ws.send(String(i));
    };
    for (const [count, overflows] of [
      [1024, false],
      [1025, true],
    ] as const) {
      const s = await server({ onConnection: push(count) });
      const c = conn({ WebSocket: WebSocket as never });
      const viaMessages = c.messages();
      const viaIterator = c[Symbol.asyncIterator]();
      await c.dial(s.url);
      await until(() => c.stats.messagesReceived === count, `${count} messages read`);
      await c.close();
      for (const it of [viaMessages, viaIterator]) {
        const got: number[] = [];
        let error: string | undefined;
        try {
          for await (const m of it) got.push(Number(m));
        } catch (e) {
          error = (e as { code?: string }).code;
        }
        expect(got).toEqual(Array.from({ length: 1024 }, (_, i) => i));
        expect(error).toBe(overflows ? "ERR_QUEUE_FULL" : undefined);
      }
    }
  });

  it('a volatile send while reconnecting returns "dropped" and never arrives; a plain one waits and does', async () => {
    const s = await server({ onMessage: () => {} });
    const errors: unknown[] = [];
    const c = conn({ reconnect: fast, onError: (e) => void errors.push(e.code) });
    await c.dial(s.url);
    await s.stop();
    await until(() => c.state === "reconnecting", "reconnecting");
    expect(c.send("stale", { volatile: true })).toBe("dropped");
    expect(c.send("plain")).toBe("queued");
    expect(c.stats.queuedMessages).toBe(1);
    await s.start();
    await until(() => c.state === "open", "the reconnect");
    expect(c.send("fresh", { volatile: true })).toBe("sent");
    await until(() => s.received.length === 2, "plain and fresh");
    expect(s.received).toEqual(["plain", "fresh"]);
    // The drop said nothing: only the drop of the first socket is reported.
    expect(errors.every((code) => code === "ERR_DISCONNECTED")).toBe(true);
  });
});
