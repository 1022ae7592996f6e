/**
 * A tab's side as a follower: it forwards `send`, `request`, `ping` and `dial` to the leader
 * over the tabs' channel, and hears back what the leader posts (acknowledgements, responses
 * addressed to it, and every event of the shared connection).
 *
 * A follower's request keeps its own deadline (`timeoutMs`, else `requestTimeoutMs`), so it
 * rejects with `ERR_REQUEST_TIMEOUT` in time even when the leader's tab hangs
 * (`requests.ts`). Nothing lost across a handover: it keeps each send until a leader
 * acknowledges it (`outgoing.ts`); when a new leader announces itself, it posts it every
 * unacknowledged send again, in order (at least once: a leader that died between writing a
 * send and acknowledging it makes a duplicate), and every request still waiting is sent again
 * when it was made with `retryOnReconnect`, or rejects with `ERR_DISCONNECTED`; one no leader
 * took (made while none led, or only queued by a reconnecting leader) goes to the new leader,
 * as Conn sends a queued request on reconnect. A follower that closes reports the sends no
 * leader acknowledged, with `ERR_CLOSED` on `error`. What a leader does is `leader.ts`'s.
 */

import type { RequestOptions, SendResult } from "../index.js";
import type { ResolvedSend } from "../send-options.js";
import { EvtWebSocketError, evtError } from "./public-error.js";
import { lost, type Waiting } from "./requests.js";
import type { Tab } from "./tab.js";
import { fromWire, type Wire, type WireError } from "./wire.js";

/** What a follower tab posts and hears; see the module header. */
export class Follower<TIn, TOut> {
  readonly #t: Tab<TIn, TOut>;

  constructor(t: Tab<TIn, TOut>) {
    this.#t = t;
  }

  /** Hands a message to the leader; see `SharedConn.send`. */
  send(body: TOut, o: ResolvedSend | undefined): SendResult {
    const t = this.#t;
    this.#assertOpen();
    if (o?.signal?.aborted)
      throw evtError("ERR_ABORTED", "send(): the signal was already aborted", o.signal.reason);
    if (o?.volatile && t.shared.state !== "open") return "dropped";
    t.unacked.send(++t.seq, body, o); // throws for a body that cannot be cloned: kept nowhere
    return "queued";
  }

  /** Posts a request to the leader; it settles in this tab (`requests.ts`). */
  request(body: TOut, options: RequestOptions | undefined): Promise<TIn> {
    const t = this.#t;
    try {
      this.#assertOpen();
    } catch (error) {
      return Promise.reject(error); // a promise that rejects, as Conn's request() gives
    }
    // 30 s is Conn's default requestTimeoutMs.
    return t.waiting.add<TIn>(++t.seq, body, options, t.options.requestTimeoutMs ?? 30_000);
  }

  /** Asks the leader to ping; checked here: the heartbeat must be on. */
  ping(): void {
    const t = this.#t;
    if (!((t.options.pingIntervalMs ?? 0) > 0))
      throw evtError("ERR_INVALID_OPTION", "ping() needs the heartbeat: set pingIntervalMs");
    if (!t.role.closed) t.post({ t: "ping" });
  }

  /** Asks the leader to reconnect (the caller has checked the state, code and reason). */
  reconnect(code: number, reason: string): void {
    this.#t.post({ t: "reconnect", code, reason });
  }

  /** Asks the leader to dial this tab's URL (a string URL only: a function cannot be cloned). */
  askDial(): void {
    const t = this.#t;
    const url = t.url;
    if (url !== undefined && typeof url !== "function")
      t.post({ t: "dial", url: String(url), sub: t.sub, from: t.id });
  }

  /** Posts a waiting request to the leader (again, to a new one). */
  forward(seq: number, w: Waiting): void {
    const t = this.#t;
    t.post({ t: "req", from: t.id, seq, body: w.body, timeoutMs: w.timeoutMs, retry: w.retry, l: t.lead });
  }

  /** This tab closed while following: its requests reject with `closed`, its unacknowledged sends are reported. */
  leave(closed: Error): void {
    const t = this.#t;
    t.waiting.rejectAll(closed);
    const unsent = t.unacked.clear(closed);
    t.shared.set("closed");
    if (unsent > 0) {
      t.emit(
        "error",
        new EvtWebSocketError("ERR_CLOSED", `${unsent} message(s) were not acknowledged by the leader`, {
          details: { unsent },
        }),
      );
    }
  }

  /** What the leader (or a tab that just became it) posted, heard by this follower. */
  receive(m: Wire): void {
    const t = this.#t;
    if (t.role.closed || t.role.role !== "follower") return;
    if (m.t === "leader") {
      this.askDial();
      this.#heard(m.l);
    } else if (m.t === "refused" && m.to === t.id) {
      const error = fromWire(m.error);
      t.shared.reject(error);
    } else if (m.t === "ack" && m.to === t.id) {
      if (!m.error && !m.dropped) t.view.sent++;
      t.unacked.delete(m.seq);
      t.waiting.taken(m.seq);
      if (m.error) t.emit("error", fromWire(m.error));
    } else if (m.t === "res" && m.to === t.id) {
      if (t.waiting.settle(m.seq, m.error && fromWire(m.error), m.value) && !m.error) t.view.received++;
    } else if (m.t === "ev") {
      if (m.p !== undefined) {
        t.shared.protocol = m.p;
        t.shared.handshake = m.h;
      }
      // The answer to this tab's hello, for a tab that has heard of no leadership yet (a later
      // one is announced by "leader"; a late answer from an old leader must not undo that).
      if (m.l !== undefined && t.lead === undefined) this.#heard(m.l);
      const arg = m.arg as { error?: WireError };
      const was = t.shared.state;
      if (m.name === "error") t.shared.event(m.name, fromWire(m.arg as WireError));
      else t.shared.event(m.name, arg?.error ? { ...arg, error: fromWire(arg.error) } : arg);
      // A tab that joins a connection already open hears no "connected" of its own: it is told
      // here, once, as its dial() resolves (Conn's dial resolves after onConnected was called).
      if (m.join && was !== "open" && t.shared.state === "open") t.shared.connected();
    }
  }

  /**
   * A leadership this tab had not heard of: what it posted to none or to another one (which the
   * new leader does not serve) goes to it, in order; requests by the rule of `newLeader`. An
   * announcement without a leadership (malformed) is none: followed, what this tab posts would
   * be addressed to no leader, and served by none until the next handover.
   */
  #heard(lead: string): void {
    const t = this.#t;
    if (!lead || lead === t.lead) return;
    t.lead = lead;
    t.unacked.forwardAll();
    // One no leader took (made while none led) goes to this one, as Conn sends on reconnect
    // a request made while reconnecting.
    t.waiting.newLeader(lost);
  }

  #assertOpen(): void {
    if (this.#t.role.closed) throw evtError("ERR_CLOSED", "cannot send: connection is closed");
  }
}
