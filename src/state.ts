/**
 * The connection's life cycle as one explicit state machine.
 *
 * ```
 *            dial()                open             drop (will retry)
 *   idle ───────────► connecting ───────► open ─────────────────────► reconnecting
 *    │                 │  ▲  │             │  ▲                           │  │
 *    │                 │  └──┘ retry       │  └───────── open ────────────┘  │ retry
 *    │ close()         │ close()/give up   │ close()/no retry                │ close()/give up
 *    ▼                 ▼                   ▼                                 ▼
 *  closed ◄────────────┴───────────────────┴─────────────────────────────────┘
 *    │ dial()
 *    └──────► connecting
 * ```
 *
 * `connecting` covers the first dial and its retries; `reconnecting` covers backoff waits and
 * handshakes after an established connection dropped. Whether a socket exists right now is the
 * business of the current link in `conn.ts`, not of this table: the public state says what the
 * user may expect (can I send? will it come back?), nothing more.
 */

/** The public connection states. */
export const State = {
  /** Created, never dialled. */
  IDLE: "idle",
  /** From `dial()` until the first open, retries of the first dial included. */
  CONNECTING: "connecting",
  /** Open: sends go straight to the socket. */
  OPEN: "open",
  /** An open connection dropped and will come back: backoff waits and handshakes. */
  RECONNECTING: "reconnecting",
  /** Ended by `close()`, by the reconnect policy giving up, or by a close that is not retried; `dial()` may start again. */
  CLOSED: "closed",
} as const;

/** One of the values of {@link State}. */
export type State = (typeof State)[keyof typeof State];

/** Payload of the `"state"` event. */
export interface StateChange {
  /** The state before the change. */
  oldState: State;
  /** The state now. */
  newState: State;
}

const ALLOWED: Readonly<Record<State, readonly State[]>> = {
  idle: ["connecting", "closed"],
  connecting: ["open", "closed"],
  open: ["reconnecting", "closed"],
  reconnecting: ["open", "closed"],
  closed: ["connecting"],
};

/** True when the machine may go from `from` to `to`. Staying in place is not a transition. */
export function canTransition(from: State, to: State): boolean {
  return ALLOWED[from].includes(to);
}
