/**
 * The public types of `evtwebsocket/shared`: the role, the events and the options of a shared
 * connection. Behaviour lives in `shared-conn.ts` and the parts it wires.
 */

import type {
  CloseInfo,
  ConnOptions,
  EvtWebSocketError,
  PongInfo,
  ReconnectingInfo,
  StateChange,
} from "../index.js";
import type { SharedConn } from "./shared-conn.js";

/** Who holds the socket: this tab ("leader"), another tab ("follower"), or nobody shares ("alone"). */
export type Role = "leader" | "follower" | "alone";

/** The events of a shared connection's `on()`, each listener getting the shared connection. */
export type SharedConnEvents<TIn, TOut> = {
  /**
   * The connection opened (first dial and every reconnect), in every tab; a tab that joins a
   * connection already open is told once, as its `dial()` resolves. As with Conn, a listener
   * (and `onConnected`) may return a promise: its rejection reaches this tab's `error` event as
   * `ERR_CALLBACK_THREW` ("onConnected rejected"), no other tab's. The socket holder's promises
   * (the leader's tab's, a lone tab's) hold its queue until they settle, the followers' queued
   * sends included. A follower's hold nothing: what it sends goes to the leader, which writes
   * it at once while open, and what it queued waits for the leader's promises only.
   */
  connected: (conn: SharedConn<TIn, TOut>) => unknown;
  /** A message arrived that settled no request of any tab and is not a pong. */
  message: (msg: TIn, conn: SharedConn<TIn, TOut>) => void;
  /** An error that was not thrown or rejected to a caller; the leader's errors reach every tab. */
  error: (err: EvtWebSocketError, conn: SharedConn<TIn, TOut>) => void;
  /**
   * A connection that was open ended. A follower (or the tab that takes over) whose leader's
   * tab went away while open hears it too, as 1006, not clean, `closedBy: "network"`, with
   * `willReconnect`: it saw no close frame, only the leader leave.
   */
  close: (info: CloseInfo, conn: SharedConn<TIn, TOut>) => void;
  /** A backoff wait before the next attempt starts. */
  reconnecting: (info: ReconnectingInfo, conn: SharedConn<TIn, TOut>) => void;
  /** A reply to a ping arrived. */
  pong: (info: PongInfo, conn: SharedConn<TIn, TOut>) => void;
  /** The shared state changed (in a follower: the leader's state, as last heard). */
  state: (change: StateChange, conn: SharedConn<TIn, TOut>) => void;
  /**
   * Room to send again. A leader (or a lone tab): its socket's buffered amount fell to
   * `lowWaterMark` after rising above `highWaterMark` (Conn's `"drain"`). A follower: the
   * leader acknowledged (or an abort let go of) the last send this tab held.
   */
  drain: (conn: SharedConn<TIn, TOut>) => void;
  /** This tab's role changed (a follower became the leader). */
  role: (role: Role, conn: SharedConn<TIn, TOut>) => void;
};

/** The options of {@link createSharedConn}: `Conn`'s, with callbacks that get the shared connection. */
export type SharedConnOptions<TIn, TOut> = ConnOptions<TIn, TOut, SharedConn<TIn, TOut>>;
