/**
 * Options resolved: their defaults, and the one function that validates them.
 *
 * `resolveOptions()` turns what the user passed (the types in `options.ts`) into a fully
 * populated, checked object, or throws `ERR_INVALID_OPTION` naming the option; the rule for each
 * kind of value (durations, counts, headers, functions) is `option-checks.ts`'s. Checks that
 * depend on the transport (headers, protocol pings, `proxy` and `agent`) happen at `dial()`,
 * once the transport is known.
 */

import type { Clock } from "./clock.js";
import { systemClock } from "./clock.js";
import { type Codec, raw } from "./codec.js";
import { invalidOption as invalid } from "./errors.js";
import { bytes, checkHeaders, count, duration, fn, num, shown } from "./option-checks.js";
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
  // `new Conn(url)`, as reconnecting-websocket is built, is the likeliest mistake: say where the URL goes.
  if (typeof options !== "object" || options === null || Array.isArray(options) || options instanceof URL)
    throw invalid("options must be an object (the URL goes to dial())");
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

function waterMarks(low: unknown, high: unknown): { lowWaterMark: number; highWaterMark: number } {
  const highWaterMark = bytes("highWaterMark", high, DEFAULTS.highWaterMark);
  const lowWaterMark = bytes("lowWaterMark", low, Math.min(DEFAULTS.lowWaterMark, highWaterMark));
  if (lowWaterMark > highWaterMark) {
    throw invalid(`option lowWaterMark (${lowWaterMark}) must not be above highWaterMark (${highWaterMark})`);
  }
  return { lowWaterMark, highWaterMark };
}
