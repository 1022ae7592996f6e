import type { Clock } from "../../src/clock.js";

type Timer = { at: number; fn: () => void; ms: number };

/**
 * A hand-driven clock: `advance(ms)` fires due timers in order. With `{ restartable: true }` it
 * also has {@link Clock.restart}, with Node's semantics: a timer that fired (or is armed) starts
 * again with its original delay; a cleared one cannot be restarted (Node's refresh() would
 * silently do nothing, so asking for it is counted in `restartsOfCleared`, a bug).
 */
export class FakeClock implements Clock {
  #now = 0;
  #seq = 0;
  #timers = new Map<number, Timer>();
  #fired = new Map<number, Timer>();
  /** Timers made by setTimeout. */
  created = 0;
  /** Timers started again by restart(). */
  restarted = 0;
  /** restart() calls on a cleared timer: must stay 0. */
  restartsOfCleared = 0;
  restart?: (handle: unknown) => boolean;

  constructor(options: { restartable?: boolean } = {}) {
    if (options.restartable) this.restart = (handle) => this.#restart(handle as number);
  }

  #restart(id: number): boolean {
    const timer = this.#timers.get(id) ?? this.#fired.get(id);
    if (timer === undefined) {
      this.restartsOfCleared++;
      return false;
    }
    this.#fired.delete(id);
    this.#timers.set(id, { ...timer, at: this.#now + timer.ms });
    this.restarted++;
    return true;
  }

  get pending(): number {
    return this.#timers.size;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): number {
    const id = ++this.#seq;
    this.created++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn, ms: Math.max(0, ms) });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
    this.#fired.delete(handle as number);
  }

  /** Moves time forward, firing every timer that falls due, earliest first. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: [number, Timer] | undefined;
      for (const entry of this.#timers)
        if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#fired.set(next[0], next[1]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].fn();
    }
    this.#now = end;
  }

  /** Jumps time forward without firing anything (a frozen process), then fires what is due. */
  sleep(ms: number): void {
    this.#now += ms;
    this.advance(0);
  }
}
