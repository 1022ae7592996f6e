/**
 * Public types of `Conn` that are not options: the events map, the counters, per-request
 * options and the URL source. Kept apart so `conn.ts` holds behaviour only.
 */

import type { Conn } from "./conn.js";
import type { EvtWebSocketError } from "./errors.js";
import type { CloseInfo, PongInfo, ReconnectingInfo } from "./options.js";
import type { StateChange } from "./state.js";

/** Where `dial()` gets its URL: a fixed one, or a function called before every attempt. */
export type UrlSource = string | URL | (() => string | URL | Promise<string | URL>);

/** Options of one `request()` call. */
export interface RequestOptions {
  /**
   * Deadline for this request, in whole ms (up to 2,147,483,647); 0 or `Infinity` waits forever.
   * @default the `requestTimeoutMs` option
   */
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
  /** The socket's buffered amount fell to `lowWaterMark` or below after rising above `highWaterMark`. */
  drain: (conn: Conn<TIn, TOut>) => void;
};
