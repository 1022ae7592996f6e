/**
 * The delivery policies of queued plain messages: a deadline (`maxAgeMs`), an abort signal, and
 * the room a full queue makes under `overflow: "drop-oldest"`, with the report of every message
 * dropped unsent (`ERR_QUEUE_EXPIRED`, `ERR_QUEUE_FULL`; an aborted one is not reported, its
 * aborter knows).
 *
 * Expiry costs one timer for the whole queue, armed for its earliest deadline: a message with an
 * earlier one re-arms it, and when it fires it re-arms for the next. It is cleared once the
 * queue has been sent and by `stop()`. Expiry and aborts run as transitions of the connection's
 * emitter, and reports are announced once the queue is consistent. Sending, the bounds' error
 * and requests are the outbox's business; requests are never dropped here.
 */

import type { Clock, TimerHandle } from "./clock.js";
import type { Data } from "./codec.js";
import { ErrorCode, EvtWebSocketError } from "./errors.js";
import type { Observer } from "./observe.js";
import type { QueueOverflow } from "./options.js";
import type { Transitions } from "./pending.js";
import type { OutboundQueue, QueueItem, QueueLimits } from "./queue.js";
import type { ResolvedSend } from "./send-options.js";

type Item = QueueItem<unknown>;

/** The queue's bounds and policies. */
export interface QueuePolicy extends QueueLimits {
  overflow: QueueOverflow;
  /** Default deadline of a queued plain message, in ms; 0: none. */
  maxAgeMs: number;
}

/** The connection's emitter, as used here: transitions, and errors for `onError`. */
export interface Steps extends Transitions {
  // biome-ignore lint/suspicious/noExplicitAny: the owner is the connection, whatever its message types.
  emit(event: "error", error: EvtWebSocketError, owner: any): void;
}

/**
 * The queued messages one signal would take out: `items`, among them some already gone (sent,
 * expired, dropped: their `signal` is no longer this one), `count` of them still queued.
 */
interface SignalEntry {
  items: Item[];
  count: number;
  onAbort: () => void;
}

/** The policies of one connection's queue; see the module header. */
export class Delivery {
  readonly #queue: OutboundQueue;
  readonly #clock: Clock;
  readonly #policy: QueuePolicy;
  readonly #steps: Steps;
  readonly #owner: unknown;
  /** The one expiry timer, armed for `#at`, the earliest deadline in the queue. */
  #timer: TimerHandle | undefined;
  #at = Infinity;
  /**
   * One listener per signal, however many queued messages share it (Node warns past ten
   * listeners on one signal): how many queued messages it would take out, and the listener.
   */
  #signals: Map<AbortSignal, SignalEntry> | undefined;

  /**
   * @param steps - the connection's emitter: expiry and aborts run as its transitions, and
   *   dropped messages are reported through it as `owner`'s errors.
   * @param obs - the connection's observer (logger, channels): told of each batch dropped.
   */
  constructor(
    queue: OutboundQueue,
    clock: Clock,
    policy: QueuePolicy,
    steps: Steps,
    owner: unknown,
    readonly obs?: Observer,
  ) {
    this.#queue = queue;
    this.#clock = clock;
    this.#policy = policy;
    this.#steps = steps;
    this.#owner = owner;
  }

  /** Queues a plain message (the caller made room) with its deadline and its signal's listener. */
  enqueue(data: Data, bytes: number, body: unknown, options: ResolvedSend | undefined): void {
    const maxAgeMs = options === undefined ? this.#policy.maxAgeMs : options.maxAgeMs;
    // No clock read unless the message has a deadline.
    const now = maxAgeMs > 0 ? this.#clock.now() : 0;
    const item = this.#queue.push(data, bytes, undefined, body, maxAgeMs > 0 ? now + maxAgeMs : 0)!;
    const signal = options?.signal;
    if (signal !== undefined) this.#listen(signal, item);
    if (item.expiresAt !== 0 && item.expiresAt < this.#at) this.#arm(item.expiresAt, now);
  }

  /**
   * Under `"drop-oldest"`, takes out the oldest plain messages that must go for a frame of
   * `bytes` bytes to fit, and returns them to be {@link report}ed once the new frame is queued.
   * Undefined, with nothing dropped, under `"reject"` or when dropping every plain message
   * would not make room.
   */
  dropOldest(bytes: number): Item[] | undefined {
    const { maxMessages, maxBytes, overflow } = this.#policy;
    if (overflow !== "drop-oldest") return undefined;
    const queue = this.#queue;
    let count = queue.size;
    let total = queue.bytes;
    const fits = () => count + 1 <= maxMessages && total + bytes <= maxBytes;
    const victims: Item[] = [];
    for (const item of queue.live()) {
      if (fits()) break;
      if (item.owner !== undefined) continue; // a request: never dropped
      victims.push(item);
      count--;
      total -= item.bytes;
    }
    if (!fits()) return undefined;
    this.#drop(victims);
    return victims;
  }

  /** True when `item`, just taken from the queue to be sent, is past its deadline (a late timer): it expires instead. */
  isDue(item: Item): boolean {
    if (item.expiresAt === 0 || item.expiresAt > this.#clock.now()) return false;
    this.release(item);
    return true;
  }

  /** Reports messages dropped unsent (`code`: why), as one transition. */
  report(items: Item[], code: ErrorCode): void {
    this.#steps.run(this, this.#announce, items, code);
  }

  /** Clears the expiry timer: the queue was sent or emptied for good. */
  stop(): void {
    if (this.#timer === undefined) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#at = Infinity;
  }

  /**
   * Lets go of a message's signal once it has left the queue (sent, expired, dropped, or the
   * connection ended); the signal's listener goes with its last queued message.
   */
  release(item: Item): void {
    const signal = item.signal;
    if (signal === undefined) return;
    item.signal = undefined;
    const entry = this.#signals?.get(signal);
    if (entry === undefined) return;
    if (--entry.count === 0) {
      this.#signals!.delete(signal);
      signal.removeEventListener("abort", entry.onAbort);
      return;
    }
    // A signal shared by many messages over time keeps a list within twice those still queued.
    if (entry.items.length > 2 * entry.count + 16)
      entry.items = entry.items.filter((i) => i.signal === signal);
  }

  /**
   * Takes `item` out of the queue when `signal` aborts. The message only notes its signal, and
   * the signal's entry lists it: no closure per message, which lived (and was promoted) as long
   * as the message waited (19 MB more promoted per 200,000 messages queued with a signal); an
   * abort visits its own messages only (a pass over the whole queue per abort took 36 s for
   * 50,000 messages each with its own signal, aborted one by one).
   */
  #listen(signal: AbortSignal, item: Item): void {
    this.#signals ??= new Map();
    let entry = this.#signals.get(signal);
    if (entry === undefined) {
      entry = { items: [], count: 0, onAbort: this.#onAbort(signal) };
      signal.addEventListener("abort", entry.onAbort, { once: true });
      this.#signals.set(signal, entry);
    }
    entry.items.push(item);
    entry.count++;
    item.signal = signal;
  }

  /** The listener of one signal (made here, so it keeps nothing of `#listen`'s scope alive). */
  #onAbort(signal: AbortSignal): () => void {
    return () => this.#steps.run(this, this.#abort, signal);
  }

  /** A signal aborted: every queued message it was given to leaves the queue unsent. */
  #abort(signal: AbortSignal): void {
    const entry = this.#signals?.get(signal);
    if (entry === undefined) return;
    this.#signals!.delete(signal);
    for (const item of entry.items) {
      if (item.signal !== signal) continue;
      item.signal = undefined;
      // One being sent right now (an abort from a `sent` subscriber) is already out of the
      // queue: cancelling it changes nothing, and its frame goes out.
      this.#queue.cancel(item);
    }
    // Nothing left to expire: no timer waits for it (it would hold an idle process open).
    if (this.#queue.size === 0) this.stop();
  }

  /** Arms the expiry timer for `at` (replacing a later one); `now` is the clock's reading. */
  #arm(at: number, now: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#at = at;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#at = Infinity;
      this.#steps.run(this, this.#expire);
    }, at - now);
  }

  /** The expiry timer fired: drops every message past its deadline, re-arms for the next one. */
  #expire(): void {
    const now = this.#clock.now();
    let next = Infinity;
    const expired: Item[] = [];
    for (const item of this.#queue.live()) {
      if (item.expiresAt === 0) continue;
      if (item.expiresAt <= now) expired.push(item);
      else if (item.expiresAt < next) next = item.expiresAt;
    }
    this.#drop(expired);
    if (next < this.#at) this.#arm(next, now);
    this.#announce(expired, ErrorCode.QUEUE_EXPIRED);
  }

  #drop(items: Item[]): void {
    for (const item of items) {
      this.#queue.cancel(item);
      this.release(item);
    }
  }

  /**
   * One error per message, with its body in `details.message`; the observer hears one line for
   * them all, without the bodies (`queue-full` with `dropped`, or `queue-expired`), first.
   */
  #announce(items: Item[], code: ErrorCode): void {
    const full = code === ErrorCode.QUEUE_FULL;
    // A timer that fires a little early finds nothing due: no line then.
    if (items.length > 0) this.obs?.event(full ? "queue-full" : "queue-expired", { dropped: items.length });
    const why = full
      ? 'the queue was full: its oldest message was dropped (overflow: "drop-oldest")'
      : "a queued message expired (maxAgeMs) and was dropped";
    for (const item of items) {
      this.#steps.emit(
        "error",
        new EvtWebSocketError(code, why, { details: { message: item.body } }),
        this.#owner,
      );
    }
  }
}
