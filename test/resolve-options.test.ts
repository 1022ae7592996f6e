/**
 * resolveOptions (src/resolve-options.ts) as tables, for the rows options.test.ts (through the
 * Conn constructor) leaves open: values at the edges of their ranges accepted unchanged, shapes
 * refused with messages naming the option, the shared reconnect policies, and water marks.
 */
import { describe, expect, it } from "vitest";
import { Conn } from "../src/conn.js";
import { DEFAULTS, resolveOptions } from "../src/resolve-options.js";

const noop = () => {};

describe("resolveOptions: values at the edges of their ranges are accepted as given", () => {
  it("factor 1, jitter 0 and 1, Infinity attempts and queue bounds", () => {
    const r = resolveOptions({ reconnect: { factor: 1, jitter: 1, maxAttempts: Infinity } }).reconnect;
    expect([r.factor, r.jitter, r.maxAttempts]).toEqual([1, 1, Infinity]);
    expect(resolveOptions({ reconnect: { jitter: 0 } }).reconnect.jitter).toBe(0);
    const q = resolveOptions({ queue: { maxMessages: Infinity, maxBytes: Infinity } }).queue;
    expect([q.maxMessages, q.maxBytes]).toEqual([Infinity, Infinity]);
  });

  it("callbacks, a WebSocket constructor, a headers function, tls and a clock given as functions and objects", () => {
    const clock = { setTimeout, clearTimeout, now: () => 0 };
    const o = resolveOptions({
      onMessage: noop,
      onError: noop,
      matchMsg: () => false,
      reconnect: { shouldReconnect: () => true },
      WebSocket: class {} as never,
      headers: () => ({}),
      tls: {},
      clock,
    });
    expect(o.reconnect.shouldReconnect).toBeTypeOf("function");
    expect(o.clock).toBe(clock);
  });

  it("queue.overflow: reject by default, either value as given", () => {
    expect(resolveOptions({ queue: {} }).queue.overflow).toBe("reject");
    expect(resolveOptions({ queue: { overflow: "reject" } }).queue.overflow).toBe("reject");
    expect(resolveOptions({ queue: { overflow: "drop-oldest" } }).queue.overflow).toBe("drop-oldest");
  });

  it("queue: false is no queue at all, with the reject policy and no deadline", () => {
    expect(resolveOptions({ queue: false }).queue).toStrictEqual({
      maxMessages: 0,
      maxBytes: 0,
      overflow: "reject",
      maxAgeMs: 0,
    });
  });

  it("reconnect: true and no reconnect option share one frozen default policy", () => {
    const shared = resolveOptions({}).reconnect;
    expect(resolveOptions({ reconnect: true }).reconnect).toBe(shared);
    expect(Object.isFrozen(shared)).toBe(true);
  });
});

describe("resolveOptions: water marks", () => {
  it.each<[string, object, number, number]>([
    ["the defaults", {}, DEFAULTS.lowWaterMark, DEFAULTS.highWaterMark],
    ["both given", { lowWaterMark: 5, highWaterMark: 10 }, 5, 10],
    ["equal", { lowWaterMark: 10, highWaterMark: 10 }, 10, 10],
    ["zero", { lowWaterMark: 0, highWaterMark: 0 }, 0, 0],
    ["a high mark below the default low one lowers the low one to it", { highWaterMark: 1000 }, 1000, 1000],
  ])("%s", (_name, options, low, high) => {
    const o = resolveOptions(options);
    expect([o.lowWaterMark, o.highWaterMark]).toEqual([low, high]);
  });

  it.each<[object, string]>([
    [{ highWaterMark: -1 }, "option highWaterMark must be a whole number of bytes (0 or more), got -1"],
    [{ highWaterMark: 1.5 }, "option highWaterMark must be a whole number of bytes (0 or more), got 1.5"],
    [{ lowWaterMark: "1" }, 'option lowWaterMark must be a whole number of bytes (0 or more), got "1"'],
    [
      { lowWaterMark: 11, highWaterMark: 10 },
      "option lowWaterMark (11) must not be above highWaterMark (10)",
    ],
  ])("%o is refused: %s", (options, message) => {
    expect(() => resolveOptions(options as never)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message }),
    );
  });
});

describe("resolveOptions: shapes refused, with the message naming the option", () => {
  it.each<[string, unknown, string]>([
    ["options null", null, "options must be an object (the URL goes to dial())"],
    ["options a string (new Conn(url))", "ws://h", "options must be an object (the URL goes to dial())"],
    [
      "options a URL (new Conn(url))",
      new URL("ws://h"),
      "options must be an object (the URL goes to dial())",
    ],
    ["options an array", ["ws://h"], "options must be an object (the URL goes to dial())"],
    ["reconnect null", { reconnect: null }, "option reconnect must be a boolean or an object, got object"],
    ["queue null", { queue: null }, "option queue must be false or an object"],
    ["headers a string", { headers: "a: b" }, "option headers must be an object of strings"],
    ["headers null", { headers: null }, "option headers must be an object of strings"],
    ["tls a string", { tls: "yes" }, "option tls must be an object"],
    ["tls null", { tls: null }, "option tls must be an object"],
    ["WebSocket an object", { WebSocket: {} }, "option WebSocket must be a WebSocket constructor"],
    ["onClose a string", { onClose: "x" }, "option onClose must be a function, got string"],
    [
      "codec without encode",
      { codec: { decode: noop } },
      "option codec must have encode() and decode() functions",
    ],
    [
      "clock without now",
      { clock: { setTimeout, clearTimeout } },
      "option clock must have setTimeout(), clearTimeout() and now()",
    ],
    [
      "clock without setTimeout",
      { clock: { clearTimeout, now: () => 0 } },
      "option clock must have setTimeout(), clearTimeout() and now()",
    ],
    [
      "factor a string",
      { reconnect: { factor: "2" } },
      'option reconnect.factor must be a number from 1 to Infinity, got "2"',
    ],
    [
      "factor NaN",
      { reconnect: { factor: Number.NaN } },
      "option reconnect.factor must be a number from 1 to Infinity, got NaN",
    ],
    [
      "jitter above 1",
      { reconnect: { jitter: 1.5 } },
      "option reconnect.jitter must be a number from 0 to 1, got 1.5",
    ],
    [
      "queue.overflow unknown",
      { queue: { overflow: "drop-newest" } },
      'option queue.overflow must be "reject" or "drop-oldest", got "drop-newest"',
    ],
    [
      "queue.maxAgeMs negative",
      { queue: { maxAgeMs: -1 } },
      "option queue.maxAgeMs must be a whole number of ms from 0 to 2147483647, got -1",
    ],
  ])("%s", (_name, options, message) => {
    expect(() => resolveOptions(options as never)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message }),
    );
  });
});

describe("resolveOptions: a clock must have all three functions its message names", () => {
  it("a clock without clearTimeout is refused at construction with ERR_INVALID_OPTION naming clock", () => {
    const clock = { setTimeout, now: () => 0 };
    expect(() => new Conn({ clock: clock as never })).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_OPTION",
        message: "option clock must have setTimeout(), clearTimeout() and now()",
      }),
    );
  });
});
