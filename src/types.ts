/**
 * Public types of `Conn` that are not options: the events map, the counters, per-request
 * options and the URL source. Kept apart so `conn.ts` holds behaviour only.
 */

import type { Conn } from "./conn.js";
import type { EvtWebSocketError } from "./errors.js";
import type { CloseInfo, PongInfo, ReconnectingInfo } from "./options.js";
import type { StateChange } from "./state.js";

/**
 * Where `dial()` gets its URL: a fixed one, or a function called (and awaited) before every
 * attempt with that attempt's {@link AttemptContext}. A function that throws or rejects fails
 * that attempt with `ERR_DIAL_FAILED` (the throw is its `cause`) and the reconnect policy
 * retries; one that returns an invalid URL ends the connection with `ERR_INVALID_URL`.
 *
 * @example
 * ```ts
 * conn.dial(async ({ attempt }) => `wss://api.example/live?token=${await fetchToken()}&try=${attempt}`)
 * ```
 */
export type UrlSource = string | URL | ((ctx: AttemptContext) => string | URL | Promise<string | URL>);

/** What the URL and headers functions are told about the attempt they prepare. */
export interface AttemptContext {
  /** 0 for the first attempt of a `dial()`, then the retry number `onReconnecting` announced. */
  attempt: number;
  /**
   * How the previous connection or attempt ended (1006 with no reason for a failed handshake);
   * absent on the first attempt of a `dial()`.
   */
  lastClose?: {
    /** The close code (1006 when the socket ended without a close frame). */
    code: number;
    /** The close reason, as sent. */
    reason: string;
  };
  /** The error that ended the previous connection or attempt, when there was one. */
  lastError?: EvtWebSocketError;
}

/**
 * Handshake headers built for each attempt: called (and awaited) once per attempt, after the
 * URL function. A throw or rejection fails that attempt with `ERR_DIAL_FAILED`, the throw as its
 * `cause`, and the reconnect policy retries; headers that are not an object of valid HTTP header
 * names and string values fail it with `ERR_INVALID_OPTION` naming `headers`.
 *
 * @example
 * ```ts
 * headers: async () => ({ authorization: `Bearer ${await tokens.current()}` })
 * ```
 */
export type HeadersFunction = (
  ctx: AttemptContext,
) => Record<string, string> | Promise<Record<string, string>>;

/** What the opening handshake of the current connection settled; read through `conn.handshake`. */
export interface Handshake {
  /** The URL dialled, as every message shows it: scheme, host and port (no credentials, path or query). */
  readonly url: string;
  /** The HTTP status of the handshake's response: 101. */
  readonly status: number;
  /**
   * The response headers the server added: names lower-cased, repeated ones joined with ", "
   * (`set-cookie` too, as `fetch`'s `Headers.get` does). The handshake's own (`Upgrade`,
   * `Connection`, `Sec-WebSocket-*`) are left out: they say nothing the connection does not (the
   * subprotocol is `protocol`), and would cost every connection about 250 B. Node's `ws`
   * transport only; absent where the runtime hides them, as browsers do.
   */
  readonly headers?: Readonly<Record<string, string>>;
  /** The subprotocol the server chose; "" when none. */
  readonly protocol: string;
}

/** Options of one `request()` call. */
export interface RequestOptions {
  /**
   * Deadline for this request, in whole ms (up to 2,147,483,647); 0 or `Infinity` waits forever.
   * @default the `requestTimeoutMs` option
   */
  timeoutMs?: number;
  /** Aborting it rejects the request with `ERR_ABORTED` (and removes it from the queue if unsent). */
  signal?: AbortSignal;
  /**
   * If the connection drops after sending, send it again after the reconnect. A boolean (anything
   * else is refused with `ERR_INVALID_OPTION`).
   * @default false
   */
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
  /** A connection opened (first dial and every reconnect); a returned promise holds the queue until it settles; any other return value is ignored. */
  connected: (conn: Conn<TIn, TOut>) => unknown;
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
