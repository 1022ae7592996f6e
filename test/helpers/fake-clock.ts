import type { Clock } from "../../src/clock.js";

type Timer = { at: number; fn: () => void; ms: number };

/**
 * A hand-driven clock: `advance(ms)` fires due timers in order, `sleep(ms)` freezes the process.
 *
 * Late mode: with `clock.lateByMs = L`, every timer set from then on fires `L` ms after its due
 * time, as in a throttled background tab or a starved container, while whatever the test does
 * between `advance()` calls (socket events) happens on time. 0, the default, fires on time.
 */
export class FakeClock implements Clock {
  #now = 0;
  #seq = 0;
  #timers = new Map<number, Timer>();
  /** Timers made by setTimeout. */
  created = 0;
  /** Timers fired. */
  fired = 0;
  /** How late every timer set from now on fires, in ms (late mode); 0 by default. */
  lateByMs = 0;

  get pending(): number {
    return this.#timers.size;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): number {
    const id = ++this.#seq;
    this.created++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms) + this.lateByMs, fn, ms: Math.max(0, ms) });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
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
      this.#now = Math.max(this.#now, next[1].at);
      this.fired++;
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
