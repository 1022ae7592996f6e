/**
 * `evtwebsocket/shared` in Node: bad input, and the "alone" fallback (Node 20 has
 * BroadcastChannel but no `navigator.locks`) against a real `ws` server. The leader/follower
 * behaviour is tested in Chromium (test/browser/shared.test.ts).
 */

import { describe, expect, expectTypeOf, it } from "vitest";
import {
  type Conn,
  type ConnEvents,
  EvtWebSocketError,
  isEvtWebSocketError,
  type SendResult,
} from "../src/index.js";
import { createSharedConn, type SharedConn, type SharedConnEvents } from "../src/shared/index.js";
import { onCleanup, server } from "./helpers/harness.js";
import { until } from "./helpers/server.js";

describe("createSharedConn", () => {
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  it.each([
    ["an empty name", "", '""'],
    ["a number", 42, "42"],
    ["undefined", undefined, "undefined"],
    // These threw JSON.stringify's TypeError, or said "got undefined".
    ["a bigint", 10n, "10"],
    ["an object that refers to itself", circular, "[object Object]"],
    ["a symbol", Symbol("feed"), "Symbol(feed)"],
    ["a function", function feed() {}, "function feed"],
    // String() of it throws: the check threw that TypeError.
    ["an object without a prototype", Object.create(null), "object"],
  ])(
    "refuses %s with an EvtWebSocketError ERR_INVALID_OPTION naming the name and what it got",
    (_, name, got) => {
      let thrown: unknown;
      try {
        createSharedConn(name as string);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(EvtWebSocketError);
      expect(thrown).toMatchObject({ code: "ERR_INVALID_OPTION", message: expect.stringContaining("name") });
      expect((thrown as Error).message).toContain(`got ${got}`);
    },
  );

  it("refuses a bad option at once with ERR_INVALID_OPTION, as Conn does", () => {
    expect(() => createSharedConn("t", { requestTimeoutMs: -1 })).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_OPTION",
        message: expect.stringContaining("requestTimeoutMs"),
      }),
    );
  });

  it('without Web Locks it holds a private connection and says so: role "alone"', async () => {
    const s = await server();
    const conn = createSharedConn<string, string>("t", { matchMsg: (req, resp) => resp === req });
    onCleanup(() => conn.close());
    const seen: string[] = [];
    conn.on("message", (msg) => seen.push(msg));
    conn.on("state", ({ newState }) => seen.push(newState));
    expect(conn.role).toBe("alone");
    expect(conn.state).toBe("idle");
    await conn.dial(s.url);
    expect(conn.isConnected()).toBe(true);
    expect(await conn.request("ping")).toBe("ping");
    conn.send("hello");
    await until(() => seen.includes("hello"), "the echo");
    await conn.close();
    expect(seen).toEqual(["connecting", "open", "hello", "closed"]);
    expect(s.connections).toBe(1);
  });

  it("has every member of Conn's API, each of a type Conn's callers accept, and every event of Conn's (plus role)", () => {
    type C = Conn<string, number>;
    type S = SharedConn<string, number>;
    // The callbacks of `on` and `send` get the SharedConn itself where Conn's get the Conn:
    // those two are checked by the calls below, every other member by type.
    type Own = "on" | "send";
    type Gaps = {
      [K in Exclude<keyof C, Own>]: K extends keyof S ? (S[K] extends C[K] ? never : K) : K;
    }[Exclude<keyof C, Own>];
    // Wrapped in tuples: a bare `never` would distribute to nothing inside expectTypeOf.
    expectTypeOf<[Gaps]>().toEqualTypeOf<[never]>();
    expectTypeOf<Exclude<keyof S, keyof C>>().toEqualTypeOf<"role">();
    type Events = ConnEvents<string, number>;
    type SharedEvents = SharedConnEvents<string, number>;
    expectTypeOf<[Exclude<keyof Events, keyof SharedEvents>]>().toEqualTypeOf<[never]>();
    expectTypeOf<Exclude<keyof SharedEvents, keyof Events>>().toEqualTypeOf<"role">();
    // Compiled, never run: each call must type-check as it does on a Conn.
    const calls = (c: S): [SendResult, SendResult, () => void] => [
      c.send(1, { volatile: true, maxAgeMs: 10 }),
      c.send(1, (resp: string, self: S) => void [resp, self]),
      c.on("message", (msg: string, self: S) => void [msg, self]),
    ];
    expectTypeOf(calls).returns.toEqualTypeOf<[SendResult, SendResult, () => void]>();
  });

  it('on() refuses an unknown event (ws\'s "open") and a listener that is not a function, with the public error class', () => {
    const conn = createSharedConn<string, string>("t");
    onCleanup(() => conn.close());
    expect(() => conn.on("open" as never, (() => {}) as never)).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_OPTION",
        message: expect.stringMatching(/unknown event "open"; .*drain, role$/),
      }),
    );
    let caught: unknown;
    try {
      conn.on("role", 5 as never);
    } catch (e) {
      caught = e;
    }
    expect(isEvtWebSocketError(caught)).toBe(true);
    expect(caught).toBeInstanceOf(EvtWebSocketError);
    expect(conn.on("role", () => {})).toBeTypeOf("function");
  });

  it("reconnect() in a lone tab is its Conn's: a new socket at once, the old one closed with the code and reason given; refused before dial()", async () => {
    const closes: [number, string][] = [];
    const s = await server({
      onConnection: (ws) => ws.on("close", (code, reason) => closes.push([code, String(reason)])),
    });
    const conn = createSharedConn<string, string>("t");
    onCleanup(() => conn.close());
    expect(() => conn.reconnect()).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
    await conn.dial(s.url);
    expect(() => conn.reconnect(1001)).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
    conn.reconnect(4000, "new token");
    expect(conn.send("after")).toBe("queued");
    await until(() => s.received.includes("after"), "the message on the new socket");
    expect(s.connections).toBe(2);
    expect(closes).toEqual([[4000, "new token"]]);
  });

  it("id is this tab's Conn's: a short id unique in the page, the one its logger's lines carry", async () => {
    const s = await server();
    const lines: string[] = [];
    const log = (line: string) => void lines.push(line);
    const a = createSharedConn<string, string>("t", {
      logger: { debug: log, info: log, warn: log, error: log },
    });
    const b = createSharedConn<string, string>("t");
    onCleanup(() => Promise.all([a.close(), b.close()]));
    expect(a.id).toMatch(/^c\d+$/);
    expect(b.id).toMatch(/^c\d+$/);
    expect(a.id).not.toBe(b.id);
    await a.dial(s.url);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line.startsWith(`evtwebsocket[${a.id}] `)).toBe(true);
  });

  it("send() with a callback is a request, as on Conn: the callback gets the response", async () => {
    const s = await server();
    const conn = createSharedConn<string, string>("t", { matchMsg: (req, resp) => resp === req });
    onCleanup(() => conn.close());
    await conn.dial(s.url);
    const reply = await new Promise((resolve) =>
      conn.send("question", (resp, c) => resolve([resp, c === conn])),
    );
    expect(reply).toEqual(["question", true]);
    expect(() => conn.send("x", 42 as never)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION" }),
    );
  });

  it("after close(), dial() rejects ERR_CLOSED and opens no socket, as in a follower", async () => {
    const s = await server();
    const conn = createSharedConn<string, string>("t");
    onCleanup(() => conn.close());
    await conn.dial(s.url);
    await conn.close();
    // It used to redial the closed Conn: a second close() then returned at once, the socket left open.
    await expect(conn.dial(s.url)).rejects.toMatchObject({ code: "ERR_CLOSED" });
    await conn.close();
    expect(conn.state).toBe("closed");
    expect(s.connections).toBe(1);
    expect(s.clients.size).toBe(0);
  });

  it("close() with a bad code rejects with ERR_INVALID_OPTION and changes nothing: a good close() then closes", async () => {
    const s = await server();
    const conn = createSharedConn<string, string>("t");
    onCleanup(() => conn.close());
    await conn.dial(s.url);
    await expect(conn.close(1234)).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    expect(conn.state).toBe("open");
    // It used to count as closed: the next close() returned at once and left the socket open
    // (in a leader, with the lock held: no other tab could lead).
    await conn.close();
    expect(conn.state).toBe("closed");
    await until(() => s.clients.size === 0, "the server to see the close");
  });
  it("send(body, options) returns what it did, as Conn's: queued before the open, sent when open, dropped when volatile and not open; bad options are refused naming the option", async () => {
    const s = await server();
    const conn = createSharedConn<string, string>("t");
    onCleanup(() => conn.close());
    expect(conn.send("early")).toBe("queued");
    expect(conn.send("cursor", { volatile: true })).toBe("dropped");
    await conn.dial(s.url);
    expect(conn.send("now", {})).toBe("sent");
    expect(conn.send("now-volatile", { volatile: true })).toBe("sent");
    expect(() => conn.send("x", { volatile: "yes" as never })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message: expect.stringContaining("volatile") }),
    );
    expect(() => conn.send("x", { maxAgeMs: -1 })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message: expect.stringContaining("maxAgeMs") }),
    );
    const aborted = AbortSignal.abort();
    expect(() => conn.send("x", { signal: aborted })).toThrow(
      expect.objectContaining({ code: "ERR_ABORTED" }),
    );
    await until(() => s.received.includes("now-volatile"), "the sends");
    expect(s.received).toEqual(["early", "now", "now-volatile"]);
  });

  it("messages() and for await yield the messages the message event gets, and end at close()", async () => {
    const s = await server();
    const conn = createSharedConn<string, string>("t");
    onCleanup(() => conn.close());
    await conn.dial(s.url);
    const viaMessages: string[] = [];
    const viaIterator: string[] = [];
    const a = (async () => {
      for await (const msg of conn.messages({ bufferSize: 8 })) viaMessages.push(msg);
    })();
    const b = (async () => {
      for await (const msg of conn) viaIterator.push(msg);
    })();
    conn.send("one");
    conn.send("two");
    await until(() => viaMessages.length === 2 && viaIterator.length === 2, "both iterators");
    await conn.close();
    await Promise.all([a, b]); // they end (done) at close()
    expect(viaMessages).toEqual(["one", "two"]);
    expect(viaIterator).toEqual(["one", "two"]);
    expect(() => conn.messages({ bufferSize: 0 })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message: expect.stringContaining("bufferSize") }),
    );
  });

  it("ping(), protocol, handshake, bufferedAmount, drained() and stats are the lone tab's Conn's", async () => {
    const s = await server();
    const plain = createSharedConn<string, string>("t");
    onCleanup(() => plain.close());
    expect(() => plain.ping()).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_OPTION",
        message: expect.stringContaining("pingIntervalMs"),
      }),
    );
    const conn = createSharedConn<string, string>("t", { pingIntervalMs: 60_000 });
    onCleanup(() => conn.close());
    expect(conn.protocol).toBe("");
    expect(conn.handshake).toBeUndefined();
    await conn.dial(s.url, "chat");
    expect(conn.protocol).toBe("chat");
    expect(conn.handshake).toMatchObject({ protocol: "chat" });
    const pong = new Promise<number>((resolve) => conn.on("pong", ({ rttMs }) => resolve(rttMs)));
    conn.ping();
    expect(await pong).toBeGreaterThanOrEqual(0);
    conn.send("a");
    expect(typeof conn.bufferedAmount).toBe("number");
    await conn.drained();
    await until(() => conn.stats.messagesReceived === 1, "the echo");
    expect(conn.stats).toMatchObject({ messagesSent: 1, messagesReceived: 1, queuedMessages: 0 });
    expect(conn.stats.lastRttMs).toBeGreaterThanOrEqual(0);
    await conn.close();
    await expect(conn.drained()).rejects.toMatchObject({ code: "ERR_CLOSED" });
  });
  it("\"drain\" is the lone tab's Conn's: after the buffer rose above highWaterMark it fires once it falls back", async () => {
    const s = await server({ onMessage() {} });
    const conn = createSharedConn<Uint8Array, Uint8Array>("t", { lowWaterMark: 0, highWaterMark: 1024 });
    onCleanup(() => conn.close());
    const seen: number[] = [];
    conn.on("drain", () => void seen.push(conn.bufferedAmount));
    await conn.dial(s.url);
    conn.send(new Uint8Array(4 * 1024 * 1024));
    await until(() => seen.length === 1, "the drain event");
    expect(seen).toEqual([0]);
  });
});
