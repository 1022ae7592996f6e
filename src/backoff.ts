/**
 * The reconnect delay, as a pure function of the attempt number.
 *
 * Exponential growth with a cap and "subtractive" jitter: the delay for attempt n is
 * `min(maxDelayMs, minDelayMs * factor^(n-1)) * (1 - jitter * random())`. With jitter 0.5 a
 * thousand clients that lost the same server spread their retries over half of each window
 * instead of arriving in lock-step. The random source is a parameter, drawn per call, never at
 * import time (reconnecting-websocket drew its jitter once per page). Scheduling the wait is
 * not this module's job.
 *
 * Every delay is at most {@link MAX_TIMER_MS}, whatever `maxDelayMs` says (it may be
 * `Infinity`): a longer timer would fire after 1 ms. `factor^(n-1)` overflows to `Infinity`
 * after enough attempts (about 1,024 with factor 2), which the cap absorbs; with
 * `minDelayMs: 0` the delay stays 0 rather than becoming `0 * Infinity`, NaN.
 */

import { MAX_TIMER_MS } from "./clock.js";

/** The numeric part of the reconnect policy. */
export interface BackoffPolicy {
  /** Delay before the first retry, in ms, before jitter. */
  minDelayMs: number;
  /** Upper bound for any delay, in ms; `Infinity` leaves only the timer limit, {@link MAX_TIMER_MS}. */
  maxDelayMs: number;
  /** Growth per attempt (2 doubles the delay each time). */
  factor: number;
  /** 0..1: the share of the delay that is randomised away. */
  jitter: number;
}

/**
 * Delay in ms before reconnect attempt `attempt` (1-based).
 *
 * @param random - a source of numbers in [0, 1); `Math.random` unless a test injects one.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, attempt - 1);
  const grown = policy.minDelayMs === 0 ? 0 : policy.minDelayMs * policy.factor ** exponent;
  const base = Math.min(policy.maxDelayMs, MAX_TIMER_MS, grown);
  return Math.round(base * (1 - policy.jitter * random()));
}
