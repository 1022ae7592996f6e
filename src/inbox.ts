/**
 * What an incoming message means, for one connection: a pong (`isPong`), the response that
 * settles a pending request (`messageId` or `matchMsg`), or a `"message"` event; plus the
 * receive counters and the last round-trip time.
 *
 * It does not read sockets (link.ts), keep pending requests (outbox.ts) or decide which link is
 * current (lifecycle.ts); it also reports errors to `onError` for the facade (conn.ts), so a
 * user callback that throws is reported one way wherever it runs.
 */

import type { Data } from "./codec.js";
import type { AnyConn } from "./conn.js";
import type { Emitter } from "./emitter.js";
import { ErrorCode, type EvtWebSocketError, evtError } from "./errors.js";
import type { Lifecycle } from "./lifecycle.js";
import type { Link } from "./link.js";
import type { Announced } from "./observe.js";
import type { ConnOptions } from "./options.js";
import type { Outbox } from "./outbox.js";
import type { MessageKey } from "./pending-registry.js";
import type { ResolvedOptions } from "./resolve-options.js";
import type { ConnEvents } from "./types.js";

/** A usable request id: a string, or a number other than NaN; anything else means no id. */
export function asKey(value: unknown): MessageKey | undefined {
  if (typeof value === "string") return value;
  return typeof value === "number" && !Number.isNaN(value) ? value : undefined;
}

/** Incoming messages of one connection; see the module header. */
export class Inbox<TIn, TOut> {
  messagesReceived = 0;
  bytesReceived = 0;
  /** NaN until the first pong (not undefined: an unboxed double field, no allocation per pong). */
  lastRttMs = NaN;
  /** The connection's observer, set once it exists (made last, after this). */
  obs: Announced | undefined;

  readonly #conn: AnyConn;
  readonly #options: ConnOptions<TIn, TOut, AnyConn>;
  readonly #o: ResolvedOptions<TIn, TOut>;
  readonly #events: Emitter<ConnEvents<TIn, TOut>, AnyConn>;
  readonly #out: Outbox<TIn, TOut>;
  readonly #life: Lifecycle;

  constructor(
    conn: AnyConn,
    options: ConnOptions<TIn, TOut, AnyConn>,
    o: ResolvedOptions<TIn, TOut>,
    events: Emitter<ConnEvents<TIn, TOut>, AnyConn>,
    out: Outbox<TIn, TOut>,
    life: Lifecycle,
  ) {
    this.#conn = conn;
    this.#options = options;
    this.#o = o;
    this.#events = events;
    this.#out = out;
    this.#life = life;
  }

  /** A message arrived on `link` (ignored unless it is the current one). */
  onMessage(link: Link<AnyConn>, data: Data, bytes: number): void {
    if (link !== this.#life.link) return;
    this.messagesReceived++;
    this.bytesReceived += bytes;
    this.obs?.received(bytes);
    let msg: TIn;
    try {
      msg = this.#o.codec.decode(data);
    } catch (cause) {
      link.noteReceived(false);
      this.report(evtError(ErrorCode.DECODE, "could not decode an incoming message; it was dropped", cause));
      return;
    }
    const { isPong, matchMsg, messageId } = this.#options;
    const pong = isPong !== undefined && this.guard("isPong", isPong, msg) === true;
    const rtt = link.noteReceived(pong);
    if (pong) {
      if (rtt !== undefined) this.onPong(rtt);
      return;
    }
    if (this.#out.pending > 0 && this.#settle(msg, messageId, matchMsg)) return;
    if (link !== this.#life.link) return; // a matcher or codec called close()
    this.#events.emit2("message", msg, this.#conn);
  }

  /** A pong (protocol or `isPong`) answered a ping after `rttMs`. */
  onPong(rttMs: number): void {
    this.lastRttMs = rttMs;
    // Every ping of every idle connection passes here: no event object unless someone listens.
    if (this.obs?.hears("pong")) this.obs.event("pong", { rttMs });
    if (this.#events.has("pong")) this.#events.emit("pong", { rttMs }, this.#conn);
  }

  /**
   * Calls a user callback with its argument; a throw is reported as `ERR_CALLBACK_THREW` and
   * yields undefined. The argument is passed through, so a call per message needs no closure.
   */
  guard<A, R>(what: string, fn: (arg: A) => R, arg: A): R | undefined {
    try {
      return fn(arg);
    } catch (cause) {
      this.report(evtError(ErrorCode.CALLBACK_THREW, `${what} threw`, cause));
      return undefined;
    }
  }

  /** Reports an error to the observer and to `onError`. */
  report(error: EvtWebSocketError): void {
    this.obs?.event("error", { error });
    this.#events.emit("error", error, this.#conn);
  }

  /** Settles the request `msg` answers; true when one was. */
  #settle(
    msg: TIn,
    messageId: ((m: TIn | TOut) => MessageKey | undefined) | undefined,
    matchMsg: ((req: TOut, resp: TIn) => boolean) | undefined,
  ): boolean {
    const id = messageId === undefined ? undefined : asKey(this.guard("messageId", messageId, msg));
    try {
      return this.#out.settle(
        msg,
        id,
        matchMsg === undefined ? undefined : (req: TOut) => matchMsg(req, msg),
      );
    } catch (cause) {
      this.report(evtError(ErrorCode.CALLBACK_THREW, "matchMsg threw", cause));
      return false;
    }
  }
}
