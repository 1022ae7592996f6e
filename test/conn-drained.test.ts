/**
 * `conn.drained()` and the `"drain"` event against a real `ws` server that stops reading (its
 * socket paused), so the client's socket buffer fills for real; plus how they settle when the
 * connection is not open or ends for good.
 * Also listeners added above highWaterMark or after the watch ended, and a reset with our sends unread.
 * Also waiters and close() from a drain handler, a drop with waiters, and what an unused "drain" costs a send.
 */

import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type EvtWebSocketError, State } from "../src/index.js";
import { conn, fast, server, sleep } from "./helpers/harness.js";
import { until } from "./helpers/server.js";
import { fill, stalledServer } from "./helpers/stalled-server.js";

const KiB = 1024;
const MiB = 1024 * KiB;

/** Tracks whether a promise has settled, and how. */
function track<T>(p: Promise<T>) {
  const state = { settled: false, error: undefined as EvtWebSocketError | undefined };
  p.then(
    () => {
      state.settled = true;
    },
    (e: EvtWebSocketError) => {
      state.settled = true;
      state.error = e;
    },
  );
  return state;
}

const flush = () => new Promise((r) => setImmediate(r));

describe("drained()", () => {
  it("resolves at once when nothing is buffered: open, and idle with an empty queue", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn();
    await expect(c.drained()).resolves.toBeUndefined();
    await c.dial(s.url);
    c.send("small");
    await expect(c.drained()).resolves.toBeUndefined();
  });

  it("waits while the socket holds more than lowWaterMark, and resolves once it is back at or under it", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({ lowWaterMark: 256 * KiB });
    await c.dial(s.url);
    const sent = fill(c, 8 * MiB); // beyond what the kernel's buffers take
    const waiting = track(c.drained());
    await flush();
    expect(waiting.settled).toBe(false);
    let atResolve = -1;
    const done = c.drained().then(() => {
      atResolve = c.bufferedAmount;
    });
    s.resume();
    await done;
    expect(atResolve).toBeLessThanOrEqual(256 * KiB);
    expect(waiting).toEqual({ settled: true, error: undefined });
    await until(() => s.bytes === sent, "the server to get every byte");
  });

  it('"drain" fires once the buffer falls back under lowWaterMark after rising above highWaterMark', async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({ lowWaterMark: 64 * KiB, highWaterMark: 1 * MiB });
    const seen: number[] = [];
    c.on("drain", () => void seen.push(c.bufferedAmount));
    await c.dial(s.url);
    fill(c, 4 * MiB);
    await flush();
    expect(seen).toEqual([]);
    s.resume();
    await until(() => seen.length === 1, "one drain event");
    expect(seen[0]).toBeLessThanOrEqual(64 * KiB);
    // Below highWaterMark, no event.
    c.send(new Uint8Array(128 * KiB));
    await c.drained();
    await until(() => c.bufferedAmount === 0, "the small send to leave");
    expect(seen).toHaveLength(1);
  });

  it("a pending drained() rejects with ERR_CLOSED on close(); on a closed connection it rejects at once", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>();
    await c.dial(s.url);
    fill(c, 4 * MiB);
    const waiting = track(c.drained());
    await flush();
    expect(waiting.settled).toBe(false);
    await c.close();
    await until(() => waiting.settled, "the waiter to settle");
    expect(waiting.error?.code).toBe("ERR_CLOSED");
    await expect(c.drained()).rejects.toMatchObject({ code: "ERR_CLOSED" });
  });

  it("with messages queued while reconnecting it waits for the reconnect to send them", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn({ reconnect: fast, onError: () => {} });
    await c.dial(s.url);
    await s.stop();
    await until(() => c.state === State.RECONNECTING, "reconnecting");
    c.send("queued while away");
    const waiting = track(c.drained());
    await flush();
    expect(waiting.settled).toBe(false);
    await s.start();
    await until(() => waiting.settled, "drained() to settle");
    expect(waiting.error).toBeUndefined();
    expect(c.stats.queuedMessages).toBe(0);
    await until(() => s.received.includes("queued while away"), "the queued message to arrive");
  });

  it("resolves while reconnecting once the queued messages left the queue unsent (aborted, expired, a request aborted)", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn({ reconnect: fast, matchMsg: () => true, onError: () => {} });
    await c.dial(s.url);
    await s.stop();
    await until(() => c.state === State.RECONNECTING, "reconnecting");
    const ac = new AbortController();
    c.send("aborted", { signal: ac.signal });
    c.send("expires", { maxAgeMs: 1 });
    const request = c.request("request", { signal: ac.signal }).catch((e: EvtWebSocketError) => e.code);
    const waiting = track(c.drained());
    await flush();
    expect(waiting.settled).toBe(false);
    ac.abort();
    await expect(request).resolves.toBe("ERR_ABORTED");
    await until(() => c.stats.queuedMessages === 0, "the queue to empty");
    // Nothing of ours waits to leave: a drained() made now resolves at once, and so must this one.
    await expect(c.drained()).resolves.toBeUndefined();
    await until(() => waiting.settled, "drained() to settle while still reconnecting");
    expect(waiting.error).toBeUndefined();
    expect(c.state).toBe(State.RECONNECTING);
  });

  it("resolves when the socket it waited on drops with the queue empty: what the dead socket held is gone (WHATWG WebSocket)", async () => {
    // Node's ws calls its write callbacks when the socket dies; a WHATWG socket is polled, and
    // the poll stops with the socket.
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({
      WebSocket: WebSocket as never,
      reconnect: fast,
      onError: () => {},
    });
    await c.dial(s.url);
    fill(c, 4 * MiB);
    const waiting = track(c.drained());
    await flush();
    expect(waiting.settled).toBe(false);
    await s.server.stop(); // the socket dies with megabytes unwritten, and no server comes back
    await until(() => c.state === State.RECONNECTING, "reconnecting");
    // Nothing of ours waits to leave: a drained() made now resolves at once, and so must this one.
    await expect(c.drained()).resolves.toBeUndefined();
    await until(() => waiting.settled, "drained() to settle while reconnecting");
    expect(waiting.error).toBeUndefined();
  });

  it("resolves on an open connection whose queue, held by an async onConnected, was emptied unsent", async () => {
    const s = await server({ onMessage: () => {} });
    let release!: () => void;
    const c = conn({ onConnected: () => new Promise<void>((r) => (release = r)) });
    const ac = new AbortController();
    c.send("aborted before the flush", { signal: ac.signal });
    const dialed = c.dial(s.url);
    const waiting = track(c.drained());
    await dialed;
    await flush();
    expect(waiting.settled).toBe(false);
    ac.abort();
    release();
    await until(() => waiting.settled, "drained() to settle");
    expect(waiting.error).toBeUndefined();
    expect(s.received).toEqual([]);
  });

  it("rejects with the reason when the reconnect policy gives up", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn({ reconnect: { ...fast, maxAttempts: 1 }, onError: () => {} });
    await c.dial(s.url);
    await s.stop();
    await until(() => c.state === State.RECONNECTING, "reconnecting");
    c.send("queued");
    await expect(c.drained()).rejects.toMatchObject({ code: "ERR_RECONNECT_EXHAUSTED" });
  });

  it("on a WHATWG WebSocket (no write callbacks) it polls bufferedAmount while someone waits", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({ WebSocket: WebSocket as never, lowWaterMark: 0 });
    await c.dial(s.url);
    const sent = fill(c, 4 * MiB);
    const waiting = track(c.drained());
    await flush();
    expect(waiting.settled).toBe(false);
    s.resume();
    await until(() => waiting.settled, "drained() to settle");
    expect(waiting.error).toBeUndefined();
    expect(c.bufferedAmount).toBe(0);
    await until(() => s.bytes === sent, "every byte");
  });
});

const marks = { lowWaterMark: 64 * 1024, highWaterMark: 1024 * 1024 };

describe('a "drain" listener added while the buffer is above highWaterMark', () => {
  it("two listeners added above the mark: one drain, each hears it once", async () => {
    const s = await stalledServer();
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
    const s = await stalledServer();
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

describe("a socket reset with sends still buffered (Node's ws)", () => {
  it('no "drain" on the dead socket: the one listening hears it after the reconnect, as on WHATWG sockets; drained() still settles', async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({
      ...marks,
      reconnect: { minDelayMs: 5, maxDelayMs: 20, jitter: 0 },
    });
    await c.dial(s.url);
    fill(c, 4 * 1024 * 1024);
    const log: string[] = [];
    c.on("drain", () => log.push(`drain ${c.state}`));
    c.on("close", () => log.push("close"));
    c.on("connected", () => log.push("connected"));
    const waiter = c.drained();
    // The server drops the connection with our 4 MB unread: a reset, the bytes never left.
    s.sockets[0]!.terminate();
    await until(() => log.includes("drain open"), "the drain");
    await waiter;
    // Before: "drain" came first, on the socket that had just been reset, buffer "empty".
    expect(log).toEqual(["close", "connected", "drain open"]);
    s.resume();
    await c.close();
  });
});

describe('"drain" after the watch ended (1963f40): a listener added later is not left without its drain', () => {
  const marks = { lowWaterMark: 64 * KiB, highWaterMark: 256 * KiB };

  it("the buffer above highWaterMark when the last listener leaves, a watched send ending the watch, more sends unwatched: a listener added then hears the fall once", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>(marks);
    await c.dial(s.url);
    const off = c.on("drain", () => {});
    let sent = fill(c, 256 * KiB);
    off();
    c.send(new Uint8Array(8)); // the first watched send after the last listener left: ends the watch
    sent += 8 + fill(c, 512 * KiB); // unwatched from here
    const heard: number[] = [];
    c.on("drain", () => void heard.push(c.bufferedAmount));
    s.resume();
    await until(() => heard.length === 1, "the drain");
    await until(() => s.bytes === sent, "every byte");
    expect(heard[0]).toBeLessThanOrEqual(64 * KiB);
    expect(heard).toHaveLength(1);
  });

  it("a listener re-added before the next send keeps the watch: it hears the drain of what was sent in between", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>(marks);
    await c.dial(s.url);
    const off = c.on("drain", () => {});
    off();
    const heard: number[] = [];
    c.on("drain", () => void heard.push(c.bufferedAmount));
    const sent = fill(c, 256 * KiB);
    s.resume();
    await until(() => heard.length === 1, "the drain");
    await until(() => s.bytes === sent, "every byte");
    expect(heard).toHaveLength(1);
  });

  it("drained() pending while the last listener leaves: the waiter still settles, and a listener added later still hears a later fill", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>(marks);
    await c.dial(s.url);
    const off = c.on("drain", () => {});
    let sent = fill(c, 256 * KiB);
    const waiting = c.drained();
    off();
    sent += fill(c, 300 * KiB);
    s.resume();
    await waiting;
    expect(c.bufferedAmount).toBeLessThanOrEqual(64 * KiB);
    await until(() => s.bytes === sent, "every byte");
    for (const ws of s.sockets) ws.pause();
    const heard: number[] = [];
    c.on("drain", () => void heard.push(c.bufferedAmount));
    sent += fill(c, 256 * KiB);
    s.resume();
    await until(() => heard.length === 1, "the second drain");
    await until(() => s.bytes === sent, "every byte again");
  });

  it("a reconnect after the last listener left above highWaterMark: a listener added on the new socket hears its drain", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({ ...marks, reconnect: fast });
    await c.dial(s.url);
    const off = c.on("drain", () => {});
    fill(c, 256 * KiB);
    off();
    c.send(new Uint8Array(8));
    s.sockets[0]!.terminate(); // the first socket gone with what it buffered
    await until(() => s.sockets.length === 2 && c.state === "open", "the reconnect");
    const heard: number[] = [];
    c.on("drain", () => void heard.push(c.bufferedAmount));
    const before = s.bytes;
    const sent = fill(c, 256 * KiB);
    s.resume();
    await until(() => heard.length >= 1, "the drain on the new socket");
    await until(() => s.bytes - before >= sent, "every byte of the new socket");
    expect(heard[0]).toBeLessThanOrEqual(64 * KiB);
  });
});

describe('"drain" and drained() after a reset with our sends unread (held)', () => {
  it("reconnect off: no drain; drained() rejects with ERR_DISCONNECTED once the connection has ended", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({ ...marks, reconnect: false, onError: () => {} });
    await c.dial(s.url);
    fill(c, 4 * 1024 * 1024);
    const log: string[] = [];
    c.on("drain", () => log.push("drain"));
    c.on("close", () => log.push("close"));
    const waiter = c.drained().then(
      () => log.push(`drained in ${c.state}`),
      (e: EvtWebSocketError) => log.push(`drained ${e.code} in ${c.state}`),
    );
    s.sockets[0]!.terminate();
    await waiter;
    await sleep(50);
    expect(log).toEqual(["close", "drained ERR_DISCONNECTED in closed"]);
  });

  it("reconnect on: the new socket, filled above highWaterMark in turn, drains and says so once more", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({
      ...marks,
      reconnect: { minDelayMs: 5, maxDelayMs: 20, jitter: 0 },
    });
    await c.dial(s.url);
    fill(c, 4 * 1024 * 1024);
    const log: string[] = [];
    c.on("drain", () => log.push(`drain ${c.state}`));
    c.on("connected", () => log.push("connected"));
    s.sockets[0]!.terminate();
    await until(() => log.includes("drain open"), "the drain the new socket's open tells");
    fill(c, 4 * 1024 * 1024);
    log.push("filled again");
    const waiter = c.drained();
    s.resume();
    await waiter;
    await until(() => log.length === 4, "the second drain");
    await sleep(50);
    expect(log).toEqual(["connected", "drain open", "filled again", "drain open"]);
    expect(s.sockets).toHaveLength(2);
  });
});

describe('drained() and "drain": a drop, waiters added in a drain handler, listeners added late, close() from a handler', () => {
  /** A server that stops reading each socket once it opens: what the client sends stays in its buffers. */
  const stalled = () =>
    server({
      onConnection: (ws) => (ws as unknown as { _socket: { pause(): void } })._socket.pause(),
      onMessage: () => {},
    });

  it("on Node's ws: a drained() waiting on a socket that drops with the queue empty resolves (what it held is gone)", async () => {
    const s = await stalled();
    const c = conn({ reconnect: fast, lowWaterMark: 1024 });
    await c.dial(s.url);
    for (let i = 0; i < 64; i++) c.send("x".repeat(256 * 1024)); // 16 MiB: more than TCP holds
    expect(c.bufferedAmount).toBeGreaterThan(1024);
    let settled = "pending";
    const waiters = [c.drained(), c.drained(), c.drained()].map((p) =>
      p.then(
        () => (settled = "resolved"),
        (err) => (settled = `rejected ${err.code}`),
      ),
    );
    await sleep(50);
    expect(settled).toBe("pending");
    s.dropAll();
    await Promise.all(waiters);
    expect(settled).toBe("resolved");
  });

  it("a waiter added inside a drain handler, after another big send, settles too; so do several", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({ lowWaterMark: 64 * 1024, highWaterMark: 1024 * 1024 });
    await c.dial(s.url);
    const inner: Promise<void>[] = [];
    let drains = 0;
    c.on("drain", () => {
      drains++;
      if (drains === 1) {
        c.send(new Uint8Array(2 * 1024 * 1024));
        inner.push(c.drained(), c.drained());
      }
    });
    fill(c, 4 * 1024 * 1024);
    const outer = [c.drained(), c.drained()];
    s.resume();
    await Promise.all(outer);
    await until(() => inner.length === 2, "the first drain");
    await Promise.all(inner);
    expect(c.bufferedAmount).toBeLessThanOrEqual(64 * 1024);
  });

  it.each([
    ["Node's ws", {}],
    ["a WHATWG WebSocket (polled)", { WebSocket: WebSocket as never }],
  ])(
    "a drain listener added once the buffer is already above highWaterMark (the Node streams pattern) hears drain: %s",
    async (_, transport) => {
      const s = await stalledServer();
      const c = conn<Uint8Array, Uint8Array>({
        lowWaterMark: 64 * 1024,
        highWaterMark: 1024 * 1024,
        ...transport,
      });
      await c.dial(s.url);
      fill(c, 4 * 1024 * 1024); // nobody watched these sends
      expect(c.bufferedAmount).toBeGreaterThan(1024 * 1024);
      const drained = new Promise<number>((resolve) => c.on("drain", () => resolve(c.bufferedAmount)));
      s.resume();
      expect(await drained).toBeLessThanOrEqual(64 * 1024);
    },
  );

  it("a drained() waiter, not a send, saw the buffer above highWaterMark: a drain listener hears the fall too", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({ lowWaterMark: 64 * 1024, highWaterMark: 1024 * 1024 });
    await c.dial(s.url);
    fill(c, 4 * 1024 * 1024);
    const w = c.drained();
    const drained = new Promise<void>((resolve) => c.on("drain", () => resolve()));
    s.resume();
    await w;
    await drained;
  });

  it("close() from inside a drain handler: the waiters resolved first, close() settles, drained() after it rejects at once", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({ lowWaterMark: 64 * 1024, highWaterMark: 1024 * 1024 });
    await c.dial(s.url);
    fill(c, 4 * 1024 * 1024);
    const w = c.drained();
    let closing: Promise<void> | undefined;
    c.on("drain", () => {
      closing = c.close();
    });
    s.resume();
    await expect(w).resolves.toBeUndefined();
    await until(() => closing !== undefined, "the drain event");
    await closing;
    expect(c.state).toBe(State.CLOSED);
    await expect(c.drained()).rejects.toMatchObject({ code: "ERR_CLOSED" });
  });
});

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

describe('an unused "drain" costs nothing on the hot path', () => {
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

describe('"drain" heard once at a time (the Node streams pattern)', () => {
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
