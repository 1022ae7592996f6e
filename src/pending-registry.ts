/**
 * The registry of requests waiting for their response: how a response finds its request.
 *
 * Two indexes: requests whose body yields an id (`messageId`) live in a `Map` and are found in
 * O(1); the others live in an insertion-ordered `Set` and are tried oldest first with the
 * user's `matchMsg`. A response whose id matches nothing still falls through to `matchMsg`.
 * Timeouts, abort signals and settling are `pending.ts`'s.
 */

/** A request id as returned by `messageId`. */
export type MessageKey = string | number;

/** What the registry needs to know about a pending request. */
export interface PendingEntry<TOut> {
  /** The request body, handed to `matchMsg`. */
  readonly body: TOut;
  /** The id from `messageId(body)`, if any. */
  readonly id: MessageKey | undefined;
  /** Creation order, used to restore send order after a disconnect. */
  readonly seq: number;
}

/** Finds pending requests for incoming responses. */
export class PendingRegistry<TOut, E extends PendingEntry<TOut> = PendingEntry<TOut>> {
  // Allocated on first use: most idle connections never hold a request.
  #byId: Map<MessageKey, E> | undefined;
  #ordered: Set<E> | undefined;

  /** Number of pending requests. */
  get size(): number {
    return (this.#byId?.size ?? 0) + (this.#ordered?.size ?? 0);
  }

  /** True when a request with this id is pending. */
  hasId(id: MessageKey): boolean {
    return this.#byId?.has(id) === true;
  }

  /** True when this very entry is registered. */
  has(entry: E): boolean {
    return entry.id === undefined ? this.#ordered?.has(entry) === true : this.#byId?.get(entry.id) === entry;
  }

  /** Registers a request. The caller checks `hasId` first. */
  add(entry: E): void {
    if (entry.id === undefined) {
      this.#ordered ??= new Set();
      this.#ordered.add(entry);
    } else {
      this.#byId ??= new Map();
      this.#byId.set(entry.id, entry);
    }
  }

  /** Unregisters a request; removing an unknown entry does nothing. */
  remove(entry: E): void {
    if (entry.id === undefined) this.#ordered?.delete(entry);
    else if (this.#byId?.get(entry.id) === entry) this.#byId.delete(entry.id);
  }

  /**
   * The request `response` answers, or undefined.
   *
   * @param id - the response's id from `messageId`, or undefined.
   * @param matches - the user's matcher applied as `matches(request, response)`; may throw,
   *   the caller decides what a throw means.
   */
  find(id: MessageKey | undefined, matches: ((request: TOut) => boolean) | undefined): E | undefined {
    if (id !== undefined) {
      const byId = this.#byId?.get(id);
      if (byId !== undefined) return byId;
    }
    if (matches === undefined || this.#ordered === undefined) return undefined;
    for (const entry of this.#ordered) {
      if (matches(entry.body)) return entry;
    }
    return undefined;
  }

  /** Every pending request, oldest first. */
  entries(): E[] {
    const all = [...(this.#byId?.values() ?? []), ...(this.#ordered ?? [])];
    return all.sort((a, b) => a.seq - b.seq);
  }
}
