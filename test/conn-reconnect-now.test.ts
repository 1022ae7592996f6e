/**
 * `reconnect()`: the current socket closed with the code and reason given and a new one dialled
 * at once, as a reconnect (queue kept, requests under the reconnect rules, backoff reset),
 * against real `ws` servers on 127.0.0.1.
 * Also the order of its events, and one socket at a time against a peer that never answers the close frame.
 * Also reconnect() from every callback, twice, after close(), with paused iterators, drained() waiters and signals.
 */

import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { describe, expect, it } from "vitest";
import { Conn, type ConnOptions, type EvtWebSocketError } from "../src/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, fast, onCleanup, server } from "./helpers/harness.js";
import { parseAll, rawServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

type Msg = { id: number; op: string };

describe("reconnect()", () => {
  it("closes the socket with its code and reason and opens a new one: the queue kept, retryOnReconnect requests sent again, the others ERR_DISCONNECTED", async () => {
    const closes: [number, string][] = [];
    // The first socket answers nothing (the requests stay in flight); later ones echo.
    const s = await server({
      onConnection: (ws) => ws.on("close", (code, reason) => closes.push([code, reason.toString()])),
      onMessage: (ws, data) => s.connections > 1 && ws.send(data),
    });
    const attempts: number[] = [];
    let token = "old";
    const events: string[] = [];
    const c = new Conn<Msg, Msg>({
      codec: { encode: (m) => JSON.stringify(m), decode: (d) => JSON.parse(String(d)) as Msg },
      messageId: (m) => m.id,
      onClose: (i) => void events.push(`close ${i.code} ${i.closedBy} willReconnect=${i.willReconnect}`),
      onReconnecting: () => void events.push("reconnecting"),
    });
    onCleanup(() => c.close());
    const states: string[] = [];
    c.on("state", ({ newState }) => states.push(newState));
    await c.dial(({ attempt }) => {
      attempts.push(attempt);
      return `${s.url}?token=${token}`;
    });
    const again = c.request({ id: 1, op: "again" }, { retryOnReconnect: true });
    const lost = c.request({ id: 2, op: "lost" });
    await until(() => s.received.length === 2, "both requests at the server");
    token = "new";
    c.reconnect(4000, "new token");
    expect(c.send({ id: 3, op: "queued" })).toBe("queued");
    await expect(lost).rejects.toMatchObject({ code: "ERR_DISCONNECTED" });
    await expect(again).resolves.toEqual({ id: 1, op: "again" });
    await until(() => s.received.length === 4, "the queued message and the request again");
    expect(
      s.received
        .slice(2)
        .map((m) => JSON.parse(m).id)
        .sort(),
    ).toEqual([1, 3]);
    expect(closes[0]).toEqual([4000, "new token"]);
    expect(s.handshakes.map((h) => h.url)).toEqual(["/?token=old", "/?token=new"]);
    expect(attempts).toEqual([0, 0]);
    expect(events).toEqual(["close 4000 client willReconnect=true"]);
    expect(states).toEqual(["connecting", "open", "reconnecting", "open"]);
    expect(c.stats.reconnects).toBe(1);
    expect(s.clients.size).toBe(1);
  });

  it("is logged as a reconnect decision whose reason is reconnect(), before the old socket's close line", async () => {
    const s = await server();
    const lines: string[] = [];
    const log = (line: string) =>
      void lines.push(
        line
          .split(" ")
          .slice(1, 2)
          .concat(line.includes('reason="reconnect()"') ? ["(reconnect())"] : [])
          .join(" "),
      );
    const c = conn({ logger: { debug: log, info: log, warn: log, error: log } });
    await c.dial(s.url);
    lines.length = 0;
    c.reconnect();
    await until(() => c.isConnected() && s.connections === 2, "open again");
    expect(lines.slice(0, 2)).toEqual(["reconnecting (reconnect())", "close"]);
  });

  it("during a backoff wait, dials at once instead of waiting it out, with the backoff started over (attempt 0)", async () => {
    const s = await server();
    const c = conn({ reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 } });
    const attempts: number[] = [];
    await c.dial(({ attempt }) => {
      attempts.push(attempt);
      return s.url;
    });
    s.dropAll(1011);
    await until(() => c.state === "reconnecting", "the drop");
    c.reconnect();
    // The wait was a minute: an open within the test's time is the reconnect's.
    await until(() => c.isConnected(), "open again");
    expect(s.connections).toBe(2);
    expect(attempts).toEqual([0, 0]);
  });

  it("while the first dial is still connecting: that attempt is dropped, a new one made, and dial() resolves on its open", async () => {
    let held = 0;
    let answerFirst: ((ok: boolean, code?: number) => void) | undefined;
    const s = await server({
      verifyClient: (_info, cb) => {
        // The first handshake is not answered until the end; the second is accepted.
        if (held++ === 0) answerFirst = cb;
        else cb(true);
      },
    });
    onCleanup(async () => answerFirst?.(false, 503));
    const c = conn();
    const dialed = c.dial(s.url);
    await until(() => held === 1, "the first handshake at the server");
    c.reconnect();
    await dialed;
    expect(c.state).toBe("open");
    expect(held).toBe(2);
  });

  it("refuses before dial() and after close() with ERR_CLOSED, and a bad code or reason with ERR_INVALID_OPTION, changing nothing", async () => {
    const s = await server();
    const c = conn();
    expect(() => c.reconnect()).toThrow(
      expect.objectContaining({ code: "ERR_CLOSED", message: "cannot reconnect: connection is idle" }),
    );
    await c.dial(s.url);
    for (const [code, reason] of [
      [1001, ""],
      [2999, ""],
      [4000, "x".repeat(124)],
    ] as const) {
      let caught: EvtWebSocketError | undefined;
      try {
        c.reconnect(code, reason);
      } catch (e) {
        caught = e as EvtWebSocketError;
      }
      expect(caught).toMatchObject({
        code: "ERR_INVALID_OPTION",
        message: expect.stringMatching(/close (code|reason)/),
      });
    }
    expect(c.state).toBe("open");
    expect(s.connections).toBe(1);
    await c.close();
    expect(() => c.reconnect()).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
  });

  it("called from onConnected on every open but the third: one socket at a time, and the connection ends open", async () => {
    const s = await server();
    let opens = 0;
    const c = conn({
      onConnected: (self) => {
        if (++opens < 3) self.reconnect(4001, `again ${opens}`);
      },
    });
    await c.dial(s.url);
    await until(() => opens === 3 && c.isConnected(), "the third open");
    expect(s.connections).toBe(3);
    await until(() => s.clients.size === 1, "the old sockets gone");
    expect(c.stats.reconnects).toBe(2);
  });
});

describe("the order of events, as docs/concepts.md's transition table lists them", () => {
  it("reconnect(): state within the call, then the old socket's close when it is gone, then the new open", async () => {
    const s = await server();
    const events: string[] = [];
    const c = conn<string, string>({
      reconnect: fast,
      onClose: (i) => void events.push(`close ${i.code} willReconnect=${i.willReconnect} ${i.closedBy}`),
      onReconnecting: () => void events.push("reconnecting"),
      onError: (e) => void events.push(`error ${e.code}`),
      onConnected: () => void events.push("connected"),
    });
    c.on("state", (change) => void events.push(`state ${change.newState}`));
    await c.dial(s.url);
    events.length = 0;
    c.reconnect(4000, "new token");
    expect(events).toEqual(["state reconnecting"]);
    await until(() => c.stats.reconnects === 1, "the new connection");
    expect(events).toEqual([
      "state reconnecting",
      "close 4000 willReconnect=true client",
      "state open",
      "connected",
    ]);
  });
});

describe("reconnect() against a peer that never answers the close frame", () => {
  it("one socket at a time: the new attempt waits for the old socket, cut off at the close timeout", async () => {
    const raw = await rawServer({ allowHalfOpen: true });
    const clock = new FakeClock();
    const opened: number[] = [];
    const c = conn<string, string>({ clock, reconnect: fast });
    c.on("state", (change) => void (change.newState === "open" && opened.push(clock.now())));
    await c.dial(raw.url);
    c.reconnect(4000, "new token");
    expect(c.send("after")).toBe("queued");
    await until(() => parseAll(raw.connectionBytes(0)).some((f) => f.opcode === 8), "our close frame");
    clock.advance(2999);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(c.state).toBe("reconnecting");
    clock.advance(1); // the close timeout: the old socket is cut off, the new attempt starts
    await until(() => c.state === "open", "the new connection");
    expect(opened).toEqual([0, 3000]);
    await until(
      () => parseAll(raw.connectionBytes(1)).some((f) => f.payload.toString() === "after"),
      "the queued send",
    );
    raw.hangUp();
  });
});

/** A server that records how many of its sockets were ever live at once. */
async function counted(opts: Parameters<typeof server>[0] = {}) {
  let live = 0;
  const stats = { maxLive: 0 };
  const s = await server({
    ...opts,
    onConnection: (ws, req) => {
      live++;
      stats.maxLive = Math.max(stats.maxLive, live);
      ws.on("close", () => live--);
      opts.onConnection?.(ws, req);
    },
  });
  return Object.assign(s, { stats, live: () => live });
}

describe("reconnect() called twice, from every callback, after close(), with a paused iterator, a drained() waiter or a signal", () => {
  it("twice in a row: one new socket, never two live", async () => {
    const s = await counted();
    const c = conn();
    await c.dial(s.url);
    c.reconnect(4000, "a");
    c.reconnect(4001, "b");
    await until(() => c.isConnected(), "open again");
    await until(() => s.live() === 1, "old gone");
    expect(s.connections).toBe(2);
    expect(s.stats.maxLive).toBe(1);
    expect(c.stats.reconnects).toBe(1);
  });

  for (const where of [
    "onMessage",
    "onClose",
    "onError",
    "onReconnecting",
    "state",
    "logger",
    "channel",
  ] as const) {
    it(`from ${where}: reconnects once, one socket at a time`, async () => {
      const s = await counted({ onMessage: (ws, d) => ws.send(d) });
      let done = false;
      const errors: unknown[] = [];
      const me = (c: Conn<string, string>) => {
        if (done) return;
        done = true;
        c.reconnect(4002, where);
      };
      let c!: Conn<string, string>;
      const opts: ConnOptions<string, string, Conn<string, string>> = {
        reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 },
        onError: (e) => {
          errors.push(e);
          if (where === "onError") me(c);
        },
      };
      if (where === "onMessage") opts.onMessage = (_m, self) => me(self);
      if (where === "onClose") opts.onClose = () => me(c);
      if (where === "onReconnecting") opts.onReconnecting = () => me(c);
      if (where === "logger")
        opts.logger = {
          debug: () => {},
          info: (line: string) => void (String(line).includes("open") && c?.isConnected() && me(c)),
          warn: () => {},
          error: () => {},
        } as never;
      c = conn(opts);
      if (where === "state") c.on("state", ({ newState }) => newState === "open" && me(c));
      const onOpen = () => me(c);
      if (where === "channel") subscribe("evtwebsocket:connection:open", onOpen);
      onCleanup(
        async () => void (where === "channel" && unsubscribe("evtwebsocket:connection:open", onOpen)),
      );
      await c.dial(s.url);
      if (where === "onMessage") c.send("hi");
      if (where === "onClose" || where === "onError" || where === "onReconnecting") {
        // an unclean drop: the first socket terminated by the server
        for (const ws of s.clients) ws.terminate();
      }
      await until(() => done, "reconnect called");
      await until(() => c.isConnected() && s.connections === 2, "open again");
      await until(() => s.live() === 1, "old gone");
      expect(s.stats.maxLive).toBe(1);
      expect(c.stats.reconnects).toBe(1);
      c.send("after");
      await until(() => s.received.includes("after"), "sent on the new socket");
    });
  }

  it("after close(), during its closing handshake: ERR_CLOSED, state closed", async () => {
    const s = await counted();
    const c = conn();
    await c.dial(s.url);
    const closing = c.close();
    expect(c.state).toBe("closed");
    expect(() => c.reconnect()).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
    await closing;
    expect(s.connections).toBe(1);
  });

  it("with a messages() iterator paused: the new socket's messages arrive once it reads", async () => {
    let n = 0;
    const s = await counted({
      onConnection: (ws) => {
        const k = ++n;
        for (let i = 0; i < 5; i++) ws.send(`${k}:${i}`);
      },
    });
    const c = conn();
    const it = c.messages({ bufferSize: 2 });
    await c.dial(s.url);
    const first = await it.next();
    expect(first.value).toBe("1:0");
    c.reconnect();
    const got: string[] = [];
    for await (const m of it) {
      got.push(m);
      if (m === "2:4") break;
    }
    expect(got.filter((m) => m.startsWith("2:"))).toEqual(["2:0", "2:1", "2:2", "2:3", "2:4"]);
  });

  it("drained() waiting through it resolves once the queue is sent on the new socket", async () => {
    const s = await counted({ onMessage: () => {} });
    const c = conn();
    await c.dial(s.url);
    c.reconnect();
    c.send("queued");
    const d = c.drained();
    await d;
    await until(() => s.received.includes("queued"), "sent");
  });

  it("a request with a signal aborted after reconnect() rejects ERR_ABORTED and is not sent", async () => {
    const s = await counted({ onMessage: () => {} });
    const c = conn({ matchMsg: () => true });
    await c.dial(s.url);
    c.reconnect();
    const ac = new AbortController();
    const r = c.request("q", { signal: ac.signal });
    ac.abort();
    await expect(r).rejects.toMatchObject({ code: "ERR_ABORTED" });
    await until(() => c.isConnected(), "open");
    c.send("marker");
    await until(() => s.received.includes("marker"), "marker");
    expect(s.received).toEqual(["marker"]);
  });

  it("from matchMsg with a retryOnReconnect request: it resolves once and is not sent again", async () => {
    const s = await counted({ onMessage: (ws, d) => ws.send(`re:${d}`) });
    let did = false;
    let c!: Conn<string, string>;
    c = conn({
      matchMsg: (req, resp) => {
        if (!did) {
          did = true;
          c.reconnect();
        }
        return resp === `re:${req}`;
      },
    });
    await c.dial(s.url);
    await expect(c.request("a", { retryOnReconnect: true })).resolves.toBe("re:a");
    await until(() => c.isConnected() && s.connections === 2, "open again");
    c.send("marker");
    await until(() => s.received.includes("marker"), "marker");
    expect(s.received).toEqual(["a", "marker"]);
  });

  it("with reconnect: false: a new socket opens all the same; close says willReconnect", async () => {
    const s = await counted();
    const closes: boolean[] = [];
    const c = conn({ reconnect: false, onClose: (i) => void closes.push(i.willReconnect) });
    await c.dial(s.url);
    c.reconnect();
    await until(() => c.isConnected() && s.connections === 2, "open again");
    expect(closes).toEqual([true]);
  });

  it("with maxAttempts 0 from shouldReconnect after a server drop", async () => {
    const s = await counted();
    const c = conn({ reconnect: { maxAttempts: 0 } as never });
    await c.dial(s.url);
    c.reconnect();
    await until(() => c.isConnected() && s.connections === 2, "open again");
  });

  it("dial() pending through a reconnect() during a failing attempt's backoff", async () => {
    const s = await counted();
    const port = s.port;
    await s.stop();
    const c = conn({ reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 } });
    const errs: string[] = [];
    c.on("error", (e) => void errs.push(e.code));
    const dialed = c.dial(`ws://127.0.0.1:${port}`);
    await until(() => errs.length === 1, "first attempt failed");
    await s.start();
    c.reconnect();
    await dialed;
    expect(c.state).toBe("open");
  });
});

describe("reconnect() during a closing handshake, a held handshake, a send callback or a URL function", () => {
  it("close() while the dropped socket is in its closing handshake: closed at once, the close event says willReconnect false, no new socket", async () => {
    const s = await counted();
    const closes: string[] = [];
    const c = conn({ onClose: (i) => void closes.push(`${i.code} ${i.willReconnect}`) });
    await c.dial(s.url);
    c.reconnect(4000, "x");
    const closed = c.close();
    expect(c.state).toBe("closed");
    await closed;
    expect(s.connections).toBe(1);
    expect(closes).toEqual(["4000 false"]);
    await until(() => s.live() === 0, "socket gone at the server");
  });

  it("a retryOnReconnect request with a signal aborted while it waits for the new socket: ERR_ABORTED, not sent again", async () => {
    let n = 0;
    let letIn: (() => void) | undefined;
    const s = await counted({
      onMessage: () => {},
      verifyClient: (_i, cb) => {
        if (n++ === 0) cb(true);
        else letIn = () => cb(true);
      },
    });
    const c = conn({ matchMsg: () => true });
    await c.dial(s.url);
    const ac = new AbortController();
    const r = c.request("q", { signal: ac.signal, retryOnReconnect: true });
    await until(() => s.received.length === 1, "sent once");
    c.reconnect();
    await until(() => letIn !== undefined, "second handshake held");
    ac.abort();
    await expect(r).rejects.toMatchObject({ code: "ERR_ABORTED" });
    letIn!();
    await until(() => c.isConnected(), "open again");
    c.send("marker");
    await until(() => s.received.includes("marker"), "marker");
    expect(s.received).toEqual(["q", "marker"]);
  });

  it("from a send callback and from messageId of a request body", async () => {
    const s = await counted();
    let calls = 0;
    let c!: Conn<string, string>;
    c = conn({
      messageId: (m) => {
        if (m === "req" && calls++ === 0) c.reconnect();
        return m;
      },
    });
    await c.dial(s.url);
    const r = c.request("req");
    await expect(r).resolves.toBe("req");
    await until(() => s.connections === 2 && s.live() === 1, "second socket only");
    expect(s.stats.maxLive).toBe(1);
    let fromCb = false;
    c.send("cb", () => {
      if (fromCb) return;
      fromCb = true;
      c.reconnect();
    });
    await until(() => fromCb && s.connections === 3 && c.isConnected(), "third socket");
    await until(() => s.live() === 1, "one live");
    expect(s.stats.maxLive).toBe(1);
  });

  it("with its URL function running: the attempt goes on, the function called once", async () => {
    const s = await counted();
    const c = conn({ reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 } });
    let calls = 0;
    let release: (() => void) | undefined;
    await c.dial(() => {
      calls++;
      if (calls === 1) return s.url;
      return new Promise<string>((r) => {
        release = () => r(s.url);
      });
    });
    for (const ws of s.clients) ws.terminate();
    await until(() => c.state === "reconnecting", "dropped");
    c.reconnect();
    await until(() => release !== undefined, "URL function running");
    c.reconnect();
    c.reconnect(4000, "again");
    release!();
    await until(() => c.isConnected(), "open");
    expect(calls).toBe(2);
    expect(s.connections).toBe(2);
  });
});

describe("reconnect() from onConnected: the queue", () => {
  for (const async of [false, true]) {
    it(`from ${async ? "an async" : "a"} onConnected on the first open: the queue goes out on the second socket only, in order`, async () => {
      // Which socket (1 first) each message arrived on.
      const socketOf = new WeakMap<object, number>();
      const arrivals: string[] = [];
      const s = await counted({
        onConnection: (ws) => socketOf.set(ws, s.connections),
        onMessage: (ws, d) => void arrivals.push(`${socketOf.get(ws)}:${d}`),
      });
      let opens = 0;
      const c = conn({
        onConnected: async (self) => {
          if (++opens !== 1) return;
          if (async) await Promise.resolve();
          self.reconnect(4000, "again");
        },
      });
      for (const m of ["a", "b", "c"]) c.send(m);
      await c.dial(s.url);
      await until(() => arrivals.length === 3, "the queue sent");
      expect(arrivals).toEqual(["2:a", "2:b", "2:c"]);
      expect(s.connections).toBe(2);
      expect(opens).toBe(2);
      expect(s.stats.maxLive).toBe(1);
    });
  }
});
