/**
 * One connection for all the tabs of an origin: `createSharedConn(name, options)`.
 *
 * Election. Every tab asks the Web Locks API for the lock `evtwebsocket:<name>` and holds it
 * for its life; the tab that has it is the leader and owns the one real {@link Conn}. The
 * others are followers. When the leader's page closes, crashes or calls `close()`, the lock
 * passes to the next tab in the lock's queue, which builds its own `Conn` and dials within its
 * reconnect policy. A leader whose page is frozen or enters the back/forward cache (`freeze`,
 * `pagehide` with `persisted`) steps down: it closes its socket with 1000 "page hidden" and
 * releases the lock (its own requests in flight are then handled as a follower's through a
 * leader that went away, and the sends it queued go to the next leader); on `resume`/`pageshow` it queues for the lock again, as a follower. Where Web Locks or `BroadcastChannel` is missing, the tab keeps a private
 * `Conn` and its role is "alone".
 *
 * Wire (`wire.ts`). Tabs talk over the BroadcastChannel `evtwebsocket:<name>`, structured-cloned. The codec
 * runs in the leader: a follower posts message bodies, the leader encodes them and posts back
 * every decoded incoming message and every event (errors as `{ code, message }`, rebuilt as
 * {@link EvtWebSocketError} in each tab).
 *
 * A follower's request keeps its own deadline (`timeoutMs`, else `requestTimeoutMs`), so it
 * rejects with `ERR_REQUEST_TIMEOUT` in time even when the leader's tab hangs.
 *
 * Requests are matched in the tab that made them, by a token: a follower's request carries the
 * follower's tab id and a tab-local sequence number; the leader makes an ordinary
 * `conn.request()` with the body (its own `matchMsg`/`messageId` pair the response, exactly as
 * for its own requests) and posts the outcome back addressed to that tab and number, which
 * settles the follower's promise. A matched response is therefore never broadcast as a message.
 *
 * Nothing lost across a handover. A follower keeps each send until the leader acknowledges it;
 * the leader acknowledges a send once it was handed to an open socket (or, when it had to queue
 * it, after the next open flushed the queue). When a new leader announces itself, followers
 * post it every unacknowledged send again, in order (at least once: a leader that died between
 * writing a send and acknowledging it makes a duplicate), and every request still waiting is
 * sent again when it was made with `retryOnReconnect`, or rejects with `ERR_DISCONNECTED`; a
 * leader acknowledges each request once it has written it, and one no leader wrote (made while
 * none led, or only queued by a reconnecting leader) is sent to the new leader, as Conn sends
 * a queued request on reconnect. A
 * follower that closes reports the sends no leader acknowledged, with `ERR_CLOSED` on `error`.
 *
 * `close()` ends this tab's use of the connection: a follower leaves (its requests reject with
 * `ERR_CLOSED`); a leader closes its socket and passes the lock on, so the other tabs carry on
 * with a new leader. What this module does not do: share a `URL` function (it cannot be
 * cloned: a follower forwards a string URL only), forward an `AbortSignal` (an aborted follower
 * request rejects at once; the leader's copy still waits for its response), or share one socket
 * across origins.
 */

import { watchEnvironment } from "../browser-hooks.js";
import { Emitter } from "../emitter.js";
// The public entry only: the build keeps it an import of "evtwebsocket", so this entry and the
// main one share one Conn and one EvtWebSocketError class.
import {
  Conn,
  type ConnStats,
  EvtWebSocketError,
  type RequestOptions,
  type SendOptions,
  type SendResult,
  type StateChange,
  type UrlSource,
} from "../index.js";
import type { MessagesOptions } from "../message-stream.js";
import { resolveSendOptions } from "../send-options.js";
import type { Handshake } from "../types.js";
import { Outgoing } from "./outgoing.js";
import { checked, evtError } from "./public-error.js";
import { FollowerRequests, type Waiting } from "./requests.js";
import { TabRole } from "./role.js";
import { type Emit, SharedState } from "./shared-state.js";
import { TabView } from "./tab-view.js";
import type { Role, SharedConnEvents, SharedConnOptions } from "./types.js";
import { fromWire, type Locks, PREFIX, toWire, type Wire, type WireError } from "./wire.js";

export type { Role, SharedConnEvents, SharedConnOptions } from "./types.js";

const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for("Symbol.asyncDispose");

/**
 * A connection shared by every tab of this origin that uses the same `name`; see the module
 * header for how. Its API is `Conn`'s: `dial`, `send`, `request`, `close`, `on`, `state`,
 * `isConnected`, `messages`, `ping`, `protocol`, `handshake`, `bufferedAmount`, `drained`,
 * `stats`, plus `role`; each member says what it means in a follower.
 */
export class SharedConn<TIn = unknown, TOut = unknown> {
  readonly #options: SharedConnOptions<TIn, TOut>;
  readonly #events: Emitter<SharedConnEvents<TIn, TOut>, SharedConn<TIn, TOut>>;
  /** Emits an event of the shared connection in this tab, the connection as last argument. */
  readonly #emit: Emit<TIn, TOut> = (name, ...args) =>
    // biome-ignore lint/suspicious/noExplicitAny: the shared connection is always the last argument.
    (this.#events.emit as (n: typeof name, ...a: any[]) => void)(name, ...args, this);
  readonly #id = Math.random().toString(36).slice(2);
  #channel: BroadcastChannel | undefined;
  readonly #name: string;
  #unwatch: (() => void) | undefined;
  /** This tab's Conn, made at once so bad options throw here; it dials only as leader or alone. */
  readonly #local: Conn<TIn, TOut>;
  /** The role and the election: the one state machine (`role.ts`). */
  readonly #role: TabRole;
  #url: UrlSource | undefined;
  #sub: string | string[] | undefined;
  #seq = 0;
  /** This tab's sends that no leader acknowledged yet, by sequence number (in order). */
  readonly #unacked = new Outgoing({
    post: (seq, body, o) =>
      this.#post(
        o === undefined
          ? { t: "send", from: this.#id, seq, body }
          : { t: "send", from: this.#id, seq, body, o },
      ),
    expired: (body) =>
      this.#emit(
        "error",
        new EvtWebSocketError("ERR_QUEUE_EXPIRED", "a queued message expired (maxAgeMs) and was dropped", {
          details: { message: body },
        }),
      ),
  });
  /** A follower's iterators and counters. */
  readonly #view: TabView<TIn>;
  /** The shared state and events as this tab tells them (`shared-state.ts`). */
  readonly #shared: SharedState<TIn, TOut>;
  /** This tab listens to its own Conn's "drain" (once someone listens to this one's). */
  #drainHooked = false;
  /** This tab's requests waiting for a response through the leader. */
  readonly #waiting = new FollowerRequests((seq, w) => this.#forward(seq, w));
  /** Leader: acknowledgements held until the queue is flushed on the next open. */
  #acks: { to: string; seq: number; body?: unknown }[] = [];
  /** Opens of this tab's own Conn: a request queued since the last one was never written. */
  #opens = 0;

  /** Use {@link createSharedConn}. */
  constructor(name: string, options: SharedConnOptions<TIn, TOut>) {
    this.#options = options;
    this.#name = PREFIX + name;
    this.#events = new Emitter<SharedConnEvents<TIn, TOut>, SharedConn<TIn, TOut>>((error, event, self) => {
      if (event === "error") console.error("evtwebsocket: an onError handler threw", error);
      else self.#emit("error", evtError("ERR_CALLBACK_THREW", `a "${String(event)}" handler threw`, error));
    }, this);
    const o = options;
    if (o.onConnected) this.on("connected", o.onConnected as SharedConnEvents<TIn, TOut>["connected"]);
    if (o.onMessage) this.on("message", o.onMessage);
    if (o.onError) this.on("error", o.onError);
    if (o.onClose) this.on("close", o.onClose);
    if (o.onReconnecting) this.on("reconnecting", o.onReconnecting);
    this.#view = new TabView<TIn>(
      (listener) => this.on("message", (msg) => listener(msg)),
      (error) => this.#emit("error", error),
    );
    const locks = (globalThis.navigator as { locks?: Locks } | undefined)?.locks;
    const alone = typeof locks?.request !== "function" || typeof BroadcastChannel !== "function";
    this.#role = new TabRole(this.#name, alone);
    this.#shared = new SharedState(this.#emit, this.#view, this.#role);
    this.#local = this.#own(!alone);
    if (alone) return;
    const channel = new BroadcastChannel(this.#name);
    this.#channel = channel;
    channel.onmessage = (e: MessageEvent<Wire>) => this.#receive(e.data);
    // A frozen leader (or one entering the back/forward cache) would hold the lock with a dead
    // socket: it steps down, and queues for the lock again when the page runs again.
    this.#unwatch = watchEnvironment({
      online() {},
      offline() {},
      visible() {},
      page: (shown) => (shown ? this.#elect() : this.#stepDown()),
    });
    this.#elect();
  }

  /** Queues for the lock; the callback runs when this tab becomes the leader. */
  #elect(): void {
    // One transition: "role" and the state changes are announced once the takeover is done,
    // so a listener that calls close() finds the dial already made, and ends it.
    if (this.#role.elect(() => this.#events.run(this, this.#lead))) this.#post({ t: "hello" });
  }

  /** The page is frozen or cached: a leader closes its socket and passes the lock on; a follower stops queueing. */
  #stepDown(): void {
    const conn = this.#local;
    if (!this.#role.stepDown()) return;
    // The acknowledgements it owed are void: each follower sends what no leader acknowledged to
    // the next one (posted later, should this tab lead again, they would count sends twice).
    this.#acks = [];
    void conn.close(1000, "page hidden");
    this.#emit("role", "follower");
  }

  /** The socket holder's Conn: this tab's own while it is the leader, or alone (also once closed). */
  get #conn(): Conn<TIn, TOut> | undefined {
    return this.#role.role === "follower" ? undefined : this.#local;
  }

  /** This tab's role: "leader" (holds the socket), "follower" (forwards to the leader) or "alone". */
  get role(): Role {
    return this.#role.role;
  }

  /** The connection's state; in a follower, the leader's state as last heard ("idle" before). */
  get state(): StateChange["newState"] {
    // A leader's own Conn may say "connecting" where the shared connection is reconnecting.
    return this.#role.role === "alone" ? this.#local.state : this.#shared.state;
  }

  /** True while the shared connection is open. */
  isConnected(): boolean {
    return this.state === "open";
  }

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof SharedConnEvents<TIn, TOut>>(
    event: K,
    listener: SharedConnEvents<TIn, TOut>[K],
  ): () => void {
    if (event === "drain" && !this.#drainHooked) {
      this.#drainHooked = true;
      // Told while this tab's Conn is the shared one (leader, alone); a follower's comes from
      // its held sends.
      this.#local.on("drain", () => this.#conn === this.#local && !this.#role.leaving && this.#emit("drain"));
      this.#unacked.onEmpty = () =>
        this.#role.role === "follower" && !this.#role.closed && this.#emit("drain");
    }
    return this.#events.on(event, listener);
  }

  /**
   * Connects (the leader dials; a follower asks the leader to, with a string URL) and resolves
   * when the shared connection is open. Every tab should dial: a tab that becomes leader dials
   * with its own URL.
   */
  dial(url: UrlSource, subprotocol?: string | string[]): Promise<void> {
    // Checked first: a leader's (or lone tab's) closed Conn would dial again, and a second
    // close() (which returns once this tab closed) would leave that socket open.
    if (this.#role.closed) {
      return Promise.reject(evtError("ERR_CLOSED", "cannot dial: this tab closed the shared connection"));
    }
    const conn = this.#conn;
    const first = this.#url === undefined;
    this.#url = url;
    this.#sub = subprotocol;
    if (conn !== undefined) {
      // A leader whose Conn already took a follower's dial up: this tab's first dial() waits
      // for that connection, as a follower's does (Conn's own would say ERR_ALREADY_DIALED).
      const busy = conn.state !== "idle" && conn.state !== "closed";
      if (this.#role.role === "leader" && first && busy) return this.#shared.whenOpen(true);
      return conn.dial(url, subprotocol).catch((error: EvtWebSocketError) => {
        // This tab stepped down (frozen or cached) while dialling, not closed by the user: the
        // dial goes on through the next leader, which this tab asks to dial.
        if (error?.code !== "ERR_CLOSED" || !this.#role.steppedDown) throw error;
        return this.#shared.whenOpen(true);
      });
    }
    this.#askDial();
    return this.#shared.whenOpen(false);
  }

  /**
   * Sends a message through the one socket, and says what it did, as `Conn.send` does. A leader
   * (or a lone tab) sends on its own Conn: `"sent"`, `"queued"` or `"dropped"`, with every
   * option. A follower hands the message to the leader and returns `"queued"`: it keeps the
   * message until the leader acknowledges it (sent, or queued until the next open), sends it
   * again to a next leader, and reports it at `close()` if none did. A follower's `volatile`
   * message is `"dropped"` when the shared state is not open (and the leader drops it if its
   * socket is not open when it arrives); its `signal` forgets the message while the follower
   * still holds it (a leader's queue drops it no more); its `maxAgeMs` goes to the leader's
   * queue (the time left), and a message the follower still holds past it is not sent again
   * but reported with `ERR_QUEUE_EXPIRED`.
   *
   * @example
   * ```ts
   * if (conn.send(cursor, { volatile: true }) === "dropped") skipped++;
   * ```
   * @throws EvtWebSocketError `ERR_CLOSED`, `ERR_ABORTED` (an already-aborted signal),
   *   `ERR_INVALID_OPTION` (a bad option, or a body that cannot be cloned to the leader tab).
   */
  send(body: TOut, options?: SendOptions): SendResult;
  /**
   * Sends a request (the callback form): the callback gets the matching response, and a
   * failure goes to the `error` event. Returns `"sent"` or `"queued"`, as for a plain message.
   */
  send(body: TOut, callback?: (resp: TIn, conn: SharedConn<TIn, TOut>) => void): SendResult;
  send(body: TOut, callback?: SendOptions | ((resp: TIn, conn: SharedConn<TIn, TOut>) => void)): SendResult {
    if (typeof callback === "function") {
      this.request(body).then(
        (resp) => this.#guard(() => callback(resp, this), "send callback threw"),
        (error: EvtWebSocketError) => this.#emit("error", error),
      );
      return this.#conn?.isConnected() === true ? "sent" : "queued";
    }
    // Conn's checks and wording: a bad option throws ERR_INVALID_OPTION naming it.
    const o =
      callback === undefined
        ? undefined
        : checked(() => resolveSendOptions(callback, (this.#options.queue || undefined)?.maxAgeMs ?? 0));
    const conn = this.#conn;
    if (conn !== undefined) {
      const result = o === undefined ? conn.send(body) : conn.send(body, callback as SendOptions);
      // Queued by a leader: kept until the next open flushes it, for the next leader should
      // this tab step down first.
      if (this.#role.role === "leader" && result === "queued") this.#unacked.add(++this.#seq, body, o);
      return result;
    }
    this.#assertOpen();
    if (o?.signal?.aborted)
      throw evtError("ERR_ABORTED", "send(): the signal was already aborted", o.signal.reason);
    if (o?.volatile && this.#shared.state !== "open") return "dropped";
    this.#unacked.send(++this.#seq, body, o); // throws for a body that cannot be cloned: kept nowhere
    return "queued";
  }

  /** Sends a request and resolves with its matching response, matched for this tab. */
  request(body: TOut, options?: RequestOptions): Promise<TIn> {
    const conn = this.#conn;
    if (conn !== undefined) {
      // Made while not open, it waits in the queue until the next open writes it.
      const queuedAt = conn.isConnected() ? -1 : this.#opens;
      return conn.request(body, options).catch((error: EvtWebSocketError) => {
        // This tab stepped down (frozen or cached), not closed by the user: a request in flight
        // is a drop, as for a follower's through a leader that went away; one never written
        // goes to the next leader, as Conn sends a queued request on reconnect.
        if (error?.code !== "ERR_CLOSED" || !this.#role.steppedDown) throw error;
        if (options?.retryOnReconnect === true || queuedAt === this.#opens)
          return this.request(body, options);
        throw this.#lost();
      });
    }
    try {
      this.#assertOpen();
    } catch (error) {
      return Promise.reject(error); // a promise that rejects, as Conn's request() gives
    }
    // 30 s is Conn's default requestTimeoutMs.
    return this.#waiting.add<TIn>(++this.#seq, body, options, this.#options.requestTimeoutMs ?? 30_000);
  }

  /**
   * An async iterator of the messages this tab's `"message"` event gets, across handovers and
   * reconnects; Conn's iterator (`bufferSize`, `overflow`). It ends when this tab calls
   * `close()` (done), or throws the reason when the shared connection gives up
   * (`ERR_RECONNECT_EXHAUSTED`). In a follower (and a leader) messages cross from the leader
   * over a BroadcastChannel, which cannot be paused: a full buffer does what `overflow` says.
   * A lone tab's is its own Conn's, which pauses the socket where it can.
   *
   * @throws EvtWebSocketError `ERR_INVALID_OPTION` for a bad `bufferSize` or `overflow`.
   * @example
   * ```ts
   * for await (const msg of conn.messages({ bufferSize: 256 })) render(msg);
   * ```
   */
  messages(options?: MessagesOptions): AsyncIterableIterator<TIn> {
    if (this.#role.role === "alone") return this.#local.messages(options);
    return this.#view.messages(options, this.#role.closed);
  }

  /** `for await (const msg of conn)`: the same as {@link messages} with its defaults. */
  [Symbol.asyncIterator](): AsyncIterableIterator<TIn> {
    return this.messages();
  }

  /**
   * Sends a liveness ping now, through the one socket: a leader (or a lone tab) pings at once;
   * a follower asks the leader to, and hears the `"pong"` event as every tab does. Checked in
   * this tab: the heartbeat must be on (the leader's own `pingIntervalMs` then decides).
   *
   * @throws EvtWebSocketError `ERR_INVALID_OPTION` when `pingIntervalMs` is not set.
   */
  ping(): void {
    const conn = this.#conn;
    if (conn !== undefined) {
      conn.ping();
      return;
    }
    if (!((this.#options.pingIntervalMs ?? 0) > 0))
      throw evtError("ERR_INVALID_OPTION", "ping() needs the heartbeat: set pingIntervalMs");
    if (!this.#role.closed) this.#post({ t: "ping" });
  }

  /**
   * The subprotocol the server chose for the shared connection; "" when none. A follower has
   * the leader's, as last heard (it comes with every state change and open).
   */
  get protocol(): string {
    return this.#conn?.protocol ?? this.#shared.protocol;
  }

  /**
   * What the open connection's handshake settled (see `Conn.handshake`); `undefined` while not
   * open. A follower has the leader's, as last heard.
   */
  get handshake(): Handshake | undefined {
    const conn = this.#conn;
    if (conn !== undefined) return conn.handshake;
    return this.#shared.state === "open" ? this.#shared.handshake : undefined;
  }

  /**
   * Bytes handed to the socket but not yet written (see `Conn.bufferedAmount`). 0 in a
   * follower, which holds no socket: what it waits for is counted by `drained()`.
   */
  get bufferedAmount(): number {
    return this.#conn?.bufferedAmount ?? 0;
  }

  /**
   * Resolves once nothing of this tab's waits to leave. A leader (or a lone tab): its Conn's
   * `drained()`. A follower: once the leader acknowledged every send this follower made
   * (written to the open socket, or flushed from the leader's queue on the next open). Rejects
   * with `ERR_CLOSED` when this tab closes while waiting, and at once after.
   *
   * @example
   * ```ts
   * for (const chunk of chunks) {
   *   await conn.drained();
   *   conn.send(chunk);
   * }
   * ```
   */
  drained(): Promise<void> {
    const conn = this.#conn;
    if (conn !== undefined) return conn.drained();
    if (this.#role.closed)
      return Promise.reject(evtError("ERR_CLOSED", "cannot wait for drain: connection is closed"));
    return this.#unacked.drained();
  }

  /**
   * A snapshot of the counters. A leader (or a lone tab): its Conn's, which count every
   * tab's messages through its socket. A follower: this tab's own view: `messagesSent` its
   * sends and requests a leader acknowledged, `messagesReceived` the messages its `"message"`
   * event got plus the responses to its requests, `bytesSent`/`bytesReceived` 0 (it sees no
   * frames), `reconnects` the reconnects it heard of, `pendingRequests` its requests waiting,
   * `queuedMessages` its sends not yet acknowledged, `lastRttMs` the last pong it heard of.
   */
  get stats(): ConnStats {
    const conn = this.#conn;
    if (conn !== undefined) return conn.stats;
    return this.#view.stats(this.#waiting.size, this.#unacked.size);
  }

  /**
   * Ends this tab's use of the shared connection. A leader closes its socket with `code` and
   * `reason` and passes the lock on (another tab dials); a follower leaves and its waiting
   * requests reject with `ERR_CLOSED`. After it, `dial()` rejects with `ERR_CLOSED`.
   */
  async close(code = 1000, reason = ""): Promise<void> {
    if (this.#role.closed) return;
    const conn = this.#conn;
    // Conn's check, made first: a bad code or reason rejects with Conn's error and changes
    // nothing (marked closed, a leader would keep its socket and the lock). In a follower too,
    // through its own idle Conn, which only checks them.
    const good = Number.isInteger(code) && (code === 1000 || (code >= 3000 && code <= 4999));
    if (!(good && typeof reason === "string" && new TextEncoder().encode(reason).length <= 123))
      return (conn ?? this.#local).close(code, reason);
    this.#role.close();
    this.#unwatch?.();
    const closed = evtError("ERR_CLOSED", "connection closed by close()");
    this.#view.end(undefined);
    // A dial() made while following may have heard no state change yet: it settles now.
    this.#shared.reject(closed);
    if (conn !== undefined) {
      // Sends taken over as a follower, still queued: Conn reports them; a drained() from then rejects.
      this.#unacked.clear(closed);
      await conn.close(code, reason);
      this.#role.release();
    } else {
      this.#waiting.rejectAll(closed);
      const unsent = this.#unacked.clear(closed);
      this.#shared.set("closed");
      if (unsent > 0) {
        this.#emit(
          "error",
          new EvtWebSocketError("ERR_CLOSED", `${unsent} message(s) were not acknowledged by the leader`, {
            details: { unsent },
          }),
        );
      }
    }
    this.#channel?.close();
    this.#channel = undefined;
  }

  /** `await using conn = createSharedConn(...)` closes it at the end of the scope. */
  [asyncDispose](): Promise<void> {
    return this.close();
  }

  #assertOpen(): void {
    if (this.#role.closed) throw evtError("ERR_CLOSED", "cannot send: connection is closed");
  }

  #askDial(): void {
    const url = this.#url;
    if (url !== undefined && typeof url !== "function")
      this.#post({ t: "dial", url: String(url), sub: this.#sub, from: this.#id });
  }

  #forward(seq: number, w: Waiting): void {
    this.#post({ t: "req", from: this.#id, seq, body: w.body, timeoutMs: w.timeoutMs, retry: w.retry });
  }

  #post(message: Wire): void {
    try {
      this.#channel?.postMessage(message);
    } catch (cause) {
      // Leader: a decoded message or response the structured clone refuses (one holding a
      // function). The other tabs hear why instead; a follower's request rejects.
      if (message.t === "send" || message.t === "req")
        throw evtError(
          "ERR_INVALID_OPTION",
          "cannot send: the message cannot be cloned to the leader tab",
          cause,
        );
      if (message.t !== "ev" && message.t !== "res") throw cause;
      const error = evtError("ERR_DECODE", "a decoded message could not be cloned to the other tabs", cause);
      if (message.t === "res")
        this.#post({ t: "res", to: message.to, seq: message.seq, error: toWire(error) });
      else if (message.name !== "error") this.#post({ t: "ev", name: "error", arg: toWire(error) });
    }
  }

  /** This tab's own Conn, its events told here and, when `fan` is set, to every other tab. */
  #own(fan: boolean): Conn<TIn, TOut> {
    const { onConnected, onMessage, onError, onClose, onReconnecting, ...rest } = this.#options;
    const conn = new Conn<TIn, TOut>(rest);
    const tell = (name: keyof SharedConnEvents<TIn, TOut>, arg: unknown, wire: unknown = arg) => {
      // A leader that stepped down: its old socket's end is not the shared connection's news.
      if (this.#role.steppedDown) return;
      if (fan && !this.#role.leaving)
        this.#post(
          name === "connected" || name === "state"
            ? { t: "ev", name, arg: wire, p: conn.protocol, h: conn.handshake }
            : { t: "ev", name, arg: wire },
        );
      this.#shared.event(name, arg);
    };
    conn.on("message", (msg) => tell("message", msg));
    conn.on("state", ({ newState }) => {
      // Ended for good (not stepping down): Conn reports its queued sends; none is kept.
      // So are the followers' it queued: acknowledged as dropped, not sent by a later open.
      if (newState === "closed" && !this.#role.leaving) {
        this.#unacked.clear();
        for (const { to, seq } of this.#acks.splice(0)) this.#post({ t: "ack", to, seq, dropped: true });
      }
      tell("state", newState);
    });
    conn.on("connected", () => {
      this.#opens++;
      tell("connected", undefined);
      // The queue is flushed after the connected listeners: acknowledge what it held then.
      if (fan) setTimeout(() => this.#flushAcks(), 0);
    });
    conn.on("close", (info) => tell("close", info));
    // All of it crosses: the server's wait as is, the error as `{ code, message }`.
    conn.on("reconnecting", (info) =>
      tell("reconnecting", info, info.error ? { ...info, error: toWire(info.error) } : info),
    );
    conn.on("pong", (info) => tell("pong", info));
    conn.on("error", (error) => {
      // A queued send it dropped and reports (to every tab) is not held, nor sent again, anywhere.
      const i = this.#unacked.dropped(error, fan ? this.#acks.map((a) => a.body) : []);
      if (i >= 0) {
        const [{ to, seq }] = this.#acks.splice(i, 1) as [{ to: string; seq: number }];
        this.#post({ t: "ack", to, seq, dropped: true });
      }
      tell("error", error, toWire(error));
    });
    return conn;
  }

  /** This tab got the lock: it builds the one Conn and takes over what waited on the old leader. */
  #lead(): void {
    if (!this.#role.to("lead")) return;
    const conn = this.#local;
    this.#post({ t: "leader" });
    this.#emit("role", "leader");
    // Its failure is this tab's dial() failure too: a dial() made while following may have
    // heard no state change of this dial (it was "connecting" already), so it is told here.
    if (this.#url !== undefined)
      conn.dial(this.#url, this.#sub).catch((error: Error) => {
        // Not when stepping down: the dial goes on through the next leader.
        if (!this.#role.leaving) this.#shared.reject(error);
      });
    // Kept, as this tab's own queued sends are, until the connection opens (see #flushAcks).
    // Taken over, not let go of: a drained() waiting since this tab followed waits for the open.
    for (const [seq, held] of this.#unacked.take()) {
      const o = this.#unacked.wire(held);
      if (o === "expired") {
        this.#unacked.drop(held);
        continue;
      }
      this.#guard(() => {
        // Its signal still applies: this tab's own queue holds it now.
        const result = conn.send(held.body as TOut, { ...o, signal: held.signal });
        if (result === "queued") this.#unacked.add(seq, held.body, { ...held, maxAgeMs: 0 }, held.expiresAt);
      });
    }
    this.#unacked.settle();
    this.#waiting.handOver(conn, () => this.#lost());
  }

  #lost(): EvtWebSocketError {
    return evtError("ERR_DISCONNECTED", "the leader tab went away while the request was in flight");
  }

  #receive(m: Wire): void {
    // A leader that is closing serves no one: what followers post meanwhile (not acknowledged,
    // not taken) goes to the next leader.
    const conn = this.#role.leads ? this.#local : undefined;
    if (conn !== undefined) {
      if (m.t === "hello")
        this.#post({
          t: "ev",
          name: "state",
          arg: conn.state,
          join: true,
          p: conn.protocol,
          h: conn.handshake,
        });
      else if (m.t === "ping") this.#guard(() => conn.ping(), "ping() failed in the leader tab");
      else if (m.t === "dial" && (conn.state === "idle" || conn.state === "closed")) {
        const { from } = m;
        // A URL or subprotocol refused at once changes no state: the follower that asked is told.
        conn
          .dial(m.url, m.sub)
          .catch((error) => from && this.#post({ t: "refused", to: from, error: toWire(error) }));
      } else if (m.t === "send") {
        try {
          const result = m.o === undefined ? conn.send(m.body as TOut) : conn.send(m.body as TOut, m.o);
          // A volatile one it dropped (not open) is acknowledged as such: not counted as sent.
          if (result === "dropped") this.#post({ t: "ack", to: m.from, seq: m.seq, dropped: true });
          else if (result !== "queued") this.#post({ t: "ack", to: m.from, seq: m.seq });
          else this.#acks.push({ to: m.from, seq: m.seq, body: m.body });
        } catch (error) {
          this.#post({ t: "ack", to: m.from, seq: m.seq, error: toWire(error) });
        }
      } else if (m.t === "req") {
        const { from: to, seq } = m;
        // Taken once written: a request this leader only queued goes to the next leader if this
        // one goes away first, as Conn sends a queued request on reconnect.
        if (conn.isConnected()) this.#post({ t: "ack", to, seq });
        else this.#acks.push({ to, seq });
        conn.request(m.body as TOut, { timeoutMs: m.timeoutMs, retryOnReconnect: m.retry }).then(
          (value) => this.#post({ t: "res", to, seq, value }),
          // A leaving leader's requests are the next leader's business, not an error.
          (error) => this.#role.leaving || this.#post({ t: "res", to, seq, error: toWire(error) }),
        );
      }
      return;
    }
    if (this.#role.closed || this.#role.role !== "follower") return;
    if (m.t === "leader") {
      // A new leader: what the old one did not acknowledge or answer is sent again or rejected.
      this.#askDial();
      this.#unacked.forwardAll();
      // One no leader took (made while none led) goes to this one, as Conn sends on reconnect
      // a request made while reconnecting.
      this.#waiting.newLeader(() => this.#lost());
    } else if (m.t === "refused" && m.to === this.#id) {
      const error = fromWire(m.error);
      this.#shared.reject(error);
    } else if (m.t === "ack" && m.to === this.#id) {
      if (!m.error && !m.dropped) this.#view.sent++;
      this.#unacked.delete(m.seq);
      this.#waiting.taken(m.seq);
      if (m.error) this.#emit("error", fromWire(m.error));
    } else if (m.t === "res" && m.to === this.#id) {
      if (this.#waiting.settle(m.seq, m.error && fromWire(m.error), m.value) && !m.error)
        this.#view.received++;
    } else if (m.t === "ev") {
      if (m.p !== undefined) {
        this.#shared.protocol = m.p;
        this.#shared.handshake = m.h;
      }
      const arg = m.arg as { error?: WireError };
      const was = this.#shared.state;
      if (m.name === "error") this.#shared.event(m.name, fromWire(m.arg as WireError));
      else this.#shared.event(m.name, arg?.error ? { ...arg, error: fromWire(arg.error) } : arg);
      // A tab that joins a connection already open hears no "connected" of its own: it is told
      // here, once, as its dial() resolves (Conn's dial resolves after onConnected was called).
      if (m.join && was !== "open" && this.#shared.state === "open") this.#shared.connected();
    }
  }

  #flushAcks(): void {
    if (this.#role.role === "leader") this.#unacked.clear(); // this tab's own: flushed with the queue
    for (const { to, seq } of this.#acks.splice(0)) this.#post({ t: "ack", to, seq });
  }

  #guard(fn: () => void, what = "send failed"): void {
    try {
      fn();
    } catch (error) {
      this.#emit(
        "error",
        error instanceof EvtWebSocketError ? error : evtError("ERR_CALLBACK_THREW", what, error),
      );
    }
  }
}

/**
 * Creates a connection shared by every tab of this origin that uses the same `name` (one
 * socket for all of them; see {@link SharedConn}). Call `dial()` in every tab.
 *
 * @param name - what tabs share by: tabs with the same name share one socket. A non-empty string.
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` when `name` is not a non-empty string, or an option is invalid.
 * @example
 * ```ts
 * const conn = createSharedConn("feed", { codec: json(), messageId: (m) => m.id });
 * conn.on("message", (msg) => render(msg));
 * await conn.dial("wss://example.com/feed");
 * console.log(conn.role); // "leader" in one tab, "follower" in the others
 * ```
 */
export function createSharedConn<TIn = unknown, TOut = unknown>(
  name: string,
  options: SharedConnOptions<TIn, TOut> = {},
): SharedConn<TIn, TOut> {
  if (typeof name !== "string" || name === "") {
    throw evtError(
      "ERR_INVALID_OPTION",
      `createSharedConn(): name must be a non-empty string, got ${JSON.stringify(name)}`,
    );
  }
  return new SharedConn<TIn, TOut>(name, options);
}
