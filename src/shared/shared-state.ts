/**
 * The shared connection as one tab tells it: its state, the reason a "closed" gives, the
 * leader's subprotocol and handshake as last heard, and this tab's `dial()` calls waiting for
 * an open. Every event of the shared connection reaches this tab's listeners through
 * {@link SharedState.event}, whether the leader posted it or this tab's own Conn raised it, and
 * the counters of `stats` are kept on the way.
 *
 * In a follower the state is the leader's, as last heard; a new leader dialling says
 * "connecting", which a tab that knew the connection open tells as "reconnecting" after a
 * 1006 close (as Conn tells a drop). This module posts nothing and decides no role.
 */

import type { EvtWebSocketError, PongInfo, ReconnectingInfo, StateChange } from "../index.js";
import type { Handshake } from "../types.js";
import { evtError } from "./public-error.js";
import type { TabRole } from "./role.js";
import type { TabView } from "./tab-view.js";
import type { SharedConnEvents } from "./types.js";

/** Emits an event of the shared connection in this tab (the connection is added as last argument). */
export type Emit<TIn, TOut> = <K extends keyof SharedConnEvents<TIn, TOut>>(
  name: K,
  ...args: Parameters<SharedConnEvents<TIn, TOut>[K]> extends [...infer A, unknown] ? A : never
) => unknown;

/** One tab's view of the shared state, and its events; see the module header. */
export class SharedState<TIn, TOut> {
  /** The shared state; in a follower, the leader's as last heard ("idle" before). */
  state: StateChange["newState"] = "idle";
  /** The leader's subprotocol and handshake, as last heard (a follower's). */
  protocol = "";
  handshake: Handshake | undefined;
  /**
   * `performance.now()` until which the server asked the tabs not to come back (1013, Retry-After), as
   * last heard in a "reconnecting" event: a tab that takes over meanwhile dials at its end. 0: none.
   */
  serverUntil = 0;
  readonly #emit: Emit<TIn, TOut>;
  readonly #view: TabView<TIn>;
  readonly #role: TabRole;
  /** The first error heard since the last state change: the reason, when the next state is "closed". */
  #reason: EvtWebSocketError | undefined;
  /** This tab's dial() promises: settled by the shared state becoming open, or closed. */
  #opened: { resolve(): void; reject(error: Error): void }[] = [];
  /**
   * The leader was seen connecting since this tab's dial(): only then does "closed" mean the dial
   * failed (a "closed" heard first is the state before the leader took the dial up).
   */
  #dialing = false;

  constructor(emit: Emit<TIn, TOut>, view: TabView<TIn>, role: TabRole) {
    this.#emit = emit;
    this.#view = view;
    this.#role = role;
  }

  /** Resolves when the shared state is open; rejects when it closes after `dialing` was seen. */
  whenOpen(dialing: boolean): Promise<void> {
    if (this.state === "open") return Promise.resolve();
    this.#dialing = dialing;
    return new Promise((resolve, reject) => this.#opened.push({ resolve, reject }));
  }

  /** Rejects every dial() waiting with `error`. */
  reject(error: Error): void {
    for (const d of this.#opened.splice(0)) d.reject(error);
  }

  /**
   * An event of the shared connection, in this tab. For "connected": the promise its
   * listeners' promises settle (see {@link connected}).
   */
  event(name: keyof SharedConnEvents<TIn, TOut>, arg: unknown): unknown {
    if (name === "message") this.#view.received++;
    else if (name === "pong") this.#view.lastRttMs = (arg as PongInfo).rttMs;
    else if (name === "error") this.#reason ??= arg as EvtWebSocketError;
    // Heard after the old leader armed its wait: its end here is never before the server's.
    else if (name === "reconnecting" && (arg as ReconnectingInfo).serverDelayMs)
      this.serverUntil = performance.now() + (arg as ReconnectingInfo).delayMs;
    if (name === "state") this.set(arg as StateChange["newState"]);
    else if (name === "connected") return this.connected();
    // biome-ignore lint/suspicious/noExplicitAny: the event's argument, as the leader posted it.
    else (this.#emit as (n: string, a: any) => void)(name, arg);
  }

  /**
   * Announces an open. The dial() calls waiting are resolved first, as Conn's are (a close() in
   * onConnected does not undo them), but their callers continue after onConnected was called.
   * Returns, when a listener returned a promise, one that settles once all have (a rejection
   * reported in this tab): the socket holder's queue waits for it.
   */
  connected(): unknown {
    for (const d of this.#opened.splice(0)) d.resolve();
    return this.#emit("connected");
  }

  /** The shared state changes to `next` (as heard, or this tab closed): announced once changed. */
  set(next: StateChange["newState"]): void {
    const oldState = this.state;
    // A new leader dials afresh ("connecting"), but the shared connection was open: as Conn
    // would say of a dropped connection, it is reconnecting (Conn never goes open -> connecting).
    // Open until then, this tab heard no close from the old leader (its page died, or it stepped
    // down): the connection it knew ended all the same, and it says so, as Conn does of a drop.
    const dropped = next === "connecting" && oldState === "open";
    if (next === "connecting" && (oldState === "open" || oldState === "reconnecting")) next = "reconnecting";
    // Heard again too: a new leader dialling says "connecting" to a tab that heard the old one's.
    const dialing = next === "connecting" || next === "reconnecting";
    if (dialing) this.#dialing = true;
    if (oldState === next) return;
    this.state = next;
    if (next === "open" || next === "closed") this.serverUntil = 0;
    if (next === "open" && oldState === "reconnecting") this.#view.reconnects++;
    const reason = this.#reason;
    this.#reason = undefined;
    // Ended for good: the iterators end (they throw why, as Conn's do, unless this tab closed).
    if (next === "closed" && !this.#role.closed)
      this.#view.end(reason?.code === "ERR_CLOSED" ? undefined : reason);
    if (dropped)
      this.#emit("close", {
        code: 1006,
        reason: "",
        wasClean: false,
        willReconnect: true,
        closedBy: "network",
      });
    this.#emit("state", { oldState, newState: next });
    if (dialing) this.#dialing = true; // also over a dial() made by a listener just now
    if (next === "closed" && this.#dialing)
      this.reject(evtError("ERR_DISCONNECTED", "the shared connection closed before it opened"));
  }
}
