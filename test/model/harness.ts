/**
 * One model run: a `Conn` on the in-memory transport and the model clock, every call made to
 * it, every event it fired, and the checks of the contract (properties.ts) against them.
 *
 * The model is deliberately small. It does not predict what the connection will do; it keeps
 * books: which calls were made and how each settled, which frames the transport accepted,
 * which state changes were announced, which sockets are live. After every step (and once more
 * after the closing sequence in {@link ModelRun.finish}) the books must balance. A violation is
 * recorded, never thrown inside a callback (the connection would report the throw as
 * ERR_CALLBACK_THREW), and the step that found it fails with the script so far.
 */

import { type Data, json, raw } from "../../src/codec.js";
import { Conn } from "../../src/conn.js";
import { ErrorCode, type EvtWebSocketError, isEvtWebSocketError } from "../../src/errors.js";
import { type ConnOptions, DEFAULTS, type ReconnectOptions } from "../../src/options.js";
import { canTransition, type State } from "../../src/state.js";
import { TRANSPORT_OVERRIDE } from "../../src/transport/select.js";
import type { TransportClose, TransportEvents } from "../../src/transport/types.js";
import type { UrlSource } from "../../src/types.js";
import { ModelClock } from "./clock.js";
import {
  type Action,
  CALLBACK_NAMES,
  type CallbackEvent,
  describeAction,
  type ModelConfig,
  urlText,
} from "./config.js";
import { type MemorySocket, MemoryTransport } from "./memory-transport.js";
import { PROPERTIES, type PropertyName, type Verdict } from "./properties.js";

type Msg = unknown;

/** One dial() call. */
interface DialCall {
  n: number;
  /** Made while idle or closed, and it started connecting. */
  accepted: boolean;
  seq: number;
  settled: number;
  outcome: string | undefined;
}

/** One close() call. */
interface CloseCall {
  n: number;
  seq: number;
  /** dial() calls made before this one. */
  dialsBefore: number;
  promise: boolean;
  settled: number;
  outcome: string | undefined;
}

/** One request: a request() promise or a send() with a callback. */
interface RequestCall {
  /** Its number among the calls (the n of its label). */
  n: number;
  label: string;
  kind: "promise" | "callback";
  /** What its response must carry ("q7"). */
  key: string;
  /** Set when send() threw: never registered. */
  threw: string | undefined;
  settled: number;
  outcome: string | undefined;
  controller: AbortController | undefined;
  /** When its timeout runs out (clock time); undefined when it has none. */
  deadline: number | undefined;
  retry: boolean;
  /** Changes to "closed" announced before it was made. */
  closedBefore: number;
}

/** One plain send(). */
interface SendCall {
  n: number;
  threw: string | undefined;
}

interface Violation {
  property: PropertyName;
  message: string;
}

/** Payloads of each kind, for one codec. */
interface Wire {
  send(n: number, wide: boolean): Msg;
  request(key: string, withId: boolean): Msg;
  response(key: string): Data;
  unsolicited(n: number): Data;
  garbage(): Data;
  ping: Msg;
  pong: Data;
  /** What a frame handed to the transport carries. */
  classify(data: Data): { kind: "send" | "request"; key: string } | { kind: "ping" } | undefined;
  /** The request key a received response carries. */
  responseKey(msg: Msg): string | undefined;
}

const WIDE = "é😀";

const jsonWire: Wire = {
  send: (n, wide) => (wide ? { t: "s", n, x: WIDE } : { t: "s", n }),
  request: (key, withId) => (withId ? { id: key, t: "q" } : { t: "q", k: key }),
  response: (key) => JSON.stringify({ id: key, ok: true }),
  unsolicited: (n) => JSON.stringify({ t: "m", n }),
  garbage: () => "{not json",
  ping: { t: "ping" },
  pong: JSON.stringify({ t: "pong" }),
  classify(data) {
    if (typeof data !== "string") return undefined;
    const m = JSON.parse(data) as { t?: string; n?: number; id?: string; k?: string };
    if (m.t === "ping") return { kind: "ping" };
    if (m.t === "s") return { kind: "send", key: `s${m.n}` };
    if (m.t === "q") return { kind: "request", key: m.id ?? m.k ?? "" };
    return undefined;
  },
  responseKey: (msg) => (msg as { id?: string } | null)?.id,
};

const rawWire: Wire = {
  send: (n, wide) => `s${n}${wide ? WIDE : ""}`,
  request: (key) => key,
  response: (key) => `${key}:ok`,
  unsolicited: (n) => `m${n}`,
  garbage: () => new Uint8Array([0xff, 0x00, 0x7f]),
  ping: "ping",
  pong: "pong",
  classify(data) {
    if (typeof data !== "string") return undefined;
    if (data === "ping") return { kind: "ping" };
    const m = /^([sq])(\d+)/.exec(data);
    if (m === null) return undefined;
    return { kind: m[1] === "s" ? "send" : "request", key: `${m[1]}${m[2]}` };
  },
  responseKey: (msg) => (typeof msg === "string" && msg.endsWith(":ok") ? msg.slice(0, -3) : undefined),
};

const VALIDATION_CODES: readonly string[] = [
  ErrorCode.ALREADY_DIALED,
  ErrorCode.INVALID_URL,
  ErrorCode.INVALID_OPTION,
];

/**
 * An error a failed send callback reports, as opposed to one about the connection itself. The
 * connection's own errors carry `details.closedBy` (a socket's end) or `details.unsent` (queued
 * messages dropped), or have another code; a failed request's error carries neither.
 */
function isRequestFailure(e: EvtWebSocketError): boolean {
  const codes: readonly string[] = [
    ErrorCode.REQUEST_TIMEOUT,
    ErrorCode.DISCONNECTED,
    ErrorCode.CLOSED,
    ErrorCode.ABORTED,
  ];
  return codes.includes(e.code) && e.details.closedBy === undefined && e.details.unsent === undefined;
}

function codeOf(e: unknown): string {
  return isEvtWebSocketError(e) ? e.code : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === "function";
}

/** The arrow that marks a call made from inside a callback. */
const arrow = (where: string): string => (where === "" ? "" : "→ ");

/** Lets every pending promise reaction run (the connection's awaits, our then-handlers). */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A run of the model: the system under test and its books. */
export class ModelRun {
  readonly config: ModelConfig;
  readonly clock: ModelClock;
  readonly transport = new MemoryTransport();
  readonly conn: Conn<Msg, Msg>;
  readonly #verdict: (property: PropertyName) => Verdict;
  readonly #wire: Wire;
  /** The script so far: one line per command, callbacks and outcomes indented under it. */
  readonly lines: string[] = [];
  readonly violations: Violation[] = [];
  #depth = 0;
  #nextId = 1;
  #seq = 0;
  readonly dials: DialCall[] = [];
  readonly closes: CloseCall[] = [];
  readonly requests: RequestCall[] = [];
  readonly sends: SendCall[] = [];
  readonly #armed: { event: CallbackEvent; action: Action }[] = [];
  #announced: State = "idle";
  /** The first call number made after each socket's handshake completed. */
  readonly #openedAtCall = new Map<MemorySocket, number>();
  /** Changes to "closed" announced so far. */
  #closedAnnounced = 0;
  /** Sockets live when close() was called: their end is the user's, reported as no error. */
  readonly #closedWhileLive = new WeakSet<MemorySocket>();
  /** Ends the transport reported that nobody asked for, and the errors fired since (this step). */
  readonly #endings: { socket: MemorySocket; report: TransportClose; errors: EvtWebSocketError[] }[] = [];
  /** A callback called dial() or close() during this step. */
  #reentered = false;
  /** Sockets that opened and ended, whose onClose has not come yet (oldest first). */
  readonly #awaitingClose: { socket: MemorySocket; report: TransportClose | undefined }[] = [];
  #toConnecting = 0;
  /** close() resolved and no dial() was made since: no event may fire. */
  #quiet = false;
  #lastCloseSeq = -1;
  #lastAcceptedDialSeq = -1;
  /** Errors reported to onError for failed send callbacks, and queued sends reported unsent. */
  #callbackErrors = 0;
  #reportedUnsent = 0;
  /** Events fired by the connection so far. */
  #eventCount = 0;
  /** Commands run, the closing sequence's included. */
  commandsRun = 0;
  /** Properties awaiting a fix that this run violated (lenient runs). */
  readonly ignored = new Set<PropertyName>();
  /** The property awaiting a fix whose violation stopped the run (lenient runs). */
  stoppedAt: PropertyName | undefined;

  constructor(config: ModelConfig, verdict: (property: PropertyName) => Verdict) {
    this.config = config;
    this.#verdict = verdict;
    this.#wire = config.codec === "json" ? jsonWire : rawWire;
    this.clock = new ModelClock(config.maxLateMs, config.clockSeed);
    this.transport.now = () => this.clock.now();
    this.transport.onViolation = (message) => this.violate("transport-use", message);
    this.transport.onOpenSocket = (socket) => this.#socketOpened(socket);
    this.transport.onFrame = (socket, data, result) => this.#frame(socket, data, result);
    this.transport.onHandshake = (socket) => this.#openedAtCall.set(socket, this.#nextId);
    this.transport.onEnd = (socket, report) => {
      if (socket.wasOpen) this.#awaitingClose.push({ socket, report });
      if (socket.wasOpen && report !== undefined && !this.#closedWhileLive.has(socket)) {
        this.#endings.push({ socket, report, errors: [] });
      }
    };
    const wire = this.#wire;
    const messageMode = config.pingIntervalMs > 0 && config.pingMode === "message";
    const options: ConnOptions<Msg, Msg, Conn<Msg, Msg>> = {
      clock: this.clock,
      codec: config.codec === "json" ? json<Msg, Msg>() : (raw as ConnOptions<Msg, Msg>["codec"]),
      requestTimeoutMs: config.requestTimeoutMs,
      maxPendingRequests: config.maxPendingRequests,
      connectTimeoutMs: config.connectTimeoutMs,
      reconnect: config.reconnect === false ? false : this.#policy(config.reconnect),
      pingIntervalMs: config.pingIntervalMs,
      pongTimeoutMs: config.pongTimeoutMs,
      queue:
        config.queue === "off"
          ? false
          : config.queue === "small"
            ? { maxMessages: 3, maxBytes: 200 }
            : undefined,
      onConnected: () => this.#onConnected(),
      onMessage: (msg) => this.#onMessage(msg),
      onError: (e) => this.#onError(e),
      onClose: (info) => this.#onClose(info.code, info.willReconnect, info.closedBy),
      onReconnecting: (info) => this.#onReconnecting(info.attempt, info.delayMs),
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
    if (messageMode) {
      options.pingMsg = wire.ping;
      options.isPong = (m) =>
        config.codec === "json" ? (m as { t?: string } | null)?.t === "pong" : m === "pong";
    }
    this.conn = new Conn<Msg, Msg>({ ...options, [TRANSPORT_OVERRIDE]: this.transport } as never);
    this.conn.on("state", (change) => this.#onState(change.oldState, change.newState));
    this.conn.on("pong", (info) => this.#event(`pong ${info.rttMs} ms`));
  }

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

  // ---- recording ----

  /** Adds a line to the script at the current depth. */
  line(text: string): void {
    this.lines.push(`${"  ".repeat(this.#depth)}${text}`);
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
    this.#depth += ownLine ? 0 : 1;
    try {
      act();
    } catch (e) {
      this.violate(
        "transport-use",
        `${text} threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
      );
    } finally {
      this.#depth -= ownLine ? 0 : 1;
    }
  }

  /**
   * Delivers an event of a socket that already ended (an adapter breaking its contract): no
   * callback may run, and nothing the books see may change.
   */
  stale(socket: MemorySocket, text: string, deliver: (events: TransportEvents) => void): void {
    this.command(text, () => {
      const before = this.#eventCount;
      const stats = JSON.stringify(this.conn.stats);
      const state = this.conn.state;
      deliver(socket.events);
      if (
        this.#eventCount !== before ||
        JSON.stringify(this.conn.stats) !== stats ||
        this.conn.state !== state
      ) {
        this.violate("stale-ignored", `${text} changed the connection`);
      }
    });
  }

  // ---- the socket under the connection ----

  /** The socket `back` places before the newest one (0: the newest). */
  socket(back: number): MemorySocket | undefined {
    const all = this.transport.sockets;
    return all[all.length - 1 - back];
  }

  #socketOpened(socket: MemorySocket): void {
    const live = this.transport.liveSockets;
    if (live.length > 0) {
      const others = live.map((s) => `transport[${s.index}] (${s.phase})`).join(", ");
      this.violate("one-socket", `transport[${socket.index}] opened while ${others} is still live`);
    }
    const offered = socket.protocols.length > 0 ? ` offering ${socket.protocols.join(",")}` : "";
    this.line(`↳ transport[${socket.index}] opening ${socket.url}${offered}`);
  }

  #frame(socket: MemorySocket, data: Data, result: number): void {
    const what = this.#wire.classify(data);
    const name = what === undefined ? "?" : what.kind === "ping" ? "ping" : what.key;
    this.line(`↳ transport[${socket.index}].send(${name}) → ${result}`);
  }

  // ---- events ----

  #event(text: string): void {
    this.#eventCount++;
    if (this.#quiet)
      this.violate("quiet-after-close", `${text}: an event after close() resolved, before any new dial()`);
    this.line(`← ${text}`);
    // No check of conn.state against the announcements here: callbacks run once the transition
    // is complete (finish, then announce), so an announcement may trail the state by several
    // transitions made meanwhile by other callbacks. At rest they must agree (check()).
  }

  /** Runs and disarms every action armed for `event`. */
  #fire(event: CallbackEvent): void {
    const due = this.#armed.filter((a) => a.event === event);
    if (due.length === 0) return;
    for (const a of due) this.#armed.splice(this.#armed.indexOf(a), 1);
    this.#depth++;
    try {
      for (const a of due) this.act(a.action, `[armed in ${CALLBACK_NAMES[event]}]`);
    } finally {
      this.#depth--;
    }
  }

  #onState(oldState: State, newState: State): void {
    this.#event(`state ${oldState} → ${newState}`);
    if (oldState !== this.#announced) {
      this.violate(
        "state-announced",
        `state event from "${oldState}" but the last announced state was "${this.#announced}"`,
      );
    }
    if (!canTransition(oldState, newState)) {
      this.violate("state-machine", `state event ${oldState} → ${newState} is not a transition of state.ts`);
    }
    this.#announced = newState;
    if (newState === "closed") this.#closedAnnounced++;
    if (newState === "connecting") this.#toConnecting++;
    this.#fire("state");
  }

  #onConnected(): Promise<void> | undefined {
    this.#event(`onConnected (protocol "${this.conn.protocol}")`);
    if (this.conn.state !== "open" || !this.conn.isConnected()) {
      this.violate("callback-state", `inside onConnected the state is "${this.conn.state}"`);
    }
    const last = this.dials.filter((d) => d.accepted).at(-1);
    if (last?.outcome?.startsWith("rejected")) {
      this.violate(
        "dial-outcome",
        `the connection opened after dial#${last.n} was rejected, with no dial() since`,
      );
    }
    const socket = this.transport.sockets.at(-1);
    if (socket !== undefined) this.#checkQueueHeld(socket, "onConnected");
    this.#fire("connected");
    if (!this.config.connectedPromise || socket === undefined) return undefined;
    return Promise.resolve().then(() =>
      this.#checkQueueHeld(socket, "the promise onConnected returned settled"),
    );
  }

  /** No frame made before `socket` opened (so queued) went out on it yet. */
  #checkQueueHeld(socket: MemorySocket, until: string): void {
    const openedAt = this.#openedAtCall.get(socket);
    if (openedAt === undefined) return;
    for (const f of socket.frames) {
      const what = f.result < 0 ? undefined : this.#wire.classify(f.data);
      if (what === undefined || what.kind === "ping") continue;
      let n: number | undefined;
      if (what.kind === "send") n = Number(what.key.slice(1));
      else {
        const owners = this.requests.filter((r) => r.threw === undefined && r.key === what.key);
        if (owners.length === 1) n = owners[0]!.n;
      }
      if (n !== undefined && n < openedAt) {
        this.violate(
          "queue-after-connected",
          `${what.key}, queued before transport[${socket.index}] opened, went out before ${until}`,
        );
      }
    }
  }

  #onMessage(msg: Msg): void {
    const text =
      typeof msg === "string"
        ? msg
        : msg instanceof Uint8Array
          ? `<${msg.length} bytes>`
          : JSON.stringify(msg);
    this.#event(`onMessage ${text}`);
    this.#fire("message");
  }

  #onError(e: EvtWebSocketError): void {
    const unsent = e.details.unsent;
    this.#event(`onError ${e.code}${unsent === undefined ? "" : ` (unsent ${unsent})`}: ${e.message}`);
    if (isRequestFailure(e)) this.#callbackErrors++;
    for (const ending of this.#endings) ending.errors.push(e);
    if (unsent !== undefined) this.#reportedUnsent += unsent;
    this.#fire("error");
  }

  #onClose(code: number, willReconnect: boolean, closedBy: string): void {
    this.#event(`onClose ${code} willReconnect=${willReconnect} closedBy=${closedBy}`);
    const ended = this.#awaitingClose.shift();
    if (ended === undefined) {
      this.violate("close-events", "onClose with no socket that opened and ended waiting for it");
    } else if (ended.report !== undefined) {
      const { report, socket } = ended;
      if (report.code !== code || report.closedBy !== closedBy) {
        this.violate(
          "close-events",
          `onClose says ${code} closedBy=${closedBy}; transport[${socket.index}] reported ${report.code} closedBy=${report.closedBy}`,
        );
      }
    }
    const state = this.conn.state;
    if (this.conn.isConnected())
      this.violate("onclose-state", `inside onClose isConnected() is true (state "${state}")`);
    if (willReconnect && state !== "reconnecting") {
      this.violate(
        "onclose-state",
        `inside onClose with willReconnect=true the state is "${state}", not "reconnecting"`,
      );
    }
    const redialled = this.#lastCloseSeq >= 0 && this.#lastAcceptedDialSeq > this.#lastCloseSeq;
    if (!willReconnect && state !== "closed" && !(redialled && state === "connecting")) {
      this.violate(
        "onclose-state",
        `inside onClose with willReconnect=false the state is "${state}", not "closed"`,
      );
    }
    this.#fire("close");
  }

  #onReconnecting(attempt: number, delayMs: number): void {
    this.#event(`onReconnecting attempt ${attempt} in ${delayMs} ms`);
    const state = this.conn.state;
    if ((state !== "connecting" && state !== "reconnecting") || this.conn.isConnected()) {
      this.violate("callback-state", `inside onReconnecting the state is "${state}"`);
    }
    this.#fire("reconnecting");
  }

  // ---- actions ----

  /** Arms `action` for the next time `event` fires. */
  arm(event: CallbackEvent, action: Action): void {
    this.#armed.push({ event, action });
  }

  /** Does `action` to the connection, from the script or from inside a callback (`where`). */
  act(action: Action, where = ""): void {
    const suffix = where === "" ? "" : ` ${where}`;
    if (action.kind === "dial") this.#dial(action, suffix);
    else if (action.kind === "send") this.#send(action.wide, suffix);
    else if (action.kind === "sendCb") this.#sendCb(action.dup, suffix);
    else if (action.kind === "request") this.#request(action, suffix);
    else if (action.kind === "close") this.#close(action.code, action.reason, suffix);
    else this.#ping(suffix);
  }

  #urlSource(kind: Action & { kind: "dial" }): UrlSource {
    switch (kind.url) {
      case "fn":
        return () => "ws://f/";
      case "async-fn":
        return async () => "ws://g/";
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

  #dial(action: Action & { kind: "dial" }, suffix: string): void {
    const before = this.conn.state;
    const toConnecting = this.#toConnecting;
    const call: DialCall = {
      n: this.dials.length,
      accepted: false,
      seq: ++this.#seq,
      settled: 0,
      outcome: undefined,
    };
    this.dials.push(call);
    this.#quiet = false;
    if (suffix !== "") this.#reentered = true;
    this.line(`${arrow(suffix)}${describeAction(action)} = dial#${call.n}${suffix}`);
    const sub = action.sub === "none" ? undefined : action.sub === "p1" ? "p1" : ["p1", "p2"];
    let p: unknown;
    try {
      p = this.conn.dial(this.#urlSource(action), sub);
    } catch (e) {
      this.violate("transport-use", `dial#${call.n} threw synchronously: ${codeOf(e)}`);
      return;
    }
    call.accepted =
      (before === "idle" || before === "closed") &&
      (this.#toConnecting > toConnecting || this.conn.state === "connecting");
    if (call.accepted) this.#lastAcceptedDialSeq = Math.max(this.#lastAcceptedDialSeq, call.seq);
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
        const state = this.conn.state;
        const newer = this.#lastAcceptedDialSeq > call.seq;
        const validation = VALIDATION_CODES.includes(codeOf(e));
        if (call.accepted && !validation && !newer && state !== "closed" && state !== "idle") {
          this.violate(
            "dial-outcome",
            `dial#${call.n} rejected (${codeOf(e)}) but the connection is "${state}"`,
          );
        }
      },
    );
  }

  #close(code: number, reason: string, suffix: string): void {
    const call: CloseCall = {
      n: this.closes.length,
      seq: ++this.#seq,
      dialsBefore: this.dials.length,
      promise: false,
      settled: 0,
      outcome: undefined,
    };
    this.closes.push(call);
    this.#lastCloseSeq = call.seq;
    if (suffix !== "") this.#reentered = true;
    for (const s of this.transport.liveSockets) this.#closedWhileLive.add(s);
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
        if (this.dials.length === call.dialsBefore) this.#quiet = true;
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

  #send(wide: boolean, suffix: string): void {
    const n = this.#nextId++;
    const call: SendCall = { n, threw: undefined };
    this.sends.push(call);
    this.line(`${arrow(suffix)}send(s${n}${wide ? ", non-ASCII" : ""})${suffix}`);
    try {
      this.conn.send(this.#wire.send(n, wide));
    } catch (e) {
      call.threw = codeOf(e);
      this.line(`  ✗ threw ${call.threw}`);
    }
  }

  /** A key for a new request: a fresh one, or (dup) the key of a request still unsettled. */
  #requestKey(n: number, dup: boolean): string {
    if (dup) {
      const open = this.requests.filter((r) => r.threw === undefined && r.settled === 0);
      const pick = open.at(-1);
      if (pick !== undefined) return pick.key;
    }
    return `q${n}`;
  }

  #checkResponse(call: RequestCall, resp: Msg): void {
    const key = this.#wire.responseKey(resp);
    if (key !== call.key) {
      this.violate("settle-once", `${call.label} got a response for ${String(key)}: ${JSON.stringify(resp)}`);
    }
  }

  #sendCb(dup: boolean, suffix: string): void {
    const n = this.#nextId++;
    const key = this.#requestKey(n, dup);
    const call: RequestCall = {
      n,
      label: `send-cb#${n}`,
      kind: "callback",
      key,
      threw: undefined,
      settled: 0,
      outcome: undefined,
      controller: undefined,
      deadline: undefined,
      retry: false,
      closedBefore: this.#closedAnnounced,
    };
    this.line(`${arrow(suffix)}send(${key}, cb) = ${call.label}${suffix}`);
    try {
      this.conn.send(this.#wire.request(key, true), (resp) => {
        call.settled++;
        call.outcome = "answered";
        this.#event(`${call.label} callback ${JSON.stringify(resp)}`);
        if (call.settled > 1)
          this.violate("settle-once", `${call.label}'s callback was called ${call.settled} times`);
        this.#checkResponse(call, resp);
        this.#fire("sendCallback");
      });
      this.requests.push(call);
    } catch (e) {
      call.threw = codeOf(e);
      this.line(`  ✗ threw ${call.threw}`);
    }
  }

  #request(a: Action & { kind: "request" }, suffix: string): void {
    const n = this.#nextId++;
    const key = this.#requestKey(n, a.dup);
    const controller = a.signal === "none" ? undefined : new AbortController();
    if (a.signal === "aborted") controller?.abort();
    const call: RequestCall = {
      n,
      label: `request#${n}`,
      kind: "promise",
      key,
      threw: undefined,
      settled: 0,
      outcome: undefined,
      controller,
      deadline: undefined,
      retry: a.retry,
      closedBefore: this.#closedAnnounced,
    };
    const timeoutMs = a.timeout === "default" ? this.config.requestTimeoutMs : a.timeout;
    if (timeoutMs > 0) call.deadline = this.clock.now() + timeoutMs;
    this.requests.push(call);
    this.line(
      `${arrow(suffix)}${describeAction(a).replace("request(q", `request(${key}`)} = ${call.label}${suffix}`,
    );
    let p: Promise<Msg>;
    try {
      p = this.conn.request(this.#wire.request(key, !a.noId), {
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
        this.#checkResponse(call, resp);
      },
      (e: unknown) => {
        call.settled++;
        call.outcome = `rejected ${codeOf(e)}`;
        this.line(`· ${call.label} rejected ${codeOf(e)}`);
        if (
          call.retry &&
          codeOf(e) === ErrorCode.DISCONNECTED &&
          this.#closedAnnounced === call.closedBefore
        ) {
          this.violate(
            "retry-on-reconnect",
            `${call.label} (retryOnReconnect) rejected ERR_DISCONNECTED, yet the connection did not end`,
          );
        }
      },
    );
  }

  /** Aborts the controller of an unsettled request (`pick` chooses which); false when none. */
  abort(pick: number): boolean {
    const open = this.abortable();
    const call = open[pick % Math.max(1, open.length)];
    if (call === undefined) return false;
    this.line(`abort(${call.label})`);
    this.#depth++;
    try {
      call.controller?.abort();
    } finally {
      this.#depth--;
    }
    return true;
  }

  abortable(): RequestCall[] {
    return this.requests.filter(
      (r) => r.controller !== undefined && !r.controller.signal.aborted && r.settled === 0,
    );
  }

  /**
   * The response to an unsettled request (`pick` chooses which): preferably one whose frame
   * `socket` accepted, else any unsettled one, else any; an unsolicited message when none.
   */
  response(pick: number, socket: MemorySocket): { data: Data; text: string } {
    const sent = new Set<string>();
    for (const f of socket.frames) {
      const what = f.result < 0 ? undefined : this.#wire.classify(f.data);
      if (what !== undefined && what.kind === "request") sent.add(what.key);
    }
    const registered = this.requests.filter((r) => r.threw === undefined);
    const open = registered.filter((r) => r.settled === 0);
    const onSocket = open.filter((r) => sent.has(r.key));
    const pool = onSocket.length > 0 ? onSocket : open.length > 0 ? open : registered;
    const call = pool[pick % Math.max(1, pool.length)];
    if (call === undefined) return this.unsolicited();
    return { data: this.#wire.response(call.key), text: `response to ${call.label} (${call.key})` };
  }

  unsolicited(): { data: Data; text: string } {
    const n = this.#nextId++;
    return { data: this.#wire.unsolicited(n), text: `unsolicited m${n}` };
  }

  garbage(): { data: Data; text: string } {
    const data = this.#wire.garbage();
    return { data, text: typeof data === "string" ? `garbage ${JSON.stringify(data)}` : "binary frame" };
  }

  pongMessage(): { data: Data; text: string } {
    return { data: this.#wire.pong, text: "pong message" };
  }

  // ---- checks ----

  /**
   * Checks the books after a step. `settled`: the step flushed every pending reaction, so
   * promise outcomes are known and everything announced.
   */
  check(settled: boolean): void {
    const conn = this.conn;
    const stats = conn.stats;
    const live = this.transport.liveSockets;
    const state = conn.state;
    const lastClose = this.closes.at(-1);
    if (lastClose !== undefined && this.dials.length === lastClose.dialsBefore && state !== "closed") {
      this.violate(
        "close-closes",
        `close#${lastClose.n} was the last call, yet the connection is "${state}"`,
      );
    }
    if (state === "closed" || state === "idle") {
      for (const s of live) {
        if (s.phase === "connecting" || (s.phase === "open" && s.closeSent === undefined)) {
          this.violate("close-ends", `transport[${s.index}] is ${s.phase} while the connection is ${state}`);
        }
      }
    }
    // What the transport accepted, against the stats.
    let accepted = 0;
    let bytes = 0;
    const plainOut = new Map<string, number>();
    const requestOut = new Map<string, number[]>();
    for (const s of this.transport.sockets) {
      for (const f of s.frames) {
        const what = this.#wire.classify(f.data);
        if (what?.kind === "ping" || f.result < 0) continue;
        accepted++;
        bytes += f.result;
        if (what?.kind === "send") plainOut.set(what.key, (plainOut.get(what.key) ?? 0) + 1);
        if (what?.kind === "request")
          requestOut.set(what.key, [...(requestOut.get(what.key) ?? []), s.index]);
      }
    }
    this.#checkResends(requestOut);
    if (stats.messagesSent !== accepted || stats.bytesSent !== bytes) {
      this.violate(
        "stats",
        `stats say ${stats.messagesSent} messages / ${stats.bytesSent} B sent; the transport accepted ${accepted} / ${bytes} B`,
      );
    }
    for (const [key, times] of plainOut) {
      if (times > 1) this.violate("send-accounting", `send ${key} went out ${times} times`);
    }
    const made = this.sends.filter((c) => c.threw === undefined).length;
    const outstanding = made - plainOut.size - this.#reportedUnsent;
    if (outstanding < 0) {
      this.violate("send-accounting", `${-outstanding} more send(s) reported unsent than were left unsent`);
    } else if (outstanding > stats.queuedMessages) {
      this.violate(
        "send-accounting",
        `${outstanding - stats.queuedMessages} send(s) neither sent, queued nor reported (${made} made, ${plainOut.size} accepted, ${this.#reportedUnsent} reported unsent, ${stats.queuedMessages} queued)`,
      );
    }
    this.#checkEndings();
    if (!settled) return;
    if (state !== this.#announced) {
      this.violate(
        "state-announced",
        `conn.state is "${state}" but the last state event announced "${this.#announced}"`,
      );
    }
    // Every request left the pending set by settling exactly once: promises we saw settle, callbacks
    // that were called, and failed callbacks reported to onError.
    const registered = this.requests.filter((r) => r.threw === undefined);
    const promisesSettled = registered.filter((r) => r.kind === "promise" && r.settled > 0).length;
    const called = registered.filter((r) => r.kind === "callback" && r.settled > 0).length;
    const failedCallbacks = registered.length - stats.pendingRequests - promisesSettled - called;
    if (this.#callbackErrors > failedCallbacks) {
      this.violate(
        "settle-once",
        `${this.#callbackErrors} send-callback failures reported, but only ${failedCallbacks} send callbacks left the pending set without being called`,
      );
    } else if (this.#callbackErrors < failedCallbacks) {
      this.violate(
        "request-settles",
        `${failedCallbacks - this.#callbackErrors} request(s) left the pending set without settling`,
      );
    }
    const now = this.clock.now();
    for (const r of registered) {
      if (r.settled === 0 && r.deadline !== undefined && now > r.deadline + this.clock.latestLateMs) {
        this.violate(
          "request-deadline",
          `${r.label} is unsettled at t=${now}, past its deadline t=${r.deadline}`,
        );
        r.deadline = undefined;
      }
    }
    this.#checkTimeouts(live, now);
    const waiting = this.#awaitingClose[0];
    if (waiting !== undefined) {
      this.violate(
        "close-events",
        `transport[${waiting.socket.index}] opened and ended, and no onClose came`,
      );
      this.#awaitingClose.length = 0;
    }
    if (this.#quiet && live.length === 0 && this.clock.live > 0) {
      this.violate(
        "timers",
        `${this.clock.live} timer(s) alive after close() resolved and every socket ended`,
      );
    }
  }

  /** Called before each command. */
  beginStep(): void {
    this.#reentered = false;
  }

  /** How each end the transport reported, that nobody asked for, was reported (see "close-errors"). */
  #checkEndings(): void {
    for (const { socket, report, errors } of this.#endings) {
      const { code, closedBy, wasClean } = report;
      const name = `transport[${socket.index}] (${code}, closedBy ${closedBy})`;
      const ours = errors.filter(
        (e) =>
          (e.code === ErrorCode.DISCONNECTED && e.details.closeCode === code && !isRequestFailure(e)) ||
          (e.code === ErrorCode.RECONNECT_EXHAUSTED &&
            isEvtWebSocketError(e.cause, ErrorCode.DISCONNECTED) &&
            e.cause.details.closeCode === code),
      );
      const refused = closedBy === "server" && [1007, 1008, 1009].includes(code);
      for (const e of errors) {
        if (e.code === ErrorCode.MESSAGE_TOO_BIG)
          this.violate("close-errors", `${name} reported as ${e.code}`);
      }
      if (ours.length > 1) this.violate("close-errors", `${name} reported ${ours.length} times`);
      if (refused || !wasClean) {
        if (ours.length === 0 && !this.#reentered) this.violate("close-errors", `${name} was never reported`);
      } else if (ours.length > 0) {
        this.violate("close-errors", `${name} was clean, yet reported as ${ours[0]!.code}`);
      }
    }
    this.#endings.length = 0;
  }

  /** Sockets that should be gone by now: closing past the close timeout, or silent past the heartbeat's verdict. */
  #checkTimeouts(live: MemorySocket[], now: number): void {
    const late = this.clock.latestLateMs;
    const { pingIntervalMs, pongTimeoutMs } = this.config;
    for (const s of live) {
      if (s.closingSince !== undefined && now > s.closingSince + DEFAULTS.closeTimeoutMs + late) {
        this.violate(
          "close-bounded",
          `transport[${s.index}] has been closing since t=${s.closingSince}; now t=${now}`,
        );
        s.closingSince = undefined;
      }
      // A timer later than min(interval, pong timeout) reads as a frozen process: the heartbeat
      // then pings again instead of judging, so no deadline holds.
      const judged = pingIntervalMs > 0 && late < Math.min(pingIntervalMs, pongTimeoutMs);
      const silentSince = s.lastReceivedAt;
      if (judged && s.phase === "open" && s.closingSince === undefined) {
        const verdictBy = silentSince + pingIntervalMs + pongTimeoutMs + 2 * late;
        if (now > verdictBy) {
          this.violate(
            "liveness",
            `transport[${s.index}] silent since t=${silentSince} is still open at t=${now}`,
          );
          s.lastReceivedAt = now;
        }
      }
    }
  }

  /** A request's frame goes out once; under retryOnReconnect, at most once per socket. */
  #checkResends(requestOut: Map<string, number[]>): void {
    const byKey = new Map<string, RequestCall[]>();
    for (const r of this.requests) {
      if (r.threw === undefined) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
    }
    for (const [key, sockets] of requestOut) {
      const owners = byKey.get(key);
      if (owners?.length !== 1 || sockets.length < 2) continue; // a shared key: not attributable
      const r = owners[0]!;
      if (!r.retry) {
        this.violate(
          "retry-on-reconnect",
          `${r.label} went out ${sockets.length} times without retryOnReconnect`,
        );
      } else if (new Set(sockets).size < sockets.length) {
        this.violate("retry-on-reconnect", `${r.label} went out twice on one socket`);
      }
    }
  }

  /** Throws when a violation was recorded (and the run did not stop at a known bug first). */
  assertClean(): void {
    if (this.stoppedAt === undefined && this.violations.length > 0) throw new ModelViolation(this);
  }

  /**
   * The closing sequence and the final books: disarm the callbacks, close(), let the peer answer
   * every close frame and end TCP, advance time past every deadline; then every call must have
   * settled, no socket or timer may be left, and nothing may happen after close() resolved.
   */
  async finish(): Promise<void> {
    if (this.stoppedAt !== undefined) return;
    this.#armed.length = 0;
    this.#depth = 0;
    this.line("-- end of script: close(), the peer ends every socket, time runs out --");
    this.command("close()", () => this.#close(1000, "", ""));
    await flush();
    this.check(true);
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
    this.#finalBooks();
    this.assertClean();
  }

  #finalBooks(): void {
    const stats = this.conn.stats;
    for (const d of this.dials) {
      if (d.settled === 0) this.violate("dial-settles", `dial#${d.n} never settled`);
    }
    for (const c of this.closes) {
      if (c.promise && c.settled === 0) this.violate("close-settles", `close#${c.n} never settled`);
    }
    for (const r of this.requests) {
      if (r.threw === undefined && r.kind === "promise" && r.settled === 0) {
        this.violate("request-settles", `${r.label} never settled`);
      }
    }
    if (stats.pendingRequests > 0)
      this.violate("request-settles", `${stats.pendingRequests} request(s) still pending`);
    if (stats.queuedMessages > 0)
      this.violate("send-accounting", `${stats.queuedMessages} message(s) still queued`);
    for (const s of this.transport.liveSockets) {
      this.violate("close-ends", `transport[${s.index}] still ${s.phase} at the end`);
    }
    if (this.conn.state !== "closed")
      this.violate("close-closes", `after close() the connection is "${this.conn.state}"`);
    if (this.clock.live > 0) this.violate("timers", `${this.clock.live} timer(s) alive at the end`);
  }
}

/** A failed run: the violations, then the script that led to them. */
export class ModelViolation extends Error {
  constructor(run: ModelRun) {
    const found = run.violations.map(
      (v) => `  [${v.property}] ${v.message}\n      (${PROPERTIES[v.property]})`,
    );
    super(
      `model violation\n${found.join("\n")}\n\nconfig: ${JSON.stringify(run.config, (_k, v) => (v === Number.POSITIVE_INFINITY ? "Infinity" : v))}\n\nscript:\n${run.lines
        .map((l) => `  ${l}`)
        .join("\n")}\n`,
    );
    this.name = "ModelViolation";
  }
}
