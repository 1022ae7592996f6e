/**
 * The bad-input catalogue: API misuse on a live connection, each case with its own typed error
 * code, a message naming the option or state, and the connection left usable afterwards (a
 * request still round-trips) or cleanly closed. Option types and ranges at construction are
 * in options.test.ts; URL parsing in url.test.ts.
 * Also the edge a check lets through: a close reason of 41 lone surrogates (123 bytes as U+FFFD).
 */
import { describe, expect, it } from "vitest";
import type { CloseInfo, Conn } from "../src/index.js";
import { conn, server } from "./helpers/harness.js";
import { until } from "./helpers/server.js";

type C = Conn<string | Uint8Array, string | Uint8Array>;

/** An open connection to an echo server whose requests match identical echoes. */
async function open(): Promise<{ c: C; url: string }> {
  const s = await server();
  const c = conn<string | Uint8Array, string | Uint8Array>({ matchMsg: (req, resp) => req === resp });
  await c.dial(s.url);
  return { c, url: s.url };
}

async function stillUsable(c: C): Promise<void> {
  expect(c.state).toBe("open");
  await expect(c.request("still-usable", { timeoutMs: 10_000 })).resolves.toBe("still-usable");
}

type Case = [string, (c: C, url: string) => unknown, string, RegExp];

/**
 * Values whose `String()` throws (no prototype, a throwing `toString`, a Symbol in a template)
 * or that `JSON.stringify` cannot write (a BigInt): a check that quoted them threw a TypeError
 * (or the thrown value) instead of its own error.
 */
const unprintable: [string, unknown][] = [
  ["an object without a prototype", Object.create(null)],
  ["a Symbol", Symbol("s")],
  [
    "an object whose toString throws",
    {
      toString: () => {
        throw 1;
      },
    },
  ],
  ["a BigInt", 1n],
];

const cases: Case[] = [
  [
    "send() of an object with the raw codec",
    (c) => c.send({ a: 1 } as never),
    "ERR_INVALID_OPTION",
    /encode/,
  ],
  ["send() of a number", (c) => c.send(42 as never), "ERR_INVALID_OPTION", /encode/],
  ["send() of null", (c) => c.send(null as never), "ERR_INVALID_OPTION", /encode/],
  [
    "send() with a callback that is not a function",
    (c) => c.send("x", "cb" as never),
    "ERR_INVALID_OPTION",
    /callback/,
  ],
  // Every value but a whole number of ms up to 2,147,483,647 or Infinity (no timeout, accepted:
  // conn-durations.test.ts).
  ...([-1, Number.NaN, "5", 1.5, 2 ** 31, Number.NEGATIVE_INFINITY] as unknown[]).map(
    (timeoutMs): Case => [
      `request() with timeoutMs ${typeof timeoutMs === "string" ? JSON.stringify(timeoutMs) : timeoutMs}`,
      (c) => c.request("x", { timeoutMs: timeoutMs as number }),
      "ERR_INVALID_OPTION",
      /option timeoutMs of request\(\) must be a whole number of ms from 0 to 2147483647 or Infinity/,
    ],
  ),
  [
    "request() with an already-aborted signal",
    (c) => c.request("x", { signal: AbortSignal.abort() }),
    "ERR_ABORTED",
    /aborted/,
  ],
  [
    'send(body, { volatile: "yes" })',
    (c) => c.send("x", { volatile: "yes" as never }),
    "ERR_INVALID_OPTION",
    /option volatile of send\(\) must be a boolean, got "yes"/,
  ],
  ...(
    [-1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5, 2 ** 31, "5"] as unknown[]
  ).map(
    (maxAgeMs): Case => [
      `send(body, { maxAgeMs: ${typeof maxAgeMs === "string" ? JSON.stringify(maxAgeMs) : maxAgeMs} })`,
      (c) => c.send("x", { maxAgeMs: maxAgeMs as number }),
      "ERR_INVALID_OPTION",
      /option maxAgeMs of send\(\) must be a whole number of ms from 0 to 2147483647, got/,
    ],
  ),
  ...([{}, "signal", { aborted: false }] as unknown[]).map(
    (signal): Case => [
      `send(body, { signal: ${JSON.stringify(signal)} }) (not an AbortSignal)`,
      (c) => c.send("x", { signal: signal as AbortSignal }),
      "ERR_INVALID_OPTION",
      /option signal of send\(\) must be an AbortSignal/,
    ],
  ),
  // It was not checked: addEventListener threw a TypeError once the request was registered,
  // which stayed pending (never sent, never settled but by its timeout).
  ...([{}, "signal", { aborted: false }] as unknown[]).map(
    (signal): Case => [
      `request(body, { signal: ${JSON.stringify(signal)} }) (not an AbortSignal)`,
      (c) => c.request("x", { signal: signal as AbortSignal }),
      "ERR_INVALID_OPTION",
      /option signal of request\(\) must be an AbortSignal/,
    ],
  ),
  [
    "send(body, null)",
    (c) => c.send("x", null as never),
    "ERR_INVALID_OPTION",
    /callback or an options object/,
  ],
  ["close() with 999", (c) => c.close(999), "ERR_INVALID_OPTION", /close code/],
  ["close() with 1005 (reserved)", (c) => c.close(1005), "ERR_INVALID_OPTION", /close code/],
  ["close() with 2999", (c) => c.close(2999), "ERR_INVALID_OPTION", /close code/],
  ["close() with 5000", (c) => c.close(5000), "ERR_INVALID_OPTION", /close code/],
  ["close() with a fractional code", (c) => c.close(3000.5), "ERR_INVALID_OPTION", /close code/],
  [
    "close() with a reason over 123 bytes",
    (c) => c.close(1000, "x".repeat(124)),
    "ERR_INVALID_OPTION",
    /reason/,
  ],
  [
    // 42 lone surrogates, 3 bytes each as U+FFFD: 126 bytes (once counted as 84, and the
    // transport then threw, ending the connection with 1006 instead of a clean close).
    "close() with a reason of lone surrogates over 123 bytes",
    (c) => c.close(1000, "\ud800".repeat(42)),
    "ERR_INVALID_OPTION",
    /reason/,
  ],
  [
    "close() with a reason that is not a string",
    (c) => c.close(1000, 5 as never),
    "ERR_INVALID_OPTION",
    /reason/,
  ],
  ["dial() while open", (c, url) => c.dial(url), "ERR_ALREADY_DIALED", /already open/],
  ["ping() without the heartbeat", (c) => c.ping(), "ERR_INVALID_OPTION", /pingIntervalMs/],
  // Untyped callers: ws's "open" would have waited for ever, a non-function thrown at the event.
  [
    'on("open"), as ws names it',
    (c) => c.on("open" as never, (() => {}) as never),
    "ERR_INVALID_OPTION",
    /unknown event "open"; the events are connected, message, error, close, reconnecting, pong, state, drain/,
  ],
  [
    "on() with a listener that is not a function",
    (c) => c.on("message", "handler" as never),
    "ERR_INVALID_OPTION",
    /on\("message"\): the listener must be a function, got string/,
  ],
  ...unprintable.flatMap(([what, v]): Case[] => [
    [
      `close() with ${what} as the code`,
      (c) => c.close(v as never),
      "ERR_INVALID_OPTION",
      /close code must be/,
    ],
    [
      `reconnect() with ${what} as the code`,
      (c) => c.reconnect(v as never),
      "ERR_INVALID_OPTION",
      /close code must be/,
    ],
    [
      `send(body, { volatile: ${what} })`,
      (c) => c.send("x", { volatile: v as never }),
      "ERR_INVALID_OPTION",
      /option volatile of send\(\) must be a boolean, got /,
    ],
    [
      `messages({ overflow: ${what} })`,
      (c) => c.messages({ overflow: v as never }),
      "ERR_INVALID_OPTION",
      /messages\(\): option overflow must be "error" or "drop-oldest", got /,
    ],
  ]),
  // JSON.stringify(Symbol) is undefined: the message said "got undefined".
  [
    'send(body, { volatile: Symbol("s") }) names the Symbol',
    (c) => c.send("x", { volatile: Symbol("s") as never }),
    "ERR_INVALID_OPTION",
    /option volatile of send\(\) must be a boolean, got Symbol\(s\)$/,
  ],
  [
    'messages({ overflow: Symbol("s") }) names the Symbol',
    (c) => c.messages({ overflow: Symbol("s") as never }),
    "ERR_INVALID_OPTION",
    /messages\(\): option overflow must be "error" or "drop-oldest", got Symbol\(s\)$/,
  ],
  // A follower read anything but true as false, and so did Conn: "yes" meant no retry, silently.
  ...([['"yes"', "yes"], ["1", 1], ["null", null], ["{}", {}], ...unprintable] as [string, unknown][]).map(
    ([what, retryOnReconnect]): Case => [
      `request(body, { retryOnReconnect: ${what} })`,
      (c) => c.request("x", { retryOnReconnect: retryOnReconnect as never }),
      "ERR_INVALID_OPTION",
      /option retryOnReconnect of request\(\) must be a boolean, got /,
    ],
  ),
  // Options that were not an object were read as none: request(body, 5000) waited 30 s, not 5.
  ...(
    [
      ["5000", 5000],
      ['"5000"', "5000"],
      ["null", null],
      ["true", true],
      ["a Symbol", Symbol("s")],
      ["a BigInt", 1n],
    ] as [string, unknown][]
  ).map(
    ([what, options]): Case => [
      `request(body, ${what}) (options not an object)`,
      (c) => c.request("x", options as never),
      "ERR_INVALID_OPTION",
      /request\(\): options must be an object, got /,
    ],
  ),
];

describe("bad input on an open connection: typed error, clear message, connection still usable", () => {
  it.each(cases)("%s", async (_name, misuse, code, message) => {
    const { c, url } = await open();
    let caught: unknown;
    try {
      await misuse(c, url);
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ name: "EvtWebSocketError", code });
    expect((caught as Error).message).toMatch(message);
    await stillUsable(c);
  });
});

describe("a codec whose encode() returns neither a string nor a Uint8Array", () => {
  // What the codec returned once went on: queued, a number read as "0+undefined bytes" and failed
  // with ERR_QUEUE_FULL; open, it reached the frame builder and threw Node's ERR_OUT_OF_RANGE.
  const badCodec = {
    encode: (v: string) => (v.startsWith("bad") ? (42 as never) : v),
    decode: (d: string | Uint8Array) => d,
  };

  it.each(["queued", "open"] as const)(
    "send() while %s: ERR_INVALID_OPTION naming the codec, nothing queued or sent, the next message goes",
    async (when) => {
      const s = await server();
      const c = conn<string | Uint8Array, string>({
        codec: badCodec as never,
        matchMsg: (req, resp) => req === resp,
      });
      if (when === "open") await c.dial(s.url);
      let caught: unknown;
      try {
        c.send(`bad-${when}`);
      } catch (e) {
        caught = e;
      }
      expect(caught).toMatchObject({ name: "EvtWebSocketError", code: "ERR_INVALID_OPTION" });
      expect((caught as Error).message).toMatch(
        /cannot send: codec\.encode\(\) must return a string or Uint8Array, got number/,
      );
      expect(c.stats).toMatchObject({ queuedMessages: 0, messagesSent: 0, bytesSent: 0 });
      if (when === "queued") await c.dial(s.url);
      await expect(c.request(`ok-${when}`, { timeoutMs: 10_000 })).resolves.toBe(`ok-${when}`);
    },
  );

  it("request(): the same error, and no request is left pending", async () => {
    const s = await server();
    const c = conn<string | Uint8Array, string>({
      codec: badCodec as never,
      matchMsg: (req, resp) => req === resp,
    });
    await c.dial(s.url);
    await expect(c.request("bad")).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    expect(c.stats.pendingRequests).toBe(0);
  });
});

describe("bad input before or after the connection", () => {
  it.each([
    ["ftp://127.0.0.1/", /ftp:/],
    ["ws://exa mple/", /cannot be parsed/],
    [42, /expected a string or URL/],
  ])("dial(%j) rejects ERR_INVALID_URL and leaves the Conn idle and dialable", async (url, message) => {
    const s = await server();
    const c = conn();
    const e = await c.dial(url as string).catch((x) => x);
    expect(e).toMatchObject({ code: "ERR_INVALID_URL" });
    expect(e.message).toMatch(message);
    expect(c.state).toBe("idle");
    await c.dial(s.url);
    expect(c.isConnected()).toBe(true);
  });

  it("a URL function that returns a bad URL ends the dial with ERR_INVALID_URL, never retried", async () => {
    let calls = 0;
    const c = conn({ reconnect: { minDelayMs: 5, jitter: 0 } });
    const e = await c
      .dial(() => {
        calls++;
        return "file:///etc/passwd";
      })
      .catch((x) => x);
    expect(e).toMatchObject({ code: "ERR_INVALID_URL" });
    expect(calls).toBe(1);
    expect(c.state).toBe("closed");
  });

  it.each([["bad proto"], [""], [["a", "a"]]])("dial() with subprotocol %j", async (sub) => {
    const s = await server();
    const c = conn();
    if (sub === "") {
      await c.dial(s.url, sub);
      expect(c.isConnected()).toBe(true);
      return;
    }
    await expect(c.dial(s.url, sub as string)).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
      message: expect.stringMatching(/subprotocol/),
    });
    await c.dial(s.url);
    expect(c.isConnected()).toBe(true);
  });

  it.each([
    [
      'queue.overflow "drop-newest"',
      { overflow: "drop-newest" },
      /option queue.overflow must be "reject" or "drop-oldest", got "drop-newest"/,
    ],
    [
      "queue.maxAgeMs -1",
      { maxAgeMs: -1 },
      /option queue.maxAgeMs must be a whole number of ms from 0 to 2147483647, got -1/,
    ],
    ["queue.maxAgeMs NaN", { maxAgeMs: Number.NaN }, /option queue.maxAgeMs .* got NaN/],
    [
      "queue.maxAgeMs Infinity",
      { maxAgeMs: Number.POSITIVE_INFINITY },
      /option queue.maxAgeMs .* got Infinity/,
    ],
  ])("new Conn() with %s: ERR_INVALID_OPTION naming the option", (_name, queue, message) => {
    let caught: unknown;
    try {
      conn({ queue: queue as never });
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ name: "EvtWebSocketError", code: "ERR_INVALID_OPTION" });
    expect((caught as Error).message).toMatch(message);
  });

  it.each([
    ...unprintable.flatMap(([what, v]): [string, object, RegExp][] => [
      [
        `reconnect.factor ${what}`,
        { factor: v },
        /option reconnect\.factor must be a number from 1 to Infinity, got /,
      ],
      [
        `reconnect.jitter ${what}`,
        { jitter: v },
        /option reconnect\.jitter must be a number from 0 to 1, got /,
      ],
    ]),
  ])(
    "new Conn() with %s: ERR_INVALID_OPTION naming the option, not a TypeError",
    (_name, reconnect, message) => {
      let caught: unknown;
      try {
        conn({ reconnect: reconnect as never });
      } catch (e) {
        caught = e;
      }
      expect(caught).toMatchObject({ name: "EvtWebSocketError", code: "ERR_INVALID_OPTION" });
      expect((caught as Error).message).toMatch(message);
    },
  );

  it("request() with a signal that is not an AbortSignal while queued: ERR_INVALID_OPTION, nothing pending, nothing dropped", async () => {
    // It registered the request, then threw a TypeError: the request stayed pending and the
    // message dropped as oldest to make room for it was never sent nor reported.
    const s = await server({ onMessage: () => {} });
    const errors: unknown[] = [];
    const c = conn({
      matchMsg: () => true,
      queue: { maxMessages: 1, overflow: "drop-oldest" },
      onError: (e) => errors.push(e),
    });
    c.send("queued");
    await expect(c.request("x", { signal: {} as AbortSignal, timeoutMs: 0 })).rejects.toMatchObject({
      name: "EvtWebSocketError",
      code: "ERR_INVALID_OPTION",
      message: expect.stringMatching(/option signal of request\(\) must be an AbortSignal/),
    });
    expect(c.stats).toMatchObject({ pendingRequests: 0, queuedMessages: 1 });
    await c.dial(s.url);
    c.send("after");
    await until(() => s.received.length === 2, "both messages");
    expect(s.received).toEqual(["queued", "after"]);
    expect(errors).toEqual([]);
  });

  it("a message larger than the queue's byte limit while not open: ERR_QUEUE_FULL naming the bytes", () => {
    const c = conn({ queue: { maxBytes: 100 } });
    const e = (() => {
      try {
        c.send("x".repeat(101));
      } catch (x) {
        return x as Error;
      }
    })();
    expect(e).toMatchObject({ code: "ERR_QUEUE_FULL" });
    expect(e?.message).toMatch(/bytes/);
    expect(e?.message).toMatch(/idle/);
    c.send("small enough");
    expect(c.stats.queuedMessages).toBe(1);
  });

  it("send() and request() after close(): ERR_CLOSED naming the state; close() twice is one close", async () => {
    const { c } = await open();
    const first = c.close();
    expect(c.close()).toBe(first);
    await first;
    expect(() => c.send("x")).toThrow(
      expect.objectContaining({ code: "ERR_CLOSED", message: expect.stringMatching(/closed/) }),
    );
    await expect(c.request("x")).rejects.toMatchObject({ code: "ERR_CLOSED" });
    expect(() => c.send("x", () => {})).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
  });
});

describe("a close reason of lone surrogates (issue 15, bug 4)", () => {
  it("41 of them are 123 bytes as U+FFFD: accepted, and the close is clean with that code and reason on both sides", async () => {
    let seen: { code: number; reason: string } | undefined;
    const s = await server({
      onConnection: (ws) => ws.on("close", (code, reason) => (seen = { code, reason: reason.toString() })),
    });
    const closes: CloseInfo[] = [];
    const errors: string[] = [];
    const c = conn({ onClose: (i) => void closes.push(i), onError: (e) => void errors.push(e.code) });
    await c.dial(s.url);
    await c.close(4000, "\ud800".repeat(41));
    await until(() => seen !== undefined, "the server saw the close");
    expect(seen).toEqual({ code: 4000, reason: "\ufffd".repeat(41) });
    expect(closes).toMatchObject([{ code: 4000, wasClean: true, closedBy: "client", willReconnect: false }]);
    expect(errors).toEqual([]);
  });
});
