/**
 * One model run: a `Conn` on the in-memory transport and the model clock, driven by the
 * commands (commands.ts), with every call, event and outcome written to the run's script and
 * recorded in its books (books.ts, which judges them).
 *
 * Actions are the same whether the script makes them or a callback does (`arm`: the next time
 * that callback runs, it makes the call). A violation is recorded, never thrown inside a
 * callback (the connection would report the throw as ERR_CALLBACK_THREW); the step that found
 * it fails with the script so far.
 */

import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { CHANNELS } from "../../src/channel-names.js";
import { json, raw } from "../../src/codec.js";
import { Conn } from "../../src/conn.js";
import type { EvtWebSocketError } from "../../src/errors.js";
import type { ConnOptions, QueueOptions, ReconnectOptions } from "../../src/options.js";
import type { SendOptions } from "../../src/send-options.js";
import { TRANSPORT_OVERRIDE } from "../../src/transport/select.js";
import type { TransportClose, TransportEvents } from "../../src/transport/types.js";
import type { UrlSource } from "../../src/types.js";
import { Books, type CloseCall, codeOf, type DialCall, type RequestCall, type SendCall } from "./books.js";
import { ModelClock } from "./clock.js";
import {
  type Action,
  CALLBACK_NAMES,
  type CallbackEvent,
  describeAction,
  describeSendOptions,
  type ModelConfig,
  urlText,
} from "./config.js";
import { type MemorySocket, MemoryTransport } from "./memory-transport.js";
import type { PropertyName, Verdict } from "./properties.js";
import { ModelViolation, Script, type Violation } from "./script.js";
import { describeMsg, type Msg, type Wire, wireFor } from "./wire.js";

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === "function";
}

/**
 * The page's events (back/forward cache), installed once as the global object's: the
 * connection watches `globalThis` from dial() to its end (src/browser-hooks.ts).
 */
const fakePage = new EventTarget();
Object.assign(globalThis, {
  addEventListener: fakePage.addEventListener.bind(fakePage),
  removeEventListener: fakePage.removeEventListener.bind(fakePage),
});

/** The arrow that marks a call made from inside a callback. */
const arrow = (where: string): string => (where === "" ? "" : "→ ");

/** Lets every pending promise reaction run (the connection's awaits, our then-handlers). */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A call of the headers function whose promise a command releases ("held" headers). */
export interface Hold {
  /** The call's number (1 first): the headers it resolves with carry it as `x-call`. */
  id: number;
  /** close() calls made before it: one made after it makes it stale. */
  closesAtMake: number;
  /** The attempt it was made for (see ModelRun's #attemptEra). */
  era: number;
  resolve(headers: Record<string, string>): void;
  reject(error: Error): void;
}

/** How a command releases a held headers call. */
export type Release = "resolve" | "reject" | "invalid";

/** A message for a socket, with its line of script. */
export interface Delivery {
  data: string | Uint8Array;
  text: string;
}

/** A run of the model: the system under test, its script and its books. */
export class ModelRun {
  readonly config: ModelConfig;
  readonly clock: ModelClock;
  /** The `message:sent` subscriber of a `sent` run, removed by {@link dispose}. */
  #onSent: ((msg: unknown) => void) | undefined;
  readonly transport = new MemoryTransport();
  readonly conn: Conn<Msg, Msg>;
  readonly script = new Script();
  readonly books: Books;
  readonly violations: Violation[] = [];
  /** Properties awaiting a fix that this run violated (lenient runs). */
  readonly ignored = new Set<PropertyName>();
  /** The property awaiting a fix whose violation stopped the run (lenient runs). */
  stoppedAt: PropertyName | undefined;
  /** Commands run, the closing sequence's included. */
  commandsRun = 0;
  readonly #verdict: (property: PropertyName) => Verdict;
  readonly #wire: Wire;
  readonly #armed: { event: CallbackEvent; action: Action }[] = [];
  /** The last iterator `messages()` made in this run, for a `next` action with `again`. */
  #stream: AsyncIterableIterator<unknown> | undefined;
  /**
   * Every iterator `messages()` made, while it may still get messages (pausable runs): its
   * unread count is what onMessage heard since it was made less its `next()` calls (a message
   * goes to a waiting `next()` or into the buffer, never both).
   */
  readonly #streams: {
    bufferSize: number;
    heardAtMake: number;
    nexts: number;
    live: boolean;
    /** {@link #dialsMade} when it was made: a close announced after a later dial is not its end. */
    dials: number;
  }[] = [];
  /** dial() calls that took the connection out of idle or closed, and those the state events announced. */
  #dialsMade = 0;
  #dialsAnnounced = 0;
  /** Messages onMessage has heard. */
  #heard = 0;
  /** The signal shared by sends made with `signal: "shared"`, until it aborts. */
  #shared: AbortController | undefined;
  /** The signal shared by requests made with `signal: "shared"`, until it aborts. */
  #sharedRequests: AbortController | undefined;
  /** A send's signal (`pick`) to abort from inside the next plain frame handed to a transport. */
  #abortOnFrame: number | undefined;
  /** Held headers calls not released yet, and every call made (by id). */
  readonly holds: Hold[] = [];
  readonly #headerCalls: Hold[] = [];
  /** The last wait a server set (announced at `at`), until the next socket opens or a dial()/close(). */
  #serverWait: { at: number; ms: number } | undefined;
  /**
   * The wait the transport's report of the latest socket's end asks for, whatever the
   * connection announced: a refused handshake or tunnel (429 or 503 with a Retry-After, honoured
   * up to 10 minutes), or the peer's 1013 close of an open socket (5 s, or maxDelayMs if
   * smaller). From the end; it holds until the next socket opens or a dial()/close().
   */
  #reportedWait: { at: number; ms: number } | undefined;
  /** dial() and close() calls so far, and their count when each socket opened (by index). */
  #restarts = 0;
  readonly #restartsAtOpen: number[] = [];
  /** The attempt number the next attempt's context must carry: 0 after a dial(), then the one onReconnecting announced. */
  #expectedAttempt = 0;
  /**
   * The attempt a URL function was told as the attempt under way began (undefined: the URL is
   * fixed). That attempt's headers call must carry the same: a page shown again while it is
   * being prepared lets it go on with its context (the next one is told 0).
   */
  #urlAttempt: number | undefined;
  /**
   * Counts the moments a new attempt may start: a dial() accepted, a close(), an onReconnecting.
   * Two headers calls in one era while the first is still held: the attempt under way was begun again.
   */
  #attemptEra = 0;
  /** The call ids whose headers a socket was opened with. */
  readonly #usedCalls = new Set<number>();
  #nextId = 1;
  /**
   * The page hid (pagehide while dialled) and no pageshow, accepted reconnect() or dial() came
   * since: no attempt begins. `#urlUnanswered`: a URL function was told an attempt whose headers
   * call is still to come; hidden then, that one headers call is the attempt under way at the hide.
   */
  #pageHidden = false;
  #urlUnanswered = false;
  #hiddenMayAsk = false;
  /** A Starved command runs: a response goes preferably to a request with a timeout (the rule's subject). */
  #starving = false;
  /**
   * A pageshow on a connection waiting to reconnect, with nothing in the way of an attempt now
   * (no socket of ours live or closing, no attempt being prepared, no wait the server set): the
   * attempt it owes, with the era it was owed in. Paid by the next attempt's first sign (a URL
   * function told it, a headers call, a socket opening); checked when the step has settled.
   */
  #showOwes: { era: number; label: string } | undefined;
  /**
   * Until when a wait the server asked for may hold the next attempt, as far as the run can tell:
   * an end that may set one (a 1013 close, a Retry-After) holds it until an onReconnecting says
   * how long (a hidden page's or reconnect()'s drop announces none: it holds for good), one
   * without a server wait ends it, as does a dial(). The connection keeps such a wait through a
   * show.
   */
  #serverWaitUntil = 0;

  constructor(config: ModelConfig, verdict: (property: PropertyName) => Verdict, sent = false) {
    this.config = config;
    this.#verdict = verdict;
    // Before the Conn is made: it publishes to the channels that had subscribers then.
    if (sent) {
      this.#onSent = (msg) => {
        if ((msg as { conn?: unknown }).conn === this.conn) this.#fire("sent");
      };
      subscribe(CHANNELS.sent, this.#onSent);
    }
    this.#wire = wireFor(config.codec);
    this.clock = new ModelClock(config.maxLateMs, config.clockSeed);
    this.conn = new Conn<Msg, Msg>({ ...this.#options(), [TRANSPORT_OVERRIDE]: this.transport } as never);
    this.books = new Books({
      conn: this.conn,
      transport: this.transport,
      clock: this.clock,
      config,
      wire: this.#wire,
      violate: (property, message) => this.violate(property, message),
    });
    const t = this.transport;
    t.now = () => this.clock.now();
    t.onViolation = (message) => this.violate("transport-use", message);
    t.onOpenSocket = (socket) => {
      this.#showOwes = undefined;
      this.books.socketOpening(socket);
      if (config.headers !== "none") this.#checkHeaders(socket.headers, socket.index);
      this.#restartsAtOpen[socket.index] = this.#restarts;
      for (const wait of [this.#serverWait, this.#reportedWait]) {
        // A backoff timer is a plain timer: it may fire as early as any (up to 1 ms in Node).
        if (wait !== undefined && this.clock.now() - wait.at < wait.ms - this.clock.latestEarlyMs) {
          this.violate(
            "server-delay",
            `transport[${socket.index}] opened ${this.clock.now() - wait.at} ms after a wait the server set to ${wait.ms} ms`,
          );
          break;
        }
      }
      this.#serverWait = this.#reportedWait = undefined;
      const offered = socket.protocols.length > 0 ? ` offering ${socket.protocols.join(",")}` : "";
      this.line(`↳ transport[${socket.index}] opening ${socket.url}${offered}`);
    };
    t.onFrame = (socket, data, result) => {
      const what = this.#wire.classify(data);
      if (result >= 0 && what?.kind === "send") this.books.sendAccepted(what.key);
      if (result >= 0 && what?.kind === "ping") socket.lastPingAt = this.clock.now();
      const name = what === undefined ? "?" : what.kind === "ping" ? "ping" : what.key;
      this.line(`↳ transport[${socket.index}].send(${name}) → ${result}`);
      // As a `sent` subscriber can: an abort while a (queued) frame is being handed over.
      if (result >= 0 && what?.kind === "send" && this.#abortOnFrame !== undefined) {
        const pick = this.#abortOnFrame;
        this.#abortOnFrame = undefined;
        this.script.nested(() => this.abortSend(pick, true));
      }
    };
    t.onHandshake = (socket) => this.books.socketOpened(socket, this.#nextId);
    t.onEnd = (socket, report) => {
      if (report?.retryAfterMs !== undefined || report?.code === 1013 || socket.closeReceived?.code === 1013)
        this.#serverWaitUntil = Infinity;
      this.books.socketEnded(socket, report);
      const ms = this.#waitReported(socket, report);
      if (ms !== undefined) this.#reportedWait = { at: this.clock.now(), ms };
    };
    t.pausable = config.pausable !== false;
    t.onPaused = (socket, paused) =>
      this.line(
        `↳ transport[${socket.index}] ${paused ? "pauses reading" : `resumes reading (${socket.held} waiting)`}`,
      );
    this.conn.on("state", (change) => {
      // Ended for good: every iterator is over (it gets no more messages), but one made after a
      // dial() that came before this announcement (from onError) belongs to the next connection.
      if ((change.oldState === "idle" || change.oldState === "closed") && change.newState === "connecting")
        this.#dialsAnnounced++; // a dial's (close() from idle announces idle → closed)
      if (change.newState === "closed")
        for (const b of this.#streams) if (b.dials <= this.#dialsAnnounced) b.live = false;
      this.#event(`state ${change.oldState} → ${change.newState}`);
      this.books.stateEvent(change.oldState, change.newState);
      this.#fire("state");
    });
    this.conn.on("pong", (info) => {
      this.#event(`pong ${info.rttMs} ms`);
      this.#fire("pong");
    });
    if (config.waterMarks === "small") {
      t.holdWrites = true;
      this.conn.on("drain", () => {
        this.#event(`drain (bufferedAmount ${this.conn.bufferedAmount})`);
        this.#fire("drain");
      });
    }
    if (config.pausable !== false) {
      // An iterator nobody reads until the script's next() calls: it fills, and reading pauses.
      const { bufferSize } = config.pausable;
      this.line(`messages({ bufferSize: ${bufferSize} }) (read by "the previous iterator's next()")`);
      this.#stream = this.conn.messages({ bufferSize });
      this.#streams.push({ bufferSize, heardAtMake: 0, nexts: 0, live: true, dials: 0 });
    }
  }

  /**
   * `reconnect(code)`: while dialled, the live socket is closed by us (as a hidden page's is) and
   * the next attempt starts over at attempt 0 (as a page shown again); otherwise ERR_CLOSED.
   * A new attempt may start now (from onError, before the wait onReconnecting would announce,
   * the failed attempt's held headers call is abandoned): a new era, as a close() starts. An
   * attempt still being prepared is not begun again: that is the page-shown path, which
   * PageMove explores without a new era.
   */
  #reconnect(code: number, suffix: string): void {
    const state = this.conn.state;
    const dialled = state === "open" || state === "connecting" || state === "reconnecting";
    if (dialled) {
      this.#pageHidden = false;
      this.books.pageHiding();
      this.books.reconnects++;
      this.#expectedAttempt = 0;
      this.#attemptEra++;
    }
    this.line(`${arrow(suffix)}reconnect(${code})${suffix}`);
    try {
      this.conn.reconnect(code);
    } catch (e) {
      this.line(`  ✗ threw ${codeOf(e)}`);
      if (dialled || codeOf(e) !== "ERR_CLOSED")
        this.violate("reconnect", `reconnect(${code}) threw ${codeOf(e)} with the connection "${state}"`);
    }
  }

  /** Fires `pageshow` (shown) or `pagehide` on the page, both with `persisted`. */
  page(shown: boolean): void {
    if (
      !shown &&
      (this.conn.state === "open" || this.conn.state === "connecting" || this.conn.state === "reconnecting")
    )
      this.books.pageHiding();
    if (!shown && !this.#pageHidden && this.conn.state !== "idle" && this.conn.state !== "closed") {
      this.#pageHidden = true;
      this.#hiddenMayAsk = this.#urlUnanswered;
    }
    if (shown) this.#pageHidden = false;
    const waiting = this.conn.state === "connecting" || this.conn.state === "reconnecting";
    // Shown again, the backoff starts over: the next attempt is told attempt 0, as after a dial().
    if (shown && waiting) this.#expectedAttempt = 0;
    // ...and it comes at once, whatever the backoff had left.
    if (
      shown &&
      waiting &&
      this.transport.liveSockets.length === 0 &&
      this.holds.length === 0 &&
      !this.#urlUnanswered &&
      this.#serverWait === undefined &&
      this.clock.now() >= this.#serverWaitUntil
    )
      this.#showOwes = {
        era: this.#attemptEra,
        label: `pageshow at t=${this.clock.now()} (${this.conn.state})`,
      };
    fakePage.dispatchEvent(Object.assign(new Event(shown ? "pageshow" : "pagehide"), { persisted: true }));
  }

  /** The connection's options for the run's configuration; every callback reports to the run. */
  #options(): ConnOptions<Msg, Msg, Conn<Msg, Msg>> {
    const config = this.config;
    const wire = this.#wire;
    const options: ConnOptions<Msg, Msg, Conn<Msg, Msg>> = {
      clock: this.clock,
      codec: config.codec === "json" ? json<Msg, Msg>() : (raw as ConnOptions<Msg, Msg>["codec"]),
      requestTimeoutMs: config.requestTimeoutMs,
      maxPendingRequests: config.maxPendingRequests,
      connectTimeoutMs: config.connectTimeoutMs,
      reconnect: config.reconnect === false ? false : this.#policy(config.reconnect),
      pingIntervalMs: config.pingIntervalMs,
      pongTimeoutMs: config.pongTimeoutMs,
      queue: this.#queue(),
      ...(config.waterMarks === "small" ? { lowWaterMark: 0, highWaterMark: 16 } : {}),
      onConnected: () => this.#onConnected(),
      onMessage: (msg) => {
        this.#streamGrows();
        this.#event(`onMessage ${describeMsg(msg)}`);
        this.#fire("message");
      },
      onError: (e) => this.#onError(e),
      onClose: (info) => {
        this.#event(`onClose ${info.code} willReconnect=${info.willReconnect} closedBy=${info.closedBy}`);
        this.books.closeEvent(info.code, info.willReconnect, info.closedBy);
        this.#fire("close");
      },
      onReconnecting: (info) => {
        const server = info.serverDelayMs === undefined ? "" : ` (the server asked ${info.serverDelayMs} ms)`;
        this.#event(`onReconnecting attempt ${info.attempt} in ${info.delayMs} ms${server}`);
        if (info.serverDelayMs !== undefined)
          this.#serverWait = { at: this.clock.now(), ms: info.serverDelayMs };
        this.#serverWaitUntil = info.serverDelayMs === undefined ? 0 : this.clock.now() + info.delayMs;
        this.#expectedAttempt = info.attempt;
        this.#attemptEra++;
        this.books.reconnectingEvent();
        this.#fire("reconnecting");
      },
    };
    if (config.codec === "json") {
      options.messageId = (m) => {
        this.#fire("matcher");
        return (m as { id?: string } | null)?.id;
      };
    } else {
      options.matchMsg = (req, resp) => {
        this.#fire("matcher");
        return typeof resp === "string" && resp === `${String(req)}:ok`;
      };
    }
    if (config.headers !== "none") options.headers = (ctx) => this.#headers(ctx.attempt);
    // A logger is user code too: an action armed in it runs from whichever line comes next.
    const log = (line: string) => {
      this.books.logLine(line);
      this.#fire("log");
    };
    options.logger = { debug: log, info: log, warn: log, error: log };
    if (config.pingIntervalMs > 0 && config.pingMode === "message") {
      options.pingMsg = wire.ping;
      options.isPong = (m) => wire.isPong(m);
    }
    return options;
  }

  /** The queue option: undefined for the defaults, so the default path runs too. */
  #queue(): ConnOptions["queue"] {
    const { queue, overflow, queueMaxAgeMs } = this.config;
    if (queue === "off") return false;
    const options: QueueOptions = queue === "small" ? { maxMessages: 3, maxBytes: 200 } : {};
    if (overflow !== "reject") options.overflow = overflow;
    if (queueMaxAgeMs > 0) options.maxAgeMs = queueMaxAgeMs;
    return Object.keys(options).length === 0 ? undefined : options;
  }

  /** The reconnect policy: no jitter (delays must replay exactly), maybe a shouldReconnect. */
  #policy(r: Exclude<ModelConfig["reconnect"], false>): ReconnectOptions {
    const { ask, ...rest } = r;
    const policy: ReconnectOptions = { ...rest, jitter: 0 };
    if (ask) {
      policy.shouldReconnect = (info) => {
        const yes = info.code !== 4000;
        this.#event(`shouldReconnect(${info.code}) → ${yes}`);
        this.#fire("shouldReconnect");
        return yes;
      };
    }
    return policy;
  }

  /** The headers function: answers at once, or holds its promise until a command releases it. */
  #headers(attempt: number): Record<string, string> | Promise<Record<string, string>> {
    this.#showOwes = undefined;
    const id = this.#headerCalls.length + 1;
    const held = this.config.headers === "held";
    this.line(`↳ headers(attempt ${attempt}) = call#${id}${held ? ", held" : ""}`);
    const expected = this.#urlAttempt ?? this.#expectedAttempt;
    if (attempt !== expected) {
      this.violate("attempt-context", `headers call#${id} was told attempt ${attempt}, expected ${expected}`);
    }
    if (this.#pageHidden && !this.#hiddenMayAsk)
      this.violate("hidden-no-attempt", `headers call#${id} made while the page is hidden`);
    this.#hiddenMayAsk = false;
    this.#urlUnanswered = false;
    const same = this.holds.find((h) => h.era === this.#attemptEra);
    if (same !== undefined) {
      this.violate(
        "stale-attempt",
        `headers call#${id} made while call#${same.id}, for the same attempt, is still held`,
      );
    }
    const call: Hold = {
      id,
      closesAtMake: this.books.closes.length,
      era: this.#attemptEra,
      resolve: () => {},
      reject: () => {},
    };
    this.#headerCalls.push(call);
    if (!held) return { "x-call": String(id) };
    return new Promise((resolve, reject) => {
      call.resolve = resolve;
      call.reject = reject;
      this.holds.push(call);
    });
  }

  /** Releases held headers call `pick` (modulo the number held). */
  release(pick: number, how: Release): void {
    const [call] = this.holds.splice(pick % this.holds.length, 1);
    if (call === undefined) return;
    if (how === "reject") call.reject(new Error("token service down"));
    else call.resolve(how === "invalid" ? { "x call": String(call.id) } : { "x-call": String(call.id) });
  }

  /** A socket opens: with the headers of a call of its own, made after the last close(). */
  #checkHeaders(headers: Record<string, string> | undefined, index: number): void {
    const id = Number(headers?.["x-call"]);
    const call = this.#headerCalls[id - 1];
    if (call === undefined) {
      this.violate("stale-attempt", `transport[${index}] opened without headers from the headers function`);
      return;
    }
    if (this.#usedCalls.has(id)) {
      this.violate("stale-attempt", `transport[${index}] reused the headers of call#${id}`);
    }
    this.#usedCalls.add(id);
    if (this.books.closes.length > call.closesAtMake) {
      this.violate("stale-attempt", `transport[${index}] opened with call#${id}, made before a close()`);
    }
  }

  /** Adds a line to the script. */
  line(text: string): void {
    this.script.line(text);
  }

  /**
   * Records a violation. For a property awaiting a fix on main (lenient runs) it stops the run
   * instead, or is ignored: see properties.ts.
   */
  violate(property: PropertyName, message: string): void {
    const verdict = this.#verdict(property);
    if (verdict !== "fail") {
      if (verdict === "stop") this.stoppedAt ??= property;
      this.ignored.add(property);
      return;
    }
    this.violations.push({ property, message });
    this.line(`!! [${property}] ${message}`);
  }

  /**
   * Runs one top-level command: its line (none when `act` writes its own), then what it does; an
   * unexpected throw is a violation.
   */
  command(text: string, act: () => void, ownLine = false): void {
    this.commandsRun++;
    if (!ownLine) this.line(text);
    try {
      if (ownLine) act();
      else this.script.nested(act);
    } catch (e) {
      this.violate(
        "transport-use",
        `${text} threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
      );
    }
  }

  /**
   * Delivers an event of a socket that already ended (an adapter breaking its contract): no
   * callback may run, and neither the stats nor the state may change.
   */
  stale(socket: MemorySocket, text: string, deliver: (events: TransportEvents) => void): void {
    this.command(text, () => {
      const events = this.books.eventCount;
      const stats = JSON.stringify(this.conn.stats);
      const state = this.conn.state;
      deliver(socket.events);
      if (
        this.books.eventCount !== events ||
        JSON.stringify(this.conn.stats) !== stats ||
        this.conn.state !== state
      ) {
        this.violate("stale-ignored", `${text} changed the connection`);
      }
    });
  }

  /** The socket `back` places before the newest one (0: the newest). */
  socket(back: number): MemorySocket | undefined {
    const all = this.transport.sockets;
    return all[all.length - 1 - back];
  }

  #event(text: string): void {
    this.line(`← ${text}`);
    this.books.event(text);
  }

  /** Runs and disarms every action armed for `event`. */
  #fire(event: CallbackEvent): void {
    const due = this.#armed.filter((a) => a.event === event);
    if (due.length === 0) return;
    for (const a of due) this.#armed.splice(this.#armed.indexOf(a), 1);
    this.script.nested(() => {
      for (const a of due) this.act(a.action, `[armed in ${CALLBACK_NAMES[event]}]`);
    });
  }

  #onConnected(): Promise<void> | undefined {
    this.#event(`onConnected (protocol "${this.conn.protocol}")`);
    const socket = this.transport.sockets.at(-1);
    this.books.connectedEvent(socket);
    this.#fire("connected");
    if (!this.config.connectedPromise || socket === undefined) return undefined;
    // Our reaction runs before the connection's: the queue must still be held then.
    return Promise.resolve().then(() =>
      this.books.queueHeld(socket, "the promise onConnected returned settled"),
    );
  }

  #onError(e: EvtWebSocketError): void {
    const unsent = e.details.unsent;
    this.#event(`onError ${e.code}${unsent === undefined ? "" : ` (unsent ${unsent})`}: ${e.message}`);
    this.books.errorEvent(e);
    this.#fire("error");
  }

  /** Arms `action` for the next time `event` fires. */
  arm(event: CallbackEvent, action: Action): void {
    this.#armed.push({ event, action });
  }

  /** Does `action` to the connection, from the script or from inside a callback (`where`). */
  act(action: Action, where = ""): void {
    const suffix = where === "" ? "" : ` ${where}`;
    if (action.kind === "dial") this.#dial(action, suffix);
    else if (action.kind === "send") this.#send(action, suffix);
    else if (action.kind === "sendCb") this.#sendCb(action.dup, suffix);
    else if (action.kind === "request") this.#request(action, suffix);
    else if (action.kind === "close") this.#close(action.code, action.reason, suffix);
    else if (action.kind === "reconnect") this.#reconnect(action.code, suffix);
    else if (action.kind === "drained") this.#wait("drained()", suffix, () => this.conn.drained(), true);
    else if (action.kind === "next") {
      const { bufferSize } = action;
      const again = action.again ? this.#stream : undefined;
      if (again !== undefined) {
        const book = this.#streams.at(-1);
        if (book !== undefined) book.nexts++;
        this.#wait("the previous iterator's next()", suffix, () => again.next());
      } else
        this.#wait(`messages({ bufferSize: ${bufferSize} }).next()`, suffix, () => {
          this.#stream = this.conn.messages({ bufferSize });
          if (this.config.pausable !== false) {
            const live = this.conn.state !== "closed";
            this.#streams.push({
              bufferSize,
              heardAtMake: this.#heard,
              nexts: 1,
              live,
              dials: this.#dialsMade,
            });
          }
          return this.#stream.next();
        });
    } else if (action.kind === "return") {
      this.line(`${arrow(suffix)}${describeAction(action)}${suffix}`);
      const stream = this.#stream;
      if (stream === undefined) this.line("  (no iterator yet)");
      else {
        const book = this.#streams.at(-1);
        if (book !== undefined) book.live = false;
        this.#wait("return()", suffix, () => stream.return!());
      }
    } else if (action.kind === "abort") {
      this.line(`${arrow(suffix)}${describeAction(action)}${suffix}`);
      const armed = suffix !== "";
      const done =
        action.what === "request" ? this.abort(action.pick) : this.abortSend(action.pick, false, armed);
      if (!done) this.line("  (nothing to abort)");
    } else this.#ping(suffix);
  }

  /** A call that returns a promise which must settle by the end of the run (waits-settle). */
  #wait(what: string, suffix: string, call: () => Promise<unknown>, drained = false): void {
    const wait = { label: `${what}#${this.books.waits.length}`, settled: 0, drained };
    this.books.waits.push(wait);
    this.line(`${arrow(suffix)}${wait.label}${suffix}`);
    let p: Promise<unknown>;
    try {
      p = call();
    } catch (e) {
      wait.settled++;
      this.line(`  ✗ threw ${codeOf(e)}`);
      return;
    }
    p.then(
      () => {
        wait.settled++;
        this.line(`· ${wait.label} resolved`);
      },
      (e: unknown) => {
        wait.settled++;
        this.line(`· ${wait.label} rejected ${codeOf(e)}`);
      },
    );
  }

  /** A URL function is told the attempt as it begins: the one onReconnecting announced, or 0. */
  #urlTold(attempt: number): void {
    this.#showOwes = undefined;
    this.#urlAttempt = attempt;
    if (this.#pageHidden)
      this.violate("hidden-no-attempt", "a URL function was called while the page is hidden");
    this.#urlUnanswered = true;
    if (attempt !== this.#expectedAttempt) {
      this.violate(
        "attempt-context",
        `the URL function was told attempt ${attempt}, expected ${this.#expectedAttempt}`,
      );
    }
  }

  #urlSource(kind: Action & { kind: "dial" }): UrlSource {
    switch (kind.url) {
      case "fn":
        return (ctx) => {
          this.#urlTold(ctx.attempt);
          return "ws://f/";
        };
      case "async-fn":
        return async (ctx) => {
          this.#urlTold(ctx.attempt);
          return "ws://g/";
        };
      case "throwing-fn":
        return () => {
          throw new Error("no URL today");
        };
      case "invalid-fn":
        return () => "ftp://x/";
      default:
        return urlText(kind.url);
    }
  }

  /**
   * The wait (ms) the server set by the way `socket` ended, as its transport reported it, when
   * the connection must honour it: the latest socket, reconnecting on, no dial() or close()
   * since it opened (either starts afresh). Undefined otherwise.
   */
  #waitReported(socket: MemorySocket, report: TransportClose | undefined): number | undefined {
    const reconnect = this.config.reconnect;
    if (report === undefined || reconnect === false) return undefined;
    if (socket.index !== this.transport.sockets.length - 1) return undefined;
    if (this.#restartsAtOpen[socket.index] !== this.#restarts) return undefined;
    const status = report.status ?? report.proxyStatus;
    if ((status === 429 || status === 503) && report.retryAfterMs !== undefined)
      return Math.min(report.retryAfterMs, 600_000);
    if (report.code === 1013 && socket.wasOpen && socket.closeReceived?.code === 1013)
      return Math.min(5000, reconnect.maxDelayMs);
    return undefined;
  }

  #dial(action: Action & { kind: "dial" }, suffix: string): void {
    this.#serverWait = this.#reportedWait = undefined;
    this.#restarts++;
    const books = this.books;
    const call: DialCall = {
      n: books.dials.length,
      accepted: false,
      seq: books.nextSeq(),
      settled: 0,
      outcome: undefined,
    };
    books.dials.push(call);
    const start = books.dialStarting(suffix !== "");
    // Accepted (idle or closed): its first attempt is attempt 0.
    if (this.conn.state === "idle" || this.conn.state === "closed") {
      this.#serverWaitUntil = 0;
      this.#pageHidden = false;
      this.#expectedAttempt = 0;
      this.#urlAttempt = undefined; // set again by a URL function's first call
      this.#attemptEra++;
    }
    this.line(`${arrow(suffix)}${describeAction(action)} = dial#${call.n}${suffix}`);
    const sub = action.sub === "none" ? undefined : action.sub === "p1" ? "p1" : ["p1", "p2"];
    let p: unknown;
    // Counted before the call: callbacks inside it may dial again (and make iterators) first.
    const counted = this.conn.state === "idle" || this.conn.state === "closed";
    if (counted) this.#dialsMade++;
    try {
      p = this.conn.dial(this.#urlSource(action), sub);
    } catch (e) {
      this.violate("transport-use", `dial#${call.n} threw synchronously: ${codeOf(e)}`);
      return;
    }
    books.dialMade(call, start);
    if (counted && !call.accepted) this.#dialsMade--; // refused: nothing ran inside it
    if (!isThenable(p)) {
      this.violate("dial-settles", `dial#${call.n} returned ${String(p)}, not a promise`);
      return;
    }
    p.then(
      () => {
        call.settled++;
        call.outcome = "resolved";
        this.line(`· dial#${call.n} resolved`);
      },
      (e: unknown) => {
        call.settled++;
        call.outcome = `rejected ${codeOf(e)}`;
        this.line(`· dial#${call.n} rejected ${codeOf(e)}`);
        books.dialRejected(call, e);
      },
    );
  }

  #close(code: number, reason: string, suffix: string): void {
    this.#serverWait = this.#reportedWait = undefined;
    this.#restarts++;
    this.#attemptEra++;
    const books = this.books;
    const call: CloseCall = {
      n: books.closes.length,
      seq: books.nextSeq(),
      dialsBefore: books.dials.length,
      promise: false,
      settled: 0,
      outcome: undefined,
    };
    books.closes.push(call);
    books.closeStarting(call, suffix !== "");
    this.line(
      `${arrow(suffix)}close(${code}${reason === "" ? "" : `, "${reason}"`}) = close#${call.n}${suffix}`,
    );
    let p: unknown;
    try {
      p = this.conn.close(code, reason);
    } catch (e) {
      this.violate("transport-use", `close#${call.n} threw synchronously: ${codeOf(e)}`);
      return;
    }
    if (!isThenable(p)) {
      this.violate("close-promise", `close#${call.n} returned ${String(p)}, not a promise`);
      return;
    }
    call.promise = true;
    p.then(
      () => {
        call.settled++;
        call.outcome = "resolved";
        this.line(`· close#${call.n} resolved`);
        books.closeResolved(call);
      },
      (e: unknown) => {
        call.settled++;
        call.outcome = `rejected ${codeOf(e)}`;
        this.line(`· close#${call.n} rejected ${codeOf(e)}`);
        this.violate("close-settles", `close#${call.n} (a valid code) rejected: ${codeOf(e)}`);
      },
    );
  }

  #ping(suffix: string): void {
    this.line(`${arrow(suffix)}ping()${suffix}`);
    try {
      this.conn.ping();
    } catch (e) {
      this.line(`  ✗ threw ${codeOf(e)}`);
      if (this.config.pingIntervalMs > 0)
        this.violate("transport-use", `ping() threw ${codeOf(e)} with the heartbeat on`);
    }
  }

  #send(a: Action & { kind: "send" }, suffix: string): void {
    const n = this.#nextId++;
    let controller: AbortController | undefined;
    if (a.signal === "shared") {
      if (this.#shared === undefined || this.#shared.signal.aborted) this.#shared = new AbortController();
      controller = this.#shared;
    } else if (a.signal !== "none") controller = new AbortController();
    if (a.signal === "aborted") controller?.abort();
    const call: SendCall = {
      n,
      key: `s${n}`,
      threw: undefined,
      result: undefined,
      volatile: a.volatile,
      controller,
      deadline: undefined,
      abortedQueued: false,
      unsentReportsBefore: this.books.unsentReports,
    };
    this.books.sends.push(call);
    this.line(`${arrow(suffix)}send(s${n}${a.wide ? ", non-ASCII" : ""}${describeSendOptions(a)})${suffix}`);
    const plain = !a.volatile && controller === undefined && a.maxAgeMs === "default";
    const options: SendOptions = {};
    if (a.volatile) options.volatile = true;
    if (controller !== undefined) options.signal = controller.signal;
    if (a.maxAgeMs !== "default") options.maxAgeMs = a.maxAgeMs;
    const maxAgeMs =
      a.maxAgeMs !== "default" ? a.maxAgeMs : this.config.queue === "off" ? 0 : this.config.queueMaxAgeMs;
    const now = this.clock.now();
    try {
      const body = this.#wire.send(n, a.wide);
      call.result = plain ? this.conn.send(body) : this.conn.send(body, options);
      this.line(`  → ${call.result}`);
      if (call.result === "queued" && maxAgeMs > 0) call.deadline = now + maxAgeMs;
      this.books.sendMade(call);
    } catch (e) {
      call.threw = codeOf(e);
      this.line(`  ✗ threw ${call.threw}`);
    }
  }

  /**
   * Aborts the signal of a send not aborted yet (`pick` chooses which); false when none.
   * `inFlush`: from inside a frame being handed to a transport.
   */
  abortSend(pick: number, inFlush = false, inCallback = false): boolean {
    const open = this.abortableSends();
    const call = open[pick % Math.max(1, open.length)];
    if (call === undefined) return false;
    const sharing = this.books.sends.filter((c) => c.threw === undefined && c.controller === call.controller);
    this.line(`abort(the signal of ${sharing.map((c) => `s${c.n}`).join(", ")})`);
    const before = this.conn.stats.queuedMessages;
    this.script.nested(() => call.controller?.abort());
    this.books.sendAborted(
      sharing,
      before - this.conn.stats.queuedMessages,
      this.clock.now(),
      inFlush,
      inCallback,
    );
    return true;
  }

  /** Aborts a send's signal (`pick` chooses which, then) from inside the next plain frame sent. */
  abortSendOnNextFrame(pick: number): void {
    this.line(`abort a send's signal (pick ${pick}) while the next plain frame is being sent`);
    this.#abortOnFrame = pick;
  }

  /** Sends made with a signal not aborted yet. */
  abortableSends(): SendCall[] {
    return this.books.sends.filter(
      (c) => c.threw === undefined && c.controller !== undefined && !c.controller.signal.aborted,
    );
  }

  /** A key for a new request: a fresh one, or (dup) the key of a request still unsettled. */
  #requestKey(n: number, dup: boolean): string {
    const open = dup ? this.books.registered().filter((r) => r.settled === 0) : [];
    return open.at(-1)?.key ?? `q${n}`;
  }

  #newRequest(n: number, kind: RequestCall["kind"], key: string, answerable = true): RequestCall {
    return {
      n,
      answerable,
      label: `${kind === "promise" ? "request" : "send-cb"}#${n}`,
      kind,
      key,
      threw: undefined,
      settled: 0,
      outcome: undefined,
      controller: undefined,
      deadline: undefined,
      notBefore: undefined,
      retry: false,
      closedBefore: this.books.closedAnnounced,
    };
  }

  #sendCb(dup: boolean, suffix: string): void {
    const n = this.#nextId++;
    const call = this.#newRequest(n, "callback", this.#requestKey(n, dup));
    const { requestTimeoutMs } = this.config;
    if (requestTimeoutMs > 0) call.notBefore = this.clock.now() + requestTimeoutMs;
    this.line(`${arrow(suffix)}send(${call.key}, cb) = ${call.label}${suffix}`);
    try {
      this.conn.send(this.#wire.request(call.key, true), (resp) => {
        call.settled++;
        call.outcome = "answered";
        this.#event(`${call.label} callback ${JSON.stringify(resp)}`);
        this.books.response(call, resp);
        this.#fire("sendCallback");
      });
      this.books.requests.push(call);
    } catch (e) {
      call.threw = codeOf(e);
      this.line(`  ✗ threw ${call.threw}`);
    }
  }

  #request(a: Action & { kind: "request" }, suffix: string): void {
    const n = this.#nextId++;
    // json() matches by id: a request without one can get no answer.
    const answerable = !a.noId || this.config.codec !== "json";
    const call = this.#newRequest(n, "promise", this.#requestKey(n, a.dup), answerable);
    let controller: AbortController | undefined;
    if (a.signal === "shared") {
      if (this.#sharedRequests === undefined || this.#sharedRequests.signal.aborted)
        this.#sharedRequests = new AbortController();
      controller = this.#sharedRequests;
    } else if (a.signal !== "none") controller = new AbortController();
    if (a.signal === "aborted") controller?.abort();
    call.controller = controller;
    call.retry = a.retry;
    const timeoutMs = a.timeout === "default" ? this.config.requestTimeoutMs : a.timeout;
    if (timeoutMs > 0) call.deadline = call.notBefore = this.clock.now() + timeoutMs;
    this.books.requests.push(call);
    this.line(
      `${arrow(suffix)}${describeAction(a).replace("request(q", `request(${call.key}`)} = ${call.label}${suffix}`,
    );
    let p: Promise<Msg>;
    try {
      p = this.conn.request(this.#wire.request(call.key, !a.noId), {
        ...(a.timeout === "default" ? {} : { timeoutMs: a.timeout }),
        ...(controller === undefined ? {} : { signal: controller.signal }),
        retryOnReconnect: a.retry,
      });
    } catch (e) {
      this.violate("transport-use", `${call.label}: request() threw synchronously: ${codeOf(e)}`);
      call.threw = codeOf(e);
      return;
    }
    p.then(
      (resp) => {
        call.settled++;
        call.outcome = "resolved";
        this.line(`· ${call.label} resolved ${JSON.stringify(resp)}`);
        this.books.response(call, resp);
      },
      (e: unknown) => {
        call.settled++;
        call.outcome = `rejected ${codeOf(e)}`;
        this.line(`· ${call.label} rejected ${codeOf(e)}`);
        this.books.requestRejected(call, e);
      },
    );
  }

  /** Aborts the controller of an unsettled request (`pick` chooses which); false when none. */
  abort(pick: number): boolean {
    const open = this.abortable();
    const call = open[pick % Math.max(1, open.length)];
    if (call === undefined) return false;
    this.line(`abort(${call.label})`);
    this.script.nested(() => call.controller?.abort());
    return true;
  }

  /** Unsettled requests with a signal not aborted yet. */
  abortable(): RequestCall[] {
    return this.books.requests.filter(
      (r) => r.controller !== undefined && !r.controller.signal.aborted && r.settled === 0,
    );
  }

  /**
   * The response to an unsettled request (`pick` chooses which): preferably one whose frame
   * `socket` accepted (with a timeout, during a Starved command), else any unsettled one, else
   * any; an unsolicited message when none.
   */
  response(pick: number, socket: MemorySocket): Delivery {
    const sent = new Set<string>();
    for (const f of socket.frames) {
      const what = f.result < 0 ? undefined : this.#wire.classify(f.data);
      if (what !== undefined && what.kind === "request") sent.add(what.key);
    }
    const registered = this.books.registered();
    const open = registered.filter((r) => r.settled === 0);
    const onSocket = open.filter((r) => sent.has(r.key));
    const timed = this.#starving ? onSocket.filter((r) => r.deadline !== undefined) : [];
    const pool =
      timed.length > 0 ? timed : onSocket.length > 0 ? onSocket : open.length > 0 ? open : registered;
    const call = pool[pick % Math.max(1, pool.length)];
    if (call === undefined) return this.unsolicited();
    this.books.answering(call, socket);
    return { data: this.#wire.response(call.key), text: `response to ${call.label} (${call.key})` };
  }

  unsolicited(): Delivery {
    const n = this.#nextId++;
    return { data: this.#wire.unsolicited(n), text: `unsolicited m${n}` };
  }

  garbage(): Delivery {
    const data = this.#wire.garbage();
    return { data, text: typeof data === "string" ? `garbage ${JSON.stringify(data)}` : "binary frame" };
  }

  pongMessage(): Delivery {
    return { data: this.#wire.pong, text: "pong message" };
  }

  /** A Starved command begins: the process freezes with `socket` the newest (see Books.starving). */
  starving(socket: MemorySocket): void {
    this.#starving = true;
    this.books.starving(socket);
  }

  /** A Starved command's read and its reactions are done: the books judge it. */
  starved(): void {
    this.#starving = false;
    this.books.starved();
  }

  /** Called before each command. */
  beginStep(): void {
    this.books.beginStep();
  }

  /** The books after a step; `settled`: every pending reaction ran. */
  check(settled: boolean): void {
    this.books.check(settled);
    if (settled) this.#checkPaused();
    const owed = this.#showOwes;
    this.#showOwes = undefined;
    // Still owed once settled, by a connection still waiting in the same era (no close(),
    // dial() or onReconnecting since: an attempt that failed at once announces one).
    const waiting = this.conn.state === "connecting" || this.conn.state === "reconnecting";
    if (owed !== undefined && settled && waiting && owed.era === this.#attemptEra)
      this.violate("shown-dials-now", `${owed.label}: no attempt began (the backoff still stood)`);
  }

  /** Unread messages of a live iterator's book. */
  #unread(book: { heardAtMake: number; nexts: number }): number {
    return Math.max(0, this.#heard - book.heardAtMake - book.nexts);
  }

  /**
   * A message is about to reach the iterators (`stream-bounded`): none of them is already past
   * its bound (bufferSize, and the one message that filled it) unless the socket it came from is
   * closing (reading resumes then: the peer's close frame waits behind the data), or threw on
   * a send (the connection drops it, closing it first).
   */
  #streamGrows(): void {
    const socket = this.transport.sockets.at(-1);
    if (socket?.phase === "open" && !socket.threw) {
      for (const book of this.#streams) {
        if (book.live && this.#unread(book) > book.bufferSize) {
          this.violate(
            "stream-bounded",
            `an iterator of bufferSize ${book.bufferSize} holding ${this.#unread(book)} unread messages gets one more from transport[${socket.index}], which is open`,
          );
          book.live = false; // once
        }
      }
    }
    this.#heard++;
  }

  /** `stream-paused`: a socket reads again once no iterator that is over half full holds it paused. */
  #checkPaused(): void {
    for (const s of this.transport.liveSockets) {
      if (!s.paused) continue;
      const holder = this.#streams.some((b) => b.live && this.#unread(b) > b.bufferSize >> 1);
      if (!holder)
        this.violate(
          "stream-paused",
          `transport[${s.index}] is paused with no live iterator over half its buffer (${this.#streams
            .filter((b) => b.live)
            .map((b) => `${this.#unread(b)}/${b.bufferSize}`)
            .join(", ")})`,
        );
    }
  }

  /** Throws when a violation was recorded (and the run did not stop at a known bug first). */
  assertClean(): void {
    if (this.stoppedAt === undefined && this.violations.length > 0) {
      throw new ModelViolation(this.violations, this.config, this.script);
    }
  }

  /**
   * The closing sequence and the final books: disarm the callbacks, close(), let the peer answer
   * every close frame and end TCP, advance time past every deadline; then every call must have
   * settled, no socket or timer may be left, and nothing may happen after close() resolved.
   */
  /** Removes what the run subscribed to (its `message:sent` subscriber). */
  dispose(): void {
    if (this.#onSent !== undefined) unsubscribe(CHANNELS.sent, this.#onSent);
    this.#onSent = undefined;
  }

  async finish(): Promise<void> {
    if (this.stoppedAt !== undefined) return;
    this.#armed.length = 0;
    this.script.reset();
    this.line("-- end of script: close(), the peer ends every socket, time runs out --");
    this.command("close()", () => this.#close(1000, "", ""));
    await flush();
    this.check(true);
    if (this.holds.length > 0) {
      this.command("release every held headers call", () => {
        while (this.holds.length > 0) this.release(0, "resolve");
      });
      await flush();
      this.check(true);
    }
    for (const s of this.transport.liveSockets) {
      this.command(`transport[${s.index}]: peer answers and ends TCP`, () => {
        if (s.closeSent !== undefined && s.closeReceived === undefined)
          s.peerClose(s.closeSent.code, s.closeSent.reason);
        s.endTcp();
      });
    }
    await flush();
    this.check(true);
    this.command("advance time past every deadline", () => {
      for (let i = 0; i < 4; i++) this.clock.advance(200_000);
    });
    await flush();
    this.check(true);
    this.books.final();
    this.assertClean();
  }
}
