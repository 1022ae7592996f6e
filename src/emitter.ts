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
 */

// biome-ignore lint/suspicious/noExplicitAny: listener argument lists are checked per event by EventMap.
export type EventMap = Record<string, (...args: any[]) => unknown>;

type Slot<L> = L | L[] | undefined;

/** A small typed emitter; see the module header. */
export class Emitter<E extends EventMap, O = undefined> {
  #listeners: { [K in keyof E]?: E[K] | E[K][] } = {};
  readonly #onThrow: (error: unknown, event: keyof E, owner: O) => void;
  readonly #owner: O;

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

  /** Calls every listener of `event` with `args`. Runs once per message: allocates nothing. */
  emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    const slot: Slot<E[K]> = this.#listeners[event];
    if (slot === undefined) return;
    if (!Array.isArray(slot)) {
      this.#call(event, slot, args);
      return;
    }
    for (const listener of slot) this.#call(event, listener, args);
  }

  /** Like {@link emit}, and returns the values the listeners returned (for `connected`'s promises). */
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
