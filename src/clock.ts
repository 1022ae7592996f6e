/**
 * Time behind an interface: the only module that touches real timers.
 *
 * Every other module receives a {@link Clock}, so unit tests can drive time by hand and the
 * library never reads the clock or schedules anything at import time. `now()` is monotonic
 * (`performance.now()`), so a wall-clock jump never fires a deadline early or late.
 */

/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/** The timer functions the library uses. Inject one through the `clock` option in tests. */
export interface Clock {
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; unknown or already-fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
  /** Monotonic milliseconds; only differences between two readings mean anything. */
  now(): number;
}

/** The real clock: global timers and `performance.now()`. */
export const systemClock: Clock = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
  now: () => performance.now(),
};
