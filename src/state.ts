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
  IDLE: "idle",
  CONNECTING: "connecting",
  OPEN: "open",
  RECONNECTING: "reconnecting",
  CLOSED: "closed",
} as const;

/** One of the values of {@link State}. */
export type State = (typeof State)[keyof typeof State];

/** Payload of the `"state"` event. */
export interface StateChange {
  oldState: State;
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
