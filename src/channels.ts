/**
 * Publishes a connection's events to Node's `diagnostics_channel` (names in `channel-names.ts`),
 * and passes every event on to the logger's observer, if any.
 *
 * Each publish is guarded by the channel's `hasSubscribers`, so with no subscriber an event costs
 * that one check and no allocation. Messages carry the `Conn`, its id and the event's fields;
 * URLs are redacted to scheme, host and port, and no message body is ever published. A
 * subscriber that throws cannot break the connection (Node reports its error on the next tick).
 * Node only: the browser build swaps this module for `channels.browser.ts`.
 */

import { type Channel, channel, tracingChannel } from "node:diagnostics_channel";
import { threadId } from "node:worker_threads";
import { CHANNELS } from "./channel-names.js";
import type { Clock } from "./clock.js";
import { byteLength } from "./codec.js";
import { ErrorCode, EvtWebSocketError } from "./errors.js";
import type { Fields, ObservedEvent, Observer } from "./observe.js";
import type { Done, RequestInit } from "./pending.js";
import { redactUrl } from "./url.js";

const create = channel(CHANNELS.create);
const sent = channel(CHANNELS.sent);
const received = channel(CHANNELS.received);
const request = tracingChannel(CHANNELS.request);

/** The events that have a channel; the others are only logged. */
const EVENT_CHANNELS: Partial<Record<ObservedEvent, Channel>> = {
  open: channel(CHANNELS.open),
  close: channel(CHANNELS.close),
  reconnecting: channel(CHANNELS.reconnecting),
  error: channel(CHANNELS.error),
  pong: channel(CHANNELS.pong),
};

/** The context of one traced request (TracingChannel adds nothing of its own to it). */
interface RequestContext {
  conn: object;
  id: string;
  timeoutMs: number;
  bytes: number;
  error?: unknown;
}

/** The connection as published: itself, with its id. */
interface Named {
  readonly id: string;
}

/** Publishes, then hands on to `inner` (the logger); see the module header. */
class ChannelObserver implements Observer {
  readonly #conn: Named;
  readonly #clock: Clock;
  readonly #inner: Observer | undefined;
  /**
   * The current attempt's URL as the attempt was given it (the link's own string: keeping it
   * makes none) and its start, for the open's `url` (redacted only when published) and `durationMs`.
   */
  #url = "";
  #at = 0;

  constructor(conn: Named, id: string, clock: Clock, inner: Observer | undefined) {
    this.#conn = conn;
    this.#clock = clock;
    this.#inner = inner;
    if (create.hasSubscribers) create.publish({ conn, id });
  }

  get tracesRequests(): boolean {
    // Any of the five: a subscriber may want only errors (TracingChannel.hasSubscribers is Node >= 20.13).
    return (
      this.#inner !== undefined ||
      request.start.hasSubscribers ||
      request.end.hasSubscribers ||
      request.asyncStart.hasSubscribers ||
      request.asyncEnd.hasSubscribers ||
      request.error.hasSubscribers
    );
  }

  hears(kind: ObservedEvent): boolean {
    return this.#inner !== undefined || kind === "attempt" || EVENT_CHANNELS[kind]?.hasSubscribers === true;
  }

  event(kind: ObservedEvent, fields: Fields): void {
    if (kind === "attempt") {
      this.#url = fields.url as string;
      this.#at = this.#clock.now();
    }
    this.#inner?.event(kind, fields); // the logger completes the fields itself (observe.ts's complete())
    const ch = EVENT_CHANNELS[kind];
    if (!ch?.hasSubscribers) return;
    if (kind === "open") {
      fields.url = redactUrl(new URL(this.#url));
      fields.durationMs = this.#clock.now() - this.#at;
    }
    // A field with no value is left out, as in a logged line: `error` when there was none.
    const message: Fields = { conn: this.#conn, id: this.#conn.id };
    for (const k in fields) if (fields[k] !== undefined) message[k] = fields[k];
    if (kind === "error") message.error = ownError(message.error);
    ch.publish(message);
  }

  sent(bytes: number): void {
    if (sent.hasSubscribers) sent.publish({ conn: this.#conn, id: this.#conn.id, bytes });
  }

  received(bytes: number): void {
    if (received.hasSubscribers) received.publish({ conn: this.#conn, id: this.#conn.id, bytes });
  }

  /**
   * start, then end once registered; error, asyncStart and asyncEnd around the outcome (as
   * `tracePromise` and `traceCallback`: start and asyncStart through `runStores`, so a store
   * bound to either with `bindStore` is entered for the call, or for the response's callback).
   */
  request<TIn, TOut>(init: RequestInit<TIn, TOut>, register: () => void): void {
    const ctx: RequestContext = {
      conn: this.#conn,
      id: this.#conn.id,
      timeoutMs: init.timeoutMs,
      bytes: byteLength(init.data),
    };
    init.done = traced(ctx, init.done);
    request.start.runStores(ctx, call, undefined, ctx, this.#inner, init, register);
  }
}

/** The traced call of `request()`, inside the stores bound to start: registers, then publishes end. */
function call<TIn, TOut>(
  ctx: RequestContext,
  inner: Observer | undefined,
  init: RequestInit<TIn, TOut>,
  register: () => void,
): void {
  calling.push(ctx);
  try {
    if (inner === undefined) register();
    else inner.request(init, register);
  } catch (err) {
    ctx.error = err;
    request.error.publish(ctx);
    throw err;
  } finally {
    calling.pop();
    request.end.publish(ctx);
    const early = settledEarly.size === 0 ? undefined : settledEarly.get(ctx);
    if (early !== undefined) {
      settledEarly.delete(ctx);
      early();
    }
  }
}

/**
 * The requests whose `request()` call is still running, innermost last (a subscriber may make
 * one inside another's). A request that settles then (a `message:sent` subscriber that calls
 * `close()` or aborts its signal) is told after its `end`, as `tracePromise` tells a promise
 * that settles at once: its outcome waits in `settledEarly`.
 */
const calling: RequestContext[] = [];
const settledEarly = new Map<RequestContext, () => void>();

/**
 * `done`, publishing error, asyncStart and asyncEnd around it. Made here rather than inside
 * `request()`: a closure keeps the whole scope it was made in alive for as long as its request
 * is pending (there, `init` and the caller's `register` with the scope of `conn.request()`), and
 * with 100 requests in flight that kept enough alive across young-generation collections to
 * promote most of every request to the old generation (136-148 MB promoted per 200,000 requests
 * against 1 MB; 0.59x the throughput of no subscriber at 100 in flight, 0.96x once made here).
 */
function traced<TIn>(ctx: RequestContext, done: Done<TIn>): Done<TIn> {
  return (err, response) => {
    if (calling.length !== 0 && calling.includes(ctx))
      settledEarly.set(ctx, () => settle(ctx, done, err, response));
    else settle(ctx, done, err, response);
  };
}

/** Publishes error (on failure), asyncStart and asyncEnd around `done`. */
function settle<TIn>(
  ctx: RequestContext,
  done: Done<TIn>,
  err: Error | undefined,
  response: TIn | undefined,
): void {
  if (err !== undefined) {
    ctx.error = err;
    request.error.publish(ctx);
  }
  request.asyncStart.runStores(ctx, respond, undefined, ctx, done, err, response);
}

/** `done`, inside the stores bound to asyncStart, then asyncEnd. */
function respond<TIn>(
  ctx: RequestContext,
  done: Done<TIn>,
  err: Error | undefined,
  response: TIn | undefined,
): void {
  try {
    done(err, response);
  } finally {
    request.asyncEnd.publish(ctx);
  }
}

/**
 * Codes whose cause is someone else's error about a message: the codec's (a `JSON.parse` error
 * quotes the text) or a user callback's given the message (`isPong`, a matcher, a listener).
 */
const CAUSE_MAY_QUOTE = new Set<string>([ErrorCode.DECODE, ErrorCode.CALLBACK_THREW]);

/**
 * The error as published on the error channel: with such a cause, a copy without it (code,
 * message and details kept), so no message body reaches a subscriber; `onError` gets the original.
 */
function ownError(error: unknown): unknown {
  const e = error as EvtWebSocketError;
  return e instanceof EvtWebSocketError && e.cause !== undefined && CAUSE_MAY_QUOTE.has(e.code)
    ? new EvtWebSocketError(e.code, e.message, { details: e.details })
    : error;
}

/** The connection's observer on Node: publishes to the channels, then hands on to `inner`. */
export function withChannels(conn: Named, id: string, clock: Clock, inner: Observer | undefined): Observer {
  return new ChannelObserver(conn, id, clock, inner);
}

/**
 * Where the last id given is kept: on `globalThis`, shared by every copy of the library in the
 * thread (its ESM and CJS builds, two versions), which publish to the same channels.
 */
const LAST_ID = Symbol.for("evtwebsocket.id");

/**
 * What makes an id of this thread unique in the process: nothing on the main thread, the
 * worker's thread id in a worker (each worker has its own `globalThis`, so its own count: a
 * worker's first connection was "c1" too, in the same log as the main thread's).
 */
const THREAD = threadId === 0 ? "" : `-w${threadId}`;

/** A short id, unique in this process, across copies of the library and threads: "c1", "c2", … ("c1-w2" in worker 2). */
export function nextConnId(): string {
  const g = globalThis as unknown as Record<symbol, number>;
  g[LAST_ID] = (g[LAST_ID] ?? 0) + 1;
  return `c${g[LAST_ID]}${THREAD}`;
}
