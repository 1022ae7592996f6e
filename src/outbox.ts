/**
 * The outgoing side of a connection: frames and requests on their way out.
 *
 * Owns the bounded queue and the pending-request registry, and the rules that tie them: a
 * frame goes straight to an open link or waits in the queue; a request is registered before
 * it is sent, so its response can never outrun it; when a socket drops, requests already on
 * the wire are re-queued (`retryOnReconnect`) or rejected with `ERR_DISCONNECTED`; on
 * shutdown everything still waiting settles and the unsent count is returned for reporting.
 *
 * Plain messages: a `volatile` one is dropped unless a link is open; the policies of queued
 * ones (deadlines, abort signals, drop-oldest) are `delivery.ts`'s.
 * Which link is current and what the connection's state is are `conn.ts`'s business.
 */

import type { Clock } from "./clock.js";
import { byteLength, type Data } from "./codec.js";
import { Delivery, type QueuePolicy, type Steps } from "./delivery.js";
import { ErrorCode, EvtWebSocketError, evtError } from "./errors.js";
import type { Link } from "./link.js";
import type { Observer } from "./observe.js";
import { PendingRequests, type Request, type RequestInit } from "./pending.js";
import type { MessageKey } from "./pending-registry.js";
import { OutboundQueue, type QueueItem } from "./queue.js";
import type { ResolvedSend, SendResult } from "./send-options.js";

type Item = QueueItem<unknown>;

/** Where the connection is, read only for an `ERR_QUEUE_FULL` message (not per send). */
interface Where {
  readonly phase: string;
}
type Req<TIn, TOut> = Request<TIn, TOut, Item>;

/** What the outbox reads of the connection's resolved options, when it needs it (nothing is copied). */
export interface OutboxOptions {
  readonly clock: Clock;
  readonly queue: QueuePolicy;
  readonly maxPendingRequests: number;
}

/**
 * The outgoing queue and pending requests of one connection. The delivery policies and the
 * pending registry are made on first use: an idle connection, or one that only sends while
 * open, holds neither.
 */
export class Outbox<TIn, TOut> {
  readonly #queue: OutboundQueue;
  readonly #o: OutboxOptions;
  /** Made by the first request: a connection that only sends never allocates it. */
  #pending: PendingRequests<TIn, TOut, Item> | undefined;
  /** Frames handed to a socket. */
  messagesSent = 0;
  /** Payload bytes handed to a socket. */
  bytesSent = 0;
  /** The connection's observer: told of every frame sent and every queue overflow. */
  obs: Observer | undefined;

  readonly #steps: Steps;
  readonly #owner: unknown;
  /** Made when a frame first has to wait (#makeRoom): deadlines, signals and overflow of queued messages. */
  #delivery: Delivery | undefined;

  /**
   * @param steps - the connection's emitter: request timeouts, aborts and expiry run as its
   *   transitions, and dropped messages are reported through it as `owner`'s errors.
   */
  constructor(o: OutboxOptions, steps: Steps, owner?: unknown) {
    this.#queue = new OutboundQueue(o.queue);
    this.#o = o;
    this.#steps = steps;
    this.#owner = owner;
  }

  /** Told when the queue empties without sending its last frames (aborted, expired, dropped). */
  set onEmpty(listener: () => void) {
    this.#queue.onEmpty = listener;
  }

  /** Frames waiting for the connection to open. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Requests waiting for their response. */
  get pending(): number {
    return this.#pending?.size ?? 0;
  }

  /**
   * Sends `data` on `link`, or queues it (with the deadline and signal of `options`) when there
   * is no open link; a volatile message is dropped instead. Returns what it did.
   *
   * @param where - the connection, read for its phase only in an `ERR_QUEUE_FULL` message.
   * @param body - the message as given to `send()`, kept for the report if it is dropped unsent.
   */
  send(link: Link | undefined, data: Data, where: Where, body?: unknown, options?: ResolvedSend): SendResult {
    // A link that refuses (its socket is closing) is no link: the frame waits for the next one.
    if (link !== undefined && this.#transmit(link, data)) return "sent";
    if (options?.volatile === true) return "dropped";
    const bytes = byteLength(data);
    const victims = this.#makeRoom(bytes, where);
    const delivery = this.#delivery!; // made by #makeRoom
    delivery.enqueue(data, bytes, body, options);
    if (victims !== undefined) delivery.report(victims, ErrorCode.QUEUE_FULL);
    return "queued";
  }

  /**
   * Registers a request, then sends or queues its frame. Throws `ERR_DUPLICATE_ID`,
   * `ERR_TOO_MANY_PENDING`, or `ERR_QUEUE_FULL` when it must wait and the queue is full; then
   * nothing stays registered.
   */
  request(link: Link | undefined, init: RequestInit<TIn, TOut>, where: Where): SendResult {
    const { id } = init;
    if (id !== undefined && this.#pending?.hasId(id) === true) {
      throw evtError(ErrorCode.DUPLICATE_ID, `a request with id ${JSON.stringify(id)} is already pending`);
    }
    if (this.pending >= this.#o.maxPendingRequests) {
      throw evtError(
        ErrorCode.TOO_MANY_PENDING,
        `${this.pending} requests are already pending (maxPendingRequests)`,
      );
    }
    // Measured only for the queue; checked before registering, so a refusal leaves nothing behind.
    let bytes = link === undefined ? byteLength(init.data) : 0;
    let victims = link === undefined ? this.#makeRoom(bytes, where) : undefined;
    this.#pending ??= new PendingRequests(this.#o.clock, this.#queue, this.#steps);
    const request = this.#pending.add(init);
    if (link !== undefined) {
      request.sent = true;
      if (this.#transmit(link, init.data)) return "sent";
      // Refused: the socket began closing under us (a WHATWG socket tells no earlier).
      request.sent = false;
      bytes = byteLength(init.data);
      // One step: its queue-full event is told (to a logger that may call close()) once this
      // request is out of the books, so it is settled once, by the throw.
      let refused: unknown;
      this.#steps.run(this, () => {
        try {
          victims = this.#makeRoom(bytes, where);
        } catch (error) {
          this.#pending!.discard(request);
          refused = error;
        }
      });
      if (refused !== undefined) throw refused;
    }
    request.queued = this.#queue.push(init.data, bytes, request);
    if (victims !== undefined) this.#delivery!.report(victims, ErrorCode.QUEUE_FULL);
    return "queued";
  }

  /** Sends every queued frame in order while `isCurrent()` holds. */
  flush(link: Link, isCurrent: () => boolean): void {
    let expired: Item[] | undefined;
    for (let item = this.#queue.shift(); item !== undefined; item = this.#queue.shift()) {
      if (!isCurrent() || !link.isOpen) {
        this.#queue.unshift([item]);
        break;
      }
      if (this.#delivery?.isDue(item)) {
        expired ??= [];
        expired.push(item);
        continue;
      }
      // On the wire before the frame is handed over, as request() does: a message:sent
      // subscriber told of it may call reconnect(), whose drop must find it in flight.
      const request = item.owner as Req<TIn, TOut> | undefined;
      if (request !== undefined) {
        request.queued = undefined;
        request.sent = true;
      }
      if (!this.#transmit(link, item.data)) {
        // Not sent. A drop inside the send (a socket that ran reconnect(), then threw) found the
        // request on the wire and has re-queued or rejected it: only a plain message goes back.
        if (request !== undefined) {
          if (!isCurrent()) break;
          request.queued = item;
          request.sent = false;
        }
        this.#queue.unshift([item]);
        break;
      }
      if (item.signal !== undefined) this.#delivery!.release(item);
    }
    if (this.#queue.size === 0) this.#delivery?.stop();
    if (expired !== undefined) {
      this.#queue.onEmpty?.();
      this.#delivery!.report(expired, ErrorCode.QUEUE_EXPIRED);
    }
  }

  /**
   * Settles the request `msg` answers, if any; returns true when one was settled.
   *
   * @param matches - the user's matcher bound to `msg`; a throw propagates to the caller.
   */
  settle(msg: TIn, id: MessageKey | undefined, matches: ((req: TOut) => boolean) | undefined): boolean {
    const pending = this.#pending;
    const request = pending?.find(id, matches);
    if (request === undefined) return false;
    pending!.resolve(request, msg);
    return true;
  }

  /**
   * A socket ended: requests on the wire are re-queued (`retryOnReconnect` and a reconnect
   * coming) or rejected with `ERR_DISCONNECTED`, whose `cause` is the error of the end (if any)
   * and `details` its close code.
   */
  dropped(willReconnect: boolean, end: { code: number; error?: EvtWebSocketError | undefined }): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    const again: Item[] = [];
    for (const request of pending.entries()) {
      if (!request.sent) continue;
      if (willReconnect && request.retryOnReconnect) {
        request.sent = false;
        request.queued = {
          data: request.data,
          bytes: byteLength(request.data),
          owner: request,
          cancelled: false,
          body: undefined,
          expiresAt: 0,
          signal: undefined,
        };
        again.push(request.queued);
        continue;
      }
      const why = willReconnect ? "" : " and will not reconnect";
      pending.reject(
        request,
        new EvtWebSocketError(
          ErrorCode.DISCONNECTED,
          `connection lost${why} while the request was in flight`,
          {
            cause: end.error,
            details: { closeCode: end.code },
          },
        ),
      );
    }
    this.#queue.unshift(again);
  }

  /** Rejects every pending request with `error` and empties the queue; returns how many plain frames were never sent. */
  failAll(error: EvtWebSocketError): number {
    const pending = this.#pending;
    if (pending !== undefined) {
      for (const request of pending.entries()) pending.reject(request, error);
      pending.stopTimers();
    }
    this.#delivery?.stop();
    const unsent = this.#queue.drain();
    for (const item of unsent) this.#delivery?.release(item);
    return unsent.length;
  }

  /** Hands `data` to the link's socket; false (nothing counted) when the socket refused it. */
  #transmit(link: Link, data: Data): boolean {
    const bytes = link.send(data);
    if (bytes < 0) return false;
    this.bytesSent += bytes;
    this.messagesSent++;
    this.obs?.sent(bytes);
    return true;
  }

  /**
   * Makes room for a frame of `bytes` bytes, or throws `ERR_QUEUE_FULL`; returns the messages
   * `"drop-oldest"` dropped for it, to be reported once the frame is queued.
   */
  #makeRoom(bytes: number, where: Where): Item[] | undefined {
    this.#delivery ??= new Delivery(
      this.#queue,
      this.#o.clock,
      this.#o.queue,
      this.#steps,
      this.#owner,
      this.obs,
    );
    if (this.#queue.fits(bytes)) return undefined;
    const victims = this.#delivery.dropOldest(bytes);
    if (victims === undefined) this.#assertFits(bytes, where);
    return victims;
  }

  #assertFits(bytes: number, where: Where): void {
    const state = where.phase;
    if (this.#queue.fits(bytes)) return;
    this.obs?.event("queue-full", { messages: this.#queue.size, queuedBytes: this.#queue.bytes, bytes });
    const { maxMessages, maxBytes } = this.#queue.limits;
    throw new EvtWebSocketError(
      ErrorCode.QUEUE_FULL,
      maxMessages === 0
        ? `cannot send: connection is ${state} and queueing is off`
        : `cannot queue while ${state}: ${this.#queue.size}/${maxMessages} messages, ` +
            `${this.#queue.bytes}+${bytes}/${maxBytes} bytes`,
    );
  }
}
