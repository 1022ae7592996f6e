/**
 * `conn.messages()`: async iterators over the messages that answer no request, with a bounded
 * buffer and real backpressure.
 *
 * Each iterator is one more `"message"` listener with a buffer of its own, so several iterators
 * each get every message and `onMessage` listeners keep getting them as they are read. When an
 * iterator's buffer holds `bufferSize` messages, the connection stops reading from its socket
 * (Node's `ws`: TCP then pushes back on the server) until every full iterator is back to half its
 * buffer: the slowest iterator sets the pace. Nothing is lost: what the socket had already read
 * is still delivered, so a buffer may briefly exceed `bufferSize` by one read's worth. Where the
 * transport cannot pause (a WHATWG `WebSocket`), `overflow` decides: `"error"` ends the iterator
 * with `ERR_QUEUE_FULL` after the buffered messages, `"drop-oldest"` drops (and reports) the
 * oldest buffered message.
 *
 * An iterator spans reconnects and ends when the connection ends for good: done after
 * `close()` (or a clean end with no retry), or it throws the reason the connection gave up
 * (`ERR_RECONNECT_EXHAUSTED`), in both cases after the messages already buffered; a message
 * whose `onMessage` handler closed the connection came after the end and reaches no iterator.
 * `break` (its `return()`) unsubscribes. This module does not decide what a message is (conn.ts) nor touch a
 * socket (the host pauses it).
 */

import { ErrorCode, type EvtWebSocketError, evtError, invalidOption } from "./errors.js";
import { optionsOf, shown } from "./option-checks.js";

/** Options of `conn.messages()`. */
export interface MessagesOptions {
  /**
   * Messages held for a consumer that is behind, a whole number from 1. When it is reached,
   * reading from the socket pauses (Node's `ws`), or `overflow` decides. @default 1024
   */
  bufferSize?: number;
  /**
   * Where the transport cannot pause reading (a WHATWG `WebSocket`: browsers, Deno, Bun), what a
   * full buffer does: `"error"` ends the iterator with `ERR_QUEUE_FULL`; `"drop-oldest"` drops
   * the oldest buffered message and reports it to `onError` as `ERR_QUEUE_FULL`. @default "error"
   */
  overflow?: "error" | "drop-oldest";
}

/** What the iterators need of their connection. */
export interface StreamHost<T> {
  /** Adds a `"message"` listener; returns its remover. */
  subscribe(listener: (msg: T) => void): () => void;
  /** True when the current socket can stop reading. */
  canPause(): boolean;
  /** Stops (true) or resumes (false) reading from the socket, this one and the next ones. */
  setPaused(paused: boolean): void;
  /** Reports an error to `onError`. */
  report(error: EvtWebSocketError): void;
}

const DEFAULT_BUFFER_SIZE = 1024;

/** Checks `messages()`'s options. @throws EvtWebSocketError `ERR_INVALID_OPTION` naming the option. */
export function resolveMessagesOptions(options: unknown): Required<MessagesOptions> {
  const { bufferSize = DEFAULT_BUFFER_SIZE, overflow = "error" } = optionsOf<MessagesOptions>(
    "messages()",
    options,
  );
  if (!Number.isSafeInteger(bufferSize) || bufferSize < 1) {
    throw invalidOption(
      `messages(): option bufferSize must be a whole number from 1, got ${shown(bufferSize)}`,
    );
  }
  if (overflow !== "error" && overflow !== "drop-oldest") {
    throw invalidOption(
      `messages(): option overflow must be "error" or "drop-oldest", got ${shown(overflow)}`,
    );
  }
  return { bufferSize, overflow };
}

/** How the connection ended, for the iterators: `undefined` while it lives; `error` undefined means done. */
type Ending = { error: EvtWebSocketError | undefined };

/** Every iterator of one connection, and who holds the socket paused. */
export class MessageStreams<T> {
  readonly #host: StreamHost<T>;
  readonly #streams = new Set<MessageStream<T>>();
  /** Iterators whose buffer is full: reading stays paused while above 0. */
  #full = 0;

  constructor(host: StreamHost<T>) {
    this.#host = host;
  }

  /** A new iterator; `ended` set makes one that is already over (the connection is closed). */
  open(options: Required<MessagesOptions>, ended?: Ending): MessageStream<T> {
    const stream = new MessageStream<T>(this, options, ended);
    if (!ended) this.#streams.add(stream);
    return stream;
  }

  /** The connection ended for good: every iterator ends after what it buffered. */
  end(error: EvtWebSocketError | undefined): void {
    const streams = [...this.#streams];
    this.#streams.clear();
    for (const s of streams) s.end(error);
  }

  /** @internal */ get host(): StreamHost<T> {
    return this.#host;
  }

  /** @internal A full iterator asks to pause; false when the socket cannot. */
  pause(): boolean {
    if (!this.#host.canPause()) return false;
    if (this.#full++ === 0) this.#host.setPaused(true);
    return true;
  }

  /** @internal A full iterator caught up (or ended). */
  release(): void {
    if (--this.#full === 0) this.#host.setPaused(false);
  }

  /** @internal */ forget(stream: MessageStream<T>): void {
    this.#streams.delete(stream);
  }
}

/** One iterator; see the module header. */
export class MessageStream<T> implements AsyncIterableIterator<T> {
  readonly #hub: MessageStreams<T>;
  readonly #size: number;
  readonly #dropOldest: boolean;
  #buffer: T[] = [];
  #head = 0;
  /** This iterator holds the socket paused. */
  #full = false;
  #unsubscribe: (() => void) | undefined;
  /** `next()` calls waiting for a message, oldest first (a caller may ask ahead of the last answer). */
  #waiters: Array<{ resolve(r: IteratorResult<T>): void; reject(e: unknown): void }> | undefined;
  #ending: Ending | undefined;

  constructor(hub: MessageStreams<T>, options: Required<MessagesOptions>, ended?: Ending) {
    this.#hub = hub;
    this.#size = options.bufferSize;
    this.#dropOldest = options.overflow === "drop-oldest";
    this.#ending = ended;
    if (!ended) this.#unsubscribe = hub.host.subscribe((msg) => this.#push(msg));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    const buffer = this.#buffer;
    if (this.#head < buffer.length) {
      const value = buffer[this.#head]!;
      buffer[this.#head++] = undefined as T; // let it go
      const left = buffer.length - this.#head;
      this.#compact();
      if (this.#full && left <= this.#size >> 1) {
        this.#full = false;
        this.#hub.release();
      }
      return Promise.resolve({ value, done: false });
    }
    const ending = this.#ending;
    if (ending) {
      const { error } = ending;
      this.#ending = { error: undefined }; // an error is thrown once; then the iterator is done
      return error === undefined ? Promise.resolve(DONE) : Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.#waiters ??= [];
      this.#waiters.push({ resolve, reject });
    });
  }

  /** `break` out of `for await`: unsubscribes and drops what is buffered. */
  return(): Promise<IteratorResult<T>> {
    this.#stop();
    this.#buffer = [];
    this.#head = 0;
    this.#ending = { error: undefined };
    this.#wake();
    return Promise.resolve(DONE);
  }

  /** @internal The connection ended for good. */
  end(error: EvtWebSocketError | undefined): void {
    if (this.#ending) return;
    this.#stop();
    this.#ending = { error };
    if (this.#head === this.#buffer.length) this.#wake();
  }

  #push(msg: T): void {
    // Ended during this message's dispatch (an earlier listener called close()): the message came
    // with the close, after the end; taking it would pause a socket for good or yield after done.
    if (this.#ending) return;
    const waiter = this.#waiters?.shift();
    if (waiter) {
      waiter.resolve({ value: msg, done: false });
      return;
    }
    const count = this.#buffer.length - this.#head;
    if (count >= this.#size && !this.#full) {
      if (this.#hub.pause()) this.#full = true;
      else if (this.#dropOldest) {
        this.#buffer[this.#head++] = undefined as T;
        this.#compact();
        this.#hub.host.report(
          evtError(
            ErrorCode.QUEUE_FULL,
            `messages(): buffer of ${this.#size} full: dropped the oldest message`,
          ),
        );
      } else {
        this.end(
          evtError(
            ErrorCode.QUEUE_FULL,
            `messages(): buffer of ${this.#size} full: the consumer fell behind`,
          ),
        );
        return;
      }
    }
    this.#buffer.push(msg);
  }

  /** Drops the consumed front of the buffer: at once when empty, else once it is half the array. */
  #compact(): void {
    const buffer = this.#buffer;
    if (this.#head === buffer.length) {
      this.#buffer = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= buffer.length) {
      this.#buffer = buffer.slice(this.#head);
      this.#head = 0;
    }
  }

  #stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#hub.forget(this);
    if (this.#full) {
      this.#full = false;
      this.#hub.release();
    }
  }

  /** Every pending `next()` learns the end: the first gets the error, if any, the others done. */
  #wake(): void {
    const waiters = this.#waiters;
    if (!waiters?.length) return;
    this.#waiters = undefined;
    for (const waiter of waiters) {
      const error = this.#ending?.error;
      this.#ending = { error: undefined };
      if (error === undefined) waiter.resolve(DONE);
      else waiter.reject(error);
    }
  }
}

const DONE: IteratorResult<never> = Object.freeze({ value: undefined, done: true }) as IteratorResult<never>;
