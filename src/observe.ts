/**
 * The one way a connection is watched: an {@link Observer} the `Conn` holds in one optional
 * field and calls at each event (attempt, open, close, retry decision, heartbeat, queue
 * overflow, request, message sizes). With no logger and no `diagnostics_channel` subscriber, a
 * hot-path call costs one check.
 *
 * Observers only read what they are handed: they never change the connection, and a failing
 * logger or subscriber cannot break it. Formatting lines is `logger.ts`'s job; publishing to
 * `diagnostics_channel` is `channels.ts`'s (Node only: the browser build swaps it for
 * `channels.browser.ts`, which publishes nothing). Message bodies never reach an observer.
 */

import { withChannels } from "./channels.js";
import type { Clock } from "./clock.js";
import { LogObserver, toLogger } from "./logger.js";
import type { CloseInfo } from "./options.js";
import type { Done, RequestInit } from "./pending.js";
import { redactUrl } from "./url.js";

/** The next connection's id (see `channels.ts`: on Node it names the worker thread too). */
export { nextConnId } from "./channels.js";

/**
 * The connection events an observer hears besides messages and requests, with their fields
 * (the same fields are logged and published; see docs/observability.md):
 * - `attempt` `{ attempt, url }`, 1-based; observers redact `url` (see {@link complete});
 * - `open` `{ protocol }`, the chosen subprotocol's 1-based position among those offered (0 for
 *   none: its name may carry a token), to which observers add the attempt's `url` and `durationMs`;
 * - `close` {@link CloseInfo}; `reconnecting` `{ attempt, delayMs, serverDelayMs?, reason, error? }` and
 *   `give-up` `{ attempt, reason, error? }` (the reconnect policy's decision);
 * - `error` `{ error }` (what went to `onError` or rejected `dial()`);
 * - `ping` `{}`, `pong` `{ rttMs }`, `dead` `{ pongTimeoutMs }`;
 * - `queue-full` `{ messages, queuedBytes, bytes }` (a send refused) or `{ dropped }` (the oldest
 *   messages dropped for it, `overflow: "drop-oldest"`); `queue-expired` `{ dropped }` (queued
 *   messages past their `maxAgeMs`); `option` `{ message }` (an option the
 *   transport ignores or refuses); `request-timeout` `{ error }` (logged only: requests have
 *   their own tracing channel).
 */
export type ObservedEvent =
  | "attempt"
  | "open"
  | "close"
  | "reconnecting"
  | "give-up"
  | "error"
  | "ping"
  | "pong"
  | "dead"
  | "queue-full"
  | "queue-expired"
  | "option"
  | "request-timeout";

/** An event's fields; callers pass a fresh object, which observers may complete. */
export type Fields = Record<string, unknown>;

/** What a connection tells its observers; every method is called after the fact it reports. */
export interface Observer {
  /** True when requests must go through {@link Observer.request} (someone watches them). */
  readonly tracesRequests: boolean;
  /**
   * False when an event of `kind` would reach no one now (no logger, no subscriber, no attempt
   * to remember); absent, every event is heard. See {@link Announced.hears}.
   */
  hears?(kind: ObservedEvent): boolean;
  /** A connection event (never one per message); see {@link ObservedEvent}. */
  event(kind: ObservedEvent, fields: Fields): void;
  /** A frame of `bytes` payload bytes was handed to the socket. */
  sent(bytes: number): void;
  /** A frame of `bytes` payload bytes arrived. */
  received(bytes: number): void;
  /**
   * Watches one request: may replace `init.done` to see its outcome, then calls `register`
   * (which registers and sends it, and may throw).
   */
  request<TIn, TOut>(init: RequestInit<TIn, TOut>, register: () => void): void;
}

/** What an observer remembers of the current attempt. */
export interface AttemptRecord {
  url: string;
  at: number;
}

/**
 * Completes an event's fields with what its caller does not know: `attempt`'s URL redacted to
 * scheme, host and port (remembered with the time), and `open`'s URL and handshake duration.
 */
export function complete(record: AttemptRecord, clock: Clock, kind: ObservedEvent, fields: Fields): void {
  if (kind === "attempt") {
    record.url = fields.url = redactUrl(new URL(fields.url as string));
    record.at = clock.now();
  } else if (kind === "open") {
    fields.url = record.url;
    fields.durationMs = clock.now() - record.at;
  }
}

/**
 * An observer told only once the connection's current transition is done: `event` and each
 * request's outcome are announced through the emitter, as events are, so user code there (a
 * logger, a channel subscriber holding the Conn) cannot cut a transition in half. Message sizes
 * pass straight through: they carry no user code that could call back.
 */
export class Announced implements Observer {
  readonly #inner: Observer;
  readonly #events: { announce(callback: () => void): void };

  constructor(inner: Observer, events: { announce(callback: () => void): void }) {
    this.#inner = inner;
    this.#events = events;
  }

  get tracesRequests(): boolean {
    return this.#inner.tracesRequests;
  }

  /**
   * True when an event of `kind` would reach someone now: lets a caller skip building an event
   * nobody hears, such as the ping and pong of every idle connection.
   */
  hears(kind: ObservedEvent): boolean {
    return this.#inner.hears?.(kind) !== false;
  }

  event(kind: ObservedEvent, fields: Fields): void {
    this.#events.announce(() => this.#inner.event(kind, fields));
  }

  sent(bytes: number): void {
    this.#inner.sent(bytes);
  }

  received(bytes: number): void {
    this.#inner.received(bytes);
  }

  request<TIn, TOut>(init: RequestInit<TIn, TOut>, register: () => void): void {
    this.#inner.request(init, () => {
      init.done = announced(this.#events, init.done);
      register();
    });
  }
}

/** `done`, called as an announcement; made outside a method for the reason channels.ts's `traced` gives. */
function announced<TIn>(events: { announce(callback: () => void): void }, done: Done<TIn>): Done<TIn> {
  return (error, response) => events.announce(() => done(error, response));
}

/**
 * The observer of one connection: its logger's lines and, on Node, its channel messages;
 * undefined when there is neither (browsers without a logger).
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` when `logger` lacks a level function.
 */
export function createObserver(
  conn: { readonly id: string },
  id: string,
  clock: Clock,
  logger: unknown,
): Observer | undefined {
  const log = logger === undefined ? undefined : new LogObserver(toLogger(logger), id, clock);
  return withChannels(conn, id, clock, log);
}
