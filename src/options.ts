/**
 * Option types, their defaults, and the one function that validates them.
 *
 * `resolveOptions()` turns what the user passed into a fully populated, checked object, or
 * throws `ERR_INVALID_OPTION` naming the option. Checks that depend on the transport (headers,
 * protocol pings, `proxy` and `agent`) happen at `dial()`, once the transport is known.
 *
 * Durations follow one rule, {@link duration}: whole ms from 0 to 2,147,483,647, the longest
 * a timer holds (Node fires a longer one after 1 ms, so `connectTimeoutMs: Infinity` used to
 * fail every dial within milliseconds). `Infinity` means "never" only where that has a
 * meaning: no timeout for `requestTimeoutMs`, `request()`'s `timeoutMs` and
 * `connectTimeoutMs`, no cap but the timer limit for `reconnect.maxDelayMs`.
 */

import type { Clock } from "./clock.js";
import { MAX_TIMER_MS, systemClock } from "./clock.js";
import { type Codec, type Data, raw } from "./codec.js";
import { type EvtWebSocketError, invalidOption } from "./errors.js";
import type { Logger } from "./logger.js";
import type { MessageKey } from "./pending.js";
import type { WebSocketConstructorLike } from "./transport/types.js";
import type { HeadersFunction } from "./types.js";

/** Facts about a connection that ended, given to `onClose`. */
export interface CloseInfo {
  /** WebSocket close code; 1006 when the socket died without a closing handshake. */
  code: number;
  /** Close reason sent by the peer (or by `close()`), possibly empty. */
  reason: string;
  /** True when the closing handshake completed. */
  wasClean: boolean;
  /** True when the connection will try to come back. */
  willReconnect: boolean;
  /**
   * Which side started the closing handshake: `"client"` (our `close()`, a dead-peer verdict,
   * or our side failing the connection), `"server"` (its close frame came first), or
   * `"network"` (the socket ended with no close frame).
   */
  closedBy: "client" | "server" | "network";
}

/** Facts about an upcoming reconnect attempt, given to `onReconnecting`. */
export interface ReconnectingInfo {
  /** 1-based number of this retry. */
  attempt: number;
  /** How long the connection waits before dialling, in ms. */
  delayMs: number;
  /** Why the previous attempt or connection failed, when there was an error. */
  error?: EvtWebSocketError;
  /**
   * The wait the server asked for, in ms, when it set one: a handshake refused with 429 or 503
   * and a `Retry-After` (honoured up to 10 minutes; Node only), or a close with 1013 (5000, or
   * `maxDelayMs` if smaller). `delayMs` is then at least this, with jitter added, never taken off.
   */
  serverDelayMs?: number;
}

/** Given to `shouldReconnect`: why the last connection or attempt ended. */
export interface DisconnectInfo {
  /** WebSocket close code (1006 for a failed handshake or a dead socket). */
  code: number;
  /** Close reason, possibly empty. */
  reason: string;
  /** HTTP status of a refused handshake, where the runtime exposes it (Node). */
  status?: number;
  /**
   * HTTP status with which the `proxy` refused the tunnel (407, 403, 5xx); the server was never
   * reached. After a 407 the connection retries only when `shouldReconnect` returns true.
   */
  proxyStatus?: number;
}

/** Given to `"pong"` listeners. */
export interface PongInfo {
  /** Time from ping to pong in ms. */
  rttMs: number;
}

/**
 * Reconnect policy. Delay for attempt n:
 * `min(maxDelayMs, minDelayMs * factor^(n-1)) * (1 - jitter * random())`, never over 2,147,483,647 ms.
 */
export interface ReconnectOptions {
  /** Delay before the first retry, in whole ms (0 to 2,147,483,647), before jitter. @default 1000 */
  minDelayMs?: number;
  /**
   * Largest delay between two attempts, in whole ms (up to 2,147,483,647); `Infinity` leaves only
   * that limit, the longest a timer holds (about 24.8 days). @default 30000
   */
  maxDelayMs?: number;
  /** Growth of the delay per attempt. @default 2 */
  factor?: number;
  /** 0..1: share of each delay removed at random so many clients do not retry in lock-step. @default 0.5 */
  jitter?: number;
  /** Retries after a failure before giving up; a first dial makes at most `1 + maxAttempts` handshakes. @default Infinity */
  maxAttempts?: number;
  /**
   * The backoff starts over only after a connection stayed open this long, in whole ms (0 to
   * 2,147,483,647). @default 5000
   */
  resetAfterMs?: number;
  /**
   * Decides whether to reconnect after a close the user did not ask for. Return false to stop.
   *
   * @example
   * ```ts
   * shouldReconnect: ({ code, status }) => code !== 4001 && status !== 401
   * ```
   */
  shouldReconnect?(info: DisconnectInfo): boolean;
}

/** Limits of the queue that holds sends made while the connection is not open. */
export interface QueueOptions {
  /** Most messages held. @default 1024 */
  maxMessages?: number;
  /** Most bytes held (UTF-8 size of text frames plus binary sizes). @default 1048576 (1 MiB) */
  maxBytes?: number;
  /**
   * What a send that does not fit does: `"reject"` throws `ERR_QUEUE_FULL` to its caller and
   * drops nothing; `"drop-oldest"` makes room by dropping the oldest queued plain messages
   * (never requests), each reported to `onError` as `ERR_QUEUE_FULL` with the message in
   * `details.message`, and refuses as `"reject"` does only when dropping every plain message
   * would not make room.
   * @default "reject"
   */
  overflow?: QueueOverflow;
  /**
   * The longest a plain message may wait in the queue, in whole ms (0 to 2,147,483,647); when
   * it passes the message is dropped and reported to `onError` as `ERR_QUEUE_EXPIRED` (the
   * message in `details.message`). A message's own `maxAgeMs` overrides it. Requests keep
   * their own timeout instead. 0: no limit.
   * @default 0
   */
  maxAgeMs?: number;
}

/** What a full queue does with one more message; see {@link QueueOptions.overflow}. */
export type QueueOverflow = "reject" | "drop-oldest";

/**
 * Options of a {@link Conn}. Every one is optional.
 *
 * @typeParam TIn - the type of received messages after decoding.
 * @typeParam TOut - the type of messages given to `send()` and `request()`.
 */
export interface ConnOptions<TIn = Data, TOut = Data, C = unknown> {
  /**
   * Called every time a connection opens; queued messages are sent after it (and after its
   * promise settles, when it returns one). Any other return value is ignored, so
   * `onConnected: (c) => c.send("subscribe")` is fine.
   */
  onConnected?(conn: C): unknown;
  /** Called for every message that did not settle a pending request and is not a pong. */
  onMessage?(msg: TIn, conn: C): void;
  /** Called for every error that is not thrown or rejected to a caller. */
  onError?(err: EvtWebSocketError, conn: C): void;
  /** Called once for every connection that was open, when it ends. */
  onClose?(info: CloseInfo, conn: C): void;
  /** Called at the start of every backoff wait. */
  onReconnecting?(info: ReconnectingInfo, conn: C): void;

  /**
   * The Go original's matcher: true when `resp` answers `req`. Pending requests without an id are
   * tried oldest first.
   *
   * @example
   * ```ts
   * matchMsg: (req, resp) => resp.startsWith(`${req}:`)
   * ```
   */
  matchMsg?(req: TOut, resp: TIn): boolean;
  /**
   * Extracts a request/response id for O(1) matching; return undefined for messages without one.
   *
   * @example
   * ```ts
   * messageId: (msg) => msg.id
   * ```
   */
  messageId?(msg: TIn | TOut): MessageKey | undefined;
  /**
   * How long a request waits for its response, in whole ms (up to 2,147,483,647); 0 or
   * `Infinity` waits forever (no timer at all). @default 30000
   */
  requestTimeoutMs?: number;

  /** Reconnect after closes the user did not ask for; `false` turns it off. @default true */
  reconnect?: boolean | ReconnectOptions;

  /**
   * Send a ping when this many ms pass without sending or without receiving (whole ms, up to
   * 2,147,483,647); 0 turns the heartbeat off. Pings keep to a grid shared by every connection
   * (the largest whole divisor of the interval up to a sixteenth of it; none when that is below
   * a 64th), so they are never late and at most one step early, and idle connections share their
   * wake-ups. @default 0
   */
  pingIntervalMs?: number;
  /** The ping message; absent means a protocol ping frame (Node's `ws` only). A function is called per ping. */
  pingMsg?: TOut | (() => TOut);
  /**
   * After a ping, how long to wait for any inbound data before declaring the connection dead, in
   * whole ms (1 to 2,147,483,647 when the heartbeat is on). @default pingIntervalMs
   */
  pongTimeoutMs?: number;
  /** Recognises replies to `pingMsg`: they never reach `onMessage` and give the round-trip time. */
  isPong?(msg: TIn): boolean;

  /** Queue for sends made while not open; `false` makes such sends fail with `ERR_QUEUE_FULL`. @default { maxMessages: 1024, maxBytes: 1 MiB, overflow: "reject", maxAgeMs: 0 } */
  queue?: false | QueueOptions;

  /** Converts messages to frames and back; `json()` for JSON text frames. @default raw (strings and Uint8Array) */
  codec?: Codec<TIn, TOut>;
  /** A WHATWG `WebSocket` constructor to use instead of the default transport (`ws` on Node, the global one elsewhere). */
  WebSocket?: WebSocketConstructorLike;
  /**
   * Extra HTTP headers for the opening handshake (Node only; elsewhere `dial()` rejects
   * `ERR_INVALID_OPTION`): fixed, or a function called (and awaited) once per attempt, so a
   * token that expired is never sent again. See {@link HeadersFunction}.
   *
   * @example
   * ```ts
   * headers: async ({ attempt }) => ({ authorization: `Bearer ${await getToken({ fresh: attempt > 0 })}` })
   * ```
   */
  headers?: Record<string, string> | HeadersFunction;
  /**
   * TLS settings for `wss:` (Node only). Certificates are verified by default; a failed
   * verification is never retried. `rejectUnauthorized: false` accepts any certificate and
   * emits a one-time process warning.
   *
   * @example
   * ```ts
   * tls: { ca: readFileSync("dev-ca.pem") }
   * ```
   */
  tls?: TlsOptions;
  /**
   * An HTTP proxy to reach the server through (Node only; elsewhere `dial()` rejects
   * `ERR_INVALID_OPTION`): `"http://[user:password@]host:port"`, or `"env"` to read
   * `HTTPS_PROXY`/`https_proxy` (for `wss:`), `HTTP_PROXY`/`http_proxy` (for `ws:`) and
   * `NO_PROXY`/`no_proxy` the way curl does, on every attempt. Both `ws:` and `wss:` go through an
   * HTTP `CONNECT` tunnel; for `wss:` TLS runs to the server inside it, verified against the
   * server's name, with the `tls` settings. A refusal rejects the attempt with `ERR_DIAL_FAILED`
   * and `details.proxyStatus`; after a 407 only `shouldReconnect` returning true retries.
   * Credentials are never shown in an error or event. Ignored when `agent` is given. A value
   * that is neither `"env"` nor an `http://` URL rejects `dial()` with `ERR_INVALID_OPTION`
   * (percent-encode `@ : / ? #` in a user name or password).
   * @default undefined (no proxy, as in `ws` and Node's `fetch`)
   *
   * @example
   * ```ts
   * proxy: "http://user:secret@proxy.corp:3128"
   * ```
   */
  proxy?: string;
  /**
   * A Node `http.Agent` that opens the connection's socket (Node only), for what `proxy` does not
   * do: `socks-proxy-agent`, `https-proxy-agent`, `proxy-agent` with PAC files. Typed as `object`
   * so browser builds need no Node types. @default undefined
   *
   * @example
   * ```ts
   * agent: new SocksProxyAgent("socks5://127.0.0.1:1080")
   * ```
   */
  agent?: object;
  /** Most requests pending at once; over it `request()` rejects `ERR_TOO_MANY_PENDING`. @default 65536 */
  maxPendingRequests?: number;
  /**
   * Deadline for each opening handshake, in whole ms (1 to 2,147,483,647), and for the promise
   * of a URL or headers function (one that never settles fails its attempt with
   * `ERR_CONNECT_TIMEOUT`); `Infinity` waits as long as the network does (no timer at all).
   * @default 10000
   */
  connectTimeoutMs?: number;
  /** Largest incoming message accepted, in bytes (enforced by the `ws` transport, which closes with 1009). @default 16777216 (16 MiB) */
  maxMessageBytes?: number;
  /** Timer functions; inject a fake clock in tests. @default the global timers and `performance.now()` */
  clock?: Clock;
  /**
   * Where to log the connection's life, one line per event (`evtwebsocket[c1] open …`):
   * `console`, pino, winston, or any object with `debug`, `info`, `warn` and `error`. URLs show
   * scheme, host and port only; message bodies and headers are never logged. See
   * docs/observability.md. @default none (silent)
   *
   * @example
   * ```ts
   * logger: console
   * ```
   */
  logger?: Logger;
  /**
   * `drained()` resolves once the socket's buffered amount is at or under this many bytes, and
   * the `"drain"` event fires when it falls back under it (whole bytes, 0 to `highWaterMark`).
   * @default 65536 (64 KiB), or `highWaterMark` when that is smaller
   */
  lowWaterMark?: number;
  /**
   * The `"drain"` event fires only after the buffered amount rose above this many bytes (whole
   * bytes, at least `lowWaterMark`). @default 1048576 (1 MiB)
   */
  highWaterMark?: number;
}

/** TLS settings passed to Node's `tls.connect` by the `ws` transport. */
export interface TlsOptions {
  /** Trusted CA certificates (PEM), replacing Node's default list. */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** Client certificate (PEM) for mutual TLS. */
  cert?: string | Uint8Array;
  /** Client private key (PEM) for mutual TLS. */
  key?: string | Uint8Array;
  /** Passphrase of `key`. */
  passphrase?: string;
  /** Server name for SNI and certificate checks, when it differs from the URL's host. */
  servername?: string;
  /** `false` accepts any certificate (development only; warns once). @default true */
  rejectUnauthorized?: boolean;
}

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
  if (typeof clock.setTimeout !== "function" || typeof clock.now !== "function") {
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
