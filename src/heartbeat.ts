/**
 * Ping scheduling and the liveness deadline for one open connection.
 *
 * Rules: a ping goes out whenever `intervalMs` pass without sending anything (keep-alive, as
 * the Go original did) or without receiving anything (liveness probe). Once a ping is out, any
 * inbound byte proves the peer alive; if nothing at all arrives within `pongTimeoutMs`, the
 * peer is declared dead. A silent peer is therefore detected within
 * `intervalMs + pongTimeoutMs` of the last byte received.
 *
 * One timer, re-armed only when it fires: `noteSent`/`noteReceived` sit on the per-message hot
 * path and only store a timestamp. A timer that fires late (a frozen tab, a sleeping laptop)
 * sends at most one ping and judges the deadline on the monotonic clock, so missed ticks are
 * never replayed in a burst. Sending the ping and tearing the socket down are the caller's.
 */

import type { Clock, TimerHandle } from "./clock.js";

/** What the heartbeat asks of its connection. */
export interface HeartbeatHooks {
  /** Sends one ping (a protocol ping frame or the user's `pingMsg`). */
  sendPing(): void;
  /** Called once when the pong deadline passed with nothing received. */
  onDead(): void;
}

/** Heartbeat timing, in ms (the connection's resolved options fit it as they are). */
export interface HeartbeatTiming {
  pingIntervalMs: number;
  pongTimeoutMs: number;
}

/** The heartbeat of one connection; `stop()` disposes its timer. */
export class Heartbeat {
  readonly #clock: Clock;
  readonly #timing: HeartbeatTiming;
  readonly #hooks: HeartbeatHooks;
  // Times are whole ms on the clock's scale: small integers, which V8 stores and compares without
  // allocating a number box (fractional ms allocated one per store or subtraction before the
  // code is optimised: ~130 bytes per ping, with thousands of idle connections enough to keep
  // V8's memory reducer from running). Timers have whole-ms resolution anyway.
  #lastSent: number;
  #lastReceived: number;
  /** When the outstanding ping left; -1 when none is out. */
  #pingSentAt = -1;
  /** When the last unanswered ping left, exactly (for the RTT); NaN once a pong answered it. */
  #rttFrom = Number.NaN;
  #timer: TimerHandle | undefined;
  /** When the armed timer should fire; a tick much later than this means the process was frozen. */
  #due = 0;
  /** The last timer set and its delay in whole ms, for {@link Clock.restart}. */
  #lastTimer: TimerHandle | undefined;
  #lastTimerMs = -1;
  /** The timer callback, made once: a heartbeat allocates no closure per ping. */
  readonly #onTimer = (): void => this.#tick();
  #stopped = false;

  constructor(clock: Clock, timing: HeartbeatTiming, hooks: HeartbeatHooks) {
    this.#clock = clock;
    this.#timing = timing;
    this.#hooks = hooks;
    const now = Math.floor(clock.now());
    this.#lastSent = now;
    this.#lastReceived = now;
    this.#armAt(now + timing.pingIntervalMs, now);
  }

  /** Records that a frame was sent. */
  noteSent(): void {
    this.#lastSent = Math.floor(this.#clock.now());
  }

  /**
   * Records that something arrived (any frame, ping or pong).
   *
   * @returns the round-trip time in ms when a ping was outstanding and `isPong` is true.
   */
  noteReceived(isPong = false): number | undefined {
    const exact = this.#clock.now();
    this.#lastReceived = Math.floor(exact);
    if (this.#pingSentAt >= 0) {
      this.#pingSentAt = -1;
      // The timer is set for the pong deadline. When that is later than the next ping time
      // (pongTimeoutMs > intervalMs), bring it forward, or a peer that falls silent now would be
      // judged only after pongTimeoutMs + intervalMs + pongTimeoutMs. Otherwise leave it: it
      // fires in time and re-arms itself, one timer per ping instead of two.
      if (!this.#stopped && this.#due > this.#nextDeadline()) this.#rearm(this.#lastReceived);
    }
    const from = this.#rttFrom;
    if (!isPong || Number.isNaN(from)) return undefined;
    this.#rttFrom = Number.NaN;
    return exact - from;
  }

  /** Sends a ping now (unless one is already out), e.g. when a page becomes visible again. */
  probe(): void {
    if (this.#stopped || this.#pingSentAt >= 0) return;
    this.#ping(this.#clock.now());
    if (this.#stopped) return; // sending the ping failed and ended the connection
    this.#rearm(this.#lastSent);
  }

  /** Stops for good: clears the timer, ignores later notes. */
  stop(): void {
    this.#stopped = true;
    this.#cancel();
  }

  /** Clears the armed timer; a cleared timer is never restarted (Node's refresh() would not revive it). */
  #cancel(): void {
    if (this.#timer === undefined) return;
    this.#clock.clearTimeout(this.#timer);
    if (this.#lastTimer === this.#timer) this.#lastTimer = undefined;
    this.#timer = undefined;
  }

  /** Sets the timer for `deadline` (whole ms on the clock's scale, `now` too); `#due` is exactly that deadline. */
  #armAt(deadline: number, now: number): void {
    this.#due = deadline;
    const wholeMs = Math.max(0, deadline - now);
    // The common case, a ping every intervalMs on a quiet line, re-arms with the same delay:
    // restart the fired timer rather than allocate one per ping (thousands of idle connections).
    // Only a timer that fired is restarted: #cancel() forgets the ones it clears.
    const last = this.#lastTimer;
    if (last !== undefined && wholeMs === this.#lastTimerMs && this.#clock.restart?.(last) === true) {
      this.#timer = last;
      return;
    }
    this.#timer = this.#clock.setTimeout(this.#onTimer, wholeMs);
    this.#lastTimer = this.#timer;
    this.#lastTimerMs = wholeMs;
  }

  /** Replaces the armed timer; `now` is the caller's reading in whole ms (no second clock read). */
  #rearm(now: number): void {
    this.#cancel();
    this.#armAt(this.#nextDeadline(), now);
  }

  #nextDeadline(): number {
    const { pingIntervalMs: intervalMs, pongTimeoutMs } = this.#timing;
    if (this.#pingSentAt >= 0) return this.#pingSentAt + pongTimeoutMs;
    return Math.min(this.#lastSent, this.#lastReceived) + intervalMs;
  }

  /** `exact`: the clock's reading; its fraction is kept for the RTT, the schedule uses whole ms. */
  #ping(exact: number): void {
    const now = Math.floor(exact);
    this.#pingSentAt = now;
    this.#rttFrom = exact;
    this.#lastSent = now;
    this.#hooks.sendPing();
  }

  #tick(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    const exact = this.#clock.now();
    const now = Math.floor(exact);
    const { pingIntervalMs: intervalMs, pongTimeoutMs } = this.#timing;
    if (this.#pingSentAt >= 0) {
      if (now - this.#due > Math.min(intervalMs, pongTimeoutMs)) {
        // The timer fired late: the process was frozen (sleep, SIGSTOP, a throttled tab) and a
        // pong that arrived meanwhile may still be unread. Judge on a fresh ping instead.
        this.#ping(exact);
        if (this.#stopped) return;
      } else if (now - this.#pingSentAt >= pongTimeoutMs) {
        this.stop();
        this.#hooks.onDead();
        return;
      }
    } else if (now - this.#lastSent >= intervalMs || now - this.#lastReceived >= intervalMs) {
      this.#ping(exact);
      if (this.#stopped) return;
    }
    this.#armAt(this.#nextDeadline(), now);
  }
}
