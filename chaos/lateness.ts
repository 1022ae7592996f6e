/**
 * Timer lateness, measured where it happens: a {@link Clock} that records how late each of its
 * timers fired and which fire armed it, for the chaos client. The heartbeat's detection bound
 * holds for timers that fire on time; a loaded 2-core machine running server, proxy and client
 * in one process fires them late, and the report allows exactly that measured lateness.
 */

import type { Clock } from "../src/clock.js";
import { systemClock } from "../src/clock.js";

/** One fired timer, times in performance.now() ms. */
export interface Fire {
  /** The delay it was set with. */
  ms: number;
  due: number;
  firedAt: number;
  /** The fire whose callback set this timer; undefined when set outside one (socket events, promises). */
  parent: Fire | undefined;
}

/** How late a fire was, in ms (never negative: a Node timer may fire a fraction of a ms early). */
export const lateness = (f: Fire): number => Math.max(0, f.firedAt - f.due);

/** How many links of a chain of fires are kept: a verdict's has four, more when a wake fired early and re-armed. */
const KEEP_LINKS = 8;

/** The system clock, remembering the fires it made; `current` is the fire whose callback runs. */
export class RecordingClock implements Clock {
  current: Fire | undefined;
  #lastNow = Number.NEGATIVE_INFINITY;
  /** The fire whose callback took the last reading (undefined: none, or outside any fire). */
  #readIn: Fire | undefined;

  setTimeout(fn: () => void, ms: number): unknown {
    // On the heartbeat's own scale: it reads now(), then arms for a whole-ms time `at` with the
    // delay `at - floor(that reading)`, reading nothing in between (sending a ping may take a
    // fraction of a ms, across a ms boundary, or several on a loaded machine: a reading taken
    // in the same fire counts however long ago). A timer set with no recent reading counts from
    // the time it was set.
    const set = performance.now();
    const sameFire = this.current !== undefined && this.#readIn === this.current;
    const base = sameFire || set - this.#lastNow < 5 ? this.#lastNow : set;
    const due = Math.floor(base) + Math.ceil(Math.max(0, ms));
    const parent = this.current;
    return systemClock.setTimeout(() => {
      const fire: Fire = { ms, due, firedAt: performance.now(), parent };
      // Every wake arms the next: cut the chain, or the run would hold every fire it ever made.
      let link: Fire | undefined = fire;
      for (let i = 1; i < KEEP_LINKS && link !== undefined; i++) link = link.parent;
      if (link !== undefined) link.parent = undefined;
      const outer = this.current;
      this.current = fire;
      try {
        fn();
      } finally {
        this.current = outer;
      }
    }, ms);
  }

  clearTimeout(handle: unknown): void {
    systemClock.clearTimeout(handle);
  }

  now(): number {
    this.#readIn = this.current;
    this.#lastNow = systemClock.now();
    return this.#lastNow;
  }
}

/**
 * The heartbeat fires behind a pong-timeout verdict, latest first: from the fire that declared
 * the peer dead back to the wake that sent the ping (through a fresh ping's deadline, when a
 * late deadline sent one). A pong deadline is the timer set `pongTimeoutMs` ahead; the fire
 * that set it sent the ping. Whatever else fired on the way (a deferred verdict's zero-delay
 * timer, a wake that came a fraction of a ms early and re-armed) is followed through its parent.
 * Only the last few links are kept (KEEP_LINKS), so a chain may stop short.
 */
export function verdictChain(death: Fire, pongTimeoutMs: number): { fires: Fire[]; pings: number } {
  const fires: Fire[] = [];
  let pings = 0;
  for (let f: Fire | undefined = death; f !== undefined; f = f.parent) {
    fires.push(f);
    if (f.ms === pongTimeoutMs) pings++;
    else if (fires.length > 1 && fires.at(-2)!.ms === pongTimeoutMs) break; // the wake that sent the first ping
  }
  return { fires, pings };
}
