/**
 * What one model run is configured with, and the actions a script (or an armed callback) can
 * take on the connection.
 */

import fc from "fast-check";

/** The connection's options for one run, drawn at random. */
export interface ModelConfig {
  /** "json": `json()` codec, `messageId: m => m.id`; "raw": strings, `matchMsg`. */
  codec: "json" | "raw";
  /**
   * false, or a policy without jitter (delays must replay exactly); `ask`: a shouldReconnect
   * that refuses close code 4000 (and is a callback an action can be armed in).
   */
  reconnect:
    | false
    | { minDelayMs: number; maxDelayMs: number; maxAttempts: number; resetAfterMs: number; ask: boolean };
  /** 0 turns the heartbeat off. */
  pingIntervalMs: number;
  pongTimeoutMs: number;
  /** Protocol ping frames, or a `pingMsg` answered by messages `isPong` recognises. */
  pingMode: "protocol" | "message";
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** The default queue, none (`queue: false`), or a small one (3 messages, 200 bytes). */
  queue: "default" | "off" | "small";
  /** `queue.overflow` (for "default" and "small"). */
  overflow: "reject" | "drop-oldest";
  /** `queue.maxAgeMs` (for "default" and "small"); 0: none. */
  queueMaxAgeMs: number;
  /** Most requests pending at once (`maxPendingRequests`). */
  maxPendingRequests: number;
  /** onConnected returns a promise (the queue waits for it). */
  connectedPromise: boolean;
  /**
   * The `headers` option: none, a function that answers at once, or one whose promise is held
   * until a command releases it (resolved, rejected, or with invalid headers): every attempt's
   * preparation then spans commands, so close(), dial() and time land in the middle of it.
   */
  headers: "none" | "fn" | "held";
  /**
   * The default water marks (every frame leaves at once), or small ones (low 0, high 16 bytes)
   * with frames held in the socket until a `writeOut` move: drained() then waits, and a
   * "drain" listener (one is added) hears the buffer fall back.
   */
  waterMarks: "default" | "small";
  /**
   * false: the sockets cannot pause reading (as a WHATWG socket), and a full `messages()`
   * iterator ends with ERR_QUEUE_FULL. Otherwise they can (as `ws`'s): a full iterator pauses
   * them, and what the peer sends waits until it catches up; the run then starts with an
   * iterator of this `bufferSize`, read only by the script's `next()` calls, so reading pauses
   * often and resumes as the script reads.
   */
  pausable: false | { bufferSize: number };
  /** Timers fire up to this many ms late (0: on time). */
  maxLateMs: number;
  clockSeed: number;
}

/** Where dial() gets its URL. */
export type UrlKind =
  | "ws://a/"
  | "ws://b/path"
  | "fn"
  | "async-fn"
  | "throwing-fn"
  | "invalid-fn"
  | "invalid";

/** The subprotocols offered to dial(). */
export type Subprotocols = "none" | "p1" | "p1,p2";

export type RequestTimeout = "default" | 0 | 50 | 1000;

/** Something the script or an armed callback does to the connection. */
export type Action =
  | { kind: "dial"; url: UrlKind; sub: Subprotocols }
  | {
      kind: "send";
      wide: boolean;
      /** Per-message options: none (plain `send(body)`), or some of them. */
      volatile: boolean;
      /** "shared": the run's one signal, given to several sends until it aborts. */
      signal: "none" | "signal" | "shared" | "aborted";
      maxAgeMs: "default" | 0 | 50 | 1000;
    }
  | { kind: "sendCb"; dup: boolean }
  | {
      kind: "request";
      timeout: RequestTimeout;
      /** "shared": the run's one request signal, given to several requests until it aborts. */
      signal: "none" | "signal" | "shared" | "aborted";
      retry: boolean;
      dup: boolean;
      noId: boolean;
    }
  | { kind: "close"; code: number; reason: string }
  | { kind: "reconnect"; code: number }
  | { kind: "ping" }
  | { kind: "drained" }
  /** `again`: next() once more on the run's previous iterator (its last next() may still wait). */
  | { kind: "next"; bufferSize: number; again: boolean }
  /** `return()` on the run's previous iterator (a `break` out of its loop). */
  | { kind: "return" }
  /** Aborts the signal of an unsettled request, or of a send (`pick` chooses which). */
  | { kind: "abort"; what: "request" | "send"; pick: number };

/** The callbacks an action can be armed in. */
export type CallbackEvent =
  | "connected"
  | "message"
  | "error"
  | "close"
  | "reconnecting"
  | "state"
  | "pong"
  | "drain"
  | "sendCallback"
  | "shouldReconnect"
  | "matcher"
  | "log"
  | "sent";

export const CALLBACK_NAMES: Record<CallbackEvent, string> = {
  connected: "onConnected",
  message: "onMessage",
  error: "onError",
  close: "onClose",
  reconnecting: "onReconnecting",
  state: "on('state')",
  pong: "on('pong')",
  drain: "on('drain')",
  sendCallback: "send callback",
  shouldReconnect: "shouldReconnect",
  matcher: "messageId/matchMsg",
  log: "the logger",
  sent: "a message:sent subscriber",
};

/** An action as a line of script. */
export function describeAction(a: Action): string {
  switch (a.kind) {
    case "dial": {
      const url = a.url.startsWith("ws://") || a.url === "invalid" ? JSON.stringify(urlText(a.url)) : a.url;
      return `dial(${url}${a.sub === "none" ? "" : `, ${JSON.stringify(a.sub.split(","))}`})`;
    }
    case "send":
      return `send(s${a.wide ? ", non-ASCII" : ""}${describeSendOptions(a)})`;
    case "sendCb":
      return a.dup ? "send(q, cb) reusing a pending id" : "send(q, cb)";
    case "request": {
      const parts: string[] = [];
      if (a.timeout !== "default") parts.push(`timeoutMs: ${a.timeout}`);
      if (a.signal === "signal") parts.push("signal");
      if (a.signal === "shared") parts.push("signal: shared");
      if (a.signal === "aborted") parts.push("signal: already aborted");
      if (a.retry) parts.push("retryOnReconnect");
      if (a.dup) parts.push("id of a pending request");
      if (a.noId) parts.push("no id");
      return `request(q${parts.length > 0 ? `, { ${parts.join(", ")} }` : ""})`;
    }
    case "close":
      return `close(${a.code}${a.reason === "" ? "" : `, ${JSON.stringify(a.reason)}`})`;
    case "reconnect":
      return `reconnect(${a.code})`;
    case "ping":
      return "ping()";
    case "drained":
      return "drained()";
    case "next":
      return a.again ? "the previous iterator's next()" : `messages({ bufferSize: ${a.bufferSize} }).next()`;
    case "return":
      return "the previous iterator's return()";
    case "abort":
      return `abort(${a.what === "request" ? "an unsettled request's" : "a send's"} signal, pick ${a.pick})`;
  }
}

/** The options of a send as script text: "" for a plain `send(body)`. */
export function describeSendOptions(a: Action & { kind: "send" }): string {
  const parts: string[] = [];
  if (a.volatile) parts.push("volatile");
  if (a.signal === "signal") parts.push("signal");
  if (a.signal === "shared") parts.push("signal: shared");
  if (a.signal === "aborted") parts.push("signal: already aborted");
  if (a.maxAgeMs !== "default") parts.push(`maxAgeMs: ${a.maxAgeMs}`);
  return parts.length === 0 ? "" : `, { ${parts.join(", ")} }`;
}

/** The URL string of a fixed URL kind. */
export function urlText(kind: UrlKind): string {
  return kind === "invalid" ? "ftp://x/" : kind;
}

const weighted = <T>(...pairs: [number, T][]): fc.Arbitrary<T> =>
  fc.oneof(...pairs.map(([weight, value]) => ({ weight, arbitrary: fc.constant(value) })));

export const configArb: fc.Arbitrary<ModelConfig> = fc.record({
  codec: fc.constantFrom<ModelConfig["codec"]>("json", "raw"),
  reconnect: fc.oneof(
    { weight: 1, arbitrary: fc.constant(false as const) },
    {
      weight: 3,
      arbitrary: fc
        .record({
          minDelayMs: fc.constantFrom(10, 100, 1000),
          maxDelayMs: fc.constantFrom(100, 2000, 30_000),
          maxAttempts: fc.constantFrom(0, 1, 3, Number.POSITIVE_INFINITY),
          resetAfterMs: fc.constantFrom(0, 5000),
          ask: fc.boolean(),
        })
        .map((r) => ({ ...r, maxDelayMs: Math.max(r.minDelayMs, r.maxDelayMs) })),
    },
  ),
  pingIntervalMs: weighted([2, 0], [1, 100], [1, 1000], [1, 5000]),
  pongTimeoutMs: fc.constantFrom(50, 1000, 5000),
  pingMode: fc.constantFrom<ModelConfig["pingMode"]>("protocol", "message"),
  requestTimeoutMs: fc.constantFrom(0, 100, 2000, 30_000),
  connectTimeoutMs: fc.constantFrom(100, 10_000),
  queue: weighted<ModelConfig["queue"]>([3, "default"], [1, "off"], [1, "small"]),
  overflow: weighted<ModelConfig["overflow"]>([2, "reject"], [1, "drop-oldest"]),
  queueMaxAgeMs: weighted([3, 0], [1, 100], [1, 2000]),
  maxPendingRequests: weighted([4, 65_536], [1, 2]),
  connectedPromise: weighted([3, false], [1, true]),
  headers: weighted<ModelConfig["headers"]>([4, "none"], [1, "fn"], [2, "held"]),
  waterMarks: weighted<ModelConfig["waterMarks"]>([2, "default"], [1, "small"]),
  pausable: fc.oneof(
    { weight: 1, arbitrary: fc.constant(false as const) },
    { weight: 1, arbitrary: fc.record({ bufferSize: fc.constantFrom(1, 2, 4) }) },
  ),
  maxLateMs: weighted([3, 0], [1, 5], [1, 100], [1, 2000]),
  clockSeed: fc.integer({ min: 0, max: 0x7fffffff }),
});

export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("dial" as const),
      url: weighted<UrlKind>(
        [10, "ws://a/"],
        [3, "ws://b/path"],
        [2, "fn"],
        [2, "async-fn"],
        [1, "throwing-fn"],
        [1, "invalid-fn"],
        [1, "invalid"],
      ),
      sub: weighted<Subprotocols>([4, "none"], [1, "p1"], [1, "p1,p2"]),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("send" as const),
      wide: weighted([4, false], [1, true]),
      volatile: weighted([4, false], [1, true]),
      signal: weighted<"none" | "signal" | "shared" | "aborted">(
        [5, "none"],
        [2, "signal"],
        [2, "shared"],
        [1, "aborted"],
      ),
      maxAgeMs: weighted<"default" | 0 | 50 | 1000>([4, "default"], [1, 0], [1, 50], [1, 1000]),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("sendCb" as const), dup: weighted([8, false], [1, true]) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("request" as const),
      timeout: weighted<RequestTimeout>([3, "default"], [1, 0], [1, 50], [1, 1000]),
      signal: weighted<"none" | "signal" | "shared" | "aborted">(
        [3, "none"],
        [2, "signal"],
        [2, "shared"],
        [1, "aborted"],
      ),
      retry: fc.boolean(),
      dup: weighted([8, false], [1, true]),
      noId: weighted([12, false], [1, true]),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("close" as const),
      code: fc.constantFrom(1000, 3000, 4999),
      reason: fc.constantFrom("", "bye"),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("reconnect" as const), code: fc.constantFrom(1000, 4000) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "ping" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "drained" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("next" as const),
      bufferSize: fc.constantFrom(1, 2, 1024),
      again: weighted([1, false], [2, true]),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "return" as const }) },
);

/**
 * What a callback can be armed with: any action, or an abort (of a request's signal or a send's),
 * so an abort lands inside a callback: in the matcher while a response is being matched, in
 * onMessage just before a response in the same burst, in onError while requests time out.
 */
export const armedActionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: actionArb },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("abort" as const),
      what: fc.constantFrom<"request" | "send">("request", "send"),
      pick: fc.nat(7),
    }),
  },
);
