/**
 * Adversarial tests of the core: user callbacks that call back into the connection, close() at
 * every point of the life cycle, duplicate and stale responses, listener changes during
 * dispatch, the heartbeat after a long sleep, and the queue across a reconnect.
 * Also docs/concepts.md's rules for callbacks (onClose, shouldReconnect, a codec), and "drain"/"pong" listeners.
 *
 * Every test asserts an outcome that would change if the behaviour broke. Integration tests use
 * a real `ws` server on port 0; where a timer matters, an injected FakeClock drives it, and
 * "no timer left" is `clock.pending === 0`.
 */

import { describe, expect, it } from "vitest";
import { type CloseInfo, type Conn, type EvtWebSocketError, json } from "../src/index.js";
import { createFaultProxy } from "../src/testing/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, fast, onCleanup, server, sleep } from "./helpers/harness.js";
import { freePort, until } from "./helpers/server.js";
import { stalledServer } from "./helpers/stalled-server.js";

type Msg = { id?: string | number; v?: unknown };
const jsonIds = { codec: json<Msg, Msg>(), messageId: (m: Msg) => m.id };
const echoMatch = (req: string, resp: string) => req === resp;

/** Records every event of `c` as a line, so a test can compare whole sequences. */
function record<TIn, TOut>(c: Conn<TIn, TOut>): string[] {
  const log: string[] = [];
  c.on("connected", () => void log.push("connected"));
  c.on("message", (m) => void log.push(`message ${typeof m === "string" ? m : JSON.stringify(m)}`));
  c.on("error", (e) => void log.push(`error ${e.code}`));
  c.on("close", (i) => void log.push(`close ${i.code} willReconnect=${i.willReconnect}`));
  c.on("reconnecting", (i) => void log.push(`reconnecting ${i.attempt}`));
  c.on("state", (s) => void log.push(`state ${s.oldState}->${s.newState}`));
  return log;
}

/** Wraps a promise so a test can see how it settled, and count settlements. */
function settleOf<T>(p: Promise<T>): { outcome: () => string | undefined } {
  let outcome: string | undefined;
  let settled = 0;
  p.then(
    (v) => {
      settled++;
      outcome = `resolved ${typeof v === "string" ? v : JSON.stringify(v)}`;
    },
    (e: EvtWebSocketError) => {
      settled++;
      outcome = `rejected ${e.code}`;
    },
  );
  return {
    outcome: () => {
      if (settled > 1) throw new Error("settled twice");
      return outcome;
    },
  };
}

/** Server-side sockets of this test that are still open. */
function openSockets(s: { clients: Set<{ readyState: number; OPEN: number }> }): number {
  return [...s.clients].filter((ws) => ws.readyState === ws.OPEN).length;
}

describe("re-entrant calls from inside callbacks", () => {
  it("close() inside onMessage: later messages of the same burst are not delivered, one onClose", async () => {
    const s = await server({
      onMessage(ws, data) {
        if (data.toString() === "go") for (const m of ["a", "b", "c"]) ws.send(m);
      },
    });
    const c = conn<string, string>({ matchMsg: echoMatch, onMessage: (_m, cc) => void cc.close() });
    const log = record(c);
    await c.dial(s.url);
    const pending = settleOf(c.request("never answered"));
    c.send("go");
    await until(() => c.state === "closed", "closed from onMessage");
    await until(() => pending.outcome() !== undefined, "request settled");
    expect(pending.outcome()).toBe("rejected ERR_CLOSED");
    await c.close();
    const n = log.length;
    await sleep(50);
    expect(log.length).toBe(n);
    expect(log.filter((l) => l.startsWith("message"))).toEqual(["message a"]);
    expect(log.filter((l) => l.startsWith("close"))).toEqual(["close 1000 willReconnect=false"]);
  });

  it("close() inside a synchronous onConnected: dial() resolves, the queued send is reported unsent, never sent", async () => {
    const s = await server();
    const errors: EvtWebSocketError[] = [];
    const c = conn({ onConnected: (cc) => void cc.close(), onError: (e) => void errors.push(e) });
    const log = record(c);
    const dialed = c.dial(s.url);
    c.send("queued before open");
    await dialed;
    await until(() => log.some((l) => l.startsWith("close")), "onClose");
    expect(c.state).toBe("closed");
    expect(errors.map((e) => [e.code, e.details.unsent])).toEqual([["ERR_CLOSED", 1]]);
    expect(log.filter((l) => l === "connected" || l.startsWith("close"))).toEqual([
      "connected",
      "close 1000 willReconnect=false",
    ]);
    await until(() => s.clients.size === 0, "server saw the close");
    expect(s.received).toEqual([]);
  });

  it("close() inside onReconnecting: no timer is left and no further handshake is made", async () => {
    const s = await server();
    const clock = new FakeClock();
    const c = conn({
      clock,
      reconnect: { minDelayMs: 1000, jitter: 0 },
      onReconnecting: (_i, cc) => void cc.close(),
    });
    const log = record(c);
    await c.dial(s.url);
    s.dropAll();
    await until(() => c.state === "closed", "closed from onReconnecting");
    expect(clock.pending).toBe(0);
    clock.advance(60_000);
    await sleep(50);
    expect(s.connections).toBe(1);
    expect(log.filter((l) => l.startsWith("close") || l.startsWith("reconnecting"))).toEqual([
      "close 1006 willReconnect=true",
      "reconnecting 1",
    ]);
  });

  it("close() inside onReconnecting of a first dial's retry rejects dial() with ERR_CLOSED", async () => {
    const port = await freePort();
    const clock = new FakeClock();
    const c = conn({
      clock,
      reconnect: { minDelayMs: 1000, jitter: 0 },
      onReconnecting: (_i, cc) => void cc.close(),
    });
    const log = record(c);
    await expect(c.dial(`ws://127.0.0.1:${port}`)).rejects.toMatchObject({ code: "ERR_CLOSED" });
    expect(clock.pending).toBe(0);
    expect(c.state).toBe("closed");
    expect(log).not.toContain("connected");
    expect(log.some((l) => l.startsWith("close"))).toBe(false);
  });

  it("close() inside a request callback: its response does not reach onMessage; the other requests settle ERR_CLOSED", async () => {
    const s = await server({
      onMessage(ws, data) {
        if (data.toString() === "a") ws.send("a");
      },
    });
    const got: string[] = [];
    const c = conn<string, string>({ matchMsg: echoMatch });
    const log = record(c);
    await c.dial(s.url);
    const other = settleOf(c.request("b"));
    c.send("c", () => void got.push("c callback"));
    c.send("a", (resp, cc) => {
      got.push(`a callback ${resp}`);
      void cc.close();
    });
    await until(() => c.state === "closed", "closed from the callback");
    await until(() => other.outcome() !== undefined, "other request settled");
    expect(got).toEqual(["a callback a"]);
    expect(other.outcome()).toBe("rejected ERR_CLOSED");
    // A callback-style request that fails reports to onError instead.
    expect(log.filter((l) => l.startsWith("error") || l.startsWith("message"))).toEqual(["error ERR_CLOSED"]);
    expect(c.stats.pendingRequests).toBe(0);
  });

  it("send() inside onClose with willReconnect true is queued and is the first message on the new connection", async () => {
    let connection = 0;
    const seen: string[] = [];
    const s = await server({
      onConnection(ws) {
        const n = ++connection;
        ws.on("message", (d) => void seen.push(`${n}:${d.toString()}`));
      },
      onMessage: () => {},
    });
    const c = conn({
      reconnect: fast,
      onClose: (i, cc) => {
        if (i.willReconnect) cc.send("from onClose");
      },
    });
    await c.dial(s.url);
    c.send("before");
    await until(() => seen.length === 1, "first message");
    s.dropAll();
    await until(() => connection === 2 && c.isConnected(), "reconnected");
    c.send("after");
    await until(() => seen.length === 3, "all three");
    expect(seen).toEqual(["1:before", "2:from onClose", "2:after"]);
  });

  it("send() inside onClose with willReconnect false is never lost silently: it throws or is reported unsent", async () => {
    const s = await server();
    let thrown: string | undefined;
    const errors: EvtWebSocketError[] = [];
    const c = conn({
      reconnect: false,
      onError: (e) => void errors.push(e),
      onClose: (_i, cc) => {
        try {
          cc.send("too late");
        } catch (e) {
          thrown = (e as EvtWebSocketError).code;
        }
      },
    });
    await c.dial(s.url);
    s.dropAll(4001);
    await until(() => c.state === "closed", "closed");
    const reported = errors.some((e) => e.details.unsent === 1);
    expect(thrown !== undefined || reported).toBe(true);
    expect(c.stats.queuedMessages).toBe(0);
  });

  it("dial() inside onError after a give-up opens a new connection that works", async () => {
    const s = await server();
    let redials = 0;
    const c = conn<string, string>({
      reconnect: { ...fast, maxAttempts: 0 },
      matchMsg: echoMatch,
      onError: (e, cc) => {
        if (e.code !== "ERR_RECONNECT_EXHAUSTED") return;
        redials++;
        cc.dial(s.url).catch(() => {});
      },
    });
    const log = record(c);
    await c.dial(s.url);
    s.dropAll();
    await until(() => s.connections === 2 && c.isConnected(), "open again");
    await expect(c.request("ping?")).resolves.toBe("ping?");
    expect(redials).toBe(1);
    expect(log.filter((l) => l === "connected")).toHaveLength(2);
    expect(log.filter((l) => l.startsWith("close"))).toEqual(["close 1006 willReconnect=false"]);
  });

  it("request() inside a synchronous onConnected goes out before the queued messages and resolves", async () => {
    const s = await server();
    let inner: Promise<string> | undefined;
    const c = conn<string, string>({
      matchMsg: echoMatch,
      onConnected: (cc) => {
        inner = cc.request("auth");
      },
    });
    const dialed = c.dial(s.url);
    c.send("queued");
    await dialed;
    await expect(inner).resolves.toBe("auth");
    await until(() => s.received.length === 2, "both arrived");
    expect(s.received).toEqual(["auth", "queued"]);
  });

  it("a state listener that calls dial() when the connection ends for good reconnects it", async () => {
    const s = await server();
    const c = conn({ reconnect: false });
    // Recorded first: a listener added after the one that dials would hear the nested
    // "closed->connecting" before "open->closed" (see the report on nested dispatch).
    const log = record(c);
    let redialed = false;
    c.on("state", ({ newState }, cc) => {
      if (newState !== "closed" || redialed) return;
      redialed = true;
      cc.dial(s.url).catch(() => {});
    });
    await c.dial(s.url);
    s.dropAll();
    await until(() => s.connections === 2 && c.isConnected(), "open again");
    expect(log.filter((l) => l.startsWith("state"))).toEqual([
      "state idle->connecting",
      "state connecting->open",
      "state open->closed",
      "state closed->connecting",
      "state connecting->open",
    ]);
  });
});

describe("close() at every point of the life cycle", () => {
  it("right after dial() in the same tick: dial() rejects ERR_CLOSED, no events but the state, no timer", async () => {
    const s = await server();
    const clock = new FakeClock();
    const c = conn({ clock });
    const log = record(c);
    const dialed = c.dial(s.url);
    await c.close();
    await expect(dialed).rejects.toMatchObject({ code: "ERR_CLOSED" });
    expect(clock.pending).toBe(0);
    expect(log).toEqual(["state idle->connecting", "state connecting->closed"]);
    await sleep(50);
    expect(log).toHaveLength(2);
    await until(() => s.clients.size === 0, "no live socket on the server");
  });

  it("while the URL function is pending: its URL is never dialled, dial() rejects ERR_CLOSED", async () => {
    const s = await server();
    const clock = new FakeClock();
    let release: (url: string) => void = () => {};
    let calls = 0;
    const urlFn = () => {
      calls++;
      return new Promise<string>((r) => {
        release = r;
      });
    };
    const c = conn({ clock });
    const dialed = c.dial(urlFn);
    await until(() => calls === 1, "URL function called");
    await c.close();
    await expect(dialed).rejects.toMatchObject({ code: "ERR_CLOSED" });
    release(s.url);
    await sleep(50);
    expect(s.connections).toBe(0);
    expect(clock.pending).toBe(0);
    expect(calls).toBe(1);
  });

  it("dial() again while the old URL function is still pending: only the new dial connects", async () => {
    const s = await server();
    let releaseOld: (url: string) => void = () => {};
    const c = conn();
    const first = c.dial(
      () =>
        new Promise<string>((r) => {
          releaseOld = r;
        }),
    );
    void c.close();
    await expect(first).rejects.toMatchObject({ code: "ERR_CLOSED" });
    await c.dial(s.url);
    releaseOld(s.url);
    await sleep(50);
    expect(s.connections).toBe(1);
    expect(c.isConnected()).toBe(true);
  });

  it("during the backoff wait (injected clock): the wait is cancelled, no further attempt", async () => {
    const s = await server();
    const clock = new FakeClock();
    const c = conn({ clock, reconnect: { minDelayMs: 1000, jitter: 0 } });
    const log = record(c);
    await c.dial(s.url);
    s.dropAll();
    await until(() => log.includes("reconnecting 1"), "waiting");
    expect(clock.pending).toBe(1);
    await c.close();
    expect(clock.pending).toBe(0);
    const n = log.length;
    clock.advance(60_000);
    await sleep(50);
    expect(s.connections).toBe(1);
    expect(log.slice(n)).toEqual([]);
    expect(log.filter((l) => l.startsWith("close"))).toEqual(["close 1006 willReconnect=true"]);
  });

  it("during a closing handshake the peer never answers: a second close() shares it, one onClose, no timer", async () => {
    const s = await server();
    const proxy = await createFaultProxy(s.url);
    onCleanup(() => proxy.close());
    const clock = new FakeClock();
    const c = conn({ clock });
    const log = record(c);
    await c.dial(proxy.url);
    await proxy.blackhole();
    let done = false;
    const first = c.close(4000, "bye");
    void first.then(() => {
      done = true;
    });
    expect(c.close()).toBe(first);
    await sleep(50);
    expect(done).toBe(false);
    clock.advance(3000); // the closing handshake deadline
    await first;
    expect(clock.pending).toBe(0);
    expect(log.filter((l) => l.startsWith("close"))).toEqual(["close 1006 willReconnect=false"]);
  });

  it("close() inside its own onClose returns the same promise and the outer close() resolves", async () => {
    const s = await server();
    let inner: Promise<void> | undefined;
    const c = conn({
      onClose: (_i, cc) => {
        inner = cc.close();
      },
    });
    const log = record(c);
    await c.dial(s.url);
    const outer = c.close();
    await outer;
    expect(inner).toBe(outer);
    expect(log.filter((l) => l.startsWith("close"))).toEqual(["close 1000 willReconnect=false"]);
  });

  it("dial() right after close() without awaiting it, 20 times: never two live sockets, one onClose per connection", async () => {
    let maxOpen = 0;
    const s = await server({
      onConnection: () => {
        maxOpen = Math.max(maxOpen, openSockets(s));
      },
    });
    const c = conn();
    const log = record(c);
    await c.dial(s.url);
    for (let i = 0; i < 20; i++) {
      void c.close();
      await c.dial(s.url);
    }
    await c.close();
    expect(maxOpen).toBe(1);
    expect(s.connections).toBe(21);
    expect(log.filter((l) => l === "connected")).toHaveLength(21);
    expect(log.filter((l) => l.startsWith("close"))).toEqual(
      Array(21).fill("close 1000 willReconnect=false"),
    );
    await until(() => s.clients.size === 0, "server sees every socket closed");
  });

  it("a Conn never dialled: close() goes idle -> closed, rejects queued requests, reports queued sends", async () => {
    const clock = new FakeClock();
    const c = conn<Msg, Msg>({ ...jsonIds, clock });
    const log = record(c);
    const errors: EvtWebSocketError[] = [];
    c.on("error", (e) => void errors.push(e));
    c.send({ v: "queued" });
    const req = settleOf(c.request({ id: 1 }));
    expect(c.stats.queuedMessages).toBe(2);
    await c.close();
    await until(() => req.outcome() !== undefined, "request settled");
    expect(req.outcome()).toBe("rejected ERR_CLOSED");
    expect(errors.map((e) => [e.code, e.details.unsent])).toEqual([["ERR_CLOSED", 1]]);
    expect(log).toEqual(["error ERR_CLOSED", "state idle->closed"]);
    expect(c.state).toBe("closed");
    expect(c.stats.queuedMessages).toBe(0);
    expect(clock.pending).toBe(0);
    expect(() => c.send({ v: "late" })).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
  });
});

describe("duplicate and stale responses", () => {
  it("the same response id twice: the first settles the request, the second reaches onMessage", async () => {
    const s = await server({
      onMessage(ws, data) {
        const m = JSON.parse(data.toString()) as Msg;
        ws.send(JSON.stringify({ id: m.id, v: "first" }));
        ws.send(JSON.stringify({ id: m.id, v: "second" }));
      },
    });
    const c = conn<Msg, Msg>(jsonIds);
    const log = record(c);
    await c.dial(s.url);
    const req = settleOf(c.request({ id: 7 }));
    await until(() => log.some((l) => l.startsWith("message")), "second response");
    expect(req.outcome()).toBe('resolved {"id":7,"v":"first"}');
    expect(log.filter((l) => l.startsWith("message"))).toEqual(['message {"id":7,"v":"second"}']);
    expect(c.stats.pendingRequests).toBe(0);
  });

  it("a stale response for a timed-out id settles a newer request that reused the id (ids must be unique)", async () => {
    // The library cannot tell two requests with the same id apart: reusing an id after a
    // timeout lets the old answer settle the new request, and the new answer goes to onMessage.
    const held: Array<() => void> = [];
    const s = await server({
      onMessage(ws, data) {
        const m = JSON.parse(data.toString()) as Msg;
        held.push(() => ws.send(JSON.stringify({ id: m.id, v: m.v })));
      },
    });
    const c = conn<Msg, Msg>(jsonIds);
    const log = record(c);
    await c.dial(s.url);
    await expect(c.request({ id: 1, v: "old" }, { timeoutMs: 20 })).rejects.toMatchObject({
      code: "ERR_REQUEST_TIMEOUT",
    });
    const fresh = settleOf(c.request({ id: 1, v: "new" }));
    await until(() => held.length === 2, "both requests arrived");
    held[0]!();
    held[1]!();
    await until(() => log.some((l) => l.startsWith("message")), "second response");
    expect(fresh.outcome()).toBe('resolved {"id":1,"v":"old"}');
    expect(log.filter((l) => l.startsWith("message"))).toEqual(['message {"id":1,"v":"new"}']);
  });

  it.each([0, ""])("a falsy id (%j) is a real id: it settles its own request", async (id) => {
    const s = await server({
      onMessage(ws, data) {
        const m = JSON.parse(data.toString()) as Msg;
        ws.send(JSON.stringify({ id: m.id, v: "answer" }));
        ws.send(JSON.stringify({ v: "no id" }));
      },
    });
    const c = conn<Msg, Msg>({ ...jsonIds, matchMsg: () => false });
    const log = record(c);
    await c.dial(s.url);
    const first = c.request({ id });
    await expect(c.request({ id })).rejects.toMatchObject({ code: "ERR_DUPLICATE_ID" });
    await expect(first).resolves.toEqual({ id, v: "answer" });
    await until(() => log.includes('message {"v":"no id"}'), "the id-less message");
    expect(log.filter((l) => l.startsWith("message"))).toEqual(['message {"v":"no id"}']);
  });
});

describe("listeners added or removed during dispatch (conn.on)", () => {
  it("a listener added during dispatch hears the next event, not the current one", async () => {
    const s = await server();
    const c = conn();
    const heard: string[] = [];
    let added = false;
    c.on("message", (m) => {
      heard.push(`first ${m}`);
      if (added) return;
      added = true;
      c.on("message", (m2) => void heard.push(`added ${m2}`));
    });
    await c.dial(s.url);
    c.send("one");
    await until(() => heard.length === 1, "one");
    c.send("two");
    await until(() => heard.length === 3, "two");
    expect(heard).toEqual(["first one", "first two", "added two"]);
  });

  it("a listener removed during dispatch still hears the current event (snapshot), not the next", async () => {
    const s = await server();
    const c = conn();
    const heard: string[] = [];
    let offSecond: () => void = () => {};
    c.on("message", (m) => {
      heard.push(`first ${m}`);
      offSecond();
    });
    offSecond = c.on("message", (m) => void heard.push(`second ${m}`));
    await c.dial(s.url);
    c.send("one");
    await until(() => heard.length === 2, "one");
    c.send("two");
    await until(() => heard.length === 3, "two");
    await sleep(20);
    expect(heard).toEqual(["first one", "second one", "first two"]);
  });

  it("calling an unsubscribe function twice is harmless and removes no other listener", async () => {
    const s = await server();
    const heard: string[] = [];
    const c = conn({ onMessage: (m) => void heard.push(`option ${m}`) });
    const off = c.on("message", (m) => void heard.push(`removed ${m}`));
    c.on("message", (m) => void heard.push(`kept ${m}`));
    off();
    off();
    await c.dial(s.url);
    c.send("x");
    await until(() => heard.length === 2, "delivered");
    await sleep(20);
    expect(heard).toEqual(["option x", "kept x"]);
  });
});

describe("heartbeat with an injected clock", () => {
  it("a 60 s sleep sends one ping, not a storm, and the rhythm resumes after the pong", async () => {
    let pings = 0;
    const s = await server({ onConnection: (ws) => ws.on("ping", () => void pings++) });
    const clock = new FakeClock();
    let pongs = 0;
    const c = conn({ clock, pingIntervalMs: 1000 });
    c.on("pong", () => void pongs++);
    await c.dial(s.url);
    clock.sleep(60_000);
    await until(() => pongs === 1, "the pong");
    expect(pings).toBe(1);
    clock.advance(999);
    await sleep(50);
    expect(pings).toBe(1);
    clock.advance(1);
    await until(() => pings === 2, "the next ping one interval later");
    expect(c.isConnected()).toBe(true);
  });

  it("a fixed pingMsg the codec cannot encode is refused at dial() with ERR_INVALID_OPTION", async () => {
    const s = await server();
    const boom = new Error("cannot encode a ping");
    const c = conn<string, string>({
      pingIntervalMs: 1000,
      pingMsg: "PING",
      codec: {
        encode: (m) => {
          if (m === "PING") throw boom;
          return m;
        },
        decode: (d) => String(d),
      },
    });
    await expect(c.dial(s.url)).rejects.toMatchObject({ code: "ERR_INVALID_OPTION", cause: boom });
    expect(s.connections).toBe(0);
  });

  it("a pingMsg function that throws ends the connection with ERR_CALLBACK_THREW; no timer left", async () => {
    const s = await server();
    const clock = new FakeClock();
    const boom = new Error("cannot build a ping");
    const errors: EvtWebSocketError[] = [];
    const c = conn<string, string>({
      clock,
      reconnect: false,
      pingIntervalMs: 1000,
      pingMsg: () => {
        throw boom;
      },
      onError: (e) => void errors.push(e),
    });
    const log = record(c);
    await c.dial(s.url);
    c.send("normal messages still go out");
    await until(() => s.received.length === 1, "the normal message");
    clock.advance(1000);
    await until(() => c.state === "closed", "closed");
    expect(errors.map((e) => e.code)).toEqual(["ERR_CALLBACK_THREW"]);
    expect(errors[0]!.cause).toBe(boom);
    expect(log.filter((l) => l.startsWith("close"))).toEqual(["close 1006 willReconnect=false"]);
    expect(clock.pending).toBe(0);
    expect(s.received).toEqual(["normal messages still go out"]);
  });

  it("a huge pingMsg (2 MiB) arrives whole and is not counted as a sent message", async () => {
    const big = "p".repeat(2 * 1024 * 1024);
    const s = await server({ onMessage: () => {} });
    const clock = new FakeClock();
    const c = conn({ clock, pingIntervalMs: 1000, pingMsg: () => big });
    await c.dial(s.url);
    clock.advance(1000);
    await until(() => s.received.length === 1, "the ping");
    expect(s.received[0]!.length).toBe(big.length);
    expect(c.stats.messagesSent).toBe(0);
    expect(c.stats.bytesSent).toBe(0);
  });
});

describe("the queue across a reconnect", () => {
  it("send() while reconnecting with a full queue: overflow is refused, the rest goes out in order after the reconnect", async () => {
    let connection = 0;
    const seen: string[] = [];
    const s = await server({
      onConnection(ws) {
        const n = ++connection;
        ws.on("message", (d) => void seen.push(`${n}:${d.toString()}`));
      },
      onMessage: () => {},
    });
    const c = conn<string, string>({ reconnect: fast, queue: { maxMessages: 3 }, matchMsg: echoMatch });
    await c.dial(s.url);
    const retried = settleOf(c.request("retried", { retryOnReconnect: true, timeoutMs: 0 }));
    await until(() => seen.length === 1, "the request arrived");
    await s.stop();
    await until(() => c.state === "reconnecting", "reconnecting");
    // The re-queued request takes one of the three slots.
    c.send("m1");
    c.send("m2");
    expect(() => c.send("m3")).toThrow(expect.objectContaining({ code: "ERR_QUEUE_FULL" }));
    await expect(c.request("r")).rejects.toMatchObject({ code: "ERR_QUEUE_FULL" });
    expect(c.stats.queuedMessages).toBe(3);
    await s.start();
    await until(() => c.isConnected(), "reconnected");
    c.send("after");
    await until(() => seen.length === 5, "everything arrived");
    expect(seen).toEqual(["1:retried", "2:retried", "2:m1", "2:m2", "2:after"]);
    expect(c.stats.queuedMessages).toBe(0);
    expect(retried.outcome()).toBeUndefined();
  });
});

describe("in onClose, the connection is not connected", () => {
  it("close() then dial() in one tick: the old socket's onClose sees the new dial (connecting), never an open connection", async () => {
    const s = await server();
    const seen: string[] = [];
    const c = conn({
      onClose: (info: CloseInfo, cc) =>
        void seen.push(`${cc.state} ${cc.isConnected()} willReconnect=${info.willReconnect}`),
    });
    await c.dial(s.url);
    const closed = c.close();
    const redial = c.dial(s.url);
    await closed;
    await redial;
    // The new dial waits for the old socket's end, so it cannot have opened yet.
    expect(seen).toEqual(["connecting false willReconnect=false"]);
    expect(c.isConnected()).toBe(true);
  });
});

describe("the close event is always delivered", () => {
  it("a shouldReconnect that calls close() still gets the close event of the socket that dropped", async () => {
    const s = await server();
    const closes: CloseInfo[] = [];
    let c!: Conn<string, string>;
    c = conn<string, string>({
      reconnect: {
        ...fast,
        shouldReconnect: () => {
          void c.close();
          return true;
        },
      },
      onClose: (info) => void closes.push(info),
    });
    await c.dial(s.url);
    s.dropAll(4000);
    await until(() => c.state === "closed", "closed");
    await sleep(30);
    // Seen: no close event at all (Lifecycle.#ended returns on the epoch change before #emitClose).
    expect(closes).toHaveLength(1);
    expect(closes[0]).toMatchObject({ code: 4000, closedBy: "server", willReconnect: false });
  });
});

describe("nothing outlives close()", () => {
  it("a codec whose encode calls close(): the request is not left pending, queued, timed or reported after close", async () => {
    const s = await server({ onMessage: () => {} });
    let c!: Conn<string, string>;
    let closeInEncode = false;
    const errors: string[] = [];
    c = conn<string, string>({
      requestTimeoutMs: 50,
      matchMsg: () => true,
      codec: {
        encode: (m: string) => {
          if (closeInEncode) void c.close();
          return m;
        },
        decode: (d) => String(d),
      },
      onError: (e, cc) => void errors.push(`${e.code} ${cc.state}`),
    });
    await c.dial(s.url);
    closeInEncode = true;
    let outcome = "no throw";
    try {
      c.send("req", () => {});
    } catch (e) {
      outcome = (e as { code: string }).code;
    }
    closeInEncode = false;
    await c.close();
    const after = { pending: c.stats.pendingRequests, queued: c.stats.queuedMessages };
    await new Promise((r) => setTimeout(r, 100));
    // Seen: no throw; pendingRequests 1 and queuedMessages 1 while closed; 50 ms later the
    // request's timer fires and onError gets ERR_REQUEST_TIMEOUT after close() resolved.
    // Cause: Conn.#request checks the state (#assertCanSend) before user code (codec.encode,
    // messageId) that can close; nothing checks it again before Outbox.request registers it.
    expect({ outcome, ...after, errors }).toEqual({
      outcome: "ERR_CLOSED",
      pending: 0,
      queued: 0,
      errors: [],
    });
  });
});

const KiB = 1024;
const MiB = 1024 * KiB;

describe('re-entrant calls from a "drain" listener (a real socket whose buffer filled and emptied)', () => {
  it.each(["close()", "reconnect()", "send()", "close() then dial()"] as const)(
    "%s: every promise settles, the state moves along the machine, never two sockets",
    async (what) => {
      const s = await stalledServer();
      const errors: string[] = [];
      const states: string[] = [];
      const closes: CloseInfo[] = [];
      const c = conn<Uint8Array, Uint8Array>({
        lowWaterMark: 64 * KiB,
        highWaterMark: 1 * MiB,
        reconnect: fast,
        onError: (e) => void errors.push(e.code),
        onClose: (i) => void closes.push(i),
      });
      c.on("state", (change) => void states.push(change.newState));
      let drains = 0;
      let inside: Promise<unknown> | undefined;
      let sent: string | undefined;
      c.on("drain", () => {
        if (drains++ > 0) return;
        if (what === "close()") inside = c.close();
        else if (what === "reconnect()") c.reconnect();
        else if (what === "send()") sent = c.send(new Uint8Array(2 * MiB));
        else inside = Promise.all([c.close(), c.dial(s.url)]);
      });
      await c.dial(s.url);
      const piece = new Uint8Array(64 * KiB);
      while (c.bufferedAmount <= 4 * MiB) c.send(piece);
      const waiting = c.drained();
      s.resume();
      await until(() => drains > 0, "the first drain");
      await expect(waiting).resolves.toBeUndefined();
      await inside;
      if (what === "close()") {
        expect(c.state).toBe("closed");
        expect(states).toEqual(["connecting", "open", "closed"]);
        expect(closes.map((i) => [i.code, i.willReconnect])).toEqual([[1000, false]]);
      } else if (what === "reconnect()") {
        await until(() => c.state === "open" && c.stats.reconnects === 1, "the new connection");
        expect(states).toEqual(["connecting", "open", "reconnecting", "open"]);
        expect(closes.map((i) => [i.code, i.willReconnect])).toEqual([[1000, true]]);
      } else if (what === "send()") {
        expect(sent).toBe("sent");
        // The 2 MiB send rose above highWaterMark again: a second drain once it has left.
        await until(() => drains === 2, "the second drain");
        expect(states).toEqual(["connecting", "open"]);
      } else {
        expect(c.state).toBe("open");
        expect(states).toEqual(["connecting", "open", "closed", "connecting", "open"]);
        expect(closes.map((i) => [i.code, i.willReconnect])).toEqual([[1000, false]]);
      }
      expect(errors).toEqual([]);
      expect(s.mostLive, "never two sockets at once").toBe(1);
    },
    30_000,
  );
});

describe('re-entrant calls from a "pong" listener', () => {
  it.each(["close()", "reconnect()", "ping()"] as const)(
    "%s: settles, and the connection goes on as asked",
    async (what) => {
      const s = await server();
      const errors: string[] = [];
      const c = conn<string, string>({
        pingIntervalMs: 60_000,
        reconnect: fast,
        onError: (e) => void errors.push(e.code),
      });
      let pongs = 0;
      let inside: Promise<void> | undefined;
      c.on("pong", () => {
        if (pongs++ > 0) return;
        if (what === "close()") inside = c.close();
        else if (what === "reconnect()") c.reconnect();
        else c.ping(); // answered: no ping is out any more, so this one goes
      });
      await c.dial(s.url);
      c.ping();
      await until(() => pongs > 0, "the pong");
      await inside;
      if (what === "close()") expect(c.state).toBe("closed");
      if (what === "reconnect()") await until(() => c.stats.reconnects === 1, "the new connection");
      if (what === "ping()") await until(() => pongs === 2, "the second ping's pong");
      expect(errors).toEqual([]);
    },
  );
});
