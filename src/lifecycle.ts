/**
 * The life of a connection across its sockets: `dial()`, each attempt and its link, the wait
 * before a retry, what a socket's end means (retry or end for good), and `close()`'s
 * bookkeeping. It owns the one `state` field and changes it only in {@link Lifecycle.#setState}.
 *
 * Every entry point runs as one transition of the emitter (`events.run`), so callbacks are
 * announced only once the transition is complete. What a message means (pong, response,
 * event) and what the public methods check are `conn.ts`'s business; policy lives in the
 * modules called here (`reconnect.ts` decides retries, `outbox.ts` settles requests and queue).
 */

import { AttemptPrep, isThenable } from "./attempt.js";
import { hasEnvironmentEvents, isOffline, watchEnvironment } from "./browser-hooks.js";
import type { AnyConn } from "./conn.js";
import type { Emitter } from "./emitter.js";
import { ErrorCode, EvtWebSocketError, evtError } from "./errors.js";
import { Link, type LinkConfig, type LinkEnd, type LinkEvents } from "./link.js";
import type { ReconnectingInfo } from "./options.js";
import type { Outbox } from "./outbox.js";
import { decideRetry, serverDelay, serverWait } from "./reconnect.js";
import type { ResolvedOptions } from "./resolve-options.js";
import { canTransition, State } from "./state.js";
import type { ConnEvents, UrlSource } from "./types.js";

type ConnLink = Link<AnyConn>;

/** The state, the current link and everything that moves them; see the module header. */
export class Lifecycle {
  readonly #owner: AnyConn;
  readonly #events: Emitter<ConnEvents<unknown, unknown>, AnyConn>;
  readonly #out: Outbox<unknown, unknown>;
  readonly #o: ResolvedOptions<unknown, unknown>;
  readonly #linkEvents: LinkEvents<AnyConn>;
  #state: State = State.IDLE;
  #link: ConnLink | undefined;
  /** Links that close() is waiting for, with the resolver of its promise; made on first use. */
  #closing: Map<ConnLink, () => void> | undefined;
  #closed: Promise<void> | undefined;
  #lastClose: Promise<void> | undefined;
  #dialed: { resolve(): void; reject(e: Error): void } | undefined;
  #retryTimer: unknown;
  #epoch = 0;
  /** Counts the ends for good (#shutdown): what an error report, deferred, checks it still belongs to. */
  #ends = 0;
  /** shouldReconnect is being asked (a reconnect() from it is logged by the socket's end). */
  #asking = false;
  #attempt = 0;
  #openedAt = 0;
  #url: UrlSource = "";
  #plan: LinkConfig | undefined;
  /** How the previous connection or attempt of this dial ended, for the next attempt's context (until one opens). */
  #lastEnd: LinkEnd | undefined;
  #unwatch: (() => void) | undefined;
  /** The socket closed because the page was hidden or by reconnect() (its close event says it will reconnect). */
  #dropped: ConnLink | undefined;
  /** The page hid (pagehide, freeze) and has not been shown since: nothing dials until it is. */
  #hidden = false;
  /** The epoch of the attempt whose URL and headers are being prepared (it has no link yet); -1 when none. */
  #preparing = -1;
  /** Clock time until which the server asked us not to come back (0: it set no wait). */
  #serverUntil = 0;
  /** The current attempt's URL and headers being prepared, with the deadline of the function it awaits. */
  #prep: AttemptPrep | undefined;
  /** Successful reconnects after an established connection dropped. */
  reconnects = 0;
  /** The subprotocol the server chose for the current or last connection. */
  protocol = "";
  /** Why the connection last ended for good (`ERR_CLOSED` after `close()`); undefined for a clean end. */
  endReason: EvtWebSocketError | undefined;
  /** Told when the connection ends for good, before it is announced (set by the facade on first use). */
  onShutdown: ((reason: EvtWebSocketError | undefined) => void) | undefined;

  /**
   * @param linkEvents - the connection's link hooks (shared by every connection); `open` and
   *   `end` must come back here as {@link onOpen} and {@link onEnd}.
   */
  constructor(
    owner: AnyConn,
    // biome-ignore lint/suspicious/noExplicitAny: the facade's typed emitter and outbox, seen without their message types.
    events: Emitter<any, AnyConn>,
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    out: Outbox<any, any>,
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    o: ResolvedOptions<any, any>,
    linkEvents: LinkEvents<AnyConn>,
  ) {
    this.#owner = owner;
    this.#events = events;
    this.#out = out;
    this.#o = o;
    this.#linkEvents = linkEvents;
  }

  get state(): State {
    return this.#state;
  }

  /** The state for messages: "closing" while open but its socket no longer takes data. */
  get phase(): string {
    return this.#state === State.OPEN && !this.#link?.isOpen ? "closing" : this.#state;
  }

  /** The current link, open or not. */
  get link(): ConnLink | undefined {
    return this.#link;
  }

  /** The current link when it accepts data frames. */
  get openLink(): ConnLink | undefined {
    return this.#link?.isOpen ? this.#link : undefined;
  }

  /**
   * Starts a dial; the caller has checked the state. `plan` checks what the dial was given
   * (and throws, which rejects the dial) inside the dial's transition: a line it logs (an
   * option the transport ignores) is told once the dial has begun, so a logger's close() or
   * dial() there finds it begun, as on the attempt's line.
   */
  dial(url: UrlSource, plan: () => LinkConfig): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#events.run(this, this.#start, url, plan, { resolve, reject });
    });
  }

  #start(url: UrlSource, plan: () => LinkConfig, dialed: { resolve(): void; reject(e: Error): void }): void {
    this.#plan = plan();
    this.#dialed = dialed;
    this.#url = url;
    this.#hidden = false;
    this.#attempt = 0;
    this.#serverUntil = 0;
    this.#lastEnd = undefined;
    this.#closed = undefined;
    this.#setState(State.CONNECTING);
    if (this.#unwatch === undefined && hasEnvironmentEvents()) {
      this.#unwatch = watchEnvironment({
        online: () => this.#onOnline(),
        offline: () => {},
        visible: (ms) => this.#onVisible(ms),
        // Back from the cache or thawed: a waiting connection dials now, backoff reset.
        page: (shown) => {
          this.#hidden = !shown;
          if (!shown) return this.#events.run(this, this.#drop, 1000, "page hidden");
          // The backoff of a connection waiting to come back starts over (an open one's stands).
          if (this.#state !== State.OPEN) this.#attempt = 0;
          this.#onOnline();
        },
      });
    }
    // Offline (browsers), a first attempt would fail at once: with retries on, wait for `online`.
    if (!(this.#o.reconnect.enabled && isOffline())) void this.#connect();
  }

  /** Closes the connection for good; the caller has checked code and reason. */
  close(code: number, reason: string): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    const link = this.#link;
    this.#link = undefined;
    // Without a current link, an earlier close() may still wait for its socket (a dial() made
    // right after it awaits that socket first): this close() waits for it too.
    if (link !== undefined) this.#closing ??= new Map();
    const closing = this.#closing;
    const closed: Promise<void> =
      link === undefined ? (this.#lastClose ?? Promise.resolve()) : new Promise((r) => closing!.set(link, r));
    this.#closed = closed;
    this.#lastClose = closed;
    this.#events.run(this, this.#closeNow, link, code, reason);
    // Not this.#closed: a callback run at the end of #run may have dialled again and reset it.
    return closed;
  }

  #closeNow(link: ConnLink | undefined, code: number, reason: string): void {
    this.#shutdown(evtError(ErrorCode.CLOSED, "connection closed by close()"));
    link?.close(code, reason);
  }

  /**
   * Drops the current socket (closing it with `code` and `reason`) and dials again now, as a
   * page shown again does: the caller has checked the state (dialled, not closed), code and reason.
   */
  reconnect(code: number, reason: string): void {
    this.#events.run(this, this.#redial, code, reason);
  }

  #redial(code: number, reason: string): void {
    // Logged and published as a reconnect decision (the user's): a wait the server set stands.
    // From shouldReconnect, the socket's end logs the decision (once, with the wait it sets).
    const left = this.#serverUntil - this.#o.clock.now();
    if (!this.#asking)
      this.#plan!.obs?.event("reconnecting", {
        attempt: 1,
        delayMs: left > 0 ? Math.ceil(left) : 0,
        reason: "reconnect()",
      });
    this.#drop(code, reason);
    this.#hidden = false; // asked for: it dials, hidden or not
    this.#attempt = 0;
    // A wait announced by a deferred "reconnecting" is untrue now (it is dropped), but an
    // attempt being prepared goes on: a new epoch would drop its URL and headers.
    if (this.#preparing !== this.#epoch) this.#epoch++;
    // Once the step is done: from shouldReconnect (asked inside a socket's end) the end is
    // settled first, and no URL function runs mid-transition.
    this.#events.defer(() => this.#onOnline());
  }

  /** Sends a liveness ping on the current link now, if it has a heartbeat. */
  probe(): void {
    const link = this.#link;
    if (link !== undefined) this.#events.run(link, link.probe);
  }

  /** Link hook: the handshake of `link` completed. */
  onOpen(link: ConnLink, protocol: string): void {
    if (link !== this.#link) return;
    this.#events.run(this, this.#opened, link, protocol);
  }

  /** Link hook: `link` ended. */
  onEnd(link: ConnLink, end: LinkEnd): void {
    this.#events.run(this, this.#ended, link, end);
  }

  /**
   * One attempt: its URL and headers (from the user's functions, given the attempt's context),
   * then its link. A close() or dial() made while a function is awaited changes the epoch:
   * nothing is called or dialled after it, and a late throw is dropped.
   */
  async #connect(): Promise<void> {
    const epoch = ++this.#epoch;
    this.#preparing = epoch;
    this.#prep?.cancel();
    let url: string;
    let headers: Record<string, string> | undefined;
    try {
      if (this.#lastClose !== undefined) await this.#lastClose;
      if (epoch !== this.#epoch) return; // a newer attempt or close() took over meanwhile
      // Hidden again while it waited for the old socket (no function called yet): the show dials.
      if (this.#hidden) {
        this.#preparing = -1;
        return;
      }
      const prep = new AttemptPrep(this.#o.clock, this.#o.connectTimeoutMs);
      this.#prep = prep;
      [url, headers] = await prep.prepare(
        this.#url,
        this.#plan!.headersFn,
        this.#attempt,
        this.#lastEnd,
        () => epoch === this.#epoch,
      );
    } catch (error) {
      if (epoch !== this.#epoch) return;
      this.#preparing = -1;
      this.#events.run(this, this.#ended, undefined, {
        code: 1006,
        reason: "",
        wasClean: false,
        wasOpen: false,
        requested: false,
        closedBy: "network",
        error: error as EvtWebSocketError,
      });
      return;
    }
    if (epoch !== this.#epoch) return;
    this.#preparing = -1;
    const link: ConnLink = new Link(this.#plan!, url, this.#linkEvents, this.#owner, headers);
    this.#link = link;
    this.#events.run(this, this.#attemptStart, link, url);
  }

  /** Logs the attempt and starts its socket, as one transition: a logger's close() comes after the start. */
  #attemptStart(link: ConnLink, url: string): void {
    this.#plan!.obs?.event("attempt", { attempt: this.#attempt + 1, url });
    link.start();
  }

  #opened(link: ConnLink, protocol: string): void {
    this.#lastEnd = undefined; // only the next attempt's context needs it: an open connection keeps no old error
    this.protocol = protocol;
    if (this.#state === State.RECONNECTING) this.reconnects++;
    this.#openedAt = this.#o.clock.now();
    this.#plan!.obs?.event("open", { protocol: this.#plan!.protocols.indexOf(protocol) + 1 });
    this.#setState(State.OPEN);
    const dialed = this.#dialed;
    this.#dialed = undefined;
    dialed?.resolve();
    this.#events.defer(() => this.#connected(link));
  }

  /** Runs the `connected` listeners, then sends the queue (after their promises settle). */
  #connected(link: ConnLink): void {
    if (link !== this.#link) return; // an earlier callback closed it: it is not announced
    const waits = this.#events.emitCollect("connected", this.#owner).filter(isThenable);
    if (waits.length === 0) {
      this.#flush(link);
      return;
    }
    void Promise.allSettled(waits).then((outcomes) => {
      // Closed meanwhile: close() has settled everything and nothing is announced after it.
      if (this.#state === State.CLOSED) return;
      this.#events.run(this, () => {
        for (const o of outcomes) {
          if (o.status === "rejected")
            this.#report(evtError(ErrorCode.CALLBACK_THREW, "onConnected rejected", o.reason));
        }
        this.#flush(link);
      });
    });
  }

  #flush(link: ConnLink): void {
    this.#out.flush(link, () => link === this.#link);
  }

  /** A socket ended (or an attempt failed before it had one): retry, or end for good. */
  #ended(link: ConnLink | undefined, end: LinkEnd): void {
    const closedByUser = link !== undefined && this.#closing?.get(link);
    if (closedByUser) {
      this.#closing!.delete(link!);
      // A hidden page's or reconnect()'s socket comes back (unless the connection ended since: #shutdown forgets it).
      const dropped = link === this.#dropped;
      if (end.wasOpen) this.#emitClose(end, dropped);
      // The server had closed it with 1013 before the drop: that wait stands, as after any drop
      // (an attempt waiting for this end gives way to it).
      const ms = serverWait(this.#o.reconnect, { ...end, openForMs: 0 }); // a 1013 comes on an open socket only
      if (dropped && ms !== undefined) {
        this.#serverUntil = this.#o.clock.now() + ms;
        this.#epoch++;
        this.#onOnline();
      }
      closedByUser();
      return;
    }
    if (link !== this.#link) return;
    this.#link = undefined;
    // Told here, in this step, not by the heartbeat's timer: a logger's send() on the line then
    // finds no open socket and is queued (it went to the dead one, said "sent", and was lost).
    if (end.error?.code === ErrorCode.PONG_TIMEOUT)
      this.#plan!.obs?.event("dead", { pongTimeoutMs: this.#o.pongTimeoutMs });
    const ask = this.#o.reconnect.shouldReconnect;
    const epoch = this.#epoch;
    const ends = this.#ends;
    const ending = { ...end, openForMs: end.wasOpen ? this.#o.clock.now() - this.#openedAt : undefined };
    // The decision's one draw, kept: the server's wait below gets the jitter it got.
    let r: number | undefined;
    let decision = decideRetry(
      this.#o.reconnect,
      this.#attempt,
      ending,
      ask && ((info) => this.#ask(ask, info)),
      () => (r ??= Math.random()),
    );
    // shouldReconnect is asked, not announced to: one that called close() or dial() has
    // already ended this connection; only this socket's close event is still to be told.
    if (this.#ends !== ends) {
      if (end.wasOpen) this.#emitClose(end, false);
      return;
    }
    // One that called reconnect(): retried at once, whatever it answered, from attempt 0 (a
    // wait the server set still stands).
    const redialled = this.#epoch !== epoch;
    // Built anew: an answer of no (or a spent budget) carries no server wait, and its error is a give-up's.
    if (redialled)
      decision = {
        retry: true,
        attempt: 0,
        delayMs: serverWait(this.#o.reconnect, ending) ?? 0,
        serverDelayMs: serverDelay(this.#o.reconnect, ending),
      };
    this.#attempt = decision.attempt;
    this.#lastEnd = end;
    if (end.wasOpen) this.#emitClose(end, decision.retry);
    this.#plan!.obs?.event(decision.retry ? "reconnecting" : "give-up", {
      error: end.error,
      ...decision,
      // After a reconnect() the backoff starts over: this retry is its first, as #redial's line says.
      attempt: redialled ? 1 : decision.attempt,
      retry: undefined,
      reason: end.error?.code ?? `close-${end.code}`,
    });
    this.#out.dropped(decision.retry, end);
    if (!decision.retry) {
      this.#shutdown(decision.error);
      return;
    }
    // The error is the drop's news, dropped only by a callback that closes (or closes and dials)
    // before it is announced; one that calls reconnect() still hears it. The reconnecting event
    // describes the wait that starts here: a new attempt or a close() first makes it untrue, and
    // it is dropped (the request errors above are not).
    const { error } = end;
    if (error !== undefined) this.#events.defer(() => ends === this.#ends && this.#report(error));
    const { attempt, delayMs, serverDelayMs } = decision;
    if (this.#state === State.OPEN) this.#setState(State.RECONNECTING);
    const info: ReconnectingInfo = { attempt, delayMs, ...(error ? { error } : {}) };
    if (serverDelayMs !== undefined) info.serverDelayMs = serverDelayMs;
    this.#events.defer(() => epoch === this.#epoch && this.#events.emit("reconnecting", info, this.#owner));
    // The server's wait, jittered: after reconnect() the whole wait (its own step dials);
    // otherwise what a show or reconnect() during the wait still waits for (the backoff is cut).
    this.#serverUntil =
      serverDelayMs === undefined
        ? 0
        : this.#o.clock.now() + (redialled ? delayMs : serverWait(this.#o.reconnect, ending, r)!);
    if (!redialled) this.#retryIn(delayMs); // redialled: reconnect()'s own step dials
  }

  #retryIn(delayMs: number): void {
    this.#retryTimer = this.#o.clock.setTimeout(() => {
      this.#retryTimer = undefined;
      // Offline, an attempt would fail at once and burn the budget: wait for the online event.
      // Hidden (an attempt under way at the hide failed since), wait for the page to be shown.
      if (!isOffline() && !this.#hidden) void this.#connect();
    }, delayMs);
  }

  /**
   * The network is back, or the page runs again: a waiting reconnect dials now; but a wait the
   * server set (Retry-After, 1013) stands, and the attempt comes at its end. An attempt already
   * under way (its URL or headers function still running) goes on: a second one would call the
   * function again and drop the first one's result.
   */
  #onOnline(): void {
    const waiting = this.#state === State.CONNECTING || this.#state === State.RECONNECTING;
    if (!waiting || this.#hidden || this.#link !== undefined || this.#preparing === this.#epoch) return;
    const left = this.#serverUntil - this.#o.clock.now();
    // A server's wait (jitter included) stands, the backoff beyond it does not.
    if (this.#retryTimer !== undefined) this.#o.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (left > 0) this.#retryIn(left);
    else void this.#connect();
  }

  /**
   * The page enters the back/forward cache or is frozen (1000, "page hidden"), or `reconnect()`
   * was called: the socket is closed cleanly now and leaves as a drop that will be retried
   * (requests follow the drop rules at once; the close event comes with the socket's end); no
   * retry is scheduled here (the page shown again, or `reconnect()` at once, dials). A frozen
   * page's socket would die unseen, and Chrome closes it anyway. Only between dial() and the
   * end, so the state is never idle or closed here.
   */
  #drop(code: number, reason: string): void {
    // A dial awaiting its URL function goes on: its link is made when the page runs again.
    if (this.#retryTimer !== undefined) this.#o.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const link = this.#link;
    if (link === undefined) return;
    this.#link = undefined;
    this.#dropped = link;
    // Its end is announced when it comes (willReconnect: the state is not closed); a show before
    // then waits for it, as a dial() after close() does: one socket at a time. Registered before
    // link.close(), which ends a link that never opened at once.
    this.#closing ??= new Map();
    const closing = this.#closing;
    this.#lastClose = new Promise((r) => closing.set(link, r));
    link.close(code, reason);
    this.#out.dropped(true, { code });
    if (this.#state === State.OPEN) this.#setState(State.RECONNECTING);
  }

  /** The page was hidden (or the machine slept) longer than a ping interval: check the line now. */
  #onVisible(hiddenForMs: number): void {
    if (this.#o.pingIntervalMs > 0 && hiddenForMs >= this.#o.pingIntervalMs) this.#link?.probe();
  }

  #emitClose(end: LinkEnd, willReconnect: boolean): void {
    const info = {
      code: end.code,
      reason: end.reason,
      wasClean: end.wasClean,
      willReconnect,
      closedBy: end.closedBy,
    };
    this.#plan?.obs?.event("close", { ...info });
    this.#events.emit("close", info, this.#owner);
  }

  /** Ends for good: state closed, every request and queued message settled, no timer left. */
  #shutdown(reason: EvtWebSocketError | undefined): void {
    this.#epoch++;
    this.#ends++;
    this.#prep?.cancel();
    this.#dropped = undefined;
    this.#unwatch?.();
    this.#unwatch = undefined;
    if (this.#retryTimer !== undefined) this.#o.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const byUser = reason?.code === ErrorCode.CLOSED;
    // Requests end with ERR_CLOSED (the user's close()) or ERR_DISCONNECTED, the terminal reason as cause.
    const ending = byUser
      ? reason
      : evtError(
          ErrorCode.DISCONNECTED,
          `connection ended and will not reconnect${reason ? `: ${reason.message}` : ""}`,
          reason,
        );
    const unsent = this.#out.failAll(ending);
    const dialed = this.#dialed;
    this.#dialed = undefined;
    if (dialed !== undefined) this.#plan?.obs?.event("error", { error: reason ?? ending });
    if (dialed !== undefined) dialed.reject(reason ?? ending);
    else if (reason !== undefined && !byUser) this.#report(reason);
    if (unsent > 0) {
      const message = `${unsent} queued message(s) were not sent: ${ending.message}`;
      this.#report(
        new EvtWebSocketError(ending.code, message, {
          cause: byUser ? undefined : reason,
          details: { unsent },
        }),
      );
    }
    this.endReason = reason;
    this.onShutdown?.(reason);
    // Announced after the errors above (nothing is announced before the transition completes).
    this.#setState(State.CLOSED);
  }

  /** Asks `shouldReconnect`; a throw is reported and counts as no answer (retry). */
  #ask<A>(fn: (info: A) => boolean, info: A): boolean | undefined {
    this.#asking = true;
    try {
      return fn(info);
    } catch (cause) {
      this.#report(evtError(ErrorCode.CALLBACK_THREW, "shouldReconnect threw", cause));
      return undefined;
    } finally {
      this.#asking = false;
    }
  }

  #report(error: EvtWebSocketError): void {
    this.#plan?.obs?.event("error", { error });
    this.#events.emit("error", error, this.#owner);
  }

  #setState(next: State): void {
    const oldState = this.#state;
    if (oldState === next) return;
    if (!canTransition(oldState, next))
      throw new Error(`evtwebsocket bug: illegal transition ${oldState} -> ${next}`);
    this.#state = next;
    this.#events.emit("state", { oldState, newState: next }, this.#owner);
  }
}
