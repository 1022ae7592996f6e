/**
 * The bounded queue of frames waiting for the connection to open.
 *
 * Bounded by count and by bytes; a frame that does not fit is refused (the caller raises
 * `ERR_QUEUE_FULL`) and nothing already queued is dropped. Entries can be cancelled in O(1)
 * (a request that timed out or was aborted while waiting leaves the queue and is never sent),
 * amortized: the array holds at most twice the live frames (and a few) cancelled ones.
 * `unshift` puts frames back at the front without checking the bound: they were accepted once
 * already (requests re-sent after a reconnect). Sending, expiry timers and the overflow policy
 * are the outbox's job; an item only carries what they need (its body, its deadline, the
 * signal it listens to).
 */

import type { Data } from "./codec.js";

/** One waiting frame. `owner` lets the connection tell requests from plain sends. */
export interface QueueItem<O = unknown> {
  data: Data;
  bytes: number;
  owner: O | undefined;
  /** Set once the item is out of the queue (cancelled, or taken to be sent); the queue skips it. */
  cancelled: boolean;
  /** The body given to `send()` (plain messages), for the report when it is dropped unsent. */
  body: unknown;
  /** Monotonic time (the clock's `now()`) after which a plain message expires; 0: never. */
  expiresAt: number;
  /** The message's `AbortSignal` while it is queued (`Delivery.release` lets go of it). */
  signal: AbortSignal | undefined;
}

/** The queue's limits; `Infinity` disables a limit, `0` messages disables queueing. */
export interface QueueLimits {
  maxMessages: number;
  maxBytes: number;
}

/** The empty queue's storage, shared: an idle connection allocates no array. Never written to. */
const EMPTY: QueueItem<never>[] = Object.freeze([]) as unknown as QueueItem<never>[];

/** A FIFO of frames with a count and byte bound. */
export class OutboundQueue<O = unknown> {
  #items: QueueItem<O>[] = EMPTY;
  #head = 0;
  #count = 0;
  #bytes = 0;
  readonly limits: QueueLimits;
  /** Told when a cancel empties the queue: its frames left it unsent (flow control waits on that). */
  declare onEmpty: (() => void) | undefined;

  constructor(limits: QueueLimits) {
    this.limits = limits;
  }

  /** Frames waiting (cancelled ones excluded). */
  get size(): number {
    return this.#count;
  }

  /** Bytes waiting (cancelled ones excluded). */
  get bytes(): number {
    return this.#bytes;
  }

  /** True when a frame of `bytes` bytes would fit. */
  fits(bytes: number): boolean {
    return this.#count + 1 <= this.limits.maxMessages && this.#bytes + bytes <= this.limits.maxBytes;
  }

  /** Appends a frame; returns undefined (and queues nothing) when it does not fit. */
  push(data: Data, bytes: number, owner?: O, body?: unknown, expiresAt = 0): QueueItem<O> | undefined {
    if (!this.fits(bytes)) return undefined;
    const item: QueueItem<O> = { data, bytes, owner, cancelled: false, body, expiresAt, signal: undefined };
    if (this.#items === EMPTY) this.#items = [];
    this.#items.push(item);
    this.#count++;
    this.#bytes += bytes;
    return item;
  }

  /** Puts frames back at the front, in the given order, ignoring the bound. */
  unshift(items: QueueItem<O>[]): void {
    if (items.length === 0) return;
    this.#items = items.concat(this.#items.slice(this.#head));
    this.#head = 0;
    for (const item of items) {
      item.cancelled = false;
      this.#count++;
      this.#bytes += item.bytes;
    }
  }

  /**
   * Removes `item` without sending it. A cancelled frame stays in the array until `shift()`
   * passes it, so once the array holds over twice the live ones (and a few), the live ones are
   * taken out and put back alone: while the connection was away, a queue of 10 under
   * `"drop-oldest"` kept every message ever dropped from it (221 MB after 200,000 sends of
   * 1 kB), as it did those expired, aborted or timed out.
   */
  cancel(item: QueueItem<O>): void {
    if (item.cancelled) return;
    item.cancelled = true;
    this.#bytes -= item.bytes;
    if (--this.#count === 0) this.onEmpty?.();
    if (this.#items.length > 2 * this.#count + 16) this.unshift(this.drain());
  }

  /** Takes the oldest live frame, or undefined when empty. */
  shift(): QueueItem<O> | undefined {
    while (this.#head < this.#items.length) {
      const item = this.#items[this.#head++]!;
      if (item.cancelled) continue;
      item.cancelled = true; // out of the queue: a cancel while it is being sent changes nothing
      this.#count--;
      this.#bytes -= item.bytes;
      if (this.#head === this.#items.length) this.clear();
      return item;
    }
    this.clear();
    return undefined;
  }

  /** Every live frame, oldest first, without removing it (cancelling one on the way is safe). */
  *live(): Generator<QueueItem<O>> {
    const items = this.#items;
    for (let i = this.#head; i < items.length; i++) {
      const item = items[i]!;
      if (!item.cancelled) yield item;
    }
  }

  /** Removes and returns every live frame, oldest first. */
  drain(): QueueItem<O>[] {
    const live = this.#items.slice(this.#head).filter((item) => !item.cancelled);
    this.clear();
    return live;
  }

  /** Forgets every frame. */
  clear(): void {
    this.#items = EMPTY;
    this.#head = 0;
    this.#count = 0;
    this.#bytes = 0;
  }
}
