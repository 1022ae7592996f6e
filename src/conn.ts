/**
 * `Conn`, the facade: wires links, backoff, queue, pending requests and events together and
 * owns the one `state` field.
 *
 * Policy lives in the modules it calls (backoff delays, option checks, matching indexes); the
 * mechanics of one socket live in `link.ts`. What this file decides: when to dial, when to
 * retry, what happens to queued messages and pending requests at each transition, and which
 * errors go to a caller and which to `onError` (an error goes to exactly one of them).
 */

import { hasEnvironmentEvents, isOffline, watchEnvironment } from "./browser-hooks.js";
import { byteLength, type Data } from "./codec.js";
import { planDial } from "./dial-plan.js";
import { Emitter } from "./emitter.js";
import { ErrorCode, EvtWebSocketError } from "./errors.js";
import { Link, type LinkConfig, type LinkEnd, type LinkEvents } from "./link.js";
import {
  type ConnOptions,
  duration,
  type ReconnectingInfo,
  type ResolvedOptions,
  resolveOptions,
} from "./options.js";
import { Outbox } from "./outbox.js";
import type { MessageKey } from "./pending.js";
import { decideRetry } from "./reconnect.js";
import { canTransition, State, type StateChange } from "./state.js";
import type { ConnEvents, ConnStats, RequestOptions, UrlSource } from "./types.js";
import { normalizeUrl } from "./url.js";

export type { ConnEvents, ConnStats, RequestOptions, UrlSource } from "./types.js";

type Done<TIn> = (error: Error | undefined, response: TIn | undefined) => void;

const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for("Symbol.asyncDispose");

function err(code: ErrorCode, message: string, cause?: unknown): EvtWebSocketError {
  return new EvtWebSocketError(code, message, { cause });
}

/** A usable request id: a string, or a number other than NaN; anything else means no id. */
function asKey(value: unknown): MessageKey | undefined {
  if (typeof value === "string") return value;
  return typeof value === "number" && !Number.isNaN(value) ? value : undefined;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === "function";
}

// biome-ignore lint/suspicious/noExplicitAny: one hook object serves connections of every message type.
type AnyConn = Conn<any, any>;
type ConnLink = Link<AnyConn>;

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
export class Conn<TIn = Data, TOut = Data> {
  readonly #options: ConnOptions<TIn, TOut, Conn<TIn, TOut>>;
  readonly #o: ResolvedOptions<TIn, TOut>;
  readonly #events: Emitter<ConnEvents<TIn, TOut>, AnyConn>;
  readonly #out: Outbox<TIn, TOut>;
  #state: State = State.IDLE;
  #link: ConnLink | undefined;
  /** Links that close() is waiting for, with the resolver of its promise; made on first use. */
  #closing: Map<ConnLink, () => void> | undefined;
  #closed: Promise<void> | undefined;
  #lastClose: Promise<void> | undefined;
  #dialed: { resolve(): void; reject(e: Error): void } | undefined;
  #retryTimer: unknown;
  #epoch = 0;
  #attempt = 0;
  #openedAt = 0;
  #url: UrlSource = "";
  #plan: LinkConfig | undefined;
  #messagesReceived = 0;
  #bytesReceived = 0;
  #reconnects = 0;
  /** NaN until the first pong (not undefined: an unboxed double field, no allocation per pong). */
  #lastRttMs = Number.NaN;
  /** The change to "closed" that #shutdown made and has not announced yet. */
  #unannounced: StateChange | undefined;
  #unwatch: (() => void) | undefined;
  #protocol = "";

  static {
    linkEvents = {
      open: (conn, link, protocol) => conn.#onOpen(link, protocol),
      message: (conn, link, data, bytes) => conn.#onMessage(link, data, bytes),
      pong: (conn, link, rttMs) => link === conn.#link && conn.#onPong(rttMs),
      end: (conn, link, end) => conn.#onEnd(link, end),
    };
    onListenerThrow = (error, event, conn) => {
      if (event === "error") console.error("evtwebsocket: an onError handler threw", error);
      else conn.#report(err(ErrorCode.CALLBACK_THREW, `a "${String(event)}" handler threw`, error));
    };
  }

  /** @throws EvtWebSocketError `ERR_INVALID_OPTION` when an option has the wrong type or range. */
  constructor(options: ConnOptions<TIn, TOut, Conn<TIn, TOut>> = {}) {
    this.#o = resolveOptions(options);
    this.#options = options;
    this.#events = new Emitter(onListenerThrow, this as AnyConn);
    const o = options;
    if (o.onConnected) this.#events.on("connected", o.onConnected);
    if (o.onMessage) this.#events.on("message", o.onMessage);
    if (o.onError) this.#events.on("error", o.onError);
    if (o.onClose) this.#events.on("close", o.onClose);
    if (o.onReconnecting) this.#events.on("reconnecting", o.onReconnecting);
    this.#out = new Outbox(this.#o.clock, this.#o.queue);
  }

  /** The current state: "idle" | "connecting" | "open" | "reconnecting" | "closed". */
  get state(): State {
    return this.#state;
  }

  /** A snapshot of the counters. */
  get stats(): ConnStats {
    const stats: ConnStats = {
      messagesSent: this.#out.messagesSent,
      messagesReceived: this.#messagesReceived,
      bytesSent: this.#out.bytesSent,
      bytesReceived: this.#bytesReceived,
      reconnects: this.#reconnects,
      pendingRequests: this.#out.pending,
      queuedMessages: this.#out.queued,
    };
    if (!Number.isNaN(this.#lastRttMs)) stats.lastRttMs = this.#lastRttMs;
    return stats;
  }

  /** The subprotocol the server chose for the current or last connection; "" when none. */
  get protocol(): string {
    return this.#protocol;
  }

  /**
   * Bytes handed to the socket but not yet written to the network (0 while not open): a
   * producer that sends faster than the link drains can wait for it to fall.
   */
  get bufferedAmount(): number {
    return this.#link?.bufferedAmount ?? 0;
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
    this.#plan = planDial(this.#options, this.#o, subprotocol);
    this.#url = url;
    this.#attempt = 0;
    this.#closed = undefined;
    const opened = new Promise<void>((resolve, reject) => {
      this.#dialed = { resolve, reject };
    });
    const epoch = this.#epoch;
    this.#setState(State.CONNECTING);
    // A "state" listener may have called close() (which rejected `opened`) or dialled again.
    if (this.#epoch !== epoch) return opened;
    if (this.#unwatch === undefined && hasEnvironmentEvents()) {
      this.#unwatch = watchEnvironment({
        online: () => this.#onOnline(),
        offline: () => {},
        visible: (ms) => this.#onVisible(ms),
      });
    }
    // Offline (browsers), a first attempt would fail at once: with retries on, wait for `online`.
    if (!(this.#o.reconnect.enabled && isOffline())) void this.#connect();
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
      this.#out.send(this.#openLink(), data, this.#state);
      return;
    }
    if (typeof callback !== "function")
      throw err(ErrorCode.INVALID_OPTION, "send(): callback must be a function");
    this.#request(body, this.#o.requestTimeoutMs, undefined, false, (error, response) => {
      if (error !== undefined) this.#report(error as EvtWebSocketError);
      else this.#guard("send callback", (r: TIn) => callback(r, this), response as TIn);
    });
  }

  /** Sends a request and resolves with its matching response. */
  request(body: TOut, options?: RequestOptions): Promise<TIn> {
    return new Promise<TIn>((resolve, reject) => {
      const timeoutMs = duration(
        "timeoutMs of request()",
        options?.timeoutMs,
        this.#o.requestTimeoutMs,
        0,
        true,
      );
      this.#request(
        body,
        timeoutMs,
        options?.signal,
        options?.retryOnReconnect === true,
        (error, response) => (error === undefined ? resolve(response as TIn) : reject(error)),
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
    // Without a current link, an earlier close() may still wait for its socket (a dial() made
    // right after it awaits that socket first): this close() waits for it too.
    if (link !== undefined) this.#closing ??= new Map();
    const closing = this.#closing;
    this.#closed =
      link === undefined ? (this.#lastClose ?? Promise.resolve()) : new Promise((r) => closing!.set(link, r));
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
    const link: ConnLink = new Link(this.#plan!, url, linkEvents, this as AnyConn);
    this.#link = link;
    link.start();
  }

  #onOpen(link: ConnLink, protocol: string): void {
    if (link !== this.#link) return;
    this.#protocol = protocol;
    if (this.#state === State.RECONNECTING) this.#reconnects++;
    this.#openedAt = this.#o.clock.now();
    this.#setState(State.OPEN);
    if (link !== this.#link) return; // a "state" listener called close()
    const dialed = this.#dialed;
    this.#dialed = undefined;
    dialed?.resolve();
    const waits = this.#events.emitCollect("connected", this).filter(isThenable);
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

  #flush(link: ConnLink): void {
    this.#out.flush(link, () => link === this.#link);
  }

  #onMessage(link: ConnLink, data: Data, bytes: number): void {
    if (link !== this.#link) return;
    this.#messagesReceived++;
    this.#bytesReceived += bytes;
    let msg: TIn;
    try {
      msg = this.#o.codec.decode(data);
    } catch (cause) {
      link.noteReceived(false);
      this.#report(err(ErrorCode.DECODE, "could not decode an incoming message; it was dropped", cause));
      return;
    }
    const { isPong, matchMsg, messageId } = this.#options;
    const pong = isPong !== undefined && this.#guard("isPong", isPong, msg) === true;
    const rtt = link.noteReceived(pong);
    if (pong) {
      if (rtt !== undefined) this.#onPong(rtt);
      return;
    }
    if (this.#out.pending > 0 && this.#settle(msg, messageId, matchMsg)) return;
    this.#events.emit("message", msg, this);
  }

  /** Settles the request `msg` answers; true when one was. */
  #settle(
    msg: TIn,
    messageId: ((m: TIn | TOut) => MessageKey | undefined) | undefined,
    matchMsg: ((req: TOut, resp: TIn) => boolean) | undefined,
  ): boolean {
    const id = messageId === undefined ? undefined : asKey(this.#guard("messageId", messageId, msg));
    try {
      return this.#out.settle(
        msg,
        id,
        matchMsg === undefined ? undefined : (req: TOut) => matchMsg(req, msg),
      );
    } catch (cause) {
      this.#report(err(ErrorCode.CALLBACK_THREW, "matchMsg threw", cause));
      return false;
    }
  }

  #onPong(rttMs: number): void {
    this.#lastRttMs = rttMs;
    // Every ping of every idle connection passes here: no event object unless someone listens.
    if (this.#events.has("pong")) this.#events.emit("pong", { rttMs }, this);
  }

  #onEnd(link: ConnLink | undefined, end: LinkEnd): void {
    const closedByUser = link !== undefined && this.#closing?.get(link);
    if (closedByUser) {
      this.#closing!.delete(link!);
      if (end.wasOpen) this.#emitClose(end, false);
      closedByUser();
      return;
    }
    if (link !== this.#link) return;
    this.#link = undefined;
    const ask = this.#o.reconnect.shouldReconnect;
    const decision = decideRetry(
      this.#o.reconnect,
      this.#attempt,
      { ...end, openForMs: end.wasOpen ? this.#o.clock.now() - this.#openedAt : undefined },
      ask && ((info) => this.#guard("shouldReconnect", ask, info)),
    );
    this.#attempt = decision.attempt;
    // Each user callback below may call close() or dial(); both move the epoch, and then
    // this ending is no longer ours to finish.
    const epoch = this.#epoch;
    if (end.wasOpen) this.#emitClose(end, decision.retry);
    if (this.#epoch !== epoch) return;
    this.#out.dropped(decision.retry);
    if (this.#epoch !== epoch) return;
    if (!decision.retry) {
      this.#shutdown(decision.error);
      return;
    }
    if (end.error !== undefined) this.#report(end.error);
    if (this.#epoch !== epoch) return;
    const { attempt, delayMs } = decision;
    if (this.#state === State.OPEN) this.#setState(State.RECONNECTING);
    if (this.#epoch !== epoch) return;
    const info: ReconnectingInfo = { attempt, delayMs, ...(end.error ? { error: end.error } : {}) };
    this.#events.emit("reconnecting", info, this);
    if (this.#epoch !== epoch) return;
    this.#retryTimer = this.#o.clock.setTimeout(() => {
      this.#retryTimer = undefined;
      // Offline, an attempt would fail at once and burn the budget: wait for the online event.
      if (!isOffline()) void this.#connect();
    }, delayMs);
  }

  /** The browser says the network is back: a waiting reconnect dials now. */
  #onOnline(): void {
    const waiting = this.#state === State.CONNECTING || this.#state === State.RECONNECTING;
    if (!waiting || this.#link !== undefined) return;
    if (this.#retryTimer !== undefined) this.#o.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    void this.#connect();
  }

  /** The page was hidden (or the machine slept) longer than a ping interval: check the line now. */
  #onVisible(hiddenForMs: number): void {
    if (this.#o.pingIntervalMs > 0 && hiddenForMs >= this.#o.pingIntervalMs) this.#link?.probe();
  }

  #emitClose(end: LinkEnd, willReconnect: boolean): void {
    this.#events.emit(
      "close",
      { code: end.code, reason: end.reason, wasClean: end.wasClean, willReconnect },
      this,
    );
  }

  /** Ends for good: state closed, every request and queued message settled, no timer left. */
  #shutdown(reason: EvtWebSocketError | undefined): void {
    this.#epoch++;
    this.#unwatch?.();
    this.#unwatch = undefined;
    if (this.#retryTimer !== undefined) this.#o.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    // The state is closed from here on (no send can slip into the drained queue), but the event
    // goes out last, once every request, the dial and the queue have settled.
    this.#unannounced = this.#transition(State.CLOSED);
    const byUser = reason?.code === ErrorCode.CLOSED;
    // Requests end with ERR_CLOSED (the user's close()) or ERR_DISCONNECTED, the terminal reason as cause.
    const ending = byUser
      ? reason
      : err(
          ErrorCode.DISCONNECTED,
          `connection ended and will not reconnect${reason ? `: ${reason.message}` : ""}`,
          reason,
        );
    const unsent = this.#out.failAll(ending);
    const dialed = this.#dialed;
    this.#dialed = undefined;
    if (dialed !== undefined) dialed.reject(reason ?? ending);
    else if (reason !== undefined && !byUser) this.#report(reason);
    if (unsent > 0) {
      const message = `${unsent} queued message(s) were not sent: ${ending.message}`;
      this.#report(
        new EvtWebSocketError(ending.code, message, {
          cause: byUser ? undefined : reason,
          details: { unsent },
        }),
      );
    }
    this.#announce();
  }

  /** Emits the change #shutdown held back, unless a nested transition already did. */
  #announce(): void {
    const change = this.#unannounced;
    this.#unannounced = undefined;
    if (change !== undefined) this.#events.emit("state", change, this);
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
        id = asKey(messageId(body));
      } catch (cause) {
        throw err(ErrorCode.CALLBACK_THREW, "messageId threw for the request body", cause);
      }
    }
    if (id === undefined && matchMsg === undefined) {
      const need =
        messageId === undefined ? "a matchMsg or messageId option" : "messageId to yield an id for it";
      throw err(ErrorCode.INVALID_OPTION, `cannot match a response to this request: it needs ${need}`);
    }
    if (id !== undefined && this.#out.hasId(id)) {
      throw err(ErrorCode.DUPLICATE_ID, `a request with id ${JSON.stringify(id)} is already pending`);
    }
    if (this.#out.pending >= this.#o.maxPendingRequests) {
      throw err(
        ErrorCode.TOO_MANY_PENDING,
        `${this.#out.pending} requests are already pending (maxPendingRequests)`,
      );
    }
    const init = { body, id, timeoutMs, signal, retryOnReconnect: retry, data, done };
    this.#out.request(this.#openLink(), init, this.#state);
  }

  #openLink(): ConnLink | undefined {
    return this.#link?.isOpen ? this.#link : undefined;
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

  /**
   * Calls a user callback with its argument; a throw is reported as `ERR_CALLBACK_THREW` and
   * yields undefined. The argument is passed through, so a call per message needs no closure.
   */
  #guard<A, R>(what: string, fn: (arg: A) => R, arg: A): R | undefined {
    try {
      return fn(arg);
    } catch (cause) {
      this.#report(err(ErrorCode.CALLBACK_THREW, `${what} threw`, cause));
      return undefined;
    }
  }

  #report(error: EvtWebSocketError): void {
    this.#events.emit("error", error, this);
  }

  #setState(next: State): void {
    this.#announce(); // a dial() from a callback inside #shutdown: "closed" goes out first
    const change = this.#transition(next);
    if (change !== undefined) this.#events.emit("state", change, this);
  }

  /** Changes the state without telling anyone yet; returns the change to announce, if any. */
  #transition(next: State): StateChange | undefined {
    const oldState = this.#state;
    if (oldState === next) return undefined;
    if (!canTransition(oldState, next))
      throw new Error(`evtwebsocket bug: illegal transition ${oldState} -> ${next}`);
    this.#state = next;
    return { oldState, newState: next };
  }
}
