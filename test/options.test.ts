import { describe, expect, it } from "vitest";
import { Conn } from "../src/conn.js";
import { DEFAULTS, resolveOptions } from "../src/options.js";

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
    expect(o.queue).toEqual({ maxMessages: 1024, maxBytes: 1024 * 1024 });
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
    ["headers with a number", { headers: { "x-a": 1 } }, "headers.x-a"],
    ["header value with CR/LF", { headers: { "x-a": "a\r\nInjected: 1" } }, "headers.x-a"],
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
