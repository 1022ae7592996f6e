/**
 * The contract the model checks, one named property per rule, and which of them are still
 * waiting for a fix on main (skipped unless MODEL_STRICT=1).
 */

/**
 * Every rule the model checks (books.ts, harness.ts), by the name a violation reports. "Sent"
 * means accepted by the transport (`send` returned a byte count); a request "settles" when its
 * promise settles, its callback is called, or (send with a callback) its failure reaches onError.
 */
export const PROPERTIES = {
  "settle-once": "a request or send callback settles at most once, with its own response",
  "request-settles": "every request and send callback settles",
  "request-deadline": "a request with a timeout settles by its deadline",
  "not-early":
    "no timeout comes before its time, though timers fire early: a request's timeoutMs, the handshake's connectTimeoutMs, and pongTimeoutMs since the socket last received anything or resumed reading (never while reading is paused)",
  "starved-answer":
    "an answer that came in time counts though the process was frozen past the deadline and its timer ran before the socket was read: the request resolves with it (never ERR_REQUEST_TIMEOUT), the handshake is not ended by the connect timeout, a closing socket is not ended by the close timeout, an open socket whose ping was still in time is not ended as dead by the heartbeat",
  "retry-on-reconnect":
    "a request goes out once (retryOnReconnect: once per connection) and fails with ERR_DISCONNECTED under retryOnReconnect only when the connection ends for good",
  "drop-settles":
    "a request (without retryOnReconnect) whose frame went out on a socket settles once that socket's end is told (onClose): it is not left waiting on a dead socket",
  "dial-settles": "every dial() promise settles",
  "close-settles": "every close() promise settles",
  "close-promise": "close() returns a promise",
  reconnect:
    "reconnect() is taken while the connection is dialled, and refused with ERR_CLOSED only while idle or closed",
  "dial-outcome":
    "a rejected dial() leaves the connection closed; the connection opens only for a live dial()",
  "state-machine": "the state moves only along the state machine",
  "state-announced": "every state change is announced, and conn.state agrees with the announcements",
  "onclose-state": "inside onClose, isConnected() is false and the state says whether it reconnects",
  "close-errors":
    "an end we did not ask for is reported once as ERR_DISCONNECTED with its close code (1007/1008/1009 from the peer: it refused a message of ours); a clean close is no error",
  "close-events":
    "every connection that opened gets one onClose when it ends, with the code and side it ended by",
  "callback-state": "inside onConnected the connection is open; inside onReconnecting it is not",
  "quiet-after-close": "no event follows close()'s resolution until a new dial()",
  "one-socket": "at most one socket is live at any time",
  "attempt-context":
    "the headers function is told the attempt onReconnecting announced (0 for the first attempt of a dial())",
  "server-delay":
    "after a wait the server set (Retry-After on a handshake's or a proxy's 429/503, a 1013 close; read from what the transport reported), the next socket opens no sooner than that wait, unless a dial() or close() came since",
  "stale-attempt":
    "an attempt whose headers were still being prepared when close() was called opens no socket, and the headers function is called once per attempt",
  "hidden-no-attempt":
    "after pagehide (persisted) no attempt begins (no URL or headers function is called) until pageshow, reconnect() or dial(); an attempt whose URL function ran at the hide goes on",
  "shown-dials-now":
    "after pageshow (persisted) on a connection waiting to reconnect, with no socket of ours live or closing, no attempt being prepared and no wait the server set, an attempt begins at once: the backoff does not stand",
  "close-closes": "close() leaves the connection closed",
  "close-bounded": "a closing socket ends within the close timeout",
  liveness:
    "with the heartbeat on, a silent open socket is dropped within pingIntervalMs + pongTimeoutMs of the last thing received plus the lateness of its three timers; within 2 x (pingIntervalMs + pongTimeoutMs) plus four timers' lateness when timers are later than either",
  "close-ends": "a closed connection keeps no socket open",
  "queue-after-connected": "queued messages are sent after onConnected and its promise",
  "send-accounting": "every send is sent, queued, dropped (volatile), aborted or reported, exactly once",
  "send-result":
    'send() says what it did: "sent" only when the transport accepted the message, "dropped" only for a volatile send (never sent afterwards), "queued" never for a volatile send',
  "delivery-once":
    "every queued message ends one way only: sent, reported by key (ERR_QUEUE_EXPIRED, or ERR_QUEUE_FULL when dropped as oldest; never a request), removed by its abort, or counted unsent when the connection ended",
  "send-expiry":
    "a queued message with maxAgeMs is never sent at or after its deadline, and has left the queue by its deadline plus the lateness of its timer",
  stats: "stats.messagesSent/bytesSent agree with the frames the transport accepted",
  "signal-listeners":
    "a signal holds one abort listener per unsettled request given it, and one more only while a plain message given it may be queued; none once the connection is closed",
  timers: "no timer is alive after close() resolved and every socket ended",
  "stale-ignored": "events from a socket that ended change nothing",
  "proxy-407":
    "after a proxy's 407 no socket opens until the next dial(), unless shouldReconnect is there to say yes",
  "drained-settles":
    "a drained() settles once its queue is empty and nothing of ours waits to leave: the connection is not open, or its socket holds nothing unwritten",
  "stream-bounded":
    "where sockets can pause, a messages() iterator holds at most bufferSize + 1 unread messages while its socket is open: the message that fills it pauses reading",
  "stream-paused":
    "a socket stays paused only while some live messages() iterator holds more than half its bufferSize unread (break, return() and the end of the connection release it)",
  "waits-settle":
    "every drained() promise and every messages() next() settles once the connection is closed (close() settles them)",
  "transport-use": "the connection uses the transport within its contract and never throws unexpectedly",
  "log-lines":
    "the logger tells the connection's life as its callbacks do: an open line before each onConnected, and one close line before each onClose, with its code, willReconnect and closedBy",
} as const;

export type PropertyName = keyof typeof PROPERTIES;

/**
 * Properties that fail on main until the lead's fixes land, skipped unless MODEL_STRICT=1 (or
 * `npm run model` without --lenient). Empty this once main passes strict: the final suite
 * checks every property.
 *
 * "stop": a violation ends the run (what follows is the known bug's consequence, not news).
 * "ignore": a violation of an observation that changes nothing else; the run goes on.
 *
 * - callback-state: onReconnecting is delivered after a close() made from the onError queued
 *   before it (the epoch check runs when the deferred callback queues the dispatch, not when
 *   the dispatch runs), so it announces a reconnect that will not happen.
 */
export const AWAITING_FIX: Readonly<Partial<Record<PropertyName, "stop" | "ignore">>> = {};

/** What a violation of `property` does in a run: fail it, stop it, or nothing. */
export type Verdict = "fail" | "stop" | "ignore";

/**
 * The verdicts of a run: strict, every property fails; lenient, {@link AWAITING_FIX} applies.
 * `ignore` lists properties to ignore either way (to look past one bug at the next).
 */
export function verdicts(
  strict: boolean,
  ignore: readonly string[] = [],
): (property: PropertyName) => Verdict {
  return (property) =>
    ignore.includes(property) ? "ignore" : strict ? "fail" : (AWAITING_FIX[property] ?? "fail");
}
