/**
 * Wake-ups shared between connections: everything due at the same whole millisecond on one
 * {@link Clock} shares one clock timer.
 *
 * The heartbeat keeps its pings to a grid (see heartbeat.ts), so the heartbeats of thousands of
 * idle connections fall due on a handful of instants and the process wakes once per instant
 * instead of once per connection. Measured with 2,000 idle connections pinging every 5 s: the
 * client's CPU is set far more by how many times it wakes than by how many pings it sends
 * (one timer for all 2,000 pings cost about a third of one timer per connection).
 *
 * The sleepers due at one time form an intrusive doubly linked list (their `sleep*` fields), so
 * moving a heartbeat from one due time to another allocates nothing: a `Set` per due time grew
 * its table again every cycle, about 140 bytes per ping, enough for V8 to judge the allocation
 * rate of 2,000 idle connections too high to shrink the heap.
 */

import type { Clock, TimerHandle } from "./clock.js";

/**
 * Something a {@link SharedTimers} wakes; `at` is the time it was added for. The `sleep*` fields
 * are its place in the list of its due time: only {@link SharedTimers} touches them, and a new
 * sleeper starts with all three undefined.
 */
export interface Sleeper {
  wake(at: number): void;
  sleepSlot: Slot | undefined;
  sleepPrev: Sleeper | undefined;
  sleepNext: Sleeper | undefined;
}

/** The sleepers due at one time and their clock timer. */
export interface Slot {
  readonly at: number;
  timer: TimerHandle;
  head: Sleeper | undefined;
  tail: Sleeper | undefined;
}

/**
 * One clock timer per distinct due time. A due time's sleepers are woken in the order added,
 * all of them even when one throws (the first error is rethrown afterwards).
 */
export class SharedTimers {
  readonly #clock: Clock;
  readonly #slots = new Map<number, Slot>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Due times with a clock timer armed (for tests and diagnostics). */
  get armed(): number {
    return this.#slots.size;
  }

  /**
   * Wakes `sleeper` once at `at` (whole ms on the clock's scale; `now` is the caller's reading),
   * replacing the time it was added for before, if any; already due at `at`, it stays as it is.
   */
  add(sleeper: Sleeper, at: number, now: number): void {
    if (sleeper.sleepSlot?.at === at) return;
    this.delete(sleeper);
    let slot = this.#slots.get(at);
    if (slot === undefined) {
      const made: Slot = { at, timer: undefined, head: undefined, tail: undefined };
      made.timer = this.#clock.setTimeout(() => this.#fire(made), Math.max(0, at - now));
      this.#slots.set(at, made);
      slot = made;
    }
    sleeper.sleepSlot = slot;
    sleeper.sleepPrev = slot.tail;
    if (slot.tail === undefined) slot.head = sleeper;
    else slot.tail.sleepNext = sleeper;
    slot.tail = sleeper;
  }

  /** Forgets `sleeper`; the clock timer goes with the last sleeper of its time. */
  delete(sleeper: Sleeper): void {
    const slot = sleeper.sleepSlot;
    if (slot === undefined) return;
    const prev = sleeper.sleepPrev;
    const next = sleeper.sleepNext;
    if (prev === undefined) slot.head = next;
    else prev.sleepNext = next;
    if (next === undefined) slot.tail = prev;
    else next.sleepPrev = prev;
    sleeper.sleepSlot = sleeper.sleepPrev = sleeper.sleepNext = undefined;
    if (slot.head === undefined && this.#slots.get(slot.at) === slot) {
      this.#clock.clearTimeout(slot.timer);
      this.#slots.delete(slot.at);
    }
  }

  #fire(slot: Slot): void {
    // Forget the slot first: a sleeper that re-arms for the same (past) time gets a new timer
    // rather than joining the list being walked. Always take the current head: a wake may stop
    // or move sleepers further down the list.
    this.#slots.delete(slot.at);
    let failed = false;
    let first: unknown;
    for (let sleeper = slot.head; sleeper !== undefined; sleeper = slot.head) {
      this.delete(sleeper);
      try {
        sleeper.wake(slot.at);
      } catch (error) {
        // One sleeper that throws must not strand the others due at the same time.
        if (!failed) first = error;
        failed = true;
      }
    }
    if (failed) throw first;
  }
}

const byClock = new WeakMap<Clock, SharedTimers>();

/** The {@link SharedTimers} of `clock`, made on first use; every connection on that clock shares it. */
export function sharedTimers(clock: Clock): SharedTimers {
  let timers = byClock.get(clock);
  if (timers === undefined) {
    timers = new SharedTimers(clock);
    byClock.set(clock, timers);
  }
  return timers;
}
