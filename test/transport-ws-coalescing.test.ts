/**
 * Write coalescing in the `ws` transport, observed on the real TCP socket: the frames sent in
 * one tick leave in few writes (a flush every 64 frames or 64 KiB), a lone message still leaves
 * in the same tick, and order is kept. The socket's `_write`/`_writev` are wrapped to count the
 * writes that reach it (they still run); the server is a real `ws` server on 127.0.0.1.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { conn, server } from "./helpers/harness.js";
import { until } from "./helpers/server.js";

type Proto = { _write: (...a: unknown[]) => unknown; _writev: (...a: unknown[]) => unknown };
const proto = net.Socket.prototype as unknown as Proto;
const original = { _write: proto._write, _writev: proto._writev };

/** Counts writes (one per `_write` or `_writev` call) made by sockets to `port`. */
function countWrites(port: number): { writes: number; frames: number[] } {
  const seen = { writes: 0, frames: [] as number[] };
  proto._write = function (this: net.Socket, ...args: unknown[]) {
    if (this.remotePort === port) {
      seen.writes++;
      seen.frames.push(1);
    }
    return original._write.apply(this, args);
  };
  proto._writev = function (this: net.Socket, ...args: unknown[]) {
    if (this.remotePort === port) {
      seen.writes++;
      seen.frames.push((args[0] as unknown[]).length);
    }
    return original._writev.apply(this, args);
  };
  return seen;
}

afterEach(() => {
  proto._write = original._write;
  proto._writev = original._writev;
});

describe("write coalescing (ws transport)", () => {
  it("200 small messages sent in one tick leave in 4 writes (64 frames each, then the end of the tick), in order", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn();
    await c.dial(s.url);
    const seen = countWrites(Number(new URL(s.url).port));
    for (let i = 0; i < 200; i++) c.send(`m${i}`);
    await until(() => s.received.length === 200, "200 messages");
    expect(seen.writes).toBe(4);
    expect(s.received).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
  });

  it("a lone message leaves in the same tick: written before the next macrotask", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn();
    await c.dial(s.url);
    const seen = countWrites(Number(new URL(s.url).port));
    c.send("alone");
    expect(seen.writes).toBe(0); // corked while the tick runs
    const atNextTick = await new Promise<number>((r) => process.nextTick(() => r(seen.writes)));
    expect(atNextTick).toBe(1);
    await until(() => s.received.length === 1, "the message");
    expect(s.received).toEqual(["alone"]);
  });

  it("large messages are flushed as they come, not held until the tick ends", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn();
    await c.dial(s.url);
    const seen = countWrites(Number(new URL(s.url).port));
    const big = "y".repeat(100 * 1024);
    for (let i = 0; i < 5; i++) {
      c.send(`${i}${big}`);
      expect(seen.writes).toBe(i + 1); // each one over 64 KiB: written at once
    }
    await until(() => s.received.length === 5, "five large messages");
    expect(s.received.map((m) => String(m).slice(0, 1))).toEqual(["0", "1", "2", "3", "4"]);
  });

  it("sends from later ticks are coalesced again", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn();
    await c.dial(s.url);
    const seen = countWrites(Number(new URL(s.url).port));
    for (let tick = 0; tick < 3; tick++) {
      for (let i = 0; i < 10; i++) c.send(`t${tick}-${i}`);
      await new Promise((r) => setImmediate(r));
    }
    await until(() => s.received.length === 30, "30 messages");
    expect(seen.writes).toBe(3);
    // Per tick: the first frame in its own buffer, the other nine built back to back into one.
    expect(seen.frames).toEqual([2, 2, 2]);
  });
});
