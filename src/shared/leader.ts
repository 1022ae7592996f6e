/**
 * A tab's side as the socket holder: its own {@link Conn} (made at once, so bad options throw
 * in `createSharedConn`; it dials only while this tab leads, or is alone), whose events are
 * told in this tab and, from a leader, posted to every other tab; taking over when this tab
 * gets the lock; serving the followers; stepping down.
 *
 * The codec runs here: a follower posts message bodies, the leader encodes them and posts back
 * every decoded incoming message and every event (errors as `{ code, message }`). A follower's
 * request becomes an ordinary `conn.request()` (this tab's `matchMsg`/`messageId` pair the
 * response) whose outcome is posted back addressed to that tab and number: a matched response
 * is never broadcast as a message.
 *
 * Nothing lost across a handover. The leader acknowledges a send once it was handed to an open
 * socket (or, when it had to queue it, after the next open flushed the queue), and a request
 * once it has written it; what it queued and then dropped is acknowledged as dropped. A
 * leader that steps down (frozen, cached) or closes forgets what it owed: each follower sends
 * what no leader acknowledged to the next one. What a follower does is `follower.ts`'s; when
 * the role changes is `role.ts`'s.
 */

import {
  Conn,
  type EvtWebSocketError,
  type RequestOptions,
  type SendOptions,
  type SendResult,
  type UrlSource,
} from "../index.js";
import type { ResolvedSend } from "../send-options.js";
import type { AttemptContext } from "../types.js";
import { lost } from "./requests.js";
import type { Tab } from "./tab.js";
import type { SharedConnEvents } from "./types.js";
import { toWire, type Wire } from "./wire.js";

/** This tab's own Conn, and what it does with it as leader; see the module header. */
export class Leader<TIn, TOut> {
  /** This tab's Conn: the one socket while this tab leads (or is alone), idle before. */
  readonly conn: Conn<TIn, TOut>;
  /** Opens of this tab's own Conn: a request queued since the last one was never written. */
  #opens = 0;
  readonly #t: Tab<TIn, TOut>;
  /**
   * Acknowledgements held until the queue is flushed on the next open: the followers' posts
   * themselves (`from` emptied for a request refused or dropped meanwhile: acknowledged to none).
   */
  #acks: { from: string; seq: number; body?: unknown }[] = [];
  /** Step downs whose socket is still closing: that socket's end is not news. */
  #stale = 0;
  /**
   * The timer of a takeover's dial that waits for the end of the server's wait (see
   * {@link lead}), or of the acknowledgements after an open: one field (the shared entry's
   * bytes), as the first has fired before the open that sets the second; both end at halt().
   * (A drop and a new attempt within the second's 0 ms would take the field: that timer then
   * runs after halt() and finds nothing owed.)
   */
  #wait: ReturnType<typeof setTimeout> | undefined;

  /** @param fan - tell this Conn's events to every other tab (false: alone). */
  constructor(t: Tab<TIn, TOut>, fan: boolean) {
    this.#t = t;
    this.conn = this.#own(fan);
  }

  /** This tab's own Conn, its events told here and, when `fan` is set, to every other tab. */
  #own(fan: boolean): Conn<TIn, TOut> {
    const t = this.#t;
    const { onConnected, onMessage, onError, onClose, onReconnecting, ...rest } = t.options;
    const conn = new Conn<TIn, TOut>(rest);
    const tell = (name: keyof SharedConnEvents<TIn, TOut>, arg: unknown, wire: unknown = arg) => {
      // A leader that stepped down: its old socket's end is not the shared connection's news,
      // nor this tab's once it closed as such (a follower's close() does not wait for that socket).
      if (t.role.steppedDown || (t.role.closed && t.role.role === "follower")) return;
      if (fan && !t.role.leaving)
        t.post(
          name === "connected" || name === "state"
            ? { t: "ev", name, arg: wire, p: conn.protocol, h: conn.handshake }
            : { t: "ev", name, arg: wire },
        );
      return t.shared.event(name, arg);
    };
    conn.on("message", (msg) => tell("message", msg));
    conn.on("state", ({ newState }) => {
      // Ended for good (not stepping down): Conn reports its queued sends; none is kept.
      // So are the followers' it queued: acknowledged as dropped, not sent by a later open.
      if (newState === "closed" && !t.role.leaving) this.#flushAcks(true);
      tell("state", newState);
    });
    // This tab's listeners' promise (if one returned one) holds this Conn's queue, as Conn's own would.
    conn.on("connected", () => {
      this.#opens++;
      const held = tell("connected", undefined);
      // The queue is flushed after the connected listeners (and their promise): acknowledge what
      // it held then; not after close() or a step down, which settled the acknowledgements (halt()).
      if (fan)
        void Promise.resolve(held).then(() => {
          if (t.role.leads) this.#wait = setTimeout(() => this.#flushAcks());
        });
      return held;
    });
    // A tab that leads again before its old socket closed: Conn dials once it has (one socket
    // at a time), so a close meanwhile is that old socket's.
    conn.on("close", (info) => this.#stale > 0 || tell("close", info));
    // All of it crosses: the server's wait as is, the error as `{ code, message }`.
    conn.on("reconnecting", (info) =>
      tell("reconnecting", info, info.error ? { ...info, error: toWire(info.error) } : info),
    );
    conn.on("pong", (info) => tell("pong", info));
    conn.on("error", (error) => {
      // A queued send it dropped and reports (to every tab) is not held, nor sent again, anywhere.
      const i = t.unacked.dropped(
        error,
        this.#acks.map((a) => a.body),
      );
      if (i >= 0) {
        const [{ from: to, seq }] = this.#acks.splice(i, 1) as [{ from: string; seq: number }];
        t.post({ t: "ack", to, seq, dropped: true });
      }
      tell("error", error, toWire(error));
    });
    return conn;
  }

  /** This tab's dial() while it holds the socket (leader, alone); `first`: its first dial(). */
  dial(url: UrlSource, subprotocol: string | string[] | undefined, first: boolean): Promise<void> {
    const t = this.#t;
    const conn = this.conn;
    // A leader whose Conn already took a follower's dial up: this tab's first dial() waits
    // for that connection, as a follower's does (Conn's own would say ERR_ALREADY_DIALED).
    const busy = conn.state !== "idle" && conn.state !== "closed";
    if (t.role.role === "leader" && first && busy) return t.shared.whenOpen(true);
    return conn.dial(url, subprotocol).catch((error: EvtWebSocketError) => {
      // This tab stepped down (frozen or cached) while dialling, not closed by the user: the
      // dial goes on through the next leader, which this tab asks to dial.
      if (error?.code !== "ERR_CLOSED" || !t.role.steppedDown) throw error;
      return t.shared.whenOpen(true);
    });
  }

  /** This tab's send() while it holds the socket: on its own Conn (`o`: the options resolved). */
  send(body: TOut, options: SendOptions | undefined, o: ResolvedSend | undefined): SendResult {
    const t = this.#t;
    const result = o === undefined ? this.conn.send(body) : this.conn.send(body, options);
    // Queued by a leader: kept until the next open flushes it, for the next leader should
    // this tab step down first.
    if (t.role.role === "leader" && result === "queued") t.unacked.add(++t.seq, body, o);
    return result;
  }

  /** This tab's request() while it holds the socket; `again` makes it anew, after a step down. */
  request(body: TOut, options: RequestOptions | undefined, again: () => Promise<TIn>): Promise<TIn> {
    const conn = this.conn;
    // Made while not open, it waits in the queue until the next open writes it.
    const queuedAt = conn.isConnected() ? -1 : this.#opens;
    return conn.request(body, options).catch((error: EvtWebSocketError) => {
      // This tab stepped down (frozen or cached), not closed by the user: a request in flight
      // is a drop, as for a follower's through a leader that went away; one never written
      // goes to the next leader, as Conn sends a queued request on reconnect.
      if (error?.code !== "ERR_CLOSED" || !this.#t.role.steppedDown) throw error;
      if (options?.retryOnReconnect === true || queuedAt === this.#opens) return again();
      throw lost();
    });
  }

  /** This tab got the lock: it dials its Conn and takes over what waited on the old leader. */
  lead(): void {
    const t = this.#t;
    if (!t.role.to("lead")) return;
    const conn = this.conn;
    t.lead = Math.random().toString(36).slice(2);
    t.post({ t: "leader", l: t.lead });
    t.emit("role", "leader");
    // Its failure is this tab's dial() failure too: a dial() made while following may have
    // heard no state change of this dial (it was "connecting" already), so it is told here.
    if (t.url !== undefined)
      conn.dial(this.#afterWait(t.url), t.sub).catch((error: Error) => {
        // Not when stepping down: the dial goes on through the next leader.
        if (!t.role.leaving) t.shared.reject(error);
      });
    // Kept, as this tab's own queued sends are, until the connection opens (see #flushAcks).
    // Taken over, not let go of: a drained() waiting since this tab followed waits for the open.
    for (const [seq, held] of t.unacked.take()) {
      const o = t.unacked.wire(held);
      if (o === "expired") {
        t.unacked.drop(held);
        continue;
      }
      t.guard(() => {
        // Its signal still applies: this tab's own queue holds it now.
        const result = conn.send(held.body as TOut, { ...o, signal: held.signal });
        if (result === "queued") t.unacked.add(seq, held.body, { ...held, maxAgeMs: 0 }, held.expiresAt);
      });
    }
    t.unacked.settle();
    t.waiting.handOver(conn, lost);
  }

  /**
   * The URL a takeover dials: `url`, or, while a wait the server set on the old leader (1013,
   * Retry-After, as heard) is not over, a URL function that resolves to it at the wait's end,
   * as Conn's own attempt would come: the dial is made now (its state, queue and requests
   * are Conn's), its attempt then. Within `connectTimeoutMs`, as any URL function.
   */
  #afterWait(url: UrlSource): UrlSource {
    const shared = this.#t.shared;
    // Each attempt's: one after the wait's end (the first failed) comes at once.
    return shared.serverUntil > performance.now()
      ? (ctx: AttemptContext) =>
          new Promise((resolve) => {
            this.#wait = setTimeout(
              () => resolve(typeof url === "function" ? url(ctx) : url),
              shared.serverUntil - performance.now(),
            );
          })
      : url;
  }

  /**
   * Stops this tab's timers (step down, close()) and settles what it owes the followers while
   * the channel is still open: what the open already flushed (the queue is empty) is
   * acknowledged now; what it did not is never (each follower sends it to the next leader).
   */
  halt(): void {
    clearTimeout(this.#wait);
    if (!this.conn.stats.queuedMessages) this.#flushAcks();
    this.#acks = [];
  }

  /** The page is frozen or cached: a leader closes its socket and passes the lock on; a follower stops queueing. */
  stepDown(): void {
    this.halt();
    if (!this.#t.role.stepDown()) return;
    this.#stale++;
    void this.conn.close(1000, "page hidden").then(() => this.#stale--);
    this.#t.emit("role", "follower");
  }

  /**
   * What a follower posted, served by this leader. A leader that is closing serves no one: what
   * followers post meanwhile (not acknowledged, not taken) goes to the next leader.
   */
  serve(m: Wire): void {
    const t = this.#t;
    const conn = this.conn;
    if (m.t === "hello")
      t.post({
        t: "ev",
        name: "state",
        arg: conn.state,
        join: true,
        l: t.lead,
        p: conn.protocol,
        h: conn.handshake,
      });
    // A post addressed to another leadership (or to none) is not this leader's: its follower
    // posts it again once it hears of this one (Follower#heard), so it is served once, in order.
    else if ((m.t === "send" || m.t === "req") && m.l !== t.lead) return;
    else if (m.t === "ping") t.guard(() => conn.ping(), "ping() failed in the leader tab");
    else if (m.t === "reconnect")
      t.guard(() => conn.reconnect(m.code, m.reason), "reconnect() failed in the leader tab");
    else if (m.t === "dial" && (conn.state === "idle" || conn.state === "closed")) {
      const { from } = m;
      // A URL or subprotocol refused at once changes no state: the follower that asked is told.
      conn
        .dial(m.url, m.sub)
        .catch((error) => from && t.post({ t: "refused", to: from, error: toWire(error) }));
    } else if (m.t === "send") {
      try {
        const result = m.o === undefined ? conn.send(m.body as TOut) : conn.send(m.body as TOut, m.o);
        // Sent, or a volatile one it dropped (not open), acknowledged as such: not counted as sent.
        if (result === "queued") this.#acks.push(m);
        else t.post({ t: "ack", to: m.from, seq: m.seq, dropped: result === "dropped" });
      } catch (error) {
        t.post({ t: "ack", to: m.from, seq: m.seq, error: toWire(error) });
      }
    } else if (m.t === "req") {
      const { from: to, seq } = m;
      conn.request(m.body as TOut, { timeoutMs: m.timeoutMs, retryOnReconnect: m.retry }).then(
        (value) => t.post({ t: "res", to, seq, value }),
        (error) => {
          // Refused, or dropped unsent from the queue: acknowledged to no tab (not counted as
          // sent, as Conn counts it); its error is the answer.
          m.from = "";
          // A leaving leader's requests are the next leader's business, not an error.
          if (!t.role.leaving) t.post({ t: "res", to, seq, error: toWire(error) });
        },
      );
      // Taken once written: at once while open, after a refusal's rejection above (queued
      // before this); one only queued once the next open flushes it, and goes to the next
      // leader if this one goes away first, as Conn sends a queued request on reconnect.
      if (conn.isConnected()) queueMicrotask(() => t.post({ t: "ack", to: m.from, seq }));
      else this.#acks.push(m);
      // Conn holds the body now; a held entry's body is matched against a dropped send's.
      m.body = undefined;
    }
  }

  /**
   * Acknowledges what this leader owed: sent (the queue was flushed), or `dropped` (its Conn
   * ended for good). This tab's own held sends are let go of with them.
   */
  #flushAcks(dropped?: true): void {
    const t = this.#t;
    if (t.role.role === "leader") t.unacked.clear();
    for (const { from: to, seq } of this.#acks.splice(0)) t.post({ t: "ack", to, seq, dropped });
  }
}
