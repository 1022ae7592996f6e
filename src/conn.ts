/**
 * `Conn`, the facade: the public API and its argument checks.
 *
 * The connection's life (dial, attempts, retries, each socket's end, close) is `lifecycle.ts`;
 * the mechanics of one socket are `link.ts`; the queue and pending requests are `outbox.ts`;
 * what an incoming message means (a pong, a response, an event) is `inbox.ts`; announcing to
 * callbacks only once a transition is complete is the emitter's. What this file decides: which
 * errors go to a caller and which to `onError` (an error goes to exactly one).
 */

import { type Data, describe, isData, type Sendable } from "./codec.js";
import { planDial } from "./dial-plan.js";
import { Emitter } from "./emitter.js";
import { ErrorCode, type EvtWebSocketError, evtError, invalidOption } from "./errors.js";
import { Flow } from "./flow.js";
import { asKey, Inbox } from "./inbox.js";
import { Lifecycle } from "./lifecycle.js";
import type { LinkEvents } from "./link.js";
import type { MessagesOptions } from "./message-stream.js";
import { Announced, createObserver, nextConnId } from "./observe.js";
import { checkOn, closeProblem, EVENTS } from "./option-checks.js";
import type { ConnOptions } from "./options.js";
import { Outbox } from "./outbox.js";
import type { MessageKey } from "./pending-registry.js";
import { type ResolvedOptions, resolveOptions } from "./resolve-options.js";
import {
  type ResolvedRequest,
  resolveRequestOptions,
  resolveSendOptions,
  type SendOptions,
  type SendResult,
} from "./send-options.js";
import { State } from "./state.js";
import type { ConnEvents, ConnStats, Handshake, RequestOptions, UrlSource } from "./types.js";
import { normalizeUrl } from "./url.js";

export type { SendOptions, SendResult } from "./send-options.js";
export type { ConnEvents, ConnStats, RequestOptions, UrlSource } from "./types.js";

type Done<TIn> = (error: Error | undefined, response: TIn | undefined) => void;

declare global {
  /**
   * `Symbol.asyncDispose`, declared as @types/node declares it, so our d.ts compiles in a
   * project whose `lib` lacks "esnext.disposable" (a browser app on ES2022, say); it merges
   * with TypeScript's own declaration where that lib is present. Types only.
   */
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol;
  }
}

const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for("Symbol.asyncDispose");

/** A connection of any message type: one hook object (and one lifecycle type) serves them all. */
// biome-ignore lint/suspicious/noExplicitAny: the message types do not matter where this is used.
export type AnyConn = Conn<any, any>;

/**
 * The link hooks and the emitter's throw hook, shared by every connection (each call names its
 * connection), so an idle connection holds no closures for them. Set in `Conn`'s static block,
 * where the private methods they call are in scope.
 */
let linkEvents: LinkEvents<AnyConn>;
let onListenerThrow: (error: unknown, event: PropertyKey, conn: AnyConn) => void;

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
export class Conn<TIn = Data, TOut = Sendable> {
  readonly #options: ConnOptions<TIn, TOut, Conn<TIn, TOut>>;
  readonly #o: ResolvedOptions<TIn, TOut>;
  readonly #events: Emitter<ConnEvents<TIn, TOut>, AnyConn>;
  readonly #out: Outbox<TIn, TOut>;
  readonly #life: Lifecycle;
  readonly #in: Inbox<TIn, TOut>;
  /** A short id, unique in this process ("c1", "c2", …), that names the connection in logs and diagnostics. */
  readonly id: string = nextConnId();
  /** `drained()`, `"drain"` and `messages()`; made on first use. */
  #flow: Flow<TIn> | undefined;

  static {
    linkEvents = {
      open: (conn, link, protocol) => {
        const flow = conn.#flow;
        flow?.opening(link);
        conn.#life.onOpen(link, protocol);
        flow?.opened(link);
      },
      written: (conn, link, flushed) => conn.#flow?.written(link, flushed),
      message: (conn, link, data, bytes) => conn.#in.onMessage(link, data, bytes),
      pong: (conn, link, rttMs) => link === conn.#life.link && conn.#in.onPong(rttMs),
      end: (conn, link, end) => {
        conn.#life.onEnd(link, end);
        conn.#flow?.ended();
      },
    };
    onListenerThrow = (error, event, conn) => {
      if (event === "error") console.error("evtwebsocket: an onError handler threw", error);
      else conn.#in.report(evtError(ErrorCode.CALLBACK_THREW, `a "${String(event)}" handler threw`, error));
    };
  }

  /** @throws EvtWebSocketError `ERR_INVALID_OPTION` when an option has the wrong type or range. */
  constructor(options: ConnOptions<TIn, TOut, Conn<TIn, TOut>> = {}) {
    this.#o = resolveOptions(options);
    this.#options = options;
    this.#events = new Emitter(onListenerThrow, this as AnyConn);
    // onConnected -> "connected", and so on: one loop instead of five lines (browser bytes).
    for (const event of EVENTS.slice(0, 5) as ["connected", "message", "error", "close", "reconnecting"]) {
      const listener = options[`on${event[0]!.toUpperCase()}${event.slice(1)}` as keyof typeof options];
      if (listener) this.#events.on(event, listener as never);
    }
    this.#out = new Outbox(this.#o, this.#events, this);
    this.#life = new Lifecycle(this as AnyConn, this.#events, this.#out, this.#o, linkEvents);
    this.#in = new Inbox(this as AnyConn, options as never, this.#o, this.#events, this.#out, this.#life);
    // Made last: a diagnostics_channel "create" subscriber gets a whole Conn.
    const obs = createObserver(this, this.id, this.#o.clock, options.logger);
    // An observer runs user code (a logger, a channel subscriber holding this Conn): told
    // mid-transition, it waits for the transition to finish, as events do, so a close() there
    // cannot cut a transition in half. One small object per connection, no closures.
    const told = obs && new Announced(obs, this.#events);
    this.#out.obs = this.#in.obs = told;
  }

  /** The current state: "idle" | "connecting" | "open" | "reconnecting" | "closed". */
  get state(): State {
    return this.#life.state;
  }

  /** A snapshot of the counters. */
  get stats(): ConnStats {
    const inbox = this.#in;
    const stats: ConnStats = {
      messagesSent: this.#out.messagesSent,
      messagesReceived: inbox.messagesReceived,
      bytesSent: this.#out.bytesSent,
      bytesReceived: inbox.bytesReceived,
      reconnects: this.#life.reconnects,
      pendingRequests: this.#out.pending,
      queuedMessages: this.#out.queued,
    };
    if (!Number.isNaN(inbox.lastRttMs)) stats.lastRttMs = inbox.lastRttMs;
    return stats;
  }

  /** The subprotocol the server chose for the current or last connection; "" when none. */
  get protocol(): string {
    return this.#life.protocol;
  }

  /**
   * What the open connection's handshake settled: URL (scheme, host and port), HTTP status, the
   * headers the server added (Node only) and subprotocol; `undefined` while not open.
   */
  get handshake(): Handshake | undefined {
    const life = this.#life;
    return life.state === State.OPEN ? life.link?.handshake(life.protocol) : undefined;
  }

  /**
   * Bytes handed to the socket but not yet written to the network (0 while not open): a
   * producer that sends faster than the link drains can wait for it to fall.
   */
  get bufferedAmount(): number {
    return this.#life.link?.bufferedAmount ?? 0;
  }

  /** True while the connection is open. */
  isConnected(): boolean {
    return this.#life.state === State.OPEN;
  }

  /**
   * Adds a listener; returns the function that removes it.
   *
   * @throws EvtWebSocketError `ERR_INVALID_OPTION` for an unknown event (such as `ws`'s `"open"`:
   *   here it is `"connected"`) or a listener that is not a function.
   */
  on<K extends keyof ConnEvents<TIn, TOut>>(event: K, listener: ConnEvents<TIn, TOut>[K]): () => void {
    checkOn(EVENTS, event, listener);
    if (event === "drain") this.#useFlow().listenDrain();
    return this.#events.on(event, listener);
  }

  /**
   * Resolves once nothing of ours waits to leave: the outgoing queue is empty and the socket's
   * buffered amount is at or under `lowWaterMark` (at once when it already is, also while not
   * connected with an empty queue). A producer that awaits it before each send holds at most
   * `lowWaterMark` plus one message in the socket. Rejects when the connection ends for good
   * (`ERR_CLOSED` after `close()`, otherwise the reason it gave up), and with `ERR_CLOSED` at
   * once on a closed connection. On Node's `ws` the socket reports its writes; a WHATWG socket is
   * polled every 10 ms while someone waits.
   *
   * @example
   * ```ts
   * for (const chunk of chunks) {
   *   await conn.drained();
   *   conn.send(chunk);
   * }
   * ```
   */
  drained(): Promise<void> {
    if (this.#life.state === State.CLOSED)
      return Promise.reject(evtError(ErrorCode.CLOSED, "cannot wait for drain: connection is closed"));
    return this.#useFlow().drained();
  }

  /**
   * An async iterator of the messages that answer no request (those `onMessage` gets), across
   * reconnects. It ends when the connection ends for good: done after `close()`, or it throws
   * the reason the connection gave up (`ERR_RECONNECT_EXHAUSTED`); `break` unsubscribes. Each
   * iterator gets every message. When one holds `bufferSize` unread messages, reading from the
   * socket pauses until it catches up (Node's `ws`; the heartbeat's pong deadline waits too);
   * elsewhere `overflow` decides.
   *
   * @throws EvtWebSocketError `ERR_INVALID_OPTION` for a bad `bufferSize` or `overflow`.
   * @example
   * ```ts
   * for await (const msg of conn.messages({ bufferSize: 256 })) handle(msg);
   * ```
   */
  messages(options?: MessagesOptions): AsyncIterableIterator<TIn> {
    return this.#useFlow().messages(options);
  }

  /** `for await (const msg of conn)`: the same as {@link messages} with its defaults. */
  [Symbol.asyncIterator](): AsyncIterableIterator<TIn> {
    return this.messages();
  }

  /**
   * Connects, retrying by the reconnect policy; resolves when the connection opens.
   *
   * @param url - `ws:`/`wss:` (or `http:`/`https:`) URL, or a function called before every attempt.
   * @param subprotocol - one or more subprotocols to offer.
   */
  async dial(url: UrlSource, subprotocol?: string | string[]): Promise<void> {
    const s = this.#life.state;
    if (s === State.CONNECTING || s === State.OPEN || s === State.RECONNECTING) {
      throw evtError(ErrorCode.ALREADY_DIALED, `cannot dial: connection is already ${s}`);
    }
    if (typeof url !== "function") normalizeUrl(url);
    return this.#life.dial(url, () => planDial(this.#options, this.#o, subprotocol, this.#in.obs));
  }

  /**
   * Sends a message, and says what it did: `"sent"` (handed to the open socket), `"queued"`
   * (waiting for the connection to open) or `"dropped"` (a `volatile` message while not open).
   * The options (`volatile`, `signal`, `maxAgeMs`) are those of a plain message; see
   * {@link SendOptions} and the Delivery section of docs/concepts.md. With the default codec,
   * `body` is a string (a text frame) or bytes (a binary frame): a `Uint8Array`, an
   * `ArrayBuffer` or any view of one; see {@link Sendable}.
   *
   * @example
   * ```ts
   * if (conn.send(cursor, { volatile: true }) === "dropped") skipped++;
   * ```
   * @throws EvtWebSocketError `ERR_CLOSED`, `ERR_QUEUE_FULL` (a full queue that refuses),
   *   `ERR_ABORTED` (an already-aborted signal), `ERR_INVALID_OPTION`.
   */
  send(body: TOut, options?: SendOptions): SendResult;
  /**
   * Sends a request (the callback form): the callback gets the matching response, and a failure
   * (timeout, disconnect) goes to `onError`. Returns `"sent"` or `"queued"`, as for a plain
   * message.
   *
   * @throws EvtWebSocketError `ERR_CLOSED`, `ERR_QUEUE_FULL`, `ERR_INVALID_OPTION`, `ERR_DUPLICATE_ID`.
   */
  send(body: TOut, callback?: (resp: TIn, conn: Conn<TIn, TOut>) => void): SendResult;
  send(body: TOut, callback?: SendOptions | ((resp: TIn, conn: Conn<TIn, TOut>) => void)): SendResult {
    if (callback === undefined) {
      this.#assertCanSend();
      const data = this.#encode(body);
      this.#assertCanSend(); // the codec may have closed the connection
      return this.#out.send(this.#life.openLink, data, this.#life, body);
    }
    if (typeof callback !== "function") return this.#sendWith(body, callback);
    return this.#request(
      body,
      resolveRequestOptions(undefined, this.#o.requestTimeoutMs),
      (error, response) => {
        if (error !== undefined) this.#in.report(error as EvtWebSocketError);
        else
          this.#events.defer(() =>
            this.#in.guard("send callback", (r: TIn) => callback(r, this), response as TIn),
          );
      },
    );
  }

  /**
   * Sends a request and resolves with its matching response. Rejects with `ERR_INVALID_OPTION`
   * naming the option for options that are not an object, a bad `timeoutMs`, a `signal` that is
   * not an `AbortSignal` or a `retryOnReconnect` that is not a boolean.
   */
  request(body: TOut, options?: RequestOptions): Promise<TIn> {
    return new Promise<TIn>((resolve, reject) => {
      this.#request(body, resolveRequestOptions(options, this.#o.requestTimeoutMs), (error, response) =>
        error === undefined ? resolve(response as TIn) : reject(error),
      );
    });
  }

  /**
   * Closes the connection and stops reconnecting; pending requests reject with `ERR_CLOSED`.
   * Resolves when the socket is gone (at most 3 s against a peer that does not answer).
   */
  close(code = 1000, reason = ""): Promise<void> {
    const bad = closeProblem(code, reason);
    return bad ? Promise.reject(invalidOption(bad)) : this.#life.close(code, reason);
  }

  /**
   * Closes the current socket with `code` and `reason` and dials again as soon as it is gone,
   * as a reconnect (one socket at a time: against a peer that never answers the close frame, the
   * new attempt waits for the close timeout, 3 s): the queue is kept and sent on the next open, requests in flight follow the reconnect rules
   * (`retryOnReconnect` ones are sent again, the others reject with `ERR_DISCONNECTED`), and
   * the backoff starts over. The `close` event says `willReconnect: true`; `state` goes to
   * `"reconnecting"` (or stays `"connecting"`), and `dial()`'s promise, if pending, resolves on
   * the next open. A wait the server set (`Retry-After`, 1013) still stands; an attempt already
   * under way (its URL or headers function running) goes on. If the attempt fails, the
   * reconnect policy decides what follows. Use it when the server must see new credentials.
   *
   * @example
   * ```ts
   * token = await refreshToken(); // read by the headers or URL function of each attempt
   * conn.reconnect(4000, "new token");
   * ```
   * @throws EvtWebSocketError `ERR_CLOSED` before `dial()` or after `close()`;
   *   `ERR_INVALID_OPTION` for a code or reason that `close()` refuses.
   */
  reconnect(code = 1000, reason = ""): void {
    const s = this.#life.state;
    if (s === State.IDLE || s === State.CLOSED)
      throw evtError(ErrorCode.CLOSED, `cannot reconnect: connection is ${s}`);
    const bad = closeProblem(code, reason);
    if (bad) throw invalidOption(bad);
    this.#life.reconnect(code, reason);
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
      throw invalidOption("ping() needs the heartbeat: set pingIntervalMs");
    }
    this.#life.probe();
  }

  /** `await using conn = new Conn(...)` closes it at the end of the scope. */
  [asyncDispose](): Promise<void> {
    return this.close();
  }

  #useFlow(): Flow<TIn> {
    this.#flow ??= new Flow<TIn>(this, this.#life, this.#events, this.#out, this.#o);
    return this.#flow;
  }

  /** `send(body, options)`: a plain message with per-message options. */
  #sendWith(body: TOut, options: SendOptions): SendResult {
    const o = resolveSendOptions(options, this.#o.queue.maxAgeMs);
    this.#assertLive(o.signal, "send()");
    const data = this.#encode(body);
    this.#assertLive(o.signal, "send()"); // the codec may have closed the connection or aborted the signal
    return this.#out.send(this.#life.openLink, data, this.#life, body, o);
  }

  #request(body: TOut, o: ResolvedRequest, done: Done<TIn>): SendResult {
    this.#assertLive(o.signal, "request()");
    const data = this.#encode(body);
    const { messageId, matchMsg } = this.#options;
    let id: MessageKey | undefined;
    if (messageId !== undefined) {
      try {
        id = asKey(messageId(body));
      } catch (cause) {
        throw evtError(ErrorCode.CALLBACK_THREW, "messageId threw for the request body", cause);
      }
    }
    if (id === undefined && matchMsg === undefined) {
      const need =
        messageId === undefined ? "a matchMsg or messageId option" : "messageId to yield an id for it";
      throw invalidOption(`cannot match a response to this request: it needs ${need}`);
    }
    // The codec or messageId may have closed the connection or aborted the signal: nothing is
    // registered then (a listener added to an aborted signal never runs).
    this.#assertLive(o.signal, "request()");
    // Built field by field, in one shape for every request (a spread of `o` made a slower one).
    const init = {
      body,
      id,
      timeoutMs: o.timeoutMs,
      signal: o.signal,
      retryOnReconnect: o.retryOnReconnect,
      data,
      done,
    };
    const obs = this.#in.obs;
    if (!obs?.tracesRequests) return this.#out.request(this.#life.openLink, init, this.#life);
    let result: SendResult = "queued";
    obs.request(init, () => {
      this.#assertLive(o.signal, "request()"); // a subscriber to the request's start may have closed or aborted
      result = this.#out.request(this.#life.openLink, init, this.#life);
    });
    return result;
  }

  /** Not closed, and `signal` not aborted (`fn` names the call in the error). */
  #assertLive(signal: AbortSignal | undefined, fn: string): void {
    this.#assertCanSend();
    if (signal?.aborted)
      throw evtError(ErrorCode.ABORTED, `${fn}: the signal was already aborted`, signal.reason);
  }

  #assertCanSend(): void {
    if (this.#life.state === State.CLOSED)
      throw evtError(ErrorCode.CLOSED, "cannot send: connection is closed");
  }

  #encode(body: TOut): Data {
    let data: Data;
    try {
      data = this.#o.codec.encode(body);
    } catch (cause) {
      throw invalidOption(`cannot send: the codec could not encode the message`, cause);
    }
    // A custom codec's mistake stops here, typed: queued, it would have been measured as
    // "undefined bytes"; open, it reached the frame builder and threw Node's own error.
    if (!isData(data))
      throw invalidOption(
        `cannot send: codec.encode() must return a string or Uint8Array, got ${describe(data)}`,
      );
    return data;
  }
}
