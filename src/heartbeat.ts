/**
 * Ping scheduling and the liveness deadline for one open connection.
 *
 * Rules: a ping goes out whenever `intervalMs` pass without sending anything (keep-alive, as
 * the Go original did) or without receiving anything (liveness probe). Once a ping is out, any
 * inbound byte proves the peer alive; if nothing at all arrives within `pongTimeoutMs`, the
 * peer is declared dead. Whole messages and pongs are noted as they come; the bytes of a
 * message still arriving (a large one on a slow line: its pong queues behind it) are seen at the
 * deadline, in the transport's count of bytes read where it keeps one (Node's `ws`), and move the
 * deadline `pongTimeoutMs` on. A silent peer is therefore detected within
 * `intervalMs + pongTimeoutMs` of the last byte received (`2 * pongTimeoutMs` if that is longer
 * and it fell silent in the middle of a message), plus however late the timers fire.
 *
 * Pings keep to a grid shared by every connection on the clock: a ping due at `t` goes out at
 * the last multiple of the grid step at or before `t` (the step is the largest whole divisor of
 * `intervalMs` up to a sixteenth of it, or 1 when that is below a 64th), so it is never late
 * and at most one step early, and heartbeats started at different moments fall due together
 * and share one wake-up (shared-timers.ts). On a quiet line only the first ping is early: the next ones follow it
 * `intervalMs` apart.
 *
 * `noteSent`/`noteReceived` sit on the per-message hot path and only store a timestamp; the
 * timer is re-armed when it fires or when a pong answers a ping. A timer that fires late sends
 * at most one ping and judges the deadline on the monotonic clock, so missed ticks are never
 * replayed in a burst.
 *
 * A late pong deadline must not cost a healthy connection (Node runs due timers before it reads
 * the sockets, so a pong that came in while the process was frozen or starved is still unread),
 * nor spare a dead one forever when every timer is late (a throttled background tab, a starved
 * container). So, once per unanswered ping (anything received resets both):
 * - a deadline that wakes more than `min(intervalMs, pongTimeoutMs)` late (a freeze: the ping
 *   may not even have left) sends one fresh ping and waits `pongTimeoutMs` for it;
 * - a verdict on a late wake, late by any amount (a fraction of a millisecond is enough for a
 *   pong to sit unread), waits one turn of the event loop (a zero-delay timer, which runs after
 *   the sockets are read).
 * The next wake judges. A silent peer is thus declared dead within `intervalMs + 2 *
 * pongTimeoutMs` of the last byte received, at most `2 * (intervalMs + pongTimeoutMs)`, plus the
 * lateness of the four timers in that chain (the ping's, its deadline's, the fresh ping's
 * deadline's and the verdict's).
 *
 * While the connection pauses reading (a `messages()` consumer fell behind), a pong would wait
 * unread behind the pause and a live peer would look dead: {@link Heartbeat.suspend} stops both
 * the pings and the verdict, and {@link Heartbeat.resume} gives an outstanding ping a fresh
 * `pongTimeoutMs` from the moment reading resumes (its RTT is not measured). A peer that dies
 * while reading is paused is therefore noticed only after the consumer catches up.
 *
 * Sending the ping and tearing the socket down are the caller's.
 */

import type { Clock } from "./clock.js";
import { type SharedTimers, type Sleeper, type Slot, sharedTimers } from "./shared-timers.js";

/** What the heartbeat asks of its connection. */
export interface HeartbeatHooks {
  /** Sends one ping (a protocol ping frame or the user's `pingMsg`). */
  sendPing(): void;
  /** Called once when the pong deadline passed with nothing received. */
  onDead(): void;
  /**
   * Bytes read from the socket so far, a message not yet whole included; undefined where the
   * transport cannot tell (then only whole messages and pongs count as received).
   */
  bytesRead?(): number | undefined;
}

/** Heartbeat timing, in ms (the connection's resolved options fit it as they are). */
export interface HeartbeatTiming {
  pingIntervalMs: number;
  pongTimeoutMs: number;
}

/**
 * The grid step for `intervalMs`: its largest whole divisor up to a sixteenth of it, when that is
 * at least a 64th of it; otherwise 1 (no grid). At most 49 tries, whatever the interval.
 */
export function gridStep(intervalMs: number): number {
  for (let parts = 16; parts <= 64; parts++) if (intervalMs % parts === 0) return intervalMs / parts;
  return 1;
}

/**
 * What a late wake granted the unanswered ping (see the module header), in the order granted;
 * anything received resets it to NONE.
 */
const Grace = {
  NONE: 0,
  /** A late pong deadline sent a fresh ping: the next late one does not. */
  REPINGED: 1,
  /** A late wake found the deadline passed and waits one turn for the socket to be read: the next wake judges. */
  VERDICT_DEFERRED: 2,
} as const;
type Grace = (typeof Grace)[keyof typeof Grace];

/** The heartbeat of one connection; `stop()` disarms it. */
export class Heartbeat implements Sleeper {
  readonly #clock: Clock;
  readonly #timing: HeartbeatTiming;
  readonly #hooks: HeartbeatHooks;
  readonly #timers: SharedTimers;
  readonly #step: number;
  // Its place in the shared timers' lists: theirs to touch.
  sleepSlot: Slot | undefined = undefined;
  sleepPrev: Sleeper | undefined = undefined;
  sleepNext: Sleeper | undefined = undefined;
  // Times are whole ms on the clock's scale: small integers, which V8 stores and compares without
  // allocating a number box (fractional ms allocated one per store or subtraction before the
  // code is optimised: ~130 bytes per ping, with thousands of idle connections enough to keep
  // V8's memory reducer from running). Timers have whole-ms resolution anyway.
  #lastSent: number;
  #lastReceived: number;
  /** When the outstanding ping left; -1 when none is out. */
  #pingSentAt = -1;
  /** When the last unanswered ping left, exactly (for the RTT); NaN once a pong answered it. */
  #rttFrom = NaN;
  /** What late wakes granted the outstanding ping. */
  #grace: Grace = Grace.NONE;
  /** The transport's count of bytes read when the outstanding ping's deadline started, if it keeps one. */
  #readAtPing: number | undefined;
  #stopped = false;
  /** Reading is paused: no ping, no verdict (see the module header). */
  #suspended = false;

  constructor(clock: Clock, timing: HeartbeatTiming, hooks: HeartbeatHooks) {
    this.#clock = clock;
    this.#timing = timing;
    this.#hooks = hooks;
    this.#timers = sharedTimers(clock);
    this.#step = gridStep(timing.pingIntervalMs);
    const now = Math.floor(clock.now());
    this.#lastSent = now;
    this.#lastReceived = now;
    this.#arm(now);
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
      // Answered: move from the pong deadline to the next ping time.
      this.#pingSentAt = -1;
      this.#grace = Grace.NONE;
      if (!this.#stopped && !this.#suspended) this.#arm(this.#lastReceived);
    }
    const from = this.#rttFrom;
    if (!isPong || Number.isNaN(from)) return undefined;
    this.#rttFrom = NaN;
    return exact - from;
  }

  /** Sends a ping now (unless one is already out), e.g. when a page becomes visible again. */
  probe(): void {
    if (this.#stopped || this.#suspended || this.#pingSentAt >= 0) return;
    this.#ping(this.#clock.now());
    if (this.#stopped) return; // sending the ping failed and ended the connection
    this.#arm(this.#lastSent);
  }

  /** Suspends pings and the pong deadline while reading is paused; see the module header. */
  suspend(): void {
    if (this.#stopped || this.#suspended) return;
    this.#suspended = true;
    this.#timers.delete(this);
  }

  /** Ends a {@link suspend}: an outstanding ping's deadline counts from now. */
  resume(): void {
    if (this.#stopped || !this.#suspended) return;
    this.#suspended = false;
    const now = Math.floor(this.#clock.now());
    if (this.#pingSentAt >= 0) {
      this.#pingSentAt = now;
      this.#rttFrom = NaN;
      this.#grace = Grace.NONE;
      this.#readAtPing = this.#hooks.bytesRead?.();
    }
    this.#arm(now);
  }

  /** Stops for good: disarms, ignores later notes. */
  stop(): void {
    this.#stopped = true;
    this.#timers.delete(this);
  }

  /** Arms for {@link #nextDue} (`now` is the caller's reading in whole ms), replacing the arming before. */
  #arm(now: number): void {
    this.#timers.add(this, this.#nextDue(), now);
  }

  #nextDue(): number {
    const { pingIntervalMs: intervalMs, pongTimeoutMs } = this.#timing;
    if (this.#pingSentAt >= 0) return this.#pingSentAt + pongTimeoutMs;
    const step = this.#step;
    return Math.floor((Math.min(this.#lastSent, this.#lastReceived) + intervalMs) / step) * step;
  }

  /** `exact`: the clock's reading; its fraction is kept for the RTT, the schedule uses whole ms. */
  #ping(exact: number): void {
    const now = Math.floor(exact);
    this.#pingSentAt = now;
    this.#rttFrom = exact;
    this.#lastSent = now;
    this.#readAtPing = this.#hooks.bytesRead?.();
    this.#hooks.sendPing();
  }

  /**
   * Called by the shared timers at `at`, the time the heartbeat was armed for (a much later wake
   * means the process was frozen).
   */
  wake(at: number): void {
    if (this.#stopped || this.#suspended) return;
    const exact = this.#clock.now();
    const now = Math.floor(exact);
    const { pingIntervalMs: intervalMs, pongTimeoutMs } = this.#timing;
    if (this.#pingSentAt >= 0) {
      const late = now - at;
      const grace = this.#grace;
      if (grace === Grace.NONE && late > Math.min(intervalMs, pongTimeoutMs)) {
        // Frozen (sleep, SIGSTOP, a throttled tab): a pong may sit unread, or the ping may not
        // have left at all. Judge on a fresh ping instead, once.
        this.#grace = Grace.REPINGED;
        this.#ping(exact);
        if (this.#stopped) return;
      } else if (now - this.#pingSentAt >= pongTimeoutMs) {
        const read = this.#hooks.bytesRead?.();
        if (exact > at && grace !== Grace.VERDICT_DEFERRED) {
          // Armed again for the passed deadline: a zero-delay timer, which runs after the socket
          // was read (a pong that came in while the timers were late still counts, even when
          // they were late by a fraction of a millisecond).
          this.#grace = Grace.VERDICT_DEFERRED;
        } else if (read! > this.#readAtPing!) {
          // Part of a message came in (a large one on a slow line): the peer is alive, and its
          // answer waits behind that message. Judged again pongTimeoutMs from now. (Without a
          // count, undefined is never greater.)
          this.#readAtPing = read;
          this.#pingSentAt = now;
          this.#grace = Grace.NONE;
        } else {
          this.stop();
          this.#hooks.onDead();
          return;
        }
      }
    } else if (now >= this.#nextDue()) {
      this.#ping(exact);
      if (this.#stopped) return;
    }
    this.#arm(now);
  }
}
