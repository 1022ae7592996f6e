/**
 * `waitFor`: polls a condition until it holds, for tests that wait on something a real socket
 * will do soon (a reconnect, a message arriving), instead of sleeping for a fixed time.
 *
 * It polls with timers; it does not hook into any connection's events, so it works for any
 * condition, and with fake timers only if they are advanced.
 */

import { EvtWebSocketError } from "../errors.js";

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /**
   * Give up after this long, in ms. Below vitest's and jest's default test timeout (5 s), so
   * the failure names the condition rather than the test runner's timeout.
   * @default 4000
   */
  timeoutMs?: number;
  /** Time between two checks, in ms; 0 checks again on the next timer turn. @default 10 */
  intervalMs?: number;
  /** What is awaited, for the timeout's message, e.g. `"the client to reconnect"`. */
  message?: string;
}

/** Thrown by {@link waitFor} when the condition did not hold in time; `cause` is the predicate's last error, if it threw. */
export class WaitForTimeoutError extends Error {
  /** Always `"WaitForTimeoutError"`. */
  override name = "WaitForTimeoutError";
}

function checkMs(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max = Infinity,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || Number.isNaN(value) || value < min || value > max) {
    const range = max === Infinity ? `>= ${min}` : `from ${min} to ${max}`;
    throw new EvtWebSocketError(
      "ERR_INVALID_OPTION",
      `option ${name} of waitFor() must be a number ${range}, got ${value}`,
    );
  }
  return value;
}

/** What {@link before} gives when the deadline came first. */
const TIMED_OUT = Symbol("timed out");

/**
 * Whether `value` is a promise, or any thenable: `instanceof Promise` misses one made in another
 * realm (a vm context, as vitest's vm pools and jest's test environments run tests in).
 */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/** `value`, or {@link TIMED_OUT} if it is a promise still pending at `deadline`; leaves no timer behind. */
async function before<T>(value: T | Promise<T>, deadline: number): Promise<T | typeof TIMED_OUT> {
  if (!isThenable(value) || deadline === Number.POSITIVE_INFINITY) return value;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<typeof TIMED_OUT>((resolve) => {
    // setTimeout takes at most 2^31-1 ms (a longer delay fires after 1 ms).
    const ms = Math.min(Math.max(0, deadline - performance.now()), 2_147_483_647);
    timer = setTimeout(resolve, ms, TIMED_OUT);
  });
  try {
    return await Promise.race([value, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** `T` without its falsy members: what {@link waitFor} can resolve with (`true` of a boolean). */
export type Truthy<T> = Exclude<T, false | 0 | 0n | "" | null | undefined>;

/**
 * Calls `predicate` until it returns a truthy value (or a promise of one) and resolves with it.
 * A promise still pending at the deadline counts as "not yet". A predicate that throws (an `expect(...)` not met yet) counts as "not yet"; after
 * `timeoutMs`, the promise rejects with a {@link WaitForTimeoutError} carrying the last error.
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` (a rejection) for a `predicate` that is not a
 * function (the condition's value, say), a negative or non-numeric timing, or an `intervalMs`
 * over 2147483647.
 * @example
 * ```ts
 * await server.dropAll(1011);
 * await waitFor(() => conn.state === "open", { message: "the client to reconnect" });
 * const msg = await waitFor(() => server.received.at(-1));
 * ```
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<Truthy<T>> {
  // waitFor(conn.state === "open") passes the value: refuse it, not wait it out and time out.
  if (typeof predicate !== "function") {
    throw new EvtWebSocketError(
      "ERR_INVALID_OPTION",
      `predicate of waitFor() must be a function (() => condition), got ${predicate === null ? "null" : typeof predicate}`,
    );
  }
  const timeoutMs = checkMs("timeoutMs", options.timeoutMs, 4000, 0);
  // A timer takes at most 2^31-1 ms: a longer one fires at once, so the checks would never pause.
  const intervalMs = checkMs("intervalMs", options.intervalMs, 10, 0, 2_147_483_647);
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      // A promise that never settles must not outlast the deadline.
      const value = await before(predicate(), deadline);
      if (value !== TIMED_OUT && value) return value as Truthy<T>;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() >= deadline) {
      const what = options.message ?? "the condition";
      const last = lastError instanceof Error ? `; last error: ${lastError.message}` : "";
      throw new WaitForTimeoutError(`waitFor: ${what} did not hold within ${timeoutMs} ms${last}`, {
        cause: lastError,
      });
    }
    // The last wait ends at the deadline, not an interval past it.
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, deadline - performance.now())));
  }
}
