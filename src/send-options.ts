/**
 * What `send()` reports, and the options of one plain message: their types and the one function
 * that checks them.
 *
 * Checking happens only when options are given: a plain `send(body)` never comes here, so the
 * hot path allocates nothing and reads no clock. What the options do (drop, expire, abort) is
 * the outbox's business; this module only validates them and fills in `queue.maxAgeMs`.
 */

import { invalidOption } from "./errors.js";
import { bool, duration, optionsOf, shown } from "./option-checks.js";
import type { RequestOptions } from "./types.js";

/**
 * What `send()` did with a message:
 * - `"sent"`: handed to the open socket (`bufferedAmount` says whether it has left the machine yet);
 * - `"queued"`: waiting in the outgoing queue for the connection to open;
 * - `"dropped"`: a `volatile` message while the connection was not open; it is gone, and nothing
 *   is reported.
 *
 * A message `send()` refuses is not a result: it throws (`ERR_CLOSED`, `ERR_QUEUE_FULL`, …).
 */
export type SendResult = "sent" | "queued" | "dropped";

/**
 * Options of one plain message: `send(body, options)`. A message that wants a response is a
 * request: use `request()` (or the callback form, `send(body, callback)`); these options do not
 * apply to requests, which have their own timeout.
 *
 * @example
 * ```ts
 * conn.send(cursor, { volatile: true });                 // now or never
 * conn.send(order, { maxAgeMs: 5000, signal: ac.signal }); // at most 5 s in the queue
 * ```
 */
export interface SendOptions {
  /**
   * Send only if the connection is open now; otherwise drop the message quietly and return
   * `"dropped"`. For cursor positions and game state, where a stale message is worse than none.
   * @default false
   */
  volatile?: boolean;
  /**
   * Aborting it removes the message from the queue (and frees its bytes) if it is still
   * queued; once sent it changes nothing. An already-aborted signal makes `send()` throw
   * `ERR_ABORTED`, as `request()` does.
   */
  signal?: AbortSignal;
  /**
   * The longest the message may wait in the queue, in whole ms (0 to 2,147,483,647); when it
   * passes the message is dropped and reported to `onError` as `ERR_QUEUE_EXPIRED`, with the
   * message in `details.message`. 0: no limit for this message.
   * @default the `queue.maxAgeMs` option (no limit unless set)
   */
  maxAgeMs?: number;
}

/** Send options checked, with `maxAgeMs` filled in (internal). */
export interface ResolvedSend {
  volatile: boolean;
  signal: AbortSignal | undefined;
  maxAgeMs: number;
}

/**
 * `signal`, checked: `ERR_INVALID_OPTION` naming `fn` (`"send()"`, `"request()"`) unless it is
 * undefined or an `AbortSignal`.
 */
export function signalOption(signal: unknown, fn: string): AbortSignal | undefined {
  const s = signal as AbortSignal | undefined;
  // An AbortSignal of this realm or another (an iframe's, a polyfill's): what is used of it
  // (null is an object without it).
  if (
    s !== undefined &&
    !(
      typeof s === "object" &&
      typeof s?.aborted === "boolean" &&
      typeof s.addEventListener === "function" &&
      typeof s.removeEventListener === "function"
    )
  )
    throw invalidOption(`option signal of ${fn} must be an AbortSignal`);
  return s;
}

/**
 * Checks the options of one `send()`.
 *
 * @param defaultMaxAgeMs - `queue.maxAgeMs`, for a message that gives no `maxAgeMs`.
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` naming the option.
 */
export function resolveSendOptions(value: unknown, defaultMaxAgeMs: number): ResolvedSend {
  if (typeof value !== "object" || value === null) {
    throw invalidOption(
      `send(): the second argument must be a callback or an options object, got ${shown(value)}`,
    );
  }
  const o = value as SendOptions;
  return {
    volatile: bool("volatile of send()", o.volatile),
    signal: signalOption(o.signal, "send()"),
    maxAgeMs: duration("maxAgeMs of send()", o.maxAgeMs, defaultMaxAgeMs),
  };
}

/** Request options checked, with `timeoutMs` filled in (internal). */
export interface ResolvedRequest {
  timeoutMs: number;
  signal: AbortSignal | undefined;
  retryOnReconnect: boolean;
}

/**
 * Checks the options of one `request()` (Conn's, and a shared connection's follower's, so the
 * two refuse the same values with the same words).
 *
 * @param defaultTimeoutMs - `requestTimeoutMs`, for a request that gives no `timeoutMs`.
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` naming the option.
 */
export function resolveRequestOptions(value: unknown, defaultTimeoutMs: number): ResolvedRequest {
  const o = optionsOf<RequestOptions>("request()", value);
  return {
    timeoutMs: duration("timeoutMs of request()", o.timeoutMs, defaultTimeoutMs, 0, true),
    signal: signalOption(o.signal, "request()"),
    retryOnReconnect: bool("retryOnReconnect of request()", o.retryOnReconnect),
  };
}
