/**
 * `conn.messages()` against a real `ws` server: what it yields, how it ends, and its bounded
 * buffer: on Node's `ws` a full buffer pauses reading (TCP pushes back on the server) without
 * losing a message or letting the heartbeat call a live peer dead; on a WHATWG socket `overflow`
 * decides.
 * Also what waits behind a paused read, an iterator left without return(), and the default bound of 1024.
 * Also F-10 / S-5: a flood of the smallest frames against a stalled consumer, from a raw peer.
 */

import { describe, expect, it } from "vitest";
import WebSocket, { type WebSocket as ServerSocket } from "ws";
import { type Conn, type EvtWebSocketError, State } from "../src/index.js";
import { conn, fast, server, sleep } from "./helpers/harness.js";
import { rawServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

/** Sends `count` numbered text messages of `size` bytes ("000042xxxx…") as fast as ws takes them. */
function push(ws: ServerSocket, count: number, size = 8, from = 0): void {
  for (let i = from; i < from + count; i++) ws.send(String(i).padStart(6, "0").padEnd(size, "x"));
}

const seq = (msg: string) => Number(msg.slice(0, 6));

/** Resolves with `get()` once it has stayed the same for three polls 20 ms apart (reading stalled). */
async function settled(get: () => number): Promise<number> {
  let last = get();
  for (let same = 0; same < 3; ) {
    await sleep(20);
    const now = get();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

describe("messages()", () => {
  it("yields the messages onMessage gets, in order; a response to a request is not among them", async () => {
    const s = await server({
      onConnection: (ws) => push(ws, 3),
      onMessage: (ws, data) => ws.send(`re:${data}`),
    });
    const heard: string[] = [];
    const c = conn({ onMessage: (m) => void heard.push(m), matchMsg: (req, resp) => resp === `re:${req}` });
    const it = c.messages();
    await c.dial(s.url);
    const got: string[] = [];
    for await (const m of it) {
      got.push(m);
      if (got.length === 3) {
        await expect(c.request("q")).resolves.toBe("re:q");
        c.send("plain"); // the server answers "re:plain", which answers no request
      }
      if (got.length === 4) break;
    }
    expect(got.map((m) => m.slice(0, 6))).toEqual(["000000", "000001", "000002", "re:pla"]);
    expect(heard).toEqual(got);
  });

  it("keeps order across bursts each read in part, then bigger bursts", async () => {
    // Bursts of 20, 30, 70 and 5 with part of each read in between: the buffer is consumed from
    // the front while it grows at the back (and is compacted) without reordering anything.
    let sent = 0;
    const s = await server({
      onMessage: (ws, data) => {
        const n = Number(data);
        push(ws, n, 8, sent);
        sent += n;
      },
    });
    const c = conn();
    const it = c.messages({ bufferSize: 1_000_000 });
    await c.dial(s.url);
    const got: number[] = [];
    const take = async (n: number) => {
      for (let i = 0; i < n; i++) got.push(seq((await it.next()).value as string));
    };
    for (const [burst, read] of [
      [20, 10],
      [30, 25],
      [70, 60],
      [5, 30],
    ] as const) {
      c.send(String(burst));
      const want = c.stats.messagesReceived + burst;
      await until(() => c.stats.messagesReceived === want, `a burst of ${burst} read`);
      await take(read);
    }
    expect(got).toEqual(Array.from({ length: 125 }, (_, i) => i));
  });

  it("conn[Symbol.asyncIterator] is messages() with its defaults; several iterators each get every message", async () => {
    const s = await server({ onConnection: (ws) => push(ws, 5) });
    const c = conn();
    const a = c.messages();
    const b = c[Symbol.asyncIterator]();
    await c.dial(s.url);
    const take = async (it: AsyncIterator<string>, n: number) => {
      const out: number[] = [];
      while (out.length < n) out.push(seq((await it.next()).value as string));
      return out;
    };
    expect(await take(a, 5)).toEqual([0, 1, 2, 3, 4]);
    expect(await take(b, 5)).toEqual([0, 1, 2, 3, 4]);
  });

  it("spans a reconnect", async () => {
    let n = 0;
    const s = await server({ onConnection: (ws) => ws.send(`conn ${++n}`) });
    const c = conn({ reconnect: fast });
    const it = c.messages();
    await c.dial(s.url);
    expect((await it.next()).value).toBe("conn 1");
    s.dropAll();
    expect((await it.next()).value).toBe("conn 2");
    expect(c.stats.reconnects).toBe(1);
  });

  it("close() ends it: the buffered messages first, then done; a pending next() settles too", async () => {
    const s = await server({ onConnection: (ws) => push(ws, 3) });
    const c = conn();
    const it = c.messages();
    await c.dial(s.url);
    await until(() => c.stats.messagesReceived === 3, "three messages");
    await c.close();
    const got: number[] = [];
    for await (const m of it) got.push(seq(m));
    expect(got).toEqual([0, 1, 2]);
    // One more iterator made after the close is over at once; a pending next() settles on close.
    expect(await c.messages().next()).toEqual({ value: undefined, done: true });
    const c2 = conn();
    await c2.dial(s.url);
    await until(() => c2.stats.messagesReceived === 3, "three messages");
    const next = c2.messages().next();
    await c2.close();
    await expect(next).resolves.toEqual({ value: undefined, done: true });
  });

  it("when the reconnect policy gives up, the iterator throws ERR_RECONNECT_EXHAUSTED after the buffered messages", async () => {
    const s = await server({ onConnection: (ws) => push(ws, 2) });
    const c = conn({ reconnect: { ...fast, maxAttempts: 1 }, onError: () => {} });
    const it = c.messages();
    await c.dial(s.url);
    await until(() => c.stats.messagesReceived === 2, "two messages");
    await s.stop();
    await until(() => c.state === State.CLOSED, "closed for good");
    expect(seq((await it.next()).value as string)).toBe(0);
    expect(seq((await it.next()).value as string)).toBe(1);
    const error = await it.next().then(
      () => undefined,
      (e: EvtWebSocketError) => e,
    );
    expect(error?.code).toBe("ERR_RECONNECT_EXHAUSTED");
    expect(await it.next()).toEqual({ value: undefined, done: true });
    // An iterator made after the end throws the same reason.
    await expect(c.messages().next()).rejects.toMatchObject({ code: "ERR_RECONNECT_EXHAUSTED" });
  });

  it("a full buffer pauses reading: the server's sends back up in TCP, onMessage stops short, nothing is lost", async () => {
    const total = 20_000;
    let serverWs: ServerSocket | undefined;
    const s = await server({
      onConnection: (ws) => {
        serverWs = ws;
        push(ws, total, 2048); // 40 MiB: more than the kernel's socket buffers hold
      },
    });
    let heard = 0;
    const c = conn({ onMessage: () => void heard++ });
    const it = c.messages({ bufferSize: 16 });
    await c.dial(s.url);
    // The client stopped reading: onMessage stops short and the rest waits in TCP and the server.
    expect(await settled(() => heard)).toBeLessThan(total / 2);
    expect(serverWs?.bufferedAmount).toBeGreaterThan(0);
    let expected = 0;
    for await (const m of it) {
      expect(seq(m)).toBe(expected++);
      if (expected === total) break;
    }
    expect(heard).toBe(total);
  });

  it("break unsubscribes: a full iterator that is left releases the socket, and onMessage gets the rest", async () => {
    const total = 20_000;
    const s = await server({ onConnection: (ws) => push(ws, total, 2048) });
    let heard = 0;
    const c = conn({ onMessage: () => void heard++ });
    const it = c.messages({ bufferSize: 4 });
    await c.dial(s.url);
    await until(() => heard >= 4, "the buffer to fill");
    for await (const _ of it) break;
    await until(() => heard === total, "every message to reach onMessage");
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it("the slowest iterator sets the pace: reading resumes only when every full iterator has caught up", async () => {
    const total = 20_000;
    let serverWs: ServerSocket | undefined;
    const s = await server({
      onConnection: (ws) => {
        serverWs = ws;
        push(ws, total, 2048);
      },
    });
    const c = conn();
    const fastOne = c.messages({ bufferSize: 8 });
    const slow = c.messages({ bufferSize: 8 });
    await c.dial(s.url);
    let fastCount = 0;
    const fastDone = (async () => {
      for await (const m of fastOne) {
        expect(seq(m)).toBe(fastCount++);
        if (fastCount === total) return fastCount;
      }
      return fastCount;
    })();
    // The fast iterator has taken everything read, yet reading stays paused for the slow one.
    expect(await settled(() => fastCount)).toBeLessThan(total / 2);
    expect(serverWs?.bufferedAmount).toBeGreaterThan(0);
    let n = 0;
    for await (const m of slow) {
      expect(seq(m)).toBe(n++);
      if (n === total) break;
    }
    expect(await fastDone).toBe(total);
  });

  it("a consumer that stalls for 6 × pongTimeoutMs with the heartbeat on keeps a live connection", async () => {
    const total = 20_000;
    const s = await server({ onConnection: (ws) => push(ws, total, 2048) });
    const closes: unknown[] = [];
    const errors: unknown[] = [];
    const pongTimeoutMs = 100;
    const c = conn({
      pingIntervalMs: 50,
      pongTimeoutMs,
      reconnect: fast,
      onClose: (info) => void closes.push(info),
      onError: (e) => void errors.push(e),
    });
    const it = c.messages({ bufferSize: 16 });
    await c.dial(s.url);
    await until(() => c.stats.messagesReceived >= 16, "the buffer to fill");
    await sleep(6 * pongTimeoutMs); // the stall: pongs wait unread behind the pause
    expect(c.stats.messagesReceived).toBeLessThan(total / 2); // reading is paused
    let expected = 0;
    for await (const m of it) {
      expect(seq(m)).toBe(expected++);
      if (expected === total) break;
    }
    expect(closes).toEqual([]);
    expect(errors).toEqual([]);
    expect(c.stats.reconnects).toBe(0);
    expect(c.state).toBe(State.OPEN);
  });

  it("next() called again before the first settles: each gets the next message in order, and a pending one settles at close()", async () => {
    const s = await server({ onConnection: (ws) => setTimeout(() => push(ws, 2), 20) });
    const c = conn();
    const it = c.messages();
    await c.dial(s.url);
    // Not for-await: a caller may ask ahead (Promise.all, a race with a timeout).
    const [first, second, third] = [it.next(), it.next(), it.next()];
    await expect(first).resolves.toEqual({ value: "000000xx", done: false });
    await expect(second).resolves.toEqual({ value: "000001xx", done: false });
    await c.close();
    await expect(third).resolves.toEqual({ value: undefined, done: true });
  });

  it("close() from an onMessage handler: that message reaches no iterator, a waiting next() stays done, and the next dial reads (no pause left behind)", async () => {
    const s = await server({ onConnection: (ws) => push(ws, 3) });
    const heard: number[] = [];
    let closeAt: number | undefined = 1;
    const c: Conn<string, string> = conn({
      onMessage: (m) => {
        heard.push(seq(m));
        if (seq(m) === closeAt) {
          closeAt = undefined;
          void c.close();
        }
      },
    });
    const behind = c.messages({ bufferSize: 1 }); // holds message 0 unread when 1 arrives
    const waiting = c.messages();
    const first = waiting.next();
    const second = waiting.next(); // waiting when message 1 and the close() come
    await c.dial(s.url);
    await until(() => c.state === State.CLOSED, "the close from onMessage");
    await expect(first).resolves.toEqual({ value: "000000xx", done: false });
    await expect(second).resolves.toEqual({ value: undefined, done: true });
    // Message 1 came with the close(): no iterator buffers it after it ended (the behind one
    // used to take it as a full buffer's push and pause reading for good; the waiting one to
    // yield it after it had said done).
    expect(await waiting.next()).toEqual({ value: undefined, done: true });
    expect(await waiting.next()).toEqual({ value: undefined, done: true });
    const got: number[] = [];
    for await (const m of behind) got.push(seq(m));
    expect(got).toEqual([0]);
    heard.length = 0;
    await c.dial(s.url);
    await until(() => heard.length === 3, "the next connection's three messages (reading not paused)");
    expect(heard).toEqual([0, 1, 2]);
  });

  it("close() while a full iterator holds reading paused reads the peer's close frame: a clean 1000, not a timeout", async () => {
    let serverSaw: number | undefined;
    const s = await server({
      onConnection: (ws) => {
        push(ws, 50);
        ws.on("close", (code) => (serverSaw = code));
      },
    });
    const closes: unknown[] = [];
    const c = conn({ onClose: (info) => void closes.push(info) });
    const it = c.messages({ bufferSize: 2 });
    await c.dial(s.url);
    await until(() => c.stats.messagesReceived >= 2, "the buffer to fill");
    await c.close();
    // Paused, the client never read the server's answer: it waited out its close timeout and
    // tore the socket down (1006, unclean) instead of finishing the closing handshake.
    expect(closes).toEqual([
      { code: 1000, reason: "", wasClean: true, willReconnect: false, closedBy: "client" },
    ]);
    await until(() => serverSaw !== undefined, "the server to see the close");
    expect(serverSaw).toBe(1000);
    expect(await it.next()).toMatchObject({ done: false }); // what was buffered is still read
  });

  describe("where the socket cannot pause (a WHATWG WebSocket)", () => {
    it('overflow "error" (the default) ends the iterator with ERR_QUEUE_FULL after the buffered messages', async () => {
      const s = await server({ onConnection: (ws) => push(ws, 100) });
      const c = conn({ WebSocket: WebSocket as never });
      const it = c.messages({ bufferSize: 10 });
      await c.dial(s.url);
      await until(() => c.stats.messagesReceived === 100, "every message read");
      const got: number[] = [];
      const error = await (async () => {
        try {
          for await (const m of it) got.push(seq(m));
        } catch (e) {
          return e as EvtWebSocketError;
        }
      })();
      expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(error?.code).toBe("ERR_QUEUE_FULL");
    });

    it('overflow "drop-oldest" keeps the newest bufferSize messages and reports each drop to onError', async () => {
      const s = await server({ onConnection: (ws) => push(ws, 100) });
      const errors: EvtWebSocketError[] = [];
      const c = conn({ WebSocket: WebSocket as never, onError: (e) => void errors.push(e) });
      const it = c.messages({ bufferSize: 10, overflow: "drop-oldest" });
      await c.dial(s.url);
      await until(() => c.stats.messagesReceived === 100, "every message read");
      const got: number[] = [];
      for (let i = 0; i < 10; i++) got.push(seq((await it.next()).value as string));
      expect(got).toEqual([90, 91, 92, 93, 94, 95, 96, 97, 98, 99]);
      expect(errors).toHaveLength(90);
      expect(errors.every((e) => e.code === "ERR_QUEUE_FULL")).toBe(true);
    });

    // The message whose onMessage called reconnect() reached the iterator with no socket left:
    // asked then whether reading could pause, it said yes (no socket, no answer), so the iterator
    // took itself as holding reading paused and buffered everything the next socket (which
    // cannot pause either) brought: no bound, no drop, no ERR_QUEUE_FULL.
    it.each([
      ["error", [0, "ERR_QUEUE_FULL"], 0],
      ["drop-oldest", [4], 6],
    ] as const)(
      'reconnect() from onMessage as the buffer fills: overflow "%s" still bounds it',
      async (overflow, expected, drops) => {
        const s = await server({ onConnection: (ws) => push(ws, 5) });
        const errors: EvtWebSocketError[] = [];
        let again = 0;
        const c: Conn<string, string> = conn({
          WebSocket: WebSocket as never,
          reconnect: fast,
          onError: (e) => void errors.push(e),
          onMessage: (m) => {
            if (seq(m) === 1 && again++ === 0) c.reconnect(4000, "from onMessage");
          },
        });
        const it = c.messages({ bufferSize: 1, overflow });
        await c.dial(s.url);
        // 0 and 1 from the first socket (the rest came after the reconnect), 0 to 4 from the next.
        await until(() => c.stats.messagesReceived === 7, "every message read");
        const got: Array<number | string> = [];
        const reading = (async () => {
          try {
            for await (const m of it) got.push(seq(m));
          } catch (e) {
            got.push((e as EvtWebSocketError).code);
          }
        })();
        if (overflow === "drop-oldest") await until(() => got.length > 0, "the newest message");
        await c.close();
        await reading;
        expect(got).toEqual(expected);
        expect(errors.filter((e) => e.code === "ERR_QUEUE_FULL")).toHaveLength(drops);
      },
    );
  });
});

function errorsOf() {
  const seen: EvtWebSocketError[] = [];
  return { seen, onError: (e: EvtWebSocketError) => void seen.push(e) };
}

describe("messages(): return() and break at awkward times, a crash or a dead peer while paused", () => {
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

describe("messages() where the socket cannot pause (a WHATWG WebSocket): return() or close() from onError", () => {
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

describe("the heartbeat while a consumer stalls: pongs that are messages, bufferSize 1", () => {
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

describe("messages()' default bound", () => {
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
});

describe("F-10 / S-5: a flood of the smallest frames while a messages() consumer is stalled", () => {
  it("128 Ki empty text frames (256 KiB): delivery stops at the buffer plus what one socket read held, the rest waits in TCP, and none is lost once the consumer reads", async () => {
    const raw = await rawServer();
    const total = 128 * 1024;
    let heard = 0;
    const c = conn({ reconnect: false, onMessage: () => void heard++ });
    const stream = c.messages({ bufferSize: 16 });
    await c.dial(raw.url);
    raw.write(Buffer.alloc(total * 2).fill(Buffer.from([0x81, 0x00])));
    // Reading stopped: no more arrive over three polls.
    let last = -1;
    for (let same = 0; same < 3; same = heard === last ? same + 1 : 0) {
      last = heard;
      await sleep(30);
    }
    // A socket read is at most 64 KiB, 32,768 of these frames: a quarter of those sent.
    expect(heard).toBeLessThanOrEqual(16 + 32 * 1024);
    expect(heard).toBeGreaterThanOrEqual(16);
    // Reading resumes as the consumer catches up, and every frame arrives, in order, once.
    let read = 0;
    let other = 0;
    for await (const m of stream) {
      if (m !== "") other++;
      if (++read === total) break;
    }
    expect(other).toBe(0);
    expect(heard).toBe(total);
    raw.hangUp();
  });
});
