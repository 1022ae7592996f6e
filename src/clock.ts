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

/**
 * The longest delay a timer holds, in ms (2^31 - 1, about 24.8 days). Node, browsers and Deno
 * store the delay in a signed 32-bit integer and fire any longer timer after 1 ms.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * The real clock: global timers and `performance.now()`. Delays are rounded up to whole ms:
 * deadlines computed from `now()` are fractional, and Node keeps one timer list per distinct
 * duration, so 2,000 heartbeats re-armed at 4999.63, 4999.71, ... ms made 2,000 lists where
 * whole numbers share a handful (and no timer fires before its deadline).
 *
 * Delays are also capped at {@link MAX_TIMER_MS}, as defence in depth: `resolveOptions()`
 * already keeps every duration within it, but a longer delay that slipped through (a new
 * option, a deadline computed from two) would fire after 1 ms, and an owner that re-arms on
 * wake would then wake the process every millisecond. Capped, it fires early at worst; the
 * pending requests and the heartbeat check their deadline on wake and re-arm.
 */
export const systemClock: Clock = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms > MAX_TIMER_MS ? MAX_TIMER_MS : Math.ceil(ms)),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
  now: () => performance.now(),
};

/** A timer set by {@link setDeadline}; clear it with {@link clearDeadline}. */
export interface Deadline {
  timer: TimerHandle;
}

/**
 * Calls `fn` once `ms` have passed, for a deadline that judges something the sockets may still
 * settle (a handshake, a peer's close frame, a user function). A timer that fires late (a
 * starved process, a throttled tab) first waits one more turn, a zero-delay timer: Node runs
 * due timers before it reads the sockets, so an answer that came in time may still be unread,
 * and a late timer must not turn it into a timeout. A timer that fires early waits out the rest
 * first: `fn` never runs before `ms` have passed by `clock.now()`. The heartbeat's verdict and
 * the request timeouts follow the same rule with timers of their own.
 */
export function setDeadline(clock: Clock, fn: () => void, ms: number): Deadline {
  const at = clock.now() + ms;
  const deadline: Deadline = { timer: undefined };
  const check = () => {
    const now = clock.now();
    // Early (Node's timers count in the loop's whole ms, so one may fire up to 1 ms before
    // `now()` reaches `at`): wait out the rest, never judge before the deadline.
    if (now < at) deadline.timer = clock.setTimeout(check, at - now);
    else if (now > at) deadline.timer = clock.setTimeout(fn, 0);
    else fn();
  };
  deadline.timer = clock.setTimeout(check, ms);
  return deadline;
}

/** Cancels a {@link setDeadline} timer, whichever of its two turns it is in. */
export function clearDeadline(clock: Clock, deadline: Deadline | undefined): void {
  if (deadline !== undefined) clock.clearTimeout(deadline.timer);
}
