/**
 * `Conn`, the facade: wires links, backoff, queue, pending requests and events together and
 * owns the one `state` field.
 *
 * Policy lives in the modules it calls (backoff delays, option checks, matching indexes); the
 * mechanics of one socket live in `link.ts`. What this file decides: when to dial, when to
 * retry, what happens to queued messages and pending requests at each transition, and which
 * errors go to a caller and which to `onError` (an error goes to exactly one of them).
 */

import { backoffDelay } from "./backoff.js";
import { byteLength, type Data } from "./codec.js";
import { Emitter } from "./emitter.js";
import { ErrorCode, EvtWebSocketError } from "./errors.js";
import { Link, type LinkEnd, type LinkEvents } from "./link.js";
import {
  type CloseInfo,
  type ConnOptions,
  DEFAULTS,
  type PongInfo,
  type ReconnectingInfo,
  type ResolvedOptions,
  resolveOptions,
} from "./options.js";
import { type MessageKey, PendingRequests, type Request } from "./pending.js";
import { OutboundQueue, type QueueItem } from "./queue.js";
import { canTransition, State, type StateChange } from "./state.js";
import { defaultTransport } from "./transport/default.js";
import { createNativeTransport } from "./transport/native.js";
import type { TransportFactory } from "./transport/types.js";
import { normalizeUrl } from "./url.js";

/** Where `dial()` gets its URL: a fixed one, or a function called before every attempt. */
export type UrlSource = string | URL | (() => string | URL | Promise<string | URL>);

/** Options of one `request()` call. */
export interface RequestOptions {
  /** Deadline in ms for this request; 0 waits forever. @default the `requestTimeoutMs` option */
  timeoutMs?: number;
  /** Aborting it rejects the request with `ERR_ABORTED` (and removes it from the queue if unsent). */
  signal?: AbortSignal;
  /** If the connection drops after sending, send it again after the reconnect. @default false */
  retryOnReconnect?: boolean;
}

/** Counters of one `Conn`, read through `conn.stats`. */
export interface ConnStats {
  /** Messages sent by `send()` and `request()` (pings not included). */
  messagesSent: number;
  /** Message frames received, pongs from `isPong` and undecodable frames included. */
  messagesReceived: number;
  /** Payload bytes of the messages counted in `messagesSent`. */
  bytesSent: number;
  /** Payload bytes of the frames counted in `messagesReceived`. */
  bytesReceived: number;
  /** Successful reconnects after an established connection dropped. */
  reconnects: number;
  /** Requests waiting for their response, queued or sent. */
  pendingRequests: number;
  /** Frames waiting in the outgoing queue for the connection to open. */
  queuedMessages: number;
  /** Round-trip time of the latest ping, in ms. */
  lastRttMs?: number;
}

/** The events of `conn.on()`, with their listener signatures. */
export type ConnEvents<TIn, TOut> = {
  /** A connection opened (first dial and every reconnect); a returned promise holds the queue until it settles. */
  connected: (conn: Conn<TIn, TOut>) => void | Promise<unknown>;
  /** A message arrived that settled no pending request and is not a pong. */
  message: (msg: TIn, conn: Conn<TIn, TOut>) => void;
  /** An error that was not thrown or rejected to a caller. */
  error: (err: EvtWebSocketError, conn: Conn<TIn, TOut>) => void;
  /** A connection that was open ended (once per connection, the user's own `close()` included). */
  close: (info: CloseInfo, conn: Conn<TIn, TOut>) => void;
  /** A backoff wait before the next attempt starts. */
  reconnecting: (info: ReconnectingInfo, conn: Conn<TIn, TOut>) => void;
  /** A reply to a ping arrived: a protocol pong frame, or a message `isPong` recognised. */
  pong: (info: PongInfo, conn: Conn<TIn, TOut>) => void;
  /** The public `state` changed. */
  state: (change: StateChange, conn: Conn<TIn, TOut>) => void;
};

type Req<TIn, TOut> = Request<TIn, TOut, QueueItem<unknown>>;
type Done<TIn> = (error: Error | undefined, response: TIn | undefined) => void;

const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for("Symbol.asyncDispose");

function err(code: ErrorCode, message: string, cause?: unknown): EvtWebSocketError {
  return new EvtWebSocketError(code, message, { cause });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === "function";
}

/**
 * An event-based WebSocket client that reconnects, matches responses to requests and detects
 * dead connections.
 *
 * @example
 * ```ts
 * const conn = new Conn({ onMessage: (msg) => console.log(msg), pingIntervalMs: 5000 });
 * await conn.dial("ws://127.0.0.1:8080");
 * conn.send("hello");
 * ```
 */
export class Conn<TIn = Data, TOut = Data> {
  readonly #options: ConnOptions<TIn, TOut, Conn<TIn, TOut>>;
  readonly #o: ResolvedOptions<TIn, TOut>;
  readonly #events: Emitter<ConnEvents<TIn, TOut>>;
  readonly #queue: OutboundQueue;
  readonly #pending: PendingRequests<TIn, TOut, QueueItem<unknown>>;
  #state: State = State.IDLE;
  #link: Link | undefined;
  #closing = new Map<Link, () => void>();
  #closed: Promise<void> | undefined;
  #lastClose: Promise<void> | undefined;
  #dialed: { resolve(): void; reject(e: Error): void } | undefined;
  #retryTimer: unknown;
  #epoch = 0;
  #attempt = 0;
  #openedAt = 0;
  #url: UrlSource = "";
  #protocols: string[] = [];
  #factory: TransportFactory | undefined;
  #stats = { messagesSent: 0, messagesReceived: 0, bytesSent: 0, bytesReceived: 0, reconnects: 0 };
  #lastRttMs: number | undefined;
  readonly #linkEvents: LinkEvents = {
    open: (link) => this.#onOpen(link),
    message: (link, data, bytes) => this.#onMessage(link, data, bytes),
    pong: (link, rttMs) => link === this.#link && this.#onPong(rttMs),
    end: (link, end) => this.#onEnd(link, end),
  };

  /** @throws EvtWebSocketError `ERR_INVALID_OPTION` when an option has the wrong type or range. */
  constructor(options: ConnOptions<TIn, TOut, Conn<TIn, TOut>> = {}) {
    this.#o = resolveOptions(options);
    this.#options = options;
    this.#events = new Emitter((error, event) => {
      if (event === "error") console.error("evtwebsocket: an onError handler threw", error);
      else this.#report(err(ErrorCode.CALLBACK_THREW, `a "${String(event)}" handler threw`, error));
    });
    const o = options;
    if (o.onConnected) this.#events.on("connected", o.onConnected);
    if (o.onMessage) this.#events.on("message", o.onMessage);
    if (o.onError) this.#events.on("error", o.onError);
    if (o.onClose) this.#events.on("close", o.onClose);
    if (o.onReconnecting) this.#events.on("reconnecting", o.onReconnecting);
    this.#queue = new OutboundQueue(this.#o.queue);
    this.#pending = new PendingRequests(this.#o.clock, (item) => this.#queue.cancel(item));
  }

  /** The current state: "idle" | "connecting" | "open" | "reconnecting" | "closed". */
  get state(): State {
    return this.#state;
  }

  /** A snapshot of the counters. */
  get stats(): ConnStats {
    const stats: ConnStats = {
      ...this.#stats,
      pendingRequests: this.#pending.size,
      queuedMessages: this.#queue.size,
    };
    if (this.#lastRttMs !== undefined) stats.lastRttMs = this.#lastRttMs;
    return stats;
  }

  /** True while the connection is open. */
  isConnected(): boolean {
    return this.#state === State.OPEN;
  }

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof ConnEvents<TIn, TOut>>(event: K, listener: ConnEvents<TIn, TOut>[K]): () => void {
    return this.#events.on(event, listener);
  }

  /**
   * Connects, retrying by the reconnect policy; resolves when the connection opens.
   *
   * @param url - `ws:`/`wss:` (or `http:`/`https:`) URL, or a function called before every attempt.
   * @param subprotocol - one or more subprotocols to offer.
   */
  async dial(url: UrlSource, subprotocol?: string | string[]): Promise<void> {
    const s = this.#state;
    if (s === State.CONNECTING || s === State.OPEN || s === State.RECONNECTING) {
      throw err(ErrorCode.ALREADY_DIALED, `cannot dial: connection is already ${s}`);
    }
    if (typeof url !== "function") normalizeUrl(url);
    const protocols =
      subprotocol === undefined ? [] : Array.isArray(subprotocol) ? subprotocol : [subprotocol];
    if (!protocols.every((p) => typeof p === "string" && p.length > 0)) {
      throw err(ErrorCode.INVALID_OPTION, "subprotocol must be a non-empty string or an array of them");
    }
    this.#factory = this.#transportFactory();
    this.#url = url;
    this.#protocols = protocols;
    this.#attempt = 0;
    this.#closed = undefined;
    this.#setState(State.CONNECTING);
    const opened = new Promise<void>((resolve, reject) => {
      this.#dialed = { resolve, reject };
    });
    void this.#connect();
    return opened;
  }

  /**
   * Sends a message. With a callback, the message is a request: the callback gets the matching
   * response, and a failure (timeout, disconnect) goes to `onError`.
   *
   * @throws EvtWebSocketError `ERR_CLOSED`, `ERR_QUEUE_FULL`, `ERR_INVALID_OPTION`, `ERR_DUPLICATE_ID`.
   */
  send(body: TOut, callback?: (resp: TIn, conn: Conn<TIn, TOut>) => void): void {
    if (callback === undefined) {
      this.#assertCanSend();
      const data = this.#encode(body);
      if (this.#link?.isOpen) this.#transmit(this.#link, data);
      else this.#enqueue(data, undefined);
      return;
    }
    if (typeof callback !== "function")
      throw err(ErrorCode.INVALID_OPTION, "send(): callback must be a function");
    this.#request(body, this.#o.requestTimeoutMs, undefined, false, (error, response) => {
      if (error !== undefined) this.#report(error as EvtWebSocketError);
      else this.#guard("send callback", () => callback(response as TIn, this));
    });
  }

  /** Sends a request and resolves with its matching response. */
  request(body: TOut, options: RequestOptions = {}): Promise<TIn> {
    return new Promise<TIn>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.#o.requestTimeoutMs;
      if (typeof timeoutMs !== "number" || !(timeoutMs >= 0)) {
        throw err(ErrorCode.INVALID_OPTION, `request(): timeoutMs must be a number >= 0, got ${timeoutMs}`);
      }
      this.#request(body, timeoutMs, options.signal, options.retryOnReconnect === true, (error, response) =>
        error === undefined ? resolve(response as TIn) : reject(error),
      );
    });
  }

  /**
   * Closes the connection and stops reconnecting; pending requests reject with `ERR_CLOSED`.
   * Resolves when the socket is gone (at most 3 s against a peer that does not answer).
   */
  close(code = 1000, reason = ""): Promise<void> {
    if (!Number.isInteger(code) || (code !== 1000 && (code < 3000 || code > 4999))) {
      return Promise.reject(
        err(ErrorCode.INVALID_OPTION, `close code must be 1000 or 3000-4999, got ${code}`),
      );
    }
    if (typeof reason !== "string" || byteLength(reason) > 123) {
      return Promise.reject(
        err(ErrorCode.INVALID_OPTION, "close reason must be a string of at most 123 bytes"),
      );
    }
    if (this.#closed !== undefined) return this.#closed;
    const link = this.#link;
    this.#link = undefined;
    this.#closed = link === undefined ? Promise.resolve() : new Promise((r) => this.#closing.set(link, r));
    this.#lastClose = this.#closed;
    this.#shutdown(err(ErrorCode.CLOSED, "connection closed by close()"));
    link?.close(code, reason);
    return this.#closed;
  }

  /**
   * Sends a liveness ping now (when the heartbeat is on and no ping is already out); the reply
   * fires the `"pong"` event with the round-trip time. Use it after a page becomes visible again
   * or a machine wakes, to learn at once whether the connection survived.
   *
   * @throws EvtWebSocketError `ERR_INVALID_OPTION` when `pingIntervalMs` is not set.
   */
  ping(): void {
    if (this.#o.pingIntervalMs <= 0) {
      throw err(ErrorCode.INVALID_OPTION, "ping() needs the heartbeat: set pingIntervalMs");
    }
    this.#link?.probe();
  }

  /** `await using conn = new Conn(...)` closes it at the end of the scope. */
  [asyncDispose](): Promise<void> {
    return this.close();
  }

  #transportFactory(): TransportFactory {
    const { WebSocket, headers, pingMsg } = this.#options;
    const factory = WebSocket !== undefined ? createNativeTransport(WebSocket) : defaultTransport();
    if (factory === undefined) {
      throw err(ErrorCode.INVALID_OPTION, "no WebSocket in this runtime: pass one with the WebSocket option");
    }
    if (headers !== undefined && !factory.canSendHeaders) {
      throw err(
        ErrorCode.INVALID_OPTION,
        `option headers: the ${factory.name} transport cannot send headers`,
      );
    }
    if (this.#o.pingIntervalMs > 0 && pingMsg === undefined && !factory.canPing) {
      throw err(
        ErrorCode.INVALID_OPTION,
        `option pingMsg is required: the ${factory.name} transport has no ping`,
      );
    }
    return factory;
  }

  async #connect(): Promise<void> {
    const epoch = ++this.#epoch;
    let url: string;
    try {
      if (this.#lastClose !== undefined) await this.#lastClose;
      const source = this.#url;
      url = normalizeUrl(typeof source === "function" ? await source() : source);
    } catch (cause) {
      if (epoch !== this.#epoch) return;
      const fatal = cause instanceof EvtWebSocketError && cause.code === ErrorCode.INVALID_URL;
      const error = fatal ? cause : err(ErrorCode.DIAL_FAILED, "the URL function failed", cause);
      this.#onEnd(undefined, {
        code: 1006,
        reason: "",
        wasClean: false,
        wasOpen: false,
        requested: false,
        error,
      });
      return;
    }
    if (epoch !== this.#epoch) return;
    const { pingMsg } = this.#options;
    const link = new Link(
      {
        factory: this.#factory!,
        url,
        displayUrl: new URL(url).origin,
        transport: {
          protocols: this.#protocols,
          headers: this.#options.headers,
          maxMessageBytes: this.#o.maxMessageBytes,
        },
        clock: this.#o.clock,
        connectTimeoutMs: this.#o.connectTimeoutMs,
        closeTimeoutMs: DEFAULTS.closeTimeoutMs,
        heartbeat:
          this.#o.pingIntervalMs > 0
            ? { intervalMs: this.#o.pingIntervalMs, pongTimeoutMs: this.#o.pongTimeoutMs }
            : undefined,
        pingData:
          pingMsg === undefined
            ? undefined
            : () => this.#o.codec.encode(typeof pingMsg === "function" ? (pingMsg as () => TOut)() : pingMsg),
      },
      this.#linkEvents,
    );
    this.#link = link;
    link.start();
  }

  #onOpen(link: Link): void {
    if (link !== this.#link) return;
    if (this.#state === State.RECONNECTING) this.#stats.reconnects++;
    this.#openedAt = this.#o.clock.now();
    this.#setState(State.OPEN);
    const dialed = this.#dialed;
    this.#dialed = undefined;
    dialed?.resolve();
    const waits = this.#events.emit("connected", this).filter(isThenable);
    if (waits.length === 0) {
      this.#flush(link);
      return;
    }
    void Promise.allSettled(waits).then((outcomes) => {
      for (const o of outcomes) {
        if (o.status === "rejected")
          this.#report(err(ErrorCode.CALLBACK_THREW, "onConnected rejected", o.reason));
      }
      this.#flush(link);
    });
  }

  #flush(link: Link): void {
    for (let item = this.#queue.shift(); item !== undefined; item = this.#queue.shift()) {
      if (link !== this.#link || !link.isOpen) {
        this.#queue.unshift([item]);
        return;
      }
      const request = item.owner as Req<TIn, TOut> | undefined;
      if (request !== undefined) {
        request.queued = undefined;
        request.sent = true;
      }
      this.#transmit(link, item.data);
    }
  }

  #onMessage(link: Link, data: Data, bytes: number): void {
    if (link !== this.#link) return;
    this.#stats.messagesReceived++;
    this.#stats.bytesReceived += bytes;
    let msg: TIn;
    try {
      msg = this.#o.codec.decode(data);
    } catch (cause) {
      link.noteReceived(false);
      this.#report(err(ErrorCode.DECODE, "could not decode an incoming message; it was dropped", cause));
      return;
    }
    const { isPong, matchMsg, messageId } = this.#options;
    const pong = isPong !== undefined && this.#guard("isPong", () => isPong(msg)) === true;
    const rtt = link.noteReceived(pong);
    if (pong) {
      if (rtt !== undefined) this.#onPong(rtt);
      return;
    }
    if (this.#pending.size > 0) {
      const id = messageId === undefined ? undefined : this.#guard("messageId", () => messageId(msg));
      const match = matchMsg === undefined ? undefined : (req: TOut) => matchMsg(req, msg);
      const request = this.#guard("matchMsg", () => this.#pending.find(id as MessageKey | undefined, match));
      if (request !== undefined) {
        this.#pending.resolve(request, msg);
        return;
      }
    }
    this.#events.emit("message", msg, this);
  }

  #onPong(rttMs: number): void {
    this.#lastRttMs = rttMs;
    this.#events.emit("pong", { rttMs }, this);
  }

  #onEnd(link: Link | undefined, end: LinkEnd): void {
    const closedByUser = link !== undefined && this.#closing.get(link);
    if (closedByUser) {
      this.#closing.delete(link!);
      if (end.wasOpen) this.#emitClose(end, false);
      closedByUser();
      return;
    }
    if (link !== this.#link) return;
    this.#link = undefined;
    const r = this.#o.reconnect;
    if (end.wasOpen && this.#o.clock.now() - this.#openedAt >= r.resetAfterMs) this.#attempt = 0;
    let fatal: EvtWebSocketError | undefined = end.error;
    let retry = r.enabled && end.error?.code !== ErrorCode.INVALID_URL;
    if (retry && r.shouldReconnect !== undefined) {
      const info = {
        code: end.code,
        reason: end.reason,
        ...(end.status === undefined ? {} : { status: end.status }),
      };
      retry = this.#guard("shouldReconnect", () => r.shouldReconnect!(info)) !== false;
    }
    if (retry && this.#attempt >= r.maxAttempts) {
      retry = false;
      fatal = new EvtWebSocketError(
        ErrorCode.RECONNECT_EXHAUSTED,
        `gave up after ${this.#attempt} reconnect attempts`,
        {
          cause: end.error,
          details: { attempt: this.#attempt, closeCode: end.code },
        },
      );
    }
    if (end.wasOpen) this.#emitClose(end, retry);
    if (this.#state === State.CLOSED) return; // a close handler called close()
    this.#settleInFlight(retry);
    if (!retry) {
      this.#shutdown(fatal);
      return;
    }
    if (end.error !== undefined) this.#report(end.error);
    const attempt = ++this.#attempt;
    const delayMs = backoffDelay(attempt, r);
    if (this.#state === State.OPEN) this.#setState(State.RECONNECTING);
    const info: ReconnectingInfo = { attempt, delayMs, ...(end.error ? { error: end.error } : {}) };
    this.#events.emit("reconnecting", info, this);
    if (this.#state !== State.CONNECTING && this.#state !== State.RECONNECTING) return;
    this.#retryTimer = this.#o.clock.setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#connect();
    }, delayMs);
  }

  #emitClose(end: LinkEnd, willReconnect: boolean): void {
    this.#events.emit(
      "close",
      { code: end.code, reason: end.reason, wasClean: end.wasClean, willReconnect },
      this,
    );
  }

  /** Requests already on the wire when a socket ends: re-queue them or reject them. */
  #settleInFlight(willReconnect: boolean): void {
    const again: QueueItem<unknown>[] = [];
    for (const request of this.#pending.entries()) {
      if (!request.sent) continue;
      if (willReconnect && request.retryOnReconnect) {
        request.sent = false;
        request.queued = {
          data: request.data,
          bytes: byteLength(request.data),
          owner: request,
          cancelled: false,
        };
        again.push(request.queued);
      } else {
        const why = willReconnect ? "" : " and will not reconnect";
        const e = err(ErrorCode.DISCONNECTED, `connection lost${why} while the request was in flight`);
        this.#pending.reject(request, e);
      }
    }
    this.#queue.unshift(again);
  }

  /** Ends for good: state closed, every request and queued message settled, no timer left. */
  #shutdown(reason: EvtWebSocketError | undefined): void {
    this.#epoch++;
    if (this.#retryTimer !== undefined) this.#o.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#setState(State.CLOSED);
    const byUser = reason?.code === ErrorCode.CLOSED;
    const error = reason ?? err(ErrorCode.DISCONNECTED, "connection closed and will not reconnect");
    for (const request of this.#pending.entries()) this.#pending.reject(request, error);
    const unsent = this.#queue.drain().length;
    const dialed = this.#dialed;
    this.#dialed = undefined;
    if (dialed !== undefined) dialed.reject(error);
    else if (reason !== undefined && !byUser) this.#report(reason);
    if (unsent > 0) {
      this.#report(
        new EvtWebSocketError(error.code, `${unsent} queued message(s) were not sent: ${error.message}`, {
          details: { unsent },
        }),
      );
    }
  }

  #request(
    body: TOut,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    retry: boolean,
    done: Done<TIn>,
  ): void {
    this.#assertCanSend();
    if (signal?.aborted)
      throw err(ErrorCode.ABORTED, "request(): the signal was already aborted", signal.reason);
    const data = this.#encode(body);
    const { messageId, matchMsg } = this.#options;
    let id: MessageKey | undefined;
    if (messageId !== undefined) {
      try {
        id = messageId(body);
      } catch (cause) {
        throw err(ErrorCode.CALLBACK_THREW, "messageId threw for the request body", cause);
      }
    }
    if (id === undefined && matchMsg === undefined) {
      const need =
        messageId === undefined ? "a matchMsg or messageId option" : "messageId to yield an id for it";
      throw err(ErrorCode.INVALID_OPTION, `cannot match a response to this request: it needs ${need}`);
    }
    if (id !== undefined && this.#pending.hasId(id)) {
      throw err(ErrorCode.DUPLICATE_ID, `a request with id ${JSON.stringify(id)} is already pending`);
    }
    const link = this.#link?.isOpen ? this.#link : undefined;
    const bytes = link === undefined ? byteLength(data) : 0;
    if (link === undefined) this.#assertFits(bytes);
    const request = this.#pending.add({ body, id, timeoutMs, signal, retryOnReconnect: retry, data, done });
    if (link !== undefined) {
      request.sent = true;
      this.#transmit(link, data);
    } else {
      request.queued = this.#queue.push(data, bytes, request);
    }
  }

  #transmit(link: Link, data: Data): void {
    this.#stats.bytesSent += link.send(data);
    this.#stats.messagesSent++;
  }

  #enqueue(data: Data, owner: unknown): void {
    const bytes = byteLength(data);
    this.#assertFits(bytes);
    this.#queue.push(data, bytes, owner);
  }

  #assertFits(bytes: number): void {
    if (this.#queue.fits(bytes)) return;
    const { maxMessages, maxBytes } = this.#queue.limits;
    throw err(
      ErrorCode.QUEUE_FULL,
      maxMessages === 0
        ? `cannot send: connection is ${this.#state} and queueing is off`
        : `cannot queue while ${this.#state}: ${this.#queue.size}/${maxMessages} messages, ` +
            `${this.#queue.bytes}+${bytes}/${maxBytes} bytes`,
    );
  }

  #assertCanSend(): void {
    if (this.#state === State.CLOSED) throw err(ErrorCode.CLOSED, "cannot send: connection is closed");
  }

  #encode(body: TOut): Data {
    try {
      return this.#o.codec.encode(body);
    } catch (cause) {
      throw err(ErrorCode.INVALID_OPTION, `cannot send: the codec could not encode the message`, cause);
    }
  }

  #guard<T>(what: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (cause) {
      this.#report(err(ErrorCode.CALLBACK_THREW, `${what} threw`, cause));
      return undefined;
    }
  }

  #report(error: EvtWebSocketError): void {
    this.#events.emit("error", error, this);
  }

  #setState(next: State): void {
    const oldState = this.#state;
    if (oldState === next) return;
    if (!canTransition(oldState, next))
      throw new Error(`evtwebsocket bug: illegal transition ${oldState} -> ${next}`);
    this.#state = next;
    this.#events.emit("state", { oldState, newState: next }, this);
  }
}
