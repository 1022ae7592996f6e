/**
 * Options resolved: their defaults, and the one function that validates them.
 *
 * `resolveOptions()` turns what the user passed (the types in `options.ts`) into a fully
 * populated, checked object, or throws `ERR_INVALID_OPTION` naming the option. Checks that
 * depend on the transport (headers, protocol pings, `proxy` and `agent`) happen at `dial()`,
 * once the transport is known.
 *
 * Durations follow one rule, {@link duration}: whole ms from 0 to 2,147,483,647, the longest
 * a timer holds (Node fires a longer one after 1 ms, so `connectTimeoutMs: Infinity` used to
 * fail every dial within milliseconds). `Infinity` means "never" only where that has a
 * meaning: no timeout for `requestTimeoutMs`, `request()`'s `timeoutMs` and
 * `connectTimeoutMs`, no cap but the timer limit for `reconnect.maxDelayMs`.
 */

import type { Clock } from "./clock.js";
import { MAX_TIMER_MS, systemClock } from "./clock.js";
import { type Codec, raw } from "./codec.js";
import { invalidOption } from "./errors.js";
import type { ConnOptions, DisconnectInfo, QueueOverflow, ReconnectOptions } from "./options.js";

/** Reconnect policy with every default filled in. */
export interface ResolvedReconnect {
  enabled: boolean;
  minDelayMs: number;
  maxDelayMs: number;
  factor: number;
  jitter: number;
  maxAttempts: number;
  resetAfterMs: number;
  shouldReconnect: ((info: DisconnectInfo) => boolean) | undefined;
}

/** Options with every default filled in and every value checked. */
export interface ResolvedOptions<TIn, TOut> {
  requestTimeoutMs: number;
  reconnect: ResolvedReconnect;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  queue: { maxMessages: number; maxBytes: number; overflow: QueueOverflow; maxAgeMs: number };
  codec: Codec<TIn, TOut>;
  connectTimeoutMs: number;
  maxMessageBytes: number;
  maxPendingRequests: number;
  clock: Clock;
  lowWaterMark: number;
  highWaterMark: number;
}

/** An HTTP token (RFC 9110 5.6.2): what header names and subprotocols must be. */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Default values, in one place. */
export const DEFAULTS = {
  requestTimeoutMs: 30_000,
  minDelayMs: 1000,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Infinity,
  resetAfterMs: 5000,
  maxQueuedMessages: 1024,
  maxQueuedBytes: 1024 * 1024,
  connectTimeoutMs: 10_000,
  maxMessageBytes: 16 * 1024 * 1024,
  maxPendingRequests: 65_536,
  closeTimeoutMs: 3000,
  lowWaterMark: 64 * 1024,
  highWaterMark: 1024 * 1024,
} as const;

const invalid = invalidOption;

/** A bad value as a message shows it: strings quoted, the rest as `String()` gives them. */
export function shown(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function num(name: string, value: unknown, fallback: number, min = 0, max = Infinity): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= min && value <= max)) {
    throw invalid(`option ${name} must be a number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** Checks a count (messages, bytes, attempts, requests): a whole number from `min`, or `Infinity`. */
function count(name: string, value: unknown, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = value as number;
  if (n === Infinity || (Number.isInteger(n) && n >= min)) return n;
  throw invalid(`option ${name} must be a whole number from ${min} or Infinity, got ${shown(value)}`);
}

/**
 * Checks a duration in ms: a whole number from `min` to {@link MAX_TIMER_MS}, or `Infinity` when
 * `infinite` is true (the option has a "never"); `undefined` gives `fallback`. The one rule for
 * every duration option and for `request()`'s `timeoutMs`, so no timer is ever asked for a delay
 * the platform would turn into 1 ms.
 *
 * @param name - the option as the message names it.
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` naming the option.
 */
export function duration(name: string, value: unknown, fallback: number, min = 0, infinite = false): number {
  if (value === undefined) return fallback;
  const n = value as number;
  if (n === Infinity ? infinite : Number.isInteger(n) && n >= min && n <= MAX_TIMER_MS) return n;
  throw invalid(
    `option ${name} must be a whole number of ms from ${min} to ${MAX_TIMER_MS}${infinite ? " or Infinity" : ""}, got ${shown(value)}`,
  );
}

/**
 * Checks handshake headers: an object of HTTP token names and string values without CR, LF or
 * NUL. The one rule for fixed `headers` (at construction) and a headers function's result (per
 * attempt).
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` naming `headers` (never quoting a value: it is often a credential).
 */
export function checkHeaders(headers: unknown): Record<string, string> {
  if (typeof headers !== "object" || headers === null) {
    throw invalid("option headers must be an object of strings");
  }
  for (const [key, value] of Object.entries(headers)) {
    // A bad name or value would fail every handshake and be retried forever: refuse it now.
    if (!HTTP_TOKEN.test(key)) {
      throw invalid("option headers has a name that is not an HTTP token");
    }
    if (typeof value !== "string") throw invalid(`option headers.${key} must be a string`);
    // The value itself is never quoted: it is often a credential.
    // What Node's http accepts (tab, visible ASCII, Latin-1); anything else fails every handshake.
    if (/[^\t\x20-\x7e\x80-\xff]/.test(value))
      throw invalid(
        `option headers.${key} must not contain CR, LF, NUL, other control characters or characters beyond Latin-1`,
      );
  }
  return headers as Record<string, string>;
}

function fn(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "function") {
    throw invalid(`option ${name} must be a function, got ${typeof value}`);
  }
}

let defaultReconnect: ResolvedReconnect | undefined;
let noReconnect: ResolvedReconnect | undefined;
const DEFAULT_QUEUE: ResolvedOptions<unknown, unknown>["queue"] = Object.freeze({
  maxMessages: DEFAULTS.maxQueuedMessages,
  maxBytes: DEFAULTS.maxQueuedBytes,
  overflow: "reject",
  maxAgeMs: 0,
});
const NO_QUEUE: ResolvedOptions<unknown, unknown>["queue"] = Object.freeze({
  maxMessages: 0,
  maxBytes: 0,
  overflow: "reject",
  maxAgeMs: 0,
});

function overflow(value: unknown): QueueOverflow {
  if (value === undefined || value === "reject" || value === "drop-oldest") return value ?? "reject";
  throw invalid(`option queue.overflow must be "reject" or "drop-oldest", got ${shown(value)}`);
}

function resolveReconnect(value: ConnOptions["reconnect"]): ResolvedReconnect {
  if (value !== undefined && typeof value !== "boolean" && (typeof value !== "object" || value === null)) {
    throw invalid(`option reconnect must be a boolean or an object, got ${typeof value}`);
  }
  // Shared, frozen policies for the common cases: nothing per connection to allocate or keep.
  if (value === undefined || value === true) {
    defaultReconnect ??= Object.freeze(resolveReconnect({}));
    return defaultReconnect;
  }
  if (value === false) {
    noReconnect ??= Object.freeze({ ...resolveReconnect({}), enabled: false });
    return noReconnect;
  }
  const r: ReconnectOptions = value;
  fn("reconnect.shouldReconnect", r.shouldReconnect);
  const minDelayMs = duration("reconnect.minDelayMs", r.minDelayMs, DEFAULTS.minDelayMs);
  const maxDelayMs = duration(
    "reconnect.maxDelayMs",
    r.maxDelayMs,
    Math.max(DEFAULTS.maxDelayMs, minDelayMs),
    0,
    true,
  );
  if (maxDelayMs < minDelayMs) {
    throw invalid(`option reconnect.maxDelayMs (${maxDelayMs}) must not be below minDelayMs (${minDelayMs})`);
  }
  return {
    enabled: true,
    minDelayMs,
    maxDelayMs,
    factor: num("reconnect.factor", r.factor, DEFAULTS.factor, 1),
    jitter: num("reconnect.jitter", r.jitter, DEFAULTS.jitter, 0, 1),
    maxAttempts: count("reconnect.maxAttempts", r.maxAttempts, DEFAULTS.maxAttempts),
    resetAfterMs: duration("reconnect.resetAfterMs", r.resetAfterMs, DEFAULTS.resetAfterMs),
    shouldReconnect: r.shouldReconnect,
  };
}

/**
 * Validates `options` and fills in defaults.
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` naming the first bad option.
 */
export function resolveOptions<TIn, TOut>(options: ConnOptions<TIn, TOut>): ResolvedOptions<TIn, TOut> {
  if (typeof options !== "object" || options === null) throw invalid("options must be an object");
  for (const name of [
    "onConnected",
    "onMessage",
    "onError",
    "onClose",
    "onReconnecting",
    "matchMsg",
    "messageId",
    "isPong",
  ] as const) {
    fn(name, options[name]);
  }
  if (options.WebSocket !== undefined && typeof options.WebSocket !== "function") {
    throw invalid("option WebSocket must be a WebSocket constructor");
  }
  // A function's headers are checked per attempt, by the same rule (checkHeaders).
  if (options.headers !== undefined && typeof options.headers !== "function") checkHeaders(options.headers);
  if (options.tls !== undefined && (typeof options.tls !== "object" || options.tls === null)) {
    throw invalid("option tls must be an object");
  }
  const pingIntervalMs = duration("pingIntervalMs", options.pingIntervalMs, 0);
  const pongTimeoutMs = duration("pongTimeoutMs", options.pongTimeoutMs, pingIntervalMs);
  if (pingIntervalMs > 0 && pongTimeoutMs <= 0) {
    throw invalid("option pongTimeoutMs must be > 0 when pingIntervalMs is set");
  }
  const queueOption = options.queue;
  if (
    queueOption !== undefined &&
    queueOption !== false &&
    (typeof queueOption !== "object" || queueOption === null)
  ) {
    throw invalid("option queue must be false or an object");
  }
  const queue =
    queueOption === false
      ? NO_QUEUE
      : queueOption === undefined
        ? DEFAULT_QUEUE
        : {
            maxMessages: count("queue.maxMessages", queueOption.maxMessages, DEFAULTS.maxQueuedMessages),
            maxBytes: count("queue.maxBytes", queueOption.maxBytes, DEFAULTS.maxQueuedBytes),
            overflow: overflow(queueOption.overflow),
            maxAgeMs: duration("queue.maxAgeMs", queueOption.maxAgeMs, 0),
          };
  const codec = options.codec ?? (raw as unknown as Codec<TIn, TOut>);
  if (typeof codec.encode !== "function" || typeof codec.decode !== "function") {
    throw invalid("option codec must have encode() and decode() functions");
  }
  const clock = options.clock ?? systemClock;
  if (
    typeof clock.setTimeout !== "function" ||
    typeof clock.clearTimeout !== "function" ||
    typeof clock.now !== "function"
  ) {
    throw invalid("option clock must have setTimeout(), clearTimeout() and now()");
  }
  const { lowWaterMark, highWaterMark } = waterMarks(options.lowWaterMark, options.highWaterMark);
  return {
    requestTimeoutMs: duration(
      "requestTimeoutMs",
      options.requestTimeoutMs,
      DEFAULTS.requestTimeoutMs,
      0,
      true,
    ),
    reconnect: resolveReconnect(options.reconnect),
    pingIntervalMs,
    pongTimeoutMs,
    queue,
    codec,
    connectTimeoutMs: duration(
      "connectTimeoutMs",
      options.connectTimeoutMs,
      DEFAULTS.connectTimeoutMs,
      1,
      true,
    ),
    maxMessageBytes: count("maxMessageBytes", options.maxMessageBytes, DEFAULTS.maxMessageBytes, 1),
    maxPendingRequests: count(
      "maxPendingRequests",
      options.maxPendingRequests,
      DEFAULTS.maxPendingRequests,
      1,
    ),
    clock,
    lowWaterMark,
    highWaterMark,
  };
}

/** A whole number of bytes, 0 or more; `undefined` gives `fallback`. */
function bytes(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw invalid(`option ${name} must be a whole number of bytes (0 or more), got ${shown(value)}`);
  }
  return value as number;
}

function waterMarks(low: unknown, high: unknown): { lowWaterMark: number; highWaterMark: number } {
  const highWaterMark = bytes("highWaterMark", high, DEFAULTS.highWaterMark);
  const lowWaterMark = bytes("lowWaterMark", low, Math.min(DEFAULTS.lowWaterMark, highWaterMark));
  if (lowWaterMark > highWaterMark) {
    throw invalid(`option lowWaterMark (${lowWaterMark}) must not be above highWaterMark (${highWaterMark})`);
  }
  return { lowWaterMark, highWaterMark };
}
