/**
 * The model-based suite's clock: driven by hand, and optionally late.
 *
 * In late mode every timer fires after its delay plus a random lateness in `[0, maxLateMs]`
 * (a busy event loop, a throttled tab, a laptop waking up), drawn from a seeded generator so a
 * run replays exactly. `live` counts the timers set and neither fired nor cleared: the suite's
 * "no timer outlives close()" check reads it. One clock per run: the heartbeat keeps its shared
 * timers per clock object, so a clock reused across runs would carry timers between them.
 *
 * Node's timer rules where they matter: a delay under 1 ms is 1 ms (Node clamps it), so a
 * zero-delay timer never runs in the turn that set it. And a starved process (`freeze`, then
 * `wake`): time passes with nothing fired, then the timers due at the wake run, only those set
 * before it (the zero-delay ones they set belong to the loop's next turn), before the test reads
 * any socket: Node runs due timers before it polls the sockets. `frozenAfter` tells the books how
 * much frozen time may have delayed a timer due after a given time.
 */

import { createRng } from "../../chaos/rng.js";
import type { Clock } from "../../src/clock.js";

type Timer = { id: number; firesAt: number; fn: () => void };

/** A hand-driven {@link Clock} whose timers may fire late; see the module header. */
export class ModelClock implements Clock {
  #now = 0;
  #seq = 0;
  readonly #timers = new Map<number, Timer>();
  readonly #random: () => number;
  #maxLateMs = 0;
  /** The largest `maxLateMs` ever set: no timer set so far fires later than its due time plus this. */
  latestLateMs = 0;
  /** Timers fired so far. */
  fired = 0;
  /** Every freeze so far, as [from, to] in clock time. */
  readonly #freezes: [number, number][] = [];

  constructor(maxLateMs = 0, seed = 1) {
    this.maxLateMs = maxLateMs;
    this.#random = createRng(seed);
  }

  /** Largest lateness added to a timer, in ms; 0 fires every timer on time. */
  get maxLateMs(): number {
    return this.#maxLateMs;
  }

  set maxLateMs(ms: number) {
    this.#maxLateMs = ms;
    this.latestLateMs = Math.max(this.latestLateMs, ms);
  }

  /** Timers set and neither fired nor cleared. */
  get live(): number {
    return this.#timers.size;
  }

  /** Delay until the earliest live timer fires, or undefined when none is live. */
  get nextInMs(): number | undefined {
    let first: number | undefined;
    for (const t of this.#timers.values()) if (first === undefined || t.firesAt < first) first = t.firesAt;
    return first === undefined ? undefined : first - this.#now;
  }

  now(): number {
    return this.#now;
  }

  /**
   * Timers of 2 ms or more may fire this much early (0 or 1): Node counts a timer from the
   * loop's time in whole ms, so one fires up to 1 ms before `performance.now()` has moved by its
   * delay. Late and early draws add up: a timer is early only when its lateness is below this.
   */
  get maxEarlyMs(): number {
    return this.#maxEarlyMs;
  }

  set maxEarlyMs(ms: number) {
    this.#maxEarlyMs = ms;
    this.latestEarlyMs = Math.max(this.latestEarlyMs, ms);
  }

  #maxEarlyMs = 0;
  /** The largest `maxEarlyMs` ever set. */
  latestEarlyMs = 0;

  setTimeout(fn: () => void, ms: number): number {
    const id = ++this.#seq;
    const late = this.maxLateMs > 0 ? Math.floor(this.#random() * (this.maxLateMs + 1)) : 0;
    const early = this.maxEarlyMs > 0 && ms >= 2 ? Math.floor(this.#random() * (this.maxEarlyMs + 1)) : 0;
    // Node clamps a delay under 1 ms (0 included) to 1 ms: the timer runs in a later turn.
    this.#timers.set(id, { id, firesAt: this.#now + Math.max(1, ms) + late - early, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due, earliest first (same time:
   * the one set first). Time reads as each timer's firing time while it runs.
   */
  advance(ms: number): void {
    const end = this.#now + Math.max(0, ms);
    for (;;) {
      let next: Timer | undefined;
      for (const t of this.#timers.values()) {
        if (t.firesAt <= end && (next === undefined || t.firesAt < next.firesAt)) next = t;
      }
      if (next === undefined) break;
      this.#timers.delete(next.id);
      this.#now = Math.max(this.#now, next.firesAt);
      this.fired++;
      next.fn();
    }
    this.#now = end;
  }

  /**
   * The process is frozen for `ms` (the event loop blocked, SIGSTOP, a laptop asleep): time moves
   * on and nothing fires. Call {@link wake} next, to run the timers that fell due.
   */
  freeze(ms: number): void {
    const from = this.#now;
    this.#now += Math.max(0, ms);
    this.#freezes.push([from, this.#now]);
  }

  /**
   * The first turn after a freeze: runs the timers due now that were set before this call,
   * earliest first (same time: the one set first), with time reading as now. A timer they set
   * is due 1 ms later at the earliest (the clamp): it runs on a later advance, as in Node's next
   * loop turn. Returns how many ran.
   */
  wake(): number {
    const due = [...this.#timers.values()]
      .filter((t) => t.firesAt <= this.#now)
      .sort((a, b) => a.firesAt - b.firesAt || a.id - b.id);
    let ran = 0;
    for (const t of due) {
      if (!this.#timers.has(t.id)) continue; // cleared by one that ran before it
      this.#timers.delete(t.id);
      this.fired++;
      ran++;
      t.fn();
    }
    return ran;
  }

  /**
   * Frozen time after `t`, in ms: how much later than its due time (plus lateness) a chain of
   * timers due after `t` may have run, each one due inside a freeze running at its end.
   */
  frozenAfter(t: number): number {
    let ms = 0;
    for (const [from, to] of this.#freezes) if (to > t) ms += to - Math.max(from, t);
    return ms;
  }
}
