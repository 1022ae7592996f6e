import { describe, expect, it } from "vitest";
import { backoffDelay } from "../src/backoff.js";
import { MAX_TIMER_MS } from "../src/clock.js";

const policy = { minDelayMs: 1000, maxDelayMs: 30_000, factor: 2, jitter: 0.5 };

describe("backoffDelay", () => {
  it.each([
    [1, 0, 1000],
    [2, 0, 2000],
    [3, 0, 4000],
    [5, 0, 16_000],
    [6, 0, 30_000],
    [50, 0, 30_000],
    [1, 0.999999, 500],
    [3, 0.5, 3000],
  ])("attempt %i with random %f waits %i ms", (attempt, random, expected) => {
    expect(backoffDelay(attempt, policy, () => random)).toBe(expected);
  });

  it.each([
    [
      "maxDelayMs Infinity, attempt 40 (1000 * 2^39 ms)",
      { maxDelayMs: Number.POSITIVE_INFINITY },
      40,
      MAX_TIMER_MS,
    ],
    [
      "maxDelayMs Infinity, factor^n overflowed to Infinity",
      { maxDelayMs: Number.POSITIVE_INFINITY },
      2000,
      MAX_TIMER_MS,
    ],
    ["maxDelayMs at the limit, factor 1e6", { maxDelayMs: MAX_TIMER_MS, factor: 1e6 }, 3, MAX_TIMER_MS],
    ["minDelayMs 0, factor^n overflowed (not 0 * Infinity = NaN)", { minDelayMs: 0 }, 2000, 0],
    [
      "minDelayMs 0, maxDelayMs Infinity, factor^n overflowed",
      { minDelayMs: 0, maxDelayMs: Number.POSITIVE_INFINITY },
      2000,
      0,
    ],
  ])("never over the longest timer: %s", (_label, over, attempt, expected) => {
    const p = { ...policy, jitter: 0, ...over };
    expect(backoffDelay(attempt, p, () => 0)).toBe(expected);
    // With jitter, still a whole number of ms within the limit.
    const jittered = backoffDelay(attempt, { ...p, jitter: 0.5 }, () => 0.3);
    expect(Number.isInteger(jittered) && jittered >= 0 && jittered <= MAX_TIMER_MS).toBe(true);
  });

  it("jitter 0 gives the same delay for every random draw", () => {
    const p = { ...policy, jitter: 0 };
    expect(backoffDelay(2, p, () => 0)).toBe(backoffDelay(2, p, () => 0.99));
  });

  it("draws a fresh random number on every call", () => {
    let draws = 0;
    const random = () => {
      draws++;
      return 0.1;
    };
    backoffDelay(1, policy, random);
    backoffDelay(1, policy, random);
    expect(draws).toBe(2);
  });

  it("spreads 1000 clients over half the window with jitter 0.5", () => {
    const delays = Array.from({ length: 1000 }, () => backoffDelay(1, policy));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(500);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1000);
    expect(new Set(delays).size).toBeGreaterThan(100);
  });
});
