import { describe, expect, it } from "vitest";
import { MAX_TIMER_MS } from "../src/clock.js";
import { Conn } from "../src/conn.js";
import { EvtWebSocketError } from "../src/index.js";
import { DEFAULTS, resolveOptions } from "../src/resolve-options.js";
import { createSharedConn } from "../src/shared/index.js";

describe("resolveOptions defaults", () => {
  it("fills in the documented defaults", () => {
    const o = resolveOptions({});
    expect(o.requestTimeoutMs).toBe(30_000);
    expect(o.reconnect).toMatchObject({
      enabled: true,
      minDelayMs: 1000,
      maxDelayMs: 30_000,
      factor: 2,
      jitter: 0.5,
      maxAttempts: Number.POSITIVE_INFINITY,
      resetAfterMs: 5000,
    });
    expect(o.pingIntervalMs).toBe(0);
    expect(o.queue).toEqual({ maxMessages: 1024, maxBytes: 1024 * 1024, overflow: "reject", maxAgeMs: 0 });
    expect(o.connectTimeoutMs).toBe(10_000);
    expect(o.maxMessageBytes).toBe(DEFAULTS.maxMessageBytes);
  });

  it("pongTimeoutMs defaults to pingIntervalMs", () => {
    expect(resolveOptions({ pingIntervalMs: 2500 }).pongTimeoutMs).toBe(2500);
  });

  it("reconnect: false turns reconnecting off; queue: false turns queueing off", () => {
    const o = resolveOptions({ reconnect: false, queue: false });
    expect(o.reconnect.enabled).toBe(false);
    expect(o.queue.maxMessages).toBe(0);
  });
});

describe("bad options throw ERR_INVALID_OPTION naming the option", () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ["negative ping interval", { pingIntervalMs: -1 }, "pingIntervalMs"],
    ["pongTimeoutMs 0 with ping on", { pingIntervalMs: 1000, pongTimeoutMs: 0 }, "pongTimeoutMs"],
    ["jitter 2", { reconnect: { jitter: 2 } }, "reconnect.jitter"],
    ["maxAttempts -1", { reconnect: { maxAttempts: -1 } }, "reconnect.maxAttempts"],
    ["factor below 1", { reconnect: { factor: 0.5 } }, "reconnect.factor"],
    ["maxDelay below minDelay", { reconnect: { minDelayMs: 5000, maxDelayMs: 10 } }, "reconnect.maxDelayMs"],
    ["requestTimeoutMs as string", { requestTimeoutMs: "30" }, "requestTimeoutMs"],
    ["NaN timeout", { connectTimeoutMs: Number.NaN }, "connectTimeoutMs"],
    ["connectTimeoutMs 0", { connectTimeoutMs: 0 }, "connectTimeoutMs"],
    ["onMessage not a function", { onMessage: "x" }, "onMessage"],
    ["matchMsg not a function", { matchMsg: 1 }, "matchMsg"],
    ["shouldReconnect not a function", { reconnect: { shouldReconnect: true } }, "reconnect.shouldReconnect"],
    ["reconnect as number", { reconnect: 3 }, "reconnect"],
    ["queue as string", { queue: "big" }, "queue"],
    ["negative queue bytes", { queue: { maxBytes: -1 } }, "queue.maxBytes"],
    ["maxAttempts 1.5", { reconnect: { maxAttempts: 1.5 } }, "reconnect.maxAttempts"],
    ["queue.maxMessages 2.5", { queue: { maxMessages: 2.5 } }, "queue.maxMessages"],
    ["queue.maxBytes 10.5", { queue: { maxBytes: 10.5 } }, "queue.maxBytes"],
    ["maxPendingRequests 1.5", { maxPendingRequests: 1.5 }, "maxPendingRequests"],
    ["maxMessageBytes 100.5", { maxMessageBytes: 100.5 }, "maxMessageBytes"],
    ["headers with a number", { headers: { "x-a": 1 } }, "headers.x-a"],
    ["header value with CR/LF", { headers: { "x-a": "a\r\nInjected: 1" } }, "headers.x-a"],
    ["header value with a control character", { headers: { "x-a": "a\u0001b" } }, "headers.x-a"],
    ["header value beyond Latin-1", { headers: { "x-a": "\u0101" } }, "headers.x-a"],
    ["header name with a space", { headers: { "x a": "b" } }, "headers"],
    ["WebSocket not a constructor", { WebSocket: {} }, "WebSocket"],
    ["codec without decode", { codec: { encode: () => "" } }, "codec"],
  ];
  it.each(cases)("%s", (_name, options, optionName) => {
    let caught: unknown;
    try {
      new Conn(options as never);
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ name: "EvtWebSocketError", code: "ERR_INVALID_OPTION" });
    expect((caught as Error).message).toContain(optionName);
  });
});

describe("durations: whole ms from 0 to 2,147,483,647 (the longest a timer holds); Infinity only where it means never", () => {
  /** Every duration option: where it sits in the options, its smallest value, and whether Infinity is allowed. */
  const durations: Array<[name: string, min: number, infinite: boolean]> = [
    ["requestTimeoutMs", 0, true],
    ["connectTimeoutMs", 1, true],
    ["pingIntervalMs", 0, false],
    ["pongTimeoutMs", 1, false],
    ["reconnect.minDelayMs", 0, false],
    ["reconnect.maxDelayMs", 0, true],
    ["reconnect.resetAfterMs", 0, false],
    ["queue.maxAgeMs", 0, false],
  ];
  /** Options setting `name` to `value` (pongTimeoutMs with the heartbeat on, where it counts). */
  const set = (name: string, value: unknown): Record<string, unknown> => {
    if (name.startsWith("reconnect.")) {
      // minDelayMs 0 keeps maxDelayMs 0 legal; a large minDelayMs raises the default maxDelayMs.
      return { reconnect: { minDelayMs: 0, [name.slice("reconnect.".length)]: value } };
    }
    if (name.startsWith("queue.")) return { queue: { [name.slice("queue.".length)]: value } };
    return name === "pongTimeoutMs" ? { pingIntervalMs: 1000, pongTimeoutMs: value } : { [name]: value };
  };
  const read = (name: string, options: Record<string, unknown>): unknown => {
    const r = resolveOptions(options) as unknown as Record<string, Record<string, unknown>>;
    const [group, key] = name.split(".") as [string, string | undefined];
    return key === undefined ? r[name] : r[group]![key];
  };
  const bad: Array<[string, unknown]> = [
    ["-1", -1],
    ["NaN", Number.NaN],
    ['"5"', "5"],
    ["1.5", 1.5],
    ["2**31", 2 ** 31],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["-Infinity", Number.NEGATIVE_INFINITY],
  ];
  const table = durations.flatMap(([name, , infinite]) =>
    bad.map(([label, value]) => {
      const outcome =
        infinite && value === Number.POSITIVE_INFINITY ? "never (accepted)" : "ERR_INVALID_OPTION";
      return [name, label, outcome, value] as const;
    }),
  );

  it.each(table)("%s: %s -> %s", (name, _label, outcome, value) => {
    if (outcome === "never (accepted)") {
      expect(read(name, set(name, value))).toBe(Number.POSITIVE_INFINITY);
      return;
    }
    let caught: unknown;
    try {
      new Conn(set(name, value) as never);
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ name: "EvtWebSocketError", code: "ERR_INVALID_OPTION" });
    expect((caught as Error).message).toContain(`option ${name} must be a whole number of ms`);
  });

  it.each(durations)("%s accepts its smallest value and 2,147,483,647, unchanged", (name, min) => {
    expect(read(name, set(name, min))).toBe(min);
    expect(read(name, set(name, MAX_TIMER_MS))).toBe(MAX_TIMER_MS);
    if (min > 0) expect(() => resolveOptions(set(name, min - 1))).toThrow(name);
  });

  it("the message gives the range, and Infinity where it is allowed", () => {
    expect(() => resolveOptions({ connectTimeoutMs: 1.5 })).toThrow(
      "option connectTimeoutMs must be a whole number of ms from 1 to 2147483647 or Infinity, got 1.5",
    );
    expect(() => resolveOptions({ pingIntervalMs: Number.POSITIVE_INFINITY })).toThrow(
      "option pingIntervalMs must be a whole number of ms from 0 to 2147483647, got Infinity",
    );
    expect(() => resolveOptions({ requestTimeoutMs: "5" as never })).toThrow('got "5"');
  });
});

describe("shown() (33546ef) never throws: a check throws its own error for a value no conversion can show", () => {
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const trapping = new Proxy(
    {},
    {
      get() {
        throw new Error("trap");
      },
    },
  );
  // Both threw Object.prototype.toString's TypeError (or the trap's error) out of the check.
  it.each([
    ["a revoked Proxy", revoked.proxy],
    ["a Proxy whose get trap throws", trapping],
  ])(
    "%s: createSharedConn(name) and a Conn option both throw ERR_INVALID_OPTION naming the option",
    (_, value) => {
      const thrown = (f: () => unknown) => {
        try {
          f();
        } catch (error) {
          return error;
        }
        return undefined;
      };
      const shared = thrown(() => createSharedConn(value as never)) as EvtWebSocketError;
      expect(shared).toBeInstanceOf(EvtWebSocketError);
      expect(shared).toMatchObject({
        code: "ERR_INVALID_OPTION",
        message: expect.stringContaining("got object"),
      });
      const option = thrown(() => new Conn({ requestTimeoutMs: value as never })) as EvtWebSocketError;
      expect(option).toBeInstanceOf(EvtWebSocketError);
      expect(option).toMatchObject({
        code: "ERR_INVALID_OPTION",
        message: expect.stringContaining("requestTimeoutMs"),
      });
    },
  );
});
