/**
 * A typed event emitter in the style of mitt: `on()` returns its own unsubscribe function.
 *
 * Listeners are called on a snapshot, so a listener that adds or removes listeners does not
 * change who hears the current event. A throwing listener does not stop the others: its error
 * goes to the `onThrow` hook given at construction (the connection turns it into
 * `ERR_CALLBACK_THREW`). `emitCollect` returns what the listeners returned, so `connected`
 * listeners can return a promise the connection waits for.
 *
 * Memory: an event with one listener stores the function itself, an array only from the second
 * on (replaced, never mutated, which is what makes dispatch a snapshot). A connection usually
 * has one listener per event, so thousands of idle connections hold no listener arrays.
 *
 * Finish, then announce: the owner runs each transition through {@link Emitter.run}. While one
 * runs, or while listeners are being called, `emit` and `defer` only queue; the queue is
 * delivered in order when the outermost step returns. A listener that calls back into the
 * owner (which runs a transition of its own) therefore always finds the owner consistent, and
 * what that call announces comes after what was already waiting. This is the library's one
 * mechanism for re-entrant callbacks.
 */

// biome-ignore lint/suspicious/noExplicitAny: listener argument lists are checked per event by EventMap.
export type EventMap = Record<string, (...args: any[]) => unknown>;

type Slot<L> = L | L[] | undefined;

/** A small typed emitter; see the module header. */
export class Emitter<E extends EventMap, O = undefined> {
  #listeners: { [K in keyof E]?: E[K] | E[K][] } = {};
  readonly #onThrow: (error: unknown, event: keyof E, owner: O) => void;
  readonly #owner: O;
  /** Steps and dispatches under way; while above 0, announcements wait in `#later`. */
  #depth = 0;
  #later: Array<() => void> | undefined;
  /** The queue is being delivered (by {@link #drain}). */
  #draining = false;

  /**
   * @param onThrow - gets what a listener threw; a module-level function plus `owner` costs no
   *   closure per emitter.
   */
  constructor(onThrow: (error: unknown, event: keyof E, owner: O) => void, owner?: O) {
    this.#onThrow = onThrow;
    this.#owner = owner as O;
  }

  /** Adds `listener` for `event`; call the returned function to remove it again. */
  on<K extends keyof E>(event: K, listener: E[K]): () => void {
    const slot: Slot<E[K]> = this.#listeners[event];
    this.#listeners[event] = slot === undefined ? listener : ([] as E[K][]).concat(slot, listener);
    let subscribed = true;
    // Removes this one registration: a function added twice stays added once.
    return () => {
      if (!subscribed) return;
      subscribed = false;
      const current: Slot<E[K]> = this.#listeners[event];
      if (current === listener) this.#listeners[event] = undefined;
      else if (Array.isArray(current)) {
        const i = current.indexOf(listener);
        if (i === -1) return;
        const rest = current.slice(0, i).concat(current.slice(i + 1));
        this.#listeners[event] = rest.length === 1 ? rest[0] : rest;
      }
    };
  }

  /** True when `event` has a listener: lets a caller skip building an event nobody hears. */
  has(event: keyof E): boolean {
    return this.#listeners[event] !== undefined;
  }

  /**
   * Calls every listener of `event` with `args`, or, while a step runs, queues the call for when
   * it has finished. Runs once per message: allocates nothing when nothing is waiting.
   */
  emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    if (this.#depth > 0) {
      // A deferred callback being delivered (depth 1 in the drain) announces in its own turn,
      // so the next deferred callback sees what these listeners did (a close() in onError).
      if (this.#draining && this.#depth === 1) this.#dispatch(event, args);
      else this.#queue(() => this.#dispatch(event, args));
      return;
    }
    if (this.#listeners[event] === undefined) return;
    this.#depth = 1;
    try {
      this.#dispatch(event, args);
    } finally {
      this.#depth = 0;
    }
    if (this.#later !== undefined) this.#drain();
  }

  /**
   * {@link emit} for a two-argument event (`"message"`: the message and the connection), without
   * the rest array and the spread: once per message received. Behaves exactly as `emit`.
   */
  emit2<K extends keyof E>(event: K, a: Parameters<E[K]>[0], b: Parameters<E[K]>[1]): void {
    const slot: Slot<E[K]> = this.#listeners[event];
    if (this.#depth > 0 || Array.isArray(slot)) {
      this.emit(event, ...([a, b] as Parameters<E[K]>));
      return;
    }
    if (slot === undefined) return;
    this.#depth = 1;
    try {
      slot(a, b);
    } catch (error) {
      this.#onThrow(error, event, this.#owner);
    } finally {
      this.#depth = 0;
    }
    if (this.#later !== undefined) this.#drain();
  }

  /**
   * Runs `step` (with `self` as `this`) as one transition: what it emits or defers is delivered
   * once it returns, unless an outer step or dispatch is still under way. `self` and the
   * arguments are passed through, so a private method needs no bound closure.
   */
  run<T, A extends unknown[]>(self: T, step: (this: T, ...args: A) => void, ...args: A): void {
    this.#depth++;
    try {
      step.apply(self, args);
    } finally {
      // Even when the step threw (a bug): what it announced is delivered, nothing stays queued.
      this.#depth--;
      if (this.#depth === 0 && this.#later !== undefined) this.#drain();
    }
  }

  /** Calls `callback` (a user callback that is not an event) as an announcement: now, or once the current step is done. */
  defer(callback: () => void): void {
    if (this.#depth > 0) this.#queue(callback);
    else this.run(undefined, callback);
  }

  /**
   * Calls `callback` (an observer told of a fact, such as a log line) where an event would be
   * dispatched: now, or once the current step is done; so it comes before the callbacks for that fact.
   */
  announce(callback: () => void): void {
    if (this.#depth > 0 && !(this.#draining && this.#depth === 1)) this.#queue(callback);
    else callback();
  }

  #queue(callback: () => void): void {
    if (this.#later === undefined) this.#later = [callback];
    else this.#later.push(callback);
  }

  /** Delivers what waits, in order, and what those listeners announce in turn. */
  #drain(): void {
    const later = this.#later!;
    this.#depth = 1;
    this.#draining = true;
    try {
      for (let i = 0; i < later.length; i++) later[i]!();
    } finally {
      this.#later = undefined;
      this.#depth = 0;
      this.#draining = false;
    }
  }

  #dispatch<K extends keyof E>(event: K, args: Parameters<E[K]>): void {
    const slot: Slot<E[K]> = this.#listeners[event];
    if (slot === undefined) return;
    if (!Array.isArray(slot)) {
      this.#call(event, slot, args);
      return;
    }
    for (const listener of slot) this.#call(event, listener, args);
  }

  /**
   * Calls the listeners now and returns what they returned (for `connected`'s promises). It does
   * not wait for a step: call it from a deferred callback.
   */
  emitCollect<K extends keyof E>(event: K, ...args: Parameters<E[K]>): unknown[] {
    const slot: Slot<E[K]> = this.#listeners[event];
    const results: unknown[] = [];
    for (const listener of slot === undefined ? [] : Array.isArray(slot) ? slot : [slot]) {
      results.push(this.#call(event, listener, args));
    }
    return results;
  }

  #call<K extends keyof E>(event: K, listener: E[K], args: Parameters<E[K]>): unknown {
    try {
      return listener(...args);
    } catch (error) {
      this.#onThrow(error, event, this.#owner);
      return undefined;
    }
  }
}
