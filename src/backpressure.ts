/**
 * Send backpressure: the waiters of `drained()` and the `"drain"` event.
 *
 * `drained()` resolves once nothing of ours waits to leave: the outgoing queue is empty and the
 * socket's buffered amount is at or under `lowWaterMark`. Not connected and with an empty queue,
 * that is at once; with queued messages it waits for a reconnect to send them, or for them to
 * leave the queue unsent (aborted, expired, a request that timed out). When the
 * connection ends for good it rejects (`ERR_CLOSED` after `close()`, otherwise the reason it
 * gave up), so no waiter hangs. `"drain"` fires when the buffered amount falls back to
 * `lowWaterMark` or below after it rose above `highWaterMark`.
 *
 * Unused, it costs nothing: only while a waiter or a `"drain"` listener exists does the link
 * report its sends (one `bufferedAmount` read each) and ask its transport when they have been
 * written (a write callback on Node's `ws`, a poll on WHATWG sockets: link.ts). This module
 * decides nothing about what is sent or queued (outbox.ts).
 */

import type { EvtWebSocketError } from "./errors.js";

/** What backpressure needs of a link. */
export interface WatchedLink {
  readonly bufferedAmount: number;
  watchWrites: boolean;
  requestFlushed(): void;
}

type Waiter = { resolve(): void; reject(error: Error): void };

/** The waiters and the drain state of one connection; made on first use. */
export class Backpressure {
  readonly #low: number;
  readonly #high: number;
  readonly #onDrain: () => void;
  /** True while the connection has a `"drain"` listener (asked, not counted: `off()` needs no bookkeeping). */
  readonly #listening: () => boolean;
  #waiters: Waiter[] = [];
  /** The buffered amount rose above the high mark since the last `"drain"`. */
  #above = false;

  /**
   * @param onDrain - announces `"drain"` (through the connection's emitter).
   * @param listening - whether a `"drain"` listener exists now.
   */
  constructor(lowWaterMark: number, highWaterMark: number, onDrain: () => void, listening: () => boolean) {
    this.#low = lowWaterMark;
    this.#high = highWaterMark;
    this.#onDrain = onDrain;
    this.#listening = listening;
  }

  /** True while the links must report their writes: a `"drain"` listener or a waiter exists. */
  get watching(): boolean {
    return this.#listening() || this.#waiters.length > 0;
  }

  /**
   * A `"drain"` listener was added: writes are watched from now on, and a buffer already above
   * the high mark (sent while nobody watched) is followed until it falls: a listener added once
   * a producer sees `bufferedAmount` high, as with Node's streams, hears the fall.
   */
  listen(link: WatchedLink | undefined): void {
    if (link === undefined) return;
    link.watchWrites = true;
    if (this.#noteAbove(link)) link.requestFlushed();
  }

  /**
   * Resolves once the queue is empty and `link`'s buffered amount is at or under the low mark.
   *
   * @param link - the current open link, if any.
   * @param queued - messages in the outgoing queue.
   */
  wait(link: WatchedLink | undefined, queued: number): Promise<void> {
    if (queued === 0 && (link === undefined || link.bufferedAmount <= this.#low)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      if (link !== undefined) {
        link.watchWrites = true;
        this.#noteAbove(link);
        link.requestFlushed();
      }
    });
  }

  /** Notes a buffer above the high mark (the `"drain"` to come); true when it is. */
  #noteAbove(link: WatchedLink): boolean {
    if (link.bufferedAmount <= this.#high) return false;
    this.#above = true;
    return true;
  }

  /**
   * A watched link reports: `flushed` false after a send, true once earlier sends were written
   * (or the link just opened). Settles the waiters and announces `"drain"` only on `flushed`:
   * never from inside a `send()`.
   */
  update(link: WatchedLink, queued: number, flushed: boolean): void {
    const buffered = link.bufferedAmount;
    if (buffered > this.#high) this.#above = true;
    if (flushed && buffered <= this.#low) {
      if (queued === 0 && this.#waiters.length > 0) {
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const w of waiters) w.resolve();
      }
      if (this.#above) {
        this.#above = false;
        this.#onDrain();
      }
    }
    const needed = this.#above || this.#waiters.length > 0;
    if (needed && (!flushed || buffered > this.#low)) link.requestFlushed();
    link.watchWrites = this.watching;
  }

  /**
   * The queue emptied without sending (its messages aborted, expired or dropped): with no open
   * link the waiters resolve; on one, they wait for what it buffered to be written.
   */
  emptied(link: WatchedLink | undefined): void {
    if (link !== undefined) link.requestFlushed();
    else for (const w of this.#waiters.splice(0)) w.resolve();
  }

  /** The connection ended for good: every waiter rejects with `error`. */
  fail(error: EvtWebSocketError): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#above = false;
    for (const w of waiters) w.reject(error);
  }
}
