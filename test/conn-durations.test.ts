/**
 * Durations at the edges: `Infinity` where it means "never" arms no timer at all, and no delay
 * over 2,147,483,647 ms reaches a timer (Node fires such a timer after 1 ms). The option ranges
 * themselves are tabled in options.test.ts and bad-input.test.ts.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_TIMER_MS, systemClock } from "../src/clock.js";
import type { ReconnectingInfo } from "../src/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, server, sleep } from "./helpers/harness.js";
import { freePort, until } from "./helpers/server.js";

/** A server that sits on every opening handshake for `ms` before accepting it. */
const slowUpgrade = (ms: number) =>
  server({ verifyClient: (_info, cb) => void setTimeout(() => cb(true), ms) });

/** A server that never answers a message. */
const silent = () => server({ onMessage: () => {} });

describe("connectTimeoutMs: Infinity", () => {
  it("dials a server that takes 200 ms to upgrade (it used to fail within milliseconds)", async () => {
    const s = await slowUpgrade(200);
    const c = conn({ connectTimeoutMs: Number.POSITIVE_INFINITY, reconnect: false });
    const started = performance.now();
    await c.dial(s.url);
    expect(c.isConnected()).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
  });

  it("arms no connect timer", async () => {
    const s = await slowUpgrade(50);
    const clock = new FakeClock();
    const c = conn({ connectTimeoutMs: Number.POSITIVE_INFINITY, reconnect: false, clock });
    const dialing = c.dial(s.url);
    expect(clock.created).toBe(0);
    await dialing;
    expect(c.isConnected()).toBe(true);
    expect(clock.created).toBe(0);
  });
});

describe("request timeouts: Infinity", () => {
  it("request(x, { timeoutMs: Infinity }) waits without arming a timer, and still settles on close", async () => {
    const s = await silent();
    const clock = new FakeClock();
    const c = conn({ clock, reconnect: false, matchMsg: (req, resp) => req === resp });
    await c.dial(s.url);
    const before = clock.created;
    const pending = c.request("x", { timeoutMs: Number.POSITIVE_INFINITY }).catch((e) => e);
    await until(() => s.received.length === 1, "the request to arrive");
    expect(clock.created).toBe(before);
    expect(clock.pending).toBe(0);
    clock.advance(MAX_TIMER_MS);
    await sleep(10);
    await c.close();
    expect(await pending).toMatchObject({ code: "ERR_CLOSED" });
  });

  it("requestTimeoutMs: Infinity is the default for request() and send() with a callback, and arms no timer", async () => {
    const s = await silent();
    const clock = new FakeClock();
    const errors: unknown[] = [];
    const c = conn({
      clock,
      reconnect: false,
      requestTimeoutMs: Number.POSITIVE_INFINITY,
      matchMsg: (req, resp) => req === resp,
      onError: (e) => void errors.push(e),
    });
    await c.dial(s.url);
    const before = clock.created;
    const pending = c.request("a").catch((e) => e);
    c.send("b", () => {});
    await until(() => s.received.length === 2, "both requests to arrive");
    expect(clock.created).toBe(before);
    expect(clock.pending).toBe(0);
    clock.advance(MAX_TIMER_MS);
    await sleep(10);
    expect(errors).toEqual([]);
    await c.close();
    expect(await pending).toMatchObject({ code: "ERR_CLOSED" });
  });
});

describe("reconnect.maxDelayMs: Infinity", () => {
  it("the backoff grows to 2,147,483,647 ms and stays there", async () => {
    const port = await freePort();
    const clock = new FakeClock();
    const infos: ReconnectingInfo[] = [];
    const c = conn({
      clock,
      reconnect: {
        minDelayMs: 1000,
        maxDelayMs: Number.POSITIVE_INFINITY,
        factor: 1e6,
        jitter: 0,
        maxAttempts: 4,
      },
      onReconnecting: (i) => void infos.push(i),
    });
    const dialing = c.dial(`ws://127.0.0.1:${port}`).catch((e) => e);
    for (let i = 1; i <= 4; i++) {
      await until(() => infos.length === i, `wait ${i}`);
      clock.advance(infos[i - 1]!.delayMs);
    }
    expect(infos.map((i) => i.delayMs)).toEqual([1000, 1e9, MAX_TIMER_MS, MAX_TIMER_MS]);
    expect(await dialing).toMatchObject({ code: "ERR_RECONNECT_EXHAUSTED" });
    expect(clock.pending).toBe(0);
  });
});

describe("systemClock", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each([
    [2 ** 31, MAX_TIMER_MS],
    [Number.POSITIVE_INFINITY, MAX_TIMER_MS],
    [MAX_TIMER_MS, MAX_TIMER_MS],
    [4.2, 5],
  ])("asks the platform for %d ms as %d ms: never more than the longest timer", (ms, expected) => {
    const spy = vi.spyOn(globalThis, "setTimeout");
    const handle = systemClock.setTimeout(() => {}, ms);
    systemClock.clearTimeout(handle);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls[0]![1]).toBe(expected);
  });
});
