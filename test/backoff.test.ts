import { describe, expect, it } from "vitest";
import { backoffDelay } from "../src/backoff.js";

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
