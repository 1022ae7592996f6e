/**
 * Second adversarial review of delivery (issue 17): trying to break "nothing is lost, every call
 * settles" in `send()`'s options, the queue's policies, `drained()` and `messages()`, with real
 * sockets.
 */

import { describe, expect, it } from "vitest";
import WebSocket, { type WebSocket as ServerSocket } from "ws";
import { type EvtWebSocketError, State } from "../src/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, fast, server, sleep } from "./helpers/harness.js";
import { parseAll, rawServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";
import { fill, stalledServer } from "./helpers/stalled-server.js";

/** Sends `count` numbered text messages of `size` bytes ("000042xxxx…"). */
function push(ws: ServerSocket, count: number, size = 8, from = 0): void {
  for (let i = from; i < from + count; i++) ws.send(String(i).padStart(6, "0").padEnd(size, "x"));
}
const seq = (msg: string) => Number(msg.slice(0, 6));

function errorsOf() {
  const seen: EvtWebSocketError[] = [];
  return { seen, onError: (e: EvtWebSocketError) => void seen.push(e) };
}

describe("send() while the peer's closing handshake is under way (state still open)", () => {
  it('a volatile message is "dropped", a plain one "queued" and sent on the next connection', async () => {
    const raw = await rawServer({ allowHalfOpen: true });
    const c = conn({ reconnect: { ...fast, shouldReconnect: () => true } });
    await c.dial(raw.url);
    raw.write(Buffer.from([0x88, 0x02, 0x03, 0xe9])); // close 1001, and TCP held open
    // The client answered with its close frame: its socket is closing, the connection is not over.
    await until(() => parseAll(raw.connectionBytes(0)).some((f) => f.opcode === 8), "the client's answer");
    expect(c.state).toBe(State.OPEN);
    expect(c.send("cursor", { volatile: true })).toBe("dropped");
    expect(c.send("order")).toBe("queued");
    raw.hangUp();
    await until(() => parseAll(raw.connectionBytes(1)).length > 0, "the next connection's frames");
    const texts = parseAll(raw.connectionBytes(1)).map((f) => f.payload.toString());
    expect(texts).toEqual(["order"]);
    // It never answers a closing handshake: hang up rather than wait out close().
    const closing = c.close();
    raw.hangUp();
    await closing;
  });
});

describe("the Delivery table: a drop that is not retried", () => {
  it("a message queued while the peer closes, with no retry, is reported once as ERR_DISCONNECTED with details.unsent", async () => {
    const raw = await rawServer({ allowHalfOpen: true });
    const e = errorsOf();
    const c = conn({ reconnect: { ...fast, shouldReconnect: () => false }, onError: e.onError });
    await c.dial(raw.url);
    raw.write(Buffer.from([0x88, 0x02, 0x03, 0xe9]));
    await until(() => parseAll(raw.connectionBytes(0)).some((f) => f.opcode === 8), "the client's answer");
    expect(c.send("order")).toBe("queued");
    raw.hangUp();
    await until(() => c.state === State.CLOSED, "the end");
    expect(e.seen.map((x) => [x.code, x.details?.unsent])).toEqual([["ERR_DISCONNECTED", 1]]);
    expect(c.stats.queuedMessages).toBe(0);
  });
});

describe("the queue's byte bound counts UTF-8 and binary bytes", () => {
  it("multi-byte text and a typed array's view are counted by their bytes on the wire", async () => {
    const c = conn({ queue: { maxBytes: 10 } });
    expect(c.send("€€€")).toBe("queued"); // 9 bytes, 3 characters
    expect(() => c.send("ab")).toThrow(expect.objectContaining({ code: "ERR_QUEUE_FULL" }));
    expect(c.send("a")).toBe("queued"); // 10 bytes
    const c2 = conn<Uint8Array, Uint8Array>({ queue: { maxBytes: 4 } });
    const big = new Uint8Array(100);
    expect(c2.send(big.subarray(10, 14))).toBe("queued");
    expect(() => c2.send(new Uint8Array(1))).toThrow(expect.objectContaining({ code: "ERR_QUEUE_FULL" }));
    const c3 = conn({ queue: { maxBytes: 4, overflow: "drop-oldest" } });
    const e = errorsOf();
    c3.on("error", e.onError);
    expect(c3.send("😀")).toBe("queued"); // a surrogate pair: 4 bytes
    expect(c3.send("é")).toBe("queued"); // 2 bytes: the emoji goes
    expect(e.seen.map((x) => x.details?.message)).toEqual(["😀"]);
    expect(c3.send("é")).toBe("queued"); // 4 bytes: fits with the first é
    expect(e.seen).toHaveLength(1);
  });
});

describe("send options inside the callbacks that report drops", () => {
  it("aborting, from onError, the signal of a message queued later takes it out quietly", async () => {
    const e = errorsOf();
    const ac = new AbortController();
    const c = conn({ queue: { maxMessages: 2, overflow: "drop-oldest" } });
    c.on("error", (err) => {
      e.onError(err);
      ac.abort(); // "a drop happened: cancel the rest of this view"
    });
    expect(c.send("a")).toBe("queued");
    expect(c.send("b", { signal: ac.signal })).toBe("queued");
    expect(c.send("c", { signal: ac.signal })).toBe("queued"); // drops a; onError aborts b and c
    expect(e.seen.map((x) => [x.code, x.details?.message])).toEqual([["ERR_QUEUE_FULL", "a"]]);
    expect(c.stats.queuedMessages).toBe(0);
    await expect(c.drained()).resolves.toBeUndefined();
    const s = await server();
    await c.dial(s.url);
    expect(c.send("d")).toBe("sent");
    await until(() => s.received.length === 1, "d");
    expect(s.received).toEqual(["d"]);
  });

  it("a send() from the onError that reports an expiry is queued and sent; each message ends one way", async () => {
    const clock = new FakeClock();
    const e = errorsOf();
    const c = conn({
      clock,
      onError: (err) => {
        e.onError(err);
        if (err.code === "ERR_QUEUE_EXPIRED") c.send(`again:${err.details?.message}`);
      },
    });
    c.send("x", { maxAgeMs: 10 });
    c.send("y", { maxAgeMs: 10 });
    clock.advance(10);
    expect(e.seen.map((x) => x.details?.message)).toEqual(["x", "y"]);
    expect(c.stats.queuedMessages).toBe(2);
    const s = await server();
    await c.dial(s.url);
    await until(() => s.received.length === 2, "the re-sent messages");
    expect(s.received).toEqual(["again:x", "again:y"]);
    expect(clock.pending).toBe(0);
  });

  it("a send() from the onError that reports a drop-oldest drop drops the next oldest, reported too; the rest go in order", async () => {
    const e = errorsOf();
    const c = conn({
      queue: { maxMessages: 2, overflow: "drop-oldest" },
      onError: (err) => {
        e.onError(err);
        if (err.details?.message === "a") expect(c.send("a again")).toBe("queued");
      },
    });
    c.send("a");
    c.send("b");
    expect(c.send("c")).toBe("queued");
    expect(e.seen.map((x) => [x.code, x.details?.message])).toEqual([
      ["ERR_QUEUE_FULL", "a"],
      ["ERR_QUEUE_FULL", "b"],
    ]);
    expect(c.stats.queuedMessages).toBe(2);
    const s = await server();
    await c.dial(s.url);
    await until(() => s.received.length === 2, "the queue");
    expect(s.received).toEqual(["c", "a again"]);
  });

  it("a deadline that passes in the turn the connection opens, its timer late: sent or expired, never both", async () => {
    // Timers late by 5 ms: the expiry timer of a message due at the open has not fired yet.
    for (const lateByMs of [0, 5]) {
      const clock = new FakeClock();
      clock.lateByMs = lateByMs;
      const e = errorsOf();
      const s = await server();
      const c = conn({ clock, onError: e.onError });
      c.send("due", { maxAgeMs: 10 });
      c.send("later", { maxAgeMs: 11 });
      clock.sleep(10); // "due" is exactly at its deadline as the connection opens
      await c.dial(s.url);
      await until(() => s.received.length > 0, "the flush");
      clock.advance(100);
      await sleep(20);
      expect(s.received).toEqual(["later"]);
      expect(e.seen.map((x) => [x.code, x.details?.message])).toEqual([["ERR_QUEUE_EXPIRED", "due"]]);
      expect(clock.pending).toBe(0);
    }
  });
});

describe("the Delivery table: reported after a disconnect", () => {
  it("close() reports one ERR_CLOSED counting only the messages still queued (not aborted, expired, dropped or sent)", async () => {
    const clock = new FakeClock();
    const e = errorsOf();
    const c = conn({ clock, queue: { maxMessages: 4, overflow: "drop-oldest" }, onError: e.onError });
    const ac = new AbortController();
    c.send("dropped");
    c.send("aborted", { signal: ac.signal });
    c.send("expires", { maxAgeMs: 5 });
    c.send("kept1");
    c.send("kept2"); // drops "dropped"
    ac.abort();
    clock.advance(5);
    expect(c.stats.queuedMessages).toBe(2);
    await c.close();
    expect(e.seen.map((x) => [x.code, x.details?.message ?? x.details?.unsent])).toEqual([
      ["ERR_QUEUE_FULL", "dropped"],
      ["ERR_QUEUE_EXPIRED", "expires"],
      ["ERR_CLOSED", 2],
    ]);
    expect(clock.pending).toBe(0);
  });
});

describe("drained() and drain, attacked", () => {
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

describe("messages(), attacked", () => {
  it("return() while next() is pending settles that next() as done and unsubscribes", async () => {
    const s = await server();
    const c = conn();
    const it = c.messages();
    await c.dial(s.url);
    const pending = it.next();
    await it.return?.();
    await expect(pending).resolves.toEqual({ value: undefined, done: true });
    c.send("after");
    await sleep(30);
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it("break during a reconnect, while paused, releases the pause for the next socket: onMessage gets everything", async () => {
    const total = 2_000;
    const s = await server({ onConnection: (ws) => push(ws, total, 1024) });
    let heard = 0;
    const c = conn({ reconnect: fast, onMessage: () => void heard++ });
    const it = c.messages({ bufferSize: 4 });
    await c.dial(s.url);
    await until(() => heard >= 4, "the buffer to fill");
    s.dropAll(); // unseen while paused
    await it.next(); // a little: still full
    await it.return?.(); // leaves while the old socket drains its backlog or the new one opens
    await until(() => heard >= total + 4 && s.connections === 2, "the next socket's messages to arrive");
    await until(() => heard === 2 * total, "every message of both sockets");
  });

  it("a server that crashes (TCP reset) while reading is paused: what it sent before still arrives, in order, then the reconnect", async () => {
    const total = 500; // 500 kB: all of it fits in the kernel buffers on the way
    let first: ServerSocket | undefined;
    const s = await server({
      onConnection: (ws) => {
        if (first !== undefined) return;
        first = ws;
        push(ws, total, 1024);
      },
      onMessage: () => {},
    });
    const c = conn({ reconnect: fast });
    const it = c.messages({ bufferSize: 16 });
    await c.dial(s.url);
    await until(() => c.stats.messagesReceived >= 16, "the buffer to fill");
    await until(() => first!.bufferedAmount === 0, "the server's sends to reach our kernel");
    // The server stops reading, gets a message it never reads, and dies: it sends a reset.
    const socket = (first as unknown as { _socket: import("node:net").Socket })._socket;
    socket.pause();
    c.send("never read");
    await sleep(50);
    socket.destroy();
    let n = 0;
    for await (const m of it) {
      expect(seq(m)).toBe(n++);
      if (n === total) break;
    }
    await until(() => c.stats.reconnects === 1 && c.state === State.OPEN, "the reconnect");
  });

  it("an iterator made after close() is done at once; after a give-up it throws the reason once, then is done", async () => {
    const s = await server();
    const c = conn();
    await c.dial(s.url);
    await c.close();
    const it = c.messages();
    expect(await it.next()).toEqual({ value: undefined, done: true });
    expect(await c[Symbol.asyncIterator]().next()).toEqual({ value: undefined, done: true });
  });

  it("a dead peer while reading is paused is noticed once the consumer catches up", async () => {
    const total = 200;
    // The server pushes, then stops answering anything (no pongs, no data): a dead peer.
    const s = await server({ autoPong: false, onConnection: (ws) => push(ws, total, 1024) });
    const errs = errorsOf();
    const c = conn({ pingIntervalMs: 50, pongTimeoutMs: 50, reconnect: false, onError: errs.onError });
    const it = c.messages({ bufferSize: 8 });
    await c.dial(s.url);
    await sleep(300); // stalled: paused, no verdict
    expect(c.state).toBe(State.OPEN);
    expect(c.stats.messagesReceived).toBeLessThan(total); // reading is paused
    let n = 0;
    let error: unknown;
    try {
      for await (const m of it) expect(seq(m)).toBe(n++);
    } catch (err) {
      error = err;
    }
    expect(n).toBe(total);
    expect(error).toMatchObject({ code: "ERR_PONG_TIMEOUT" });
    expect(c.state).toBe(State.CLOSED);
  });
});

describe("messages() where the socket cannot pause (a WHATWG WebSocket), attacked", () => {
  it("return() from the onError that reports a drop ends the iterator: nothing more is yielded", async () => {
    const s = await server({ onConnection: (ws) => push(ws, 20) });
    let it: AsyncIterableIterator<string> | undefined;
    const c = conn({ WebSocket: WebSocket as never, onError: () => void it?.return?.() });
    it = c.messages({ bufferSize: 4, overflow: "drop-oldest" });
    await c.dial(s.url);
    await until(() => c.stats.messagesReceived === 20, "every message read");
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it("close() from the onError that reports a drop: the iterator yields what it held, then is done", async () => {
    const s = await server({ onConnection: (ws) => push(ws, 20) });
    const c = conn({
      WebSocket: WebSocket as never,
      onError: (e) => void (e.code === "ERR_QUEUE_FULL" && c.close()),
    });
    const it = c.messages({ bufferSize: 4, overflow: "drop-oldest" });
    await c.dial(s.url);
    await until(() => c.state === State.CLOSED, "closed");
    const got: number[] = [];
    for await (const m of it) got.push(seq(m));
    expect(got).toEqual([1, 2, 3, 4]);
  });
});

describe("what waits behind a paused read (documented in docs/concepts.md § Backpressure)", () => {
  it("a request awaited inside the loop while the buffer is full: its answer waits behind the pause, so it times out; the late answer is then a message", async () => {
    const s = await server({
      onConnection: (ws) => push(ws, 2_000, 1024),
      onMessage: (ws, data) => ws.send(`re:${data}`),
    });
    const c = conn({ matchMsg: (req, resp) => resp === `re:${req}`, requestTimeoutMs: 200 });
    const it = c.messages({ bufferSize: 16 });
    await c.dial(s.url);
    await until(() => c.stats.messagesReceived >= 16, "the buffer to fill");
    await expect(c.request("q")).rejects.toMatchObject({ code: "ERR_REQUEST_TIMEOUT" });
    const rest: string[] = [];
    for await (const m of it) {
      rest.push(m);
      if (m === "re:q") break;
    }
    expect(rest.length).toBe(2_001); // every push, then the answer that came too late
  });

  it("awaiting drained() inside the loop, against a server that stops reading while its own sends back up: both wait; close() settles it", async () => {
    const s = await server({
      onConnection: (ws) => {
        // A careful server: it pushes a feed and stops reading while its sends back up.
        const socket = (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
        let i = 0;
        const pump = () => {
          while (i < 100_000 && ws.bufferedAmount < 1024 * 1024)
            ws.send(String(i++).padStart(6, "0").padEnd(1024, "x"));
          if (ws.bufferedAmount >= 1024 * 1024) socket.pause();
          else socket.resume();
          if (i < 100_000 && ws.readyState === ws.OPEN) setTimeout(pump, 5);
        };
        pump();
      },
      onMessage: () => {},
    });
    const c = conn({ lowWaterMark: 64 * 1024, pingIntervalMs: 50, pongTimeoutMs: 50 });
    const it = c.messages({ bufferSize: 16 });
    await c.dial(s.url);
    let waiting: Promise<void> | undefined;
    let n = 0;
    const loop = (async () => {
      for await (const _ of it) {
        c.send("r".repeat(256 * 1024));
        waiting = c.drained();
        await waiting;
        n++;
      }
    })().catch((e: EvtWebSocketError) => e.code);
    // Our reading is paused (the loop waits), the server's too (its sends wait for our reading).
    let last = -1;
    for (let same = 0; same < 3; ) {
      await sleep(100);
      same = n === last ? same + 1 : 0;
      last = n;
    }
    expect(n).toBeLessThan(100_000);
    expect(c.state).toBe(State.OPEN); // nothing calls it dead: the heartbeat is suspended while paused
    const pending = waiting!;
    await c.close();
    await expect(pending).rejects.toMatchObject({ code: "ERR_CLOSED" });
    expect(await loop).toBe("ERR_CLOSED");
  });

  it("the server's ping waits behind the pause too: its pong leaves only once the consumer catches up", async () => {
    let serverWs: ServerSocket | undefined;
    let pongs = 0;
    const s = await server({
      onConnection: (ws) => {
        serverWs = ws;
        ws.on("pong", () => void pongs++);
        push(ws, 20_000, 2048); // more than the kernel's buffers hold
      },
    });
    const c = conn();
    const it = c.messages({ bufferSize: 16 });
    await c.dial(s.url);
    await until(() => c.stats.messagesReceived >= 16, "the buffer to fill");
    serverWs!.ping();
    await sleep(100);
    expect(pongs).toBe(0); // a server that judges liveness by its pings sees a stall as silence
    let n = 0;
    for await (const _ of it) if (++n === 20_000) break;
    await until(() => pongs === 1, "the pong, once reading resumed");
  });
});

describe("the heartbeat while a consumer stalls, attacked", () => {
  it("with pingMsg/isPong (pongs are messages): a stall of 3 × pongTimeoutMs keeps a live connection, every message arrives", async () => {
    const total = 20_000;
    const s = await server({
      onConnection: (ws) => push(ws, total, 2048),
      onMessage: (ws, data) => {
        if (String(data) === "ping") ws.send("pong");
      },
    });
    const errs = errorsOf();
    const pongTimeoutMs = 100;
    const c = conn({
      pingIntervalMs: 50,
      pongTimeoutMs,
      pingMsg: "ping",
      isPong: (m) => m === "pong",
      reconnect: fast,
      onError: errs.onError,
    });
    const it = c.messages({ bufferSize: 16 });
    await c.dial(s.url);
    await until(() => c.stats.messagesReceived >= 16, "the buffer to fill");
    await sleep(3 * pongTimeoutMs);
    let n = 0;
    for await (const m of it) {
      expect(seq(m)).toBe(n++);
      if (n === total) break;
    }
    expect(errs.seen).toEqual([]);
    expect(c.stats.reconnects).toBe(0);
  });

  it("bufferSize 1: reading pauses at every message and nothing is lost or reordered", async () => {
    const total = 3_000;
    const s = await server({ onConnection: (ws) => push(ws, total, 512) });
    const c = conn();
    const it = c.messages({ bufferSize: 1 });
    await c.dial(s.url);
    let n = 0;
    for await (const m of it) {
      expect(seq(m)).toBe(n++);
      if (n % 500 === 0) await sleep(5);
      if (n === total) break;
    }
  });
});

describe("an iterator left without return() (documented in docs/concepts.md § Backpressure)", () => {
  it("one next() to wait for a first message, never returned: once its buffer is full reading stays paused; return() releases it", async () => {
    const total = 5_000;
    const s = await server({ onConnection: (ws) => push(ws, total, 1024) });
    let heard = 0;
    const c = conn({ onMessage: () => void heard++ });
    await c.dial(s.url);
    const it = c.messages({ bufferSize: 8 });
    await it.next(); // "wait for the first message", then carry on with onMessage
    await sleep(100);
    expect(heard).toBeLessThan(total); // the forgotten iterator holds the socket
    await it.return?.();
    await until(() => heard === total, "every message, once it is returned");
  });
});
