/**
 * The model-based suite's clock: driven by hand, and optionally late.
 *
 * In late mode every timer fires after its delay plus a random lateness in `[0, maxLateMs]`
 * (a busy event loop, a throttled tab, a laptop waking up), drawn from a seeded generator so a
 * run replays exactly. `live` counts the timers set and neither fired nor cleared: the suite's
 * "no timer outlives close()" check reads it. One clock per run: the heartbeat keeps its shared
 * timers per clock object, so a clock reused across runs would carry timers between them.
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

  setTimeout(fn: () => void, ms: number): number {
    const id = ++this.#seq;
    const late = this.maxLateMs > 0 ? Math.floor(this.#random() * (this.maxLateMs + 1)) : 0;
    this.#timers.set(id, { id, firesAt: this.#now + Math.max(0, ms) + late, fn });
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
}
