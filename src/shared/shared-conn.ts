/**
 * One connection for all the tabs of an origin: `createSharedConn(name, options)`, and the
 * {@link SharedConn} facade, which has `Conn`'s API and wires the parts below.
 *
 * The tabs that use the same `name` elect one leader with the Web Locks API (`role.ts`, the one
 * state machine: alone, follower, leader, stepped down, closed). The leader holds the one real
 * {@link Conn} and serves the others (`leader.ts`); every other tab forwards `send`, `request`,
 * `ping` and `dial` to it over the BroadcastChannel `evtwebsocket:<name>` (`follower.ts`,
 * `wire.ts`, structured-cloned), and hears every message and event back (`shared-state.ts`).
 * When the leader's page closes, crashes, is frozen or cached, the lock passes on and the next
 * tab dials within its reconnect policy; nothing a follower sent is lost across the handover.
 * A page in the back/forward cache leaves the channel until it is restored (Chromium evicts a
 * cached page that is posted to); back, it treats what it missed as a handover.
 * Where Web Locks or `BroadcastChannel` is missing, the tab keeps a private `Conn` and its role
 * is "alone".
 *
 * `close()` ends this tab's use of the connection: a follower leaves (its requests reject with
 * `ERR_CLOSED`); a leader closes its socket and passes the lock on, so the other tabs carry on
 * with a new leader. What this module does not do: share a `URL` function (it cannot be
 * cloned: a follower forwards a string URL only), forward an `AbortSignal` (an aborted follower
 * request rejects at once; the leader's copy still waits for its response), or share one socket
 * across origins.
 */

import { isThenable } from "../attempt.js";
import { watchEnvironment } from "../browser-hooks.js";
import { Emitter } from "../emitter.js";
// The public entry only: the build keeps it an import of "evtwebsocket", so this entry and the
// main one share one Conn and one EvtWebSocketError class.
import type {
  Conn,
  ConnStats,
  Data,
  EvtWebSocketError,
  RequestOptions,
  Sendable,
  SendOptions,
  SendResult,
  StateChange,
  UrlSource,
} from "../index.js";
import type { MessagesOptions } from "../message-stream.js";
import { checkOn, closeProblem, EVENTS, shown } from "../option-checks.js";
import { resolveSendOptions } from "../send-options.js";
import type { Handshake } from "../types.js";
import { Follower } from "./follower.js";
import { Leader } from "./leader.js";
import { checked, evtError } from "./public-error.js";
import { TabRole } from "./role.js";
import type { Emit } from "./shared-state.js";
import { Tab } from "./tab.js";
import { TabView } from "./tab-view.js";
import type { Role, SharedConnEvents, SharedConnOptions } from "./types.js";
import { type Locks, PREFIX, type Wire } from "./wire.js";

export type { Role, SharedConnEvents, SharedConnOptions } from "./types.js";

const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for("Symbol.asyncDispose");

/**
 * A connection shared by every tab of this origin that uses the same `name`; see the module
 * header for how. Its API is `Conn`'s: `dial`, `send`, `request`, `close`, `on`, `state`,
 * `isConnected`, `messages`, `ping`, `protocol`, `handshake`, `bufferedAmount`, `drained`,
 * `stats`, `id`, `reconnect`, plus `role`; each member says what it means in a follower.
 */
export class SharedConn<TIn = Data, TOut = Sendable> {
  readonly #events: Emitter<SharedConnEvents<TIn, TOut>, SharedConn<TIn, TOut>>;
  /**
   * Emits an event of the shared connection in this tab, the connection as last argument;
   * "connected" through {@link #connected}, which returns what its listeners' promises hold.
   */
  readonly #emit: Emit<TIn, TOut> = (name, ...args) =>
    name === "connected"
      ? this.#connected()
      : // biome-ignore lint/suspicious/noExplicitAny: the shared connection is always the last argument.
        (this.#events.emit as (n: typeof name, ...a: any[]) => void)(name, ...args, this);
  /** The parts this tab's leader and follower sides share (`tab.ts`). */
  readonly #t: Tab<TIn, TOut>;
  /** This tab's own Conn and its side as the socket holder (`leader.ts`). */
  readonly #leader: Leader<TIn, TOut>;
  /** Its side as a follower (`follower.ts`). */
  readonly #follower: Follower<TIn, TOut>;
  #unwatch: (() => void) | undefined;
  /** This tab listens to its own Conn's "drain" (once someone listens to this one's). */
  #drainHooked = false;
  /** The socket close() waits for: a second close() waits for it too, as Conn's does. */
  #closing: Promise<void> | undefined;

  /** Use {@link createSharedConn}. */
  constructor(name: string, options: SharedConnOptions<TIn, TOut>) {
    const lock = PREFIX + name;
    this.#events = new Emitter<SharedConnEvents<TIn, TOut>, SharedConn<TIn, TOut>>((error, event, self) => {
      if (event === "error") console.error("evtwebsocket: an onError handler threw", error);
      else self.#emit("error", evtError("ERR_CALLBACK_THREW", `a "${String(event)}" handler threw`, error));
    }, this);
    // onConnected -> "connected", and so on: one loop instead of five lines (browser bytes), as Conn's.
    for (const event of EVENTS.slice(0, 5) as ["connected", "message", "error", "close", "reconnecting"]) {
      const listener = options[`on${event[0]!.toUpperCase()}${event.slice(1)}` as keyof typeof options];
      if (listener) this.on(event, listener as never);
    }
    const view = new TabView<TIn>(
      (listener) => this.on("message", (msg) => listener(msg)),
      (error) => this.#emit("error", error),
    );
    const locks = (globalThis.navigator as { locks?: Locks } | undefined)?.locks;
    const alone = typeof locks?.request !== "function" || typeof BroadcastChannel !== "function";
    const role = new TabRole(lock, alone);
    this.#t = new Tab<TIn, TOut>(options, this.#emit, role, view, (seq, w) => this.#follower.forward(seq, w));
    this.#leader = new Leader(this.#t, !alone);
    this.#follower = new Follower(this.#t);
    if (alone) return;
    const listen = () => {
      const channel = new BroadcastChannel(lock);
      channel.onmessage = (e: MessageEvent<Wire>) => this.#receive(e.data);
      this.#t.channel = channel;
    };
    listen();
    // One watcher of the page for both jobs. A page in the back/forward cache has no channel:
    // Chromium evicts a cached page that is posted to (BroadcastChannelOnMessage). Back, it says
    // hello (or, should it lead already, who leads) and has heard of no leadership: the answer
    // counts as a new leader's, so what it missed (acknowledgements, answers) is handled as
    // across a handover. And a frozen leader (or one entering the back/forward cache) would hold
    // the lock with a dead socket: it steps down, and queues for the lock again when the page
    // runs again. Not every runtime with Web Locks and BroadcastChannel has page events (Node 24
    // has none): watching is then a no-op.
    this.#unwatch = watchEnvironment({
      online() {},
      offline() {},
      visible() {},
      page: (shown, cached) => {
        const t = this.#t;
        if (cached && shown) {
          listen();
          t.post(t.role.leads ? { t: "leader", l: t.lead! } : { t: "hello" });
        } else if (cached) {
          t.channel?.close();
          t.channel = undefined;
          t.lead = undefined;
        }
        if (shown) this.#elect();
        else this.#leader.stepDown();
      },
    });
    this.#elect();
  }

  /**
   * Calls this tab's "connected" listeners, as Conn does: one step (what they announce comes
   * after), and a promise one returns is waited for. Returns, when any did, a promise that
   * settles once they all have, having reported each rejection to this tab's `error` event as
   * `ERR_CALLBACK_THREW` (this tab's callback failed: no other tab is told). The socket
   * holder's Conn waits for it before it flushes its queue (`leader.ts`).
   */
  #connected(): unknown {
    let waits: unknown[] = [];
    this.#events.run(this, () => {
      // What Conn waits for (attempt.ts's isThenable): an object whose `then` is no function is no promise.
      waits = this.#events
        .emitCollect("connected", this)
        .filter(isThenable)
        .map((w) =>
          w.then(undefined, (e) =>
            this.#emit("error", evtError("ERR_CALLBACK_THREW", "onConnected rejected", e)),
          ),
        );
    });
    return waits.length > 0 && Promise.all(waits);
  }

  /** Queues for the lock; the callback runs when this tab becomes the leader. */
  #elect(): void {
    // One transition: "role" and the state changes are announced once the takeover is done,
    // so a listener that calls close() finds the dial already made, and ends it.
    if (this.#t.role.elect(() => this.#events.run(this.#leader, this.#leader.lead)))
      this.#t.post({ t: "hello" });
  }

  /** The socket holder's Conn: this tab's own while it is the leader, or alone (also once closed). */
  get #conn(): Conn<TIn, TOut> | undefined {
    return this.#t.role.role === "follower" ? undefined : this.#leader.conn;
  }

  /**
   * This tab's connection id, as `Conn.id`: a short string unique in the page, the one its
   * logger's lines carry while this tab holds the socket.
   */
  get id(): string {
    return this.#leader.conn.id;
  }

  /** This tab's role: "leader" (holds the socket), "follower" (forwards to the leader) or "alone". */
  get role(): Role {
    return this.#t.role.role;
  }

  /** The connection's state; in a follower, the leader's state as last heard ("idle" before). */
  get state(): StateChange["newState"] {
    // A leader's own Conn may say "connecting" where the shared connection is reconnecting.
    return this.#t.role.role === "alone" ? this.#leader.conn.state : this.#t.shared.state;
  }

  /** True while the shared connection is open. */
  isConnected(): boolean {
    return this.state === "open";
  }

  /**
   * Adds a listener; returns the function that removes it.
   *
   * @throws EvtWebSocketError `ERR_INVALID_OPTION` for an unknown event or a listener that is not a function.
   */
  on<K extends keyof SharedConnEvents<TIn, TOut>>(
    event: K,
    listener: SharedConnEvents<TIn, TOut>[K],
  ): () => void {
    checked(() => checkOn([...EVENTS, "role"], event, listener));
    if (event === "drain" && !this.#drainHooked) {
      this.#drainHooked = true;
      // Told while this tab's Conn is the shared one (leader, alone); a follower's comes from
      // its held sends.
      this.#leader.conn.on(
        "drain",
        () => this.#conn === this.#leader.conn && !this.#t.role.leaving && this.#emit("drain"),
      );
      this.#t.unacked.onEmpty = () =>
        this.#t.role.role === "follower" && !this.#t.role.closed && this.#emit("drain");
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
    if (this.#t.role.closed) {
      return Promise.reject(evtError("ERR_CLOSED", "cannot dial: this tab closed the shared connection"));
    }
    const first = this.#t.url === undefined;
    const s = this.#t.shared.state;
    // As Conn's (and a leader's, whose Conn says it): a follower's second dial() while the
    // shared connection is up is refused, not joined.
    if (!first && this.#conn === undefined && (s === "connecting" || s === "open" || s === "reconnecting"))
      return Promise.reject(evtError("ERR_ALREADY_DIALED", `cannot dial: connection is already ${s}`));
    this.#t.url = url;
    this.#t.sub = subprotocol;
    if (this.#conn !== undefined) return this.#leader.dial(url, subprotocol, first);
    this.#follower.askDial();
    return this.#t.shared.whenOpen(false);
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
        (resp) => this.#t.guard(() => callback(resp, this), "send callback threw"),
        (error: EvtWebSocketError) => this.#emit("error", error),
      );
      return this.#conn?.isConnected() === true ? "sent" : "queued";
    }
    // Conn's checks and wording: a bad option throws ERR_INVALID_OPTION naming it.
    const o =
      callback === undefined
        ? undefined
        : checked(() => resolveSendOptions(callback, (this.#t.options.queue || undefined)?.maxAgeMs ?? 0));
    return this.#conn !== undefined
      ? this.#leader.send(body, callback as SendOptions | undefined, o)
      : this.#follower.send(body, o);
  }

  /** Sends a request and resolves with its matching response, matched for this tab. */
  request(body: TOut, options?: RequestOptions): Promise<TIn> {
    return this.#conn !== undefined
      ? this.#leader.request(body, options, () => this.request(body, options))
      : this.#follower.request(body, options);
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
    if (this.#t.role.role === "alone") return this.#leader.conn.messages(options);
    return this.#t.view.messages(options, this.#t.role.closed);
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
    this.#follower.ping();
  }

  /**
   * The subprotocol the server chose for the shared connection; "" when none. A follower has
   * the leader's, as last heard (it comes with every state change and open).
   */
  get protocol(): string {
    return this.#conn?.protocol ?? this.#t.shared.protocol;
  }

  /**
   * What the open connection's handshake settled (see `Conn.handshake`); `undefined` while not
   * open. A follower has the leader's, as last heard.
   */
  get handshake(): Handshake | undefined {
    const conn = this.#conn;
    if (conn !== undefined) return conn.handshake;
    return this.#t.shared.state === "open" ? this.#t.shared.handshake : undefined;
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
    if (this.#t.role.closed)
      return Promise.reject(evtError("ERR_CLOSED", "cannot wait for drain: connection is closed"));
    return this.#t.unacked.drained();
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
    return this.#t.view.stats(this.#t.waiting.size, this.#t.unacked.size);
  }

  /**
   * Ends this tab's use of the shared connection. A leader closes its socket with `code` and
   * `reason` and passes the lock on (another tab dials); a follower leaves and its waiting
   * requests reject with `ERR_CLOSED`. After it, `dial()` rejects with `ERR_CLOSED`.
   */
  async close(code = 1000, reason = ""): Promise<void> {
    if (this.#t.role.closed) return this.#closing;
    const conn = this.#conn;
    // Conn's check, made first: a bad code or reason rejects with Conn's error and changes
    // nothing (marked closed, a leader would keep its socket and the lock). In a follower too,
    // through its own idle Conn, which only checks them.
    if (closeProblem(code, reason)) return (conn ?? this.#leader.conn).close(code, reason);
    const stepped = this.#t.role.steppedDown;
    this.#t.role.close();
    this.#leader.halt(); // no timer outlives close()
    this.#unwatch?.();
    const closed = evtError("ERR_CLOSED", "connection closed by close()");
    this.#t.view.end(undefined);
    // A dial() made while following may have heard no state change yet: it settles now.
    this.#t.shared.reject(closed);
    // Sends taken over as a follower, still queued: Conn reports them; a drained() from then rejects.
    if (conn !== undefined) this.#t.unacked.clear(closed);
    else this.#follower.leave(closed);
    // The socket (a leader's, or the old one of a leader that stepped down, maybe still closing):
    // none outlives close(), and a second close() waits for it too, as Conn's does.
    if (conn || stepped) {
      this.#closing = this.#leader.conn.close(code, reason);
      await this.#closing;
    }
    this.#t.role.release();
    this.#t.channel?.close();
    this.#t.channel = undefined;
  }

  /**
   * Drops the one socket and dials again at once, as `Conn.reconnect()` does (in the leader's
   * tab: a follower asks the leader); the shared connection's queue and requests follow Conn's
   * reconnect rules there. A follower's ask is not kept: made while the lock passes to a new
   * leader, it is lost (as `ping()`'s), and a failure is reported in the leader's tab.
   *
   * @throws EvtWebSocketError `ERR_CLOSED` before `dial()` or after `close()`;
   *   `ERR_INVALID_OPTION` for a code or reason that `close()` refuses.
   */
  reconnect(code = 1000, reason = ""): void {
    const conn = this.#conn;
    if (conn !== undefined) {
      conn.reconnect(code, reason);
      return;
    }
    const s = this.#t.role.closed ? "closed" : this.state;
    if (s === "idle" || s === "closed") throw evtError("ERR_CLOSED", `cannot reconnect: connection is ${s}`);
    // Conn's checks and messages, made here so a bad code or reason is refused in this tab.
    const bad = closeProblem(code, reason);
    if (bad !== undefined) throw evtError("ERR_INVALID_OPTION", bad);
    this.#follower.reconnect(code, reason);
  }

  /** `await using conn = createSharedConn(...)` closes it at the end of the scope. */
  [asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * What another tab posted. Data this version cannot read (posted by another version of the
   * library, or another script, on the same channel: null, a number, an event without its
   * argument) is dropped where it throws: it must not throw in this page.
   */
  #receive(m: Wire): void {
    try {
      if (this.#t.role.leads) this.#leader.serve(m);
      else this.#follower.receive(m);
    } catch {}
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
export function createSharedConn<TIn = Data, TOut = Sendable>(
  name: string,
  options: SharedConnOptions<TIn, TOut> = {},
): SharedConn<TIn, TOut> {
  if (typeof name !== "string" || name === "") {
    throw evtError(
      "ERR_INVALID_OPTION",
      `createSharedConn(): name must be a non-empty string, got ${shown(name)}`,
    );
  }
  return new SharedConn<TIn, TOut>(name, options);
}
