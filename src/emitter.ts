/**
 * A typed event emitter in the style of mitt: `on()` returns its own unsubscribe function.
 *
 * Listeners are called on a snapshot, so a listener that adds or removes listeners does not
 * change who hears the current event. A throwing listener does not stop the others: its error
 * goes to the `onThrow` hook given at construction (the connection turns it into
 * `ERR_CALLBACK_THREW`). `emitCollect` returns what the listeners returned, so `connected`
 * listeners can return a promise the connection waits for.
 */

// biome-ignore lint/suspicious/noExplicitAny: listener argument lists are checked per event by EventMap.
export type EventMap = Record<string, (...args: any[]) => unknown>;

/** A small typed emitter; see the module header. */
export class Emitter<E extends EventMap> {
  #listeners: { [K in keyof E]?: E[K][] } = {};
  readonly #onThrow: (error: unknown, event: keyof E) => void;

  constructor(onThrow: (error: unknown, event: keyof E) => void) {
    this.#onThrow = onThrow;
  }

  /** Adds `listener` for `event`; call the returned function to remove it again. */
  on<K extends keyof E>(event: K, listener: E[K]): () => void {
    const list = this.#listeners[event] ?? [];
    this.#listeners[event] = list.concat(listener);
    let subscribed = true;
    // Removes this one registration: a function added twice stays added once.
    return () => {
      if (!subscribed) return;
      subscribed = false;
      const current = this.#listeners[event] ?? [];
      const i = current.indexOf(listener);
      if (i !== -1) this.#listeners[event] = current.slice(0, i).concat(current.slice(i + 1));
    };
  }

  /** True when at least one listener is registered for `event`. */
  has(event: keyof E): boolean {
    return (this.#listeners[event]?.length ?? 0) > 0;
  }

  /** Calls every listener of `event` with `args`. Runs once per message: allocates nothing. */
  emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    const list = this.#listeners[event];
    if (list === undefined) return;
    for (const listener of list) {
      try {
        listener(...args);
      } catch (error) {
        this.#onThrow(error, event);
      }
    }
  }

  /** Like {@link emit}, and returns the values the listeners returned (for `connected`'s promises). */
  emitCollect<K extends keyof E>(event: K, ...args: Parameters<E[K]>): unknown[] {
    const results: unknown[] = [];
    for (const listener of this.#listeners[event] ?? []) {
      try {
        results.push(listener(...args));
      } catch (error) {
        this.#onThrow(error, event);
      }
    }
    return results;
  }

  /** Removes every listener. */
  clear(): void {
    this.#listeners = {};
  }
}
