/**
 * The library's one error type and its stable codes.
 *
 * Callers branch on `err.code`, never on `err.message`: messages are written for people and
 * may change, codes are part of the API. The error that caused ours, when there is one, is
 * kept as `cause`. This module does not decide *when* an error is raised; `conn.ts` does.
 */

/** Every code an {@link EvtWebSocketError} can carry. */
export const ErrorCode = {
  /** The URL is not a `ws:`, `wss:`, `http:` or `https:` URL, or cannot be parsed. */
  INVALID_URL: "ERR_INVALID_URL",
  /** An option, argument or close code is of the wrong type or out of range. */
  INVALID_OPTION: "ERR_INVALID_OPTION",
  /** `dial()` was called while connecting, open or reconnecting. */
  ALREADY_DIALED: "ERR_ALREADY_DIALED",
  /** The opening handshake failed (refused, reset, HTTP status other than 101, …). */
  DIAL_FAILED: "ERR_DIAL_FAILED",
  /** The opening handshake did not finish within `connectTimeoutMs`. */
  CONNECT_TIMEOUT: "ERR_CONNECT_TIMEOUT",
  /** The reconnect policy gave up (`maxAttempts` reached). */
  RECONNECT_EXHAUSTED: "ERR_RECONNECT_EXHAUSTED",
  /** The connection was closed by `close()`; no further sends are accepted. */
  CLOSED: "ERR_CLOSED",
  /** The connection dropped while a request was in flight (it may or may not have been delivered). */
  DISCONNECTED: "ERR_DISCONNECTED",
  /** No matching response arrived within the request's timeout. */
  REQUEST_TIMEOUT: "ERR_REQUEST_TIMEOUT",
  /** The request's `AbortSignal` fired. */
  ABORTED: "ERR_ABORTED",
  /** A request with the same `messageId` is already pending. */
  DUPLICATE_ID: "ERR_DUPLICATE_ID",
  /** `maxPendingRequests` requests are already waiting for their response. */
  TOO_MANY_PENDING: "ERR_TOO_MANY_PENDING",
  /** The outgoing queue is full (`queue.maxMessages` or `queue.maxBytes`), or queueing is off. */
  QUEUE_FULL: "ERR_QUEUE_FULL",
  /** A queued message was still unsent after its `maxAgeMs` (or `queue.maxAgeMs`): it was dropped, and is in `details.message`. */
  QUEUE_EXPIRED: "ERR_QUEUE_EXPIRED",
  /** Nothing arrived within `pongTimeoutMs` of a ping: the connection is considered dead. */
  PONG_TIMEOUT: "ERR_PONG_TIMEOUT",
  /** A user callback (event handler, matcher, request callback) threw; the throw is the `cause`. */
  CALLBACK_THREW: "ERR_CALLBACK_THREW",
  /** An incoming message was larger than `maxMessageBytes`; the connection was closed with 1009. */
  MESSAGE_TOO_BIG: "ERR_MESSAGE_TOO_BIG",
  /** The codec could not decode an incoming frame; the frame was dropped, the connection kept. */
  DECODE: "ERR_DECODE",
} as const;

/** The union of the string codes in {@link ErrorCode}. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Extra, code-specific facts attached to an error (close code, HTTP status, attempt, …). */
export interface ErrorDetails {
  /** WebSocket close code of the connection that ended, when one is known. */
  closeCode?: number;
  /** HTTP status of a refused opening handshake, where the runtime exposes it. */
  status?: number;
  /**
   * HTTP status with which the proxy refused the `CONNECT` tunnel (407, 403, 502, …): the
   * server was never reached. Set only on `ERR_DIAL_FAILED` through a `proxy`.
   */
  proxyStatus?: number;
  /** 1-based reconnect attempt the error belongs to. */
  attempt?: number;
  /** Number of queued messages that were never sent. */
  unsent?: number;
  /** Which side's close frame came first: "client" (ours), "server", or "network" (none). */
  closedBy?: "client" | "server" | "network";
  /**
   * The message (the body given to `send()`) that was dropped unsent: expired
   * (`ERR_QUEUE_EXPIRED`) or dropped to make room (`ERR_QUEUE_FULL` under `queue.overflow:
   * "drop-oldest"`).
   */
  message?: unknown;
}

/**
 * The error raised, thrown or reported by every part of evtwebsocket.
 *
 * @example
 * ```ts
 * try { await conn.request({ id: 1 }) }
 * catch (err) { if (isEvtWebSocketError(err) && err.code === "ERR_REQUEST_TIMEOUT") retry() }
 * ```
 */
export class EvtWebSocketError extends Error {
  /** Stable, machine-readable code; see {@link ErrorCode}. */
  readonly code: ErrorCode;
  /** Code-specific facts; empty when there are none. */
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "EvtWebSocketError";
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** `ERR_INVALID_OPTION` with `message`, which names the option (internal; one copy for every module that checks options). */
export function invalidOption(message: string, cause?: unknown): EvtWebSocketError {
  return new EvtWebSocketError(ErrorCode.INVALID_OPTION, message, { cause });
}

/** Shorthand for `new EvtWebSocketError(code, message, { cause })` (internal). */
export function evtError(code: ErrorCode, message: string, cause?: unknown): EvtWebSocketError {
  return new EvtWebSocketError(code, message, { cause });
}

/**
 * True when `value` is an {@link EvtWebSocketError}, optionally with the given code; with a
 * code, it narrows `value.code` to that code.
 *
 * @example
 * ```ts
 * if (isEvtWebSocketError(err, ErrorCode.QUEUE_FULL)) err.code; // "ERR_QUEUE_FULL"
 * ```
 */
export function isEvtWebSocketError<C extends ErrorCode = ErrorCode>(
  value: unknown,
  code?: C,
): value is EvtWebSocketError & {
  /** The code asked for (any code when none was). */
  readonly code: C;
} {
  return value instanceof EvtWebSocketError && (code === undefined || value.code === code);
}
