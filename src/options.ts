/**
 * The option types of `Conn`, with their TSDoc and defaults: what a user may pass. What they
 * resolve to, and the checks, are `resolve-options.ts`'s.
 */

import type { Clock } from "./clock.js";
import type { Codec, Data, Sendable } from "./codec.js";
import type { Conn } from "./conn.js";
import type { EvtWebSocketError } from "./errors.js";
import type { Logger } from "./logger.js";
import type { MessageKey } from "./pending-registry.js";
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
 * `T`, in a place TypeScript does not infer `T` from: `pingMsg` is checked against the codec's
 * `TOut` instead of widening it (`{ op: string }` would let `send()` take any `op`). The
 * built-in `NoInfer` does this from TypeScript 5.4, and misjudges a union there; this form
 * works from 5.0.
 */
type NotInferred<T> = [T][T extends unknown ? 0 : never];

/**
 * Options of a {@link Conn}. Every one is optional.
 *
 * @typeParam TIn - the type of received messages after decoding.
 * @typeParam TOut - the type of messages given to `send()` and `request()`.
 * @typeParam C - the connection the `on*` callbacks get last: the `Conn` these options make
 *   (a `SharedConn` for `createSharedConn`).
 */
export interface ConnOptions<TIn = Data, TOut = Sendable, C = Conn<TIn, TOut>> {
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
  pingMsg?: NotInferred<TOut> | (() => NotInferred<TOut>);
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
   * emits a one-time process warning. Node's other TLS settings (`minVersion`,
   * `checkServerIdentity`, …) pass through; ws's own options (`followRedirects`,
   * `perMessageDeflate`, `generateMask`, …) and Node's `http.request` ones (`auth`, `setHost`,
   * …) are refused with `ERR_INVALID_OPTION`.
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
   * so browser builds need no Node types. One Node refuses for the URL's scheme (an `http.Agent`
   * for `wss:`) ends the dial with `ERR_INVALID_OPTION`, never retried. @default undefined
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
  /**
   * Largest incoming message accepted, in bytes (enforced by the `ws` transport, which closes with
   * 1009; values above 2,147,483,647, the largest ws can bound, act as that). @default 16777216 (16 MiB)
   */
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
