/**
 * The model of the contract: books kept on a run, and the rules (properties.ts) checked on them.
 *
 * The model is deliberately small. It does not predict what the connection will do; it keeps
 * books: which calls were made and how each settled, which frames the transport accepted,
 * which state changes were announced, which sockets are live, what each ended socket reported.
 * Some rules are checked as events happen (the state inside a callback, a state change's
 * origin), the rest after every step and once more at the end ({@link Books.final}): then the
 * books must balance. The driver (harness.ts) records; this module judges.
 */

import { getEventListeners } from "node:events";
import type { Conn } from "../../src/conn.js";
import { ErrorCode, type EvtWebSocketError, isEvtWebSocketError } from "../../src/errors.js";
import { DEFAULTS } from "../../src/resolve-options.js";
import { canTransition, type State } from "../../src/state.js";
import type { TransportClose } from "../../src/transport/types.js";
import type { ModelClock } from "./clock.js";
import type { ModelConfig } from "./config.js";
import type { MemorySocket, MemoryTransport } from "./memory-transport.js";
import type { PropertyName } from "./properties.js";
import type { Msg, Wire } from "./wire.js";

/** One dial() call. */
export interface DialCall {
  n: number;
  /** Made while idle or closed, and it started connecting. */
  accepted: boolean;
  /** Order among dial() and close() calls. */
  seq: number;
  settled: number;
  outcome: string | undefined;
}

/** One close() call. */
export interface CloseCall {
  n: number;
  seq: number;
  /** dial() calls made before this one. */
  dialsBefore: number;
  /** It returned a promise. */
  promise: boolean;
  settled: number;
  outcome: string | undefined;
}

/** One request: a request() promise or a send() with a callback. */
export interface RequestCall {
  /** Its number among the calls (the n of its label). */
  n: number;
  /** Its response can match it (json() matches by id: not a request made without one). */
  answerable: boolean;
  label: string;
  kind: "promise" | "callback";
  /** What its frame and its response carry ("q7"). */
  key: string;
  /** Set when send() threw: never registered. */
  threw: string | undefined;
  /** Promise settlements seen, or callback calls (a failed callback goes to onError, counted apart). */
  settled: number;
  outcome: string | undefined;
  controller: AbortController | undefined;
  /** When its timeout runs out (clock time); undefined when it has none. */
  deadline: number | undefined;
  /** The same, kept: it may not time out before then (`deadline` is cleared once judged). */
  notBefore: number | undefined;
  retry: boolean;
  /** Changes to "closed" announced before it was made. */
  closedBefore: number;
}

/** One plain send(). */
export interface SendCall {
  n: number;
  /** What its frame carries ("s7"). */
  key: string;
  threw: string | undefined;
  /** What send() returned. */
  result: string | undefined;
  volatile: boolean;
  controller: AbortController | undefined;
  /** When it must have left the queue (clock time): queued with a maxAgeMs; undefined otherwise. */
  deadline: number | undefined;
  /** Its abort took it out of the queue (the queue shrank by one). */
  abortedQueued: boolean;
  /** Reports of unsent messages (a connection's end) made before it. */
  unsentReportsBefore: number;
}

/** Codes a dial() is rejected with before it changes anything. */
const VALIDATION_CODES: readonly string[] = [
  ErrorCode.ALREADY_DIALED,
  ErrorCode.INVALID_URL,
  ErrorCode.INVALID_OPTION,
];

/** Close codes by which a peer says it refused a message of ours. */
const REFUSALS: readonly number[] = [1007, 1008, 1009];

/**
 * An error a failed send callback reports, as opposed to one about the connection itself. The
 * connection's own errors carry `details.closedBy` (a socket's end) or `details.unsent` (queued
 * messages dropped), or have another code; a failed request's error carries neither.
 */
export function isRequestFailure(e: EvtWebSocketError): boolean {
  const codes: readonly string[] = [
    ErrorCode.REQUEST_TIMEOUT,
    ErrorCode.DISCONNECTED,
    ErrorCode.CLOSED,
    ErrorCode.ABORTED,
  ];
  return codes.includes(e.code) && e.details.closedBy === undefined && e.details.unsent === undefined;
}

/** An error's code, or what it is when it has none. */
export function codeOf(e: unknown): string {
  return isEvtWebSocketError(e) ? e.code : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** What the books judge against. */
export interface BooksContext {
  conn: Conn<Msg, Msg>;
  transport: MemoryTransport;
  clock: ModelClock;
  config: ModelConfig;
  wire: Wire;
  violate(property: PropertyName, message: string): void;
}

/** A socket's end, as the transport reported it, waiting to be matched. */
interface Ending {
  socket: MemorySocket;
  report: TransportClose;
  /** Errors fired since (to find how the end was reported). */
  errors: EvtWebSocketError[];
  /**
   * A callback called dial() or close() since: the report may be dropped. (An end the transport
   * held behind paused reading comes once a step's reactions have run, and is judged in the next
   * step: the step's own flag has been reset by then.)
   */
  reentered?: boolean;
}

/** A Starved command under way (commands.ts): what the books knew as the freeze began. */
interface Starving {
  /** When the freeze began. */
  from: number;
  /** The newest socket, the one read after the timers ran. */
  socket: MemorySocket;
  /** Requests unsettled as the freeze began. */
  pending: Set<RequestCall>;
  /** The socket's handshake was under way as the freeze began. */
  connecting: boolean;
  /** The socket was open as the freeze began. */
  open: boolean;
  /** When the socket's close timeout ran out, if it was closing as the freeze began. */
  closeDue: number | undefined;
  /** When the heartbeat's unanswered ping ran out of time (undefined: no ping unanswered). */
  pongDue: number | undefined;
  /** close() and reconnect() calls made before the freeze. */
  closes: number;
  /** The socket ended while the timers ran, before the read. */
  endedBeforeRead: boolean;
  /** The request whose answer was read, whether it was still pending then and the socket open. */
  answer: { call: RequestCall; pendingAtRead: boolean; openAtRead: boolean } | undefined;
}

/** The books of one run; see the module header. */
export class Books {
  readonly dials: DialCall[] = [];
  readonly closes: CloseCall[] = [];
  readonly requests: RequestCall[] = [];
  readonly sends: SendCall[] = [];
  /** drained() and messages().next() calls: each must settle by the end. */
  readonly waits: { label: string; settled: number; drained?: boolean }[] = [];
  /** Events and callbacks fired by the connection so far. */
  eventCount = 0;
  /** Changes to "closed" announced so far. */
  closedAnnounced = 0;
  readonly #ctx: BooksContext;
  /** A proxy answered 407 and no shouldReconnect can say yes: no socket may open before a dial(). */
  #proxy407 = false;
  #seq = 0;
  #announced: State = "idle";
  #toConnecting = 0;
  /** close() resolved and no dial() was made since: no event may fire. */
  #quiet = false;
  #lastCloseSeq = -1;
  #lastAcceptedDialSeq = -1;
  /** Errors reported to onError for failed send callbacks, and queued sends reported unsent. */
  #callbackErrors = 0;
  #reportedUnsent = 0;
  /** Errors that reported queued messages unsent when a connection ended (`details.unsent`). */
  unsentReports = 0;
  /** Plain sends reported one by one (expired, dropped as oldest), by key, with how often. */
  readonly #reportedKeys = new Map<string, number>();
  /** Plain sends the transport accepted, by key. */
  readonly #acceptedKeys = new Set<string>();
  /** A callback called dial() or close() during this step. */
  #reentered = false;
  /** The first call number made after each socket's handshake completed. */
  readonly #openedAtCall = new Map<MemorySocket, number>();
  /** Sockets live when close() was called: their end is the user's, reported as no error. */
  readonly #closedWhileLive = new WeakSet<MemorySocket>();
  /** Ends the transport reported that nobody asked for (this step). */
  readonly #endings: Ending[] = [];
  /** Where each request's frame went out (socket indexes by key), as the last check found. */
  #requestOut = new Map<string, number[]>();
  /** Sockets whose end onClose told, not yet judged by `drop-settles` (a settled step's check). */
  readonly #toldEnded: number[] = [];
  /** Sockets that opened and ended, whose onClose has not come yet (oldest first). */
  readonly #awaitingClose: { socket: MemorySocket; report: TransportClose | undefined }[] = [];

  /** The logger's latest open line has no onConnected yet (a close line ends its connection). */
  #openLogged = false;
  /** The logger's close lines whose onClose has not come yet, oldest first, as `code willReconnect closedBy`. */
  readonly #closeLines: string[] = [];

  /** When each socket was opened (its connect timeout counts from then). */
  readonly #startedAt = new WeakMap<MemorySocket, number>();
  #starve: Starving | undefined;

  constructor(ctx: BooksContext) {
    this.#ctx = ctx;
  }

  #violate(property: PropertyName, message: string): void {
    this.#ctx.violate(property, message);
  }

  /** Registered requests (send() did not throw). */
  registered(): RequestCall[] {
    return this.requests.filter((r) => r.threw === undefined);
  }

  /** A callback calls dial() or close(). */
  #reenter(): void {
    this.#reentered = true;
    for (const e of this.#endings) e.reentered = true;
  }

  /** A step begins. */
  beginStep(): void {
    this.#reentered = false;
  }

  /** Any event or callback of the connection. */
  event(text: string): void {
    this.eventCount++;
    if (this.#quiet) {
      this.#violate("quiet-after-close", `${text}: an event after close() resolved, before any new dial()`);
    }
    // No check of conn.state against the announcements here: callbacks run once the transition
    // is complete (finish, then announce), so an announcement may trail the state by several
    // transitions made meanwhile by other callbacks. At rest they must agree (check()).
  }

  /** A "state" event. */
  stateEvent(oldState: State, newState: State): void {
    if (oldState !== this.#announced) {
      this.#violate(
        "state-announced",
        `state event from "${oldState}" but the last announced state was "${this.#announced}"`,
      );
    }
    if (!canTransition(oldState, newState)) {
      this.#violate("state-machine", `state event ${oldState} → ${newState} is not a transition of state.ts`);
    }
    this.#announced = newState;
    if (newState === "closed") this.closedAnnounced++;
    if (newState === "connecting") this.#toConnecting++;
  }

  /** A line the logger was given: its event, from `evtwebsocket[<id>] <event> key=value …`. */
  logLine(line: string): void {
    const event = line.split(" ")[1];
    if (event === "open") this.#openLogged = true;
    if (event !== "close") return;
    this.#openLogged = false;
    const field = (key: string) => new RegExp(` ${key}=(\\S+)`).exec(line)?.[1];
    this.#closeLines.push(`${field("code")} ${field("willReconnect")} ${field("closedBy")}`);
  }

  /** onConnected, for the connection on `socket`. */
  connectedEvent(socket: MemorySocket | undefined): void {
    const { conn } = this.#ctx;
    if (!this.#openLogged) this.#violate("log-lines", "onConnected with no open line logged before it");
    this.#openLogged = false;
    if (conn.state !== "open" || !conn.isConnected()) {
      this.#violate("callback-state", `inside onConnected the state is "${conn.state}"`);
    }
    const last = this.dials.filter((d) => d.accepted).at(-1);
    if (last?.outcome?.startsWith("rejected")) {
      this.#violate(
        "dial-outcome",
        `the connection opened after dial#${last.n} was rejected, with no dial() since`,
      );
    }
    if (socket !== undefined) this.queueHeld(socket, "onConnected");
  }

  /** No frame made before `socket` opened (so queued) went out on it yet (`until` names the moment). */
  queueHeld(socket: MemorySocket, until: string): void {
    const openedAt = this.#openedAtCall.get(socket);
    if (openedAt === undefined) return;
    for (const f of socket.frames) {
      const what = f.result < 0 ? undefined : this.#ctx.wire.classify(f.data);
      if (what === undefined || what.kind === "ping") continue;
      let n: number | undefined;
      if (what.kind === "send") n = Number(what.key.slice(1));
      else {
        const owners = this.registered().filter((r) => r.key === what.key);
        if (owners.length === 1) n = owners[0]!.n;
      }
      if (n !== undefined && n < openedAt) {
        this.#violate(
          "queue-after-connected",
          `${what.key}, queued before transport[${socket.index}] opened, went out before ${until}`,
        );
      }
    }
  }

  /** onError. */
  errorEvent(e: EvtWebSocketError): void {
    if (isRequestFailure(e)) this.#callbackErrors++;
    this.#checkNotEarly(e);
    for (const ending of this.#endings) ending.errors.push(e);
    if (e.details.unsent !== undefined) {
      this.#reportedUnsent += e.details.unsent;
      this.unsentReports++;
    }
    const dropped =
      e.code === ErrorCode.QUEUE_EXPIRED || (e.code === ErrorCode.QUEUE_FULL && "message" in e.details);
    if (!dropped) return;
    const key = this.#ctx.wire.sendKey(e.details.message);
    if (key === undefined) {
      this.#violate(
        "delivery-once",
        `${e.code} reported ${JSON.stringify(e.details.message)}, not a plain send`,
      );
      return;
    }
    const times = (this.#reportedKeys.get(key) ?? 0) + 1;
    this.#reportedKeys.set(key, times);
    if (times > 1) this.#violate("delivery-once", `${key} was reported ${times} times`);
    if (this.#acceptedKeys.has(key))
      this.#violate("delivery-once", `${key} was sent, then reported ${e.code}`);
    const call = this.#send(key);
    if (call?.abortedQueued)
      this.#violate("delivery-once", `${key} was aborted out of the queue, then reported`);
    if (e.code === ErrorCode.QUEUE_FULL && this.#ctx.config.overflow !== "drop-oldest")
      this.#violate("delivery-once", `${key} was dropped as oldest, yet overflow is "reject"`);
  }

  #send(key: string): SendCall | undefined {
    const n = Number(key.slice(1));
    return this.sends.find((c) => c.n === n);
  }

  /** send() returned (it did not throw). */
  sendMade(call: SendCall): void {
    const { result, key } = call;
    if (result !== "sent" && result !== "queued" && result !== "dropped") {
      this.#violate("send-result", `send(${key}) returned ${JSON.stringify(result)}`);
    } else if (result === "sent" && !this.#acceptedKeys.has(key)) {
      this.#violate("send-result", `send(${key}) returned "sent", but the transport did not accept it`);
    } else if (result === "dropped" && !call.volatile) {
      this.#violate("send-result", `send(${key}) returned "dropped" without volatile`);
    } else if (result === "queued" && call.volatile) {
      this.#violate("send-result", `the volatile send(${key}) returned "queued"`);
    }
  }

  /** The transport accepted the frame of plain send `key`. */
  sendAccepted(key: string): void {
    this.#acceptedKeys.add(key);
    const call = this.#send(key);
    if (call === undefined) return;
    if (call.result === "dropped") this.#violate("send-result", `${key} was dropped (volatile), yet sent`);
    if (call.abortedQueued) this.#violate("delivery-once", `${key} was aborted out of the queue, yet sent`);
    if (this.#reportedKeys.has(key)) this.#violate("delivery-once", `${key} was reported dropped, yet sent`);
    const now = this.#ctx.clock.now();
    if (call.deadline !== undefined && now >= call.deadline) {
      this.#violate(
        "send-expiry",
        `${key} was sent at t=${now}, at or after its deadline t=${call.deadline}`,
      );
    }
  }

  /**
   * A signal given to `calls` (one send, or several sharing it) aborted at `now`; the queue
   * shrank by `removed`. `inFlush`: from inside a frame being handed to a transport.
   */
  sendAborted(calls: SendCall[], removed: number, now: number, inFlush: boolean, inCallback = false): void {
    // From a callback inside the send() call itself (a logger told of the oldest message it
    // dropped), the message is queued before send() has returned to say so; under "reject", the
    // line inside send() tells of its refusal: it was never queued (seed 535302213 with --sent).
    const inSend = (c: SendCall) =>
      inCallback &&
      c.result === undefined &&
      c.threw === undefined &&
      this.#ctx.config.overflow === "drop-oldest";
    const queued = calls.filter(
      (c) =>
        (c.result === "queued" || inSend(c)) &&
        !this.#acceptedKeys.has(c.key) &&
        !this.#reportedKeys.has(c.key),
    );
    // Inside a flush, a message past its deadline may already be out of the queue, its expiry
    // reported once the flush is over: the abort (a sent subscriber's) may find it gone.
    const due = (c: SendCall) => (inFlush || inCallback) && c.deadline !== undefined && now >= c.deadline;
    // Still queued for sure: no end of a connection has dropped the queue since they were made.
    const kept = queued.filter((c) => this.unsentReports === c.unsentReportsBefore);
    // From a callback (a logger's line, onError), the step that announced it may already have
    // taken the message out of the queue (expired, or dropped by close()), its report still to come.
    // Those not past their deadline first: the ones an abort most likely took.
    const certain = inCallback ? [] : kept.filter((c) => !due(c));
    // Newest first: under "drop-oldest" a step may have dropped the oldest (a send queued from an
    // onError that was telling of another drop), its report still to come; what an abort then
    // finds in the queue is the newest. (Taking the oldest first marked a dropped one aborted.)
    // Inside a flush, the due ones behind the frame being sent are still queued (the flush had not
    // reached them) and those before it expired: the newest first again. (Seed 20261208 marked an
    // expired one aborted.)
    const dueKept = kept.filter(due);
    const maybe = [
      ...(inCallback ? kept.filter((c) => !due(c)).reverse() : []),
      ...(inFlush ? dueKept.reverse() : dueKept),
      ...queued.filter((c) => this.unsentReports !== c.unsentReportsBefore),
    ];
    const keys = calls.map((c) => c.key).join(", ");
    if (removed < certain.length || removed > queued.length) {
      this.#violate(
        "delivery-once",
        `aborting the signal of ${keys} took ${removed} message(s) out of the queue; ${certain.length} were surely queued, ${maybe.length} maybe`,
      );
      return;
    }
    for (const c of [...certain, ...maybe].slice(0, removed)) c.abortedQueued = true;
  }

  /** onClose: it answers the oldest socket that opened and ended, and fits the state. */
  closeEvent(code: number, willReconnect: boolean, closedBy: string): void {
    const line = this.#closeLines.shift();
    const told = `${code} ${willReconnect} ${JSON.stringify(closedBy)}`;
    if (line !== told)
      this.#violate(
        "log-lines",
        `onClose (${told}) after close line ${line ?? "none"} (code willReconnect closedBy)`,
      );
    const ended = this.#awaitingClose.shift();
    if (ended !== undefined) this.#toldEnded.push(ended.socket.index);
    if (ended === undefined) {
      this.#violate("close-events", "onClose with no socket that opened and ended waiting for it");
    } else if (ended.report !== undefined) {
      const { report, socket } = ended;
      if (report.code !== code || report.closedBy !== closedBy) {
        this.#violate(
          "close-events",
          `onClose says ${code} closedBy=${closedBy}; transport[${socket.index}] reported ${report.code} closedBy=${report.closedBy}`,
        );
      }
    }
    const { conn } = this.#ctx;
    const state = conn.state;
    if (conn.isConnected())
      this.#violate("onclose-state", `inside onClose isConnected() is true (state "${state}")`);
    // A callback before it in this step (the logger's close line) called dial() or close(): onClose
    // sees the state that call made, as every callback does.
    if (this.#reentered) return;
    if (willReconnect && state !== "reconnecting") {
      this.#violate(
        "onclose-state",
        `inside onClose with willReconnect=true the state is "${state}", not "reconnecting"`,
      );
    }
    // close() then dial() before this socket ended: the new dial is under way.
    const redialled = this.#lastCloseSeq >= 0 && this.#lastAcceptedDialSeq > this.#lastCloseSeq;
    if (!willReconnect && state !== "closed" && !(redialled && state === "connecting")) {
      this.#violate(
        "onclose-state",
        `inside onClose with willReconnect=false the state is "${state}", not "closed"`,
      );
    }
  }

  /** onReconnecting. */
  reconnectingEvent(): void {
    const { conn } = this.#ctx;
    const state = conn.state;
    if ((state !== "connecting" && state !== "reconnecting") || conn.isConnected()) {
      this.#violate("callback-state", `inside onReconnecting the state is "${state}"`);
    }
  }

  /** The connection opens a socket. */
  socketOpening(socket: MemorySocket): void {
    this.#startedAt.set(socket, this.#ctx.clock.now());
    if (this.#proxy407) {
      this.#violate(
        "proxy-407",
        `transport[${socket.index}] opened after a proxy's 407 with no shouldReconnect, before any new dial()`,
      );
    }
    const live = this.#ctx.transport.liveSockets;
    if (live.length > 0) {
      const others = live.map((s) => `transport[${s.index}] (${s.phase})`).join(", ");
      this.#violate("one-socket", `transport[${socket.index}] opened while ${others} is still live`);
    }
  }

  /** A socket's handshake completed; `nextCall` is the number the next call will get. */
  socketOpened(socket: MemorySocket, nextCall: number): void {
    this.#openedAtCall.set(socket, nextCall);
  }

  /**
   * A timeout told to onError (in the step its timer ran, so at its time) did not come before
   * its time: a pong timeout within pongTimeoutMs of the socket's last received byte, a connect
   * timeout before connectTimeoutMs of the handshake, a send callback's timeout before
   * requestTimeoutMs of any send callback still waiting.
   */
  #checkNotEarly(e: EvtWebSocketError): void {
    const { clock, config, transport } = this.#ctx;
    const now = clock.now();
    if (e.code === ErrorCode.PONG_TIMEOUT) {
      const s = transport.sockets.filter((x) => x.terminated && x.wasOpen).at(-1);
      // While reading is paused nothing can be read: no verdict; once it resumes, a fresh deadline.
      const since = s === undefined ? 0 : Math.max(s.lastReceivedAt, s.resumedAt);
      if (s?.pausedAtEnd)
        this.#violate(
          "not-early",
          `transport[${s.index}] declared dead at t=${now} while reading was paused`,
        );
      else if (s !== undefined && now - since < config.pongTimeoutMs)
        this.#violate(
          "not-early",
          `transport[${s.index}] declared dead at t=${now}, ${now - since} ms after it last received or resumed reading (pongTimeoutMs ${config.pongTimeoutMs})`,
        );
    } else if (e.code === ErrorCode.CONNECT_TIMEOUT && e.message.includes("opening handshake")) {
      const s = transport.sockets.filter((x) => x.terminated && !x.wasOpen).at(-1);
      const started = s === undefined ? undefined : this.#startedAt.get(s);
      if (s !== undefined && started !== undefined && now - started < config.connectTimeoutMs)
        this.#violate(
          "not-early",
          `transport[${s.index}]'s handshake timed out at t=${now}, ${now - started} ms after it began (connectTimeoutMs ${config.connectTimeoutMs})`,
        );
    } else if (e.code === ErrorCode.REQUEST_TIMEOUT) {
      const due = this.requests.some(
        (r) => r.kind === "callback" && r.notBefore !== undefined && r.notBefore <= now,
      );
      if (!due) this.#violate("not-early", `a send callback timed out at t=${now}, before any was due`);
    }
  }

  /** A socket ended: `report` is what its onClose said, undefined after terminate(). */
  socketEnded(socket: MemorySocket, report: TransportClose | undefined): void {
    const reconnect = this.#ctx.config.reconnect;
    // Wrong proxy credentials do not heal: without a shouldReconnect saying yes, no retry.
    if (report?.proxyStatus === 407 && (reconnect === false || !reconnect.ask)) this.#proxy407 = true;
    if (!socket.wasOpen) return;
    this.#awaitingClose.push({ socket, report });
    if (report !== undefined && !this.#closedWhileLive.has(socket))
      this.#endings.push({ socket, report, errors: [] });
  }

  /** Numbers a dial() or close() call in order. */
  nextSeq(): number {
    return ++this.#seq;
  }

  /** A dial() call is about to be made: returns what `dialMade` needs. */
  dialStarting(fromCallback: boolean): { before: State; toConnecting: number } {
    this.#quiet = false;
    this.#proxy407 = false;
    if (fromCallback) this.#reenter();
    return { before: this.#ctx.conn.state, toConnecting: this.#toConnecting };
  }

  /** A dial() call returned: was it accepted (it started connecting)? */
  dialMade(call: DialCall, start: { before: State; toConnecting: number }): void {
    const { before, toConnecting } = start;
    call.accepted =
      (before === "idle" || before === "closed") &&
      (this.#toConnecting > toConnecting || this.#ctx.conn.state === "connecting");
    // A dial() from a callback inside this one may have been accepted first.
    if (call.accepted) this.#lastAcceptedDialSeq = Math.max(this.#lastAcceptedDialSeq, call.seq);
  }

  /** A dial() promise rejected: the connection is closed, unless a newer dial() is under way. */
  dialRejected(call: DialCall, e: unknown): void {
    const state = this.#ctx.conn.state;
    const newer = this.#lastAcceptedDialSeq > call.seq;
    const validation = VALIDATION_CODES.includes(codeOf(e));
    if (call.accepted && !validation && !newer && state !== "closed" && state !== "idle") {
      this.#violate(
        "dial-outcome",
        `dial#${call.n} rejected (${codeOf(e)}) but the connection is "${state}"`,
      );
    }
  }

  /** reconnect() calls made while dialled: each closes the live socket, as close() does. */
  reconnects = 0;

  /** The page is about to be hidden: the connection closes its live socket itself (1000, "page hidden"). */
  pageHiding(): void {
    for (const s of this.#ctx.transport.liveSockets) this.#closedWhileLive.add(s);
  }

  /** A close() call is about to be made. */
  closeStarting(call: CloseCall, fromCallback: boolean): void {
    this.#lastCloseSeq = call.seq;
    if (fromCallback) this.#reenter();
    for (const s of this.#ctx.transport.liveSockets) this.#closedWhileLive.add(s);
  }

  /** A close() promise resolved: quiet from now on, unless dial() was called since. */
  closeResolved(call: CloseCall): void {
    if (this.dials.length === call.dialsBefore) this.#quiet = true;
  }

  /** A request got `resp`: it must be its own response. */
  response(call: RequestCall, resp: Msg): void {
    const key = this.#ctx.wire.responseKey(resp);
    if (key !== call.key) {
      this.#violate(
        "settle-once",
        `${call.label} got a response for ${String(key)}: ${JSON.stringify(resp)}`,
      );
    }
    if (call.settled > 1) this.#violate("settle-once", `${call.label} settled ${call.settled} times`);
  }

  /** A Starved command freezes the process, `socket` the newest: what is pending and in time. */
  starving(socket: MemorySocket): void {
    this.#starve = {
      from: this.#ctx.clock.now(),
      socket,
      pending: new Set(this.registered().filter((r) => r.settled === 0)),
      connecting: socket.phase === "connecting",
      open: socket.phase === "open",
      closeDue:
        socket.phase === "closing" && socket.closingSince !== undefined
          ? socket.closingSince + DEFAULTS.closeTimeoutMs
          : undefined,
      // A ping and a receipt in the same ms: taken as unanswered (judged less often, never wrongly).
      pongDue:
        socket.lastPingAt !== undefined && socket.lastPingAt >= socket.lastReceivedAt
          ? socket.lastPingAt + this.#ctx.config.pongTimeoutMs
          : undefined,
      closes: this.closes.length + this.reconnects,
      endedBeforeRead: false,
      answer: undefined,
    };
  }

  /** The timers a Starved command woke have run, with their reactions: the socket is read next. */
  woke(): void {
    if (this.#starve !== undefined) this.#starve.endedBeforeRead = !this.#starve.socket.live;
  }

  /** The answer to `call` is about to be read from `socket` (it counts only during a Starved command). */
  answering(call: RequestCall, socket: MemorySocket): void {
    const starve = this.#starve;
    if (starve === undefined || starve.socket !== socket) return;
    starve.answer = { call, pendingAtRead: call.settled === 0, openAtRead: socket.phase === "open" };
  }

  /**
   * A Starved command's read and its reactions ran (`starved-answer`): an answer that came in
   * time (the freeze began before the deadline) counts, though the deadline's timer ran first.
   * Judged: a request with a timeout, pending as the freeze began, answerable, the only one with
   * its key, sent on the socket; a handshake under way as the freeze began; a closing socket
   * (the peer's close frame or TCP's end is read) within its close timeout; an open socket with
   * the heartbeat on and no ping out of time as the freeze began (what is read is something
   * received: the heartbeat must not end it as dead first). Not when a callback called close()
   * (or reconnect())
   * while the timers ran or the socket was read. Not judged: a wake at exactly the deadline. The
   * timer then runs on time and judges at once; in real time (a fractional `performance.now()`)
   * a freeze ends exactly on a deadline with probability zero, on the model's whole ms often.
   */
  starved(): void {
    const starve = this.#starve;
    this.#starve = undefined;
    if (starve === undefined) return;
    const { from, socket, answer } = starve;
    const now = this.#ctx.clock.now();
    // A close() made by a callback (armed in one the timers or the read ran) ends it all first;
    // so does a send the socket threw on (an adapter outside its contract is dropped at once).
    const noClose = this.closes.length + this.reconnects === starve.closes && !socket.threw;
    if (answer !== undefined) {
      const { call, pendingAtRead, openAtRead } = answer;
      const judged =
        call.kind === "promise" &&
        call.deadline !== undefined &&
        from < call.deadline &&
        call.deadline !== now &&
        starve.pending.has(call) &&
        call.answerable &&
        this.registered().filter((r) => r.key === call.key).length === 1 &&
        socket.frames.some((f) => {
          const what = f.result < 0 ? undefined : this.#ctx.wire.classify(f.data);
          return what?.kind === "request" && what.key === call.key;
        });
      const came = `${call.label} (deadline t=${call.deadline}) was answered at t=${from}, in time, and the answer read at t=${now} after the timers ran`;
      if (judged && call.outcome === `rejected ${ErrorCode.REQUEST_TIMEOUT}`) {
        this.#violate("starved-answer", `${came}, yet it was rejected ${ErrorCode.REQUEST_TIMEOUT}`);
      } else if (
        judged &&
        pendingAtRead &&
        openAtRead &&
        noClose &&
        call.outcome !== "resolved" &&
        // Its signal aborted by a callback the read ran (a matcher's) before the answer matched.
        call.outcome !== `rejected ${ErrorCode.ABORTED}`
      ) {
        this.#violate(
          "starved-answer",
          `${came} on an open socket, yet it is ${call.outcome ?? "unsettled"}`,
        );
      }
    }
    const startedAt = this.#startedAt.get(socket);
    const timeoutAt = startedAt === undefined ? undefined : startedAt + this.#ctx.config.connectTimeoutMs;
    if (
      starve.connecting &&
      starve.endedBeforeRead &&
      socket.terminated &&
      noClose &&
      timeoutAt !== undefined &&
      from < timeoutAt &&
      timeoutAt !== now
    ) {
      this.#violate(
        "starved-answer",
        `transport[${socket.index}]'s handshake was answered at t=${from}, before its connect timeout ran out at t=${timeoutAt}, yet the timers ended it before it was read at t=${now}`,
      );
    }
    const { closeDue } = starve;
    if (
      closeDue !== undefined &&
      starve.endedBeforeRead &&
      socket.terminated &&
      noClose &&
      from < closeDue &&
      closeDue !== now
    ) {
      this.#violate(
        "starved-answer",
        `transport[${socket.index}] was closing, its close timeout running to t=${closeDue}, and the peer's part came in at t=${from}; yet the timers ended it before it was read at t=${now}`,
      );
    }
    const { pongDue } = starve;
    if (
      starve.open &&
      this.#ctx.config.pingIntervalMs > 0 &&
      starve.endedBeforeRead &&
      socket.terminated &&
      noClose &&
      (pongDue === undefined || (from < pongDue && pongDue !== now))
    ) {
      const ping = pongDue === undefined ? "no ping unanswered" : `its ping unanswered until t=${pongDue}`;
      this.#violate(
        "starved-answer",
        `transport[${socket.index}] was open, ${ping}, and something came in at t=${from}; yet the timers ended it before it was read at t=${now}`,
      );
    }
  }

  /** A request() promise rejected. */
  requestRejected(call: RequestCall, e: unknown): void {
    // Told a turn later than it happened (a promise reaction): an early timeout is seen only
    // when the step ended before its deadline, but it is never judged early by mistake.
    const now = this.#ctx.clock.now();
    if (codeOf(e) === ErrorCode.REQUEST_TIMEOUT && call.notBefore !== undefined && now < call.notBefore)
      this.#violate(
        "not-early",
        `${call.label} timed out at t=${now}, before its deadline t=${call.notBefore}`,
      );
    if (call.retry && codeOf(e) === ErrorCode.DISCONNECTED && this.closedAnnounced === call.closedBefore) {
      this.#violate(
        "retry-on-reconnect",
        `${call.label} (retryOnReconnect) rejected ERR_DISCONNECTED, yet the connection did not end`,
      );
    }
  }

  /**
   * Not open, with an empty queue and every socket ended, nothing of ours waits to leave: every
   * drained() has settled. (A socket still closing, a hidden page's, may yet report its writes.)
   */
  #checkDrained(state: string): void {
    const { conn, transport } = this.#ctx;
    // Open on a socket that takes data and holds nothing unwritten, with an empty queue: nothing
    // of ours waits to leave either (the socket reports its writes at once when asked).
    const newest = transport.sockets.at(-1);
    if (
      state === "open" &&
      conn.stats.queuedMessages === 0 &&
      newest?.phase === "open" &&
      !newest.threw && // a socket that threw on a send is being dropped: drained() waits for its end
      newest.buffered === 0 &&
      transport.liveSockets.length === 1
    ) {
      for (const w of this.waits) {
        if (w.drained && w.settled === 0)
          this.#violate(
            "drained-settles",
            `${w.label} is pending while open with an empty queue and nothing unwritten`,
          );
      }
      return;
    }
    if (state === "open" || conn.stats.queuedMessages > 0 || transport.liveSockets.length > 0) return;
    for (const w of this.waits) {
      if (w.drained && w.settled === 0)
        this.#violate("drained-settles", `${w.label} is pending while ${state} with an empty queue`);
    }
  }

  /**
   * Checks the books after a step. `settled`: the step let every pending reaction run, so
   * promise outcomes are known and everything is announced.
   */
  check(settled: boolean): void {
    const { conn, transport } = this.#ctx;
    const state = conn.state;
    const lastClose = this.closes.at(-1);
    if (lastClose !== undefined && this.dials.length === lastClose.dialsBefore && state !== "closed") {
      this.#violate(
        "close-closes",
        `close#${lastClose.n} was the last call, yet the connection is "${state}"`,
      );
    }
    if (state === "closed" || state === "idle") {
      for (const s of transport.liveSockets) {
        if (s.phase === "connecting" || (s.phase === "open" && s.closeSent === undefined)) {
          this.#violate("close-ends", `transport[${s.index}] is ${s.phase} while the connection is ${state}`);
        }
      }
    }
    this.#checkFrames();
    this.#checkEndings();
    if (!settled) return;
    this.#checkDropped();
    if (state !== this.#announced) {
      this.#violate(
        "state-announced",
        `conn.state is "${state}" but the last state event announced "${this.#announced}"`,
      );
    }
    this.#checkSettlements();
    this.#checkSignals(false);
    this.#checkDrained(state);
    this.#checkTimeouts();
    this.#checkExpiry();
    if (this.#closeLines.length > 0) {
      this.#violate("log-lines", `close line ${this.#closeLines[0]} logged, and no onClose came`);
      this.#closeLines.length = 0;
    }
    const waiting = this.#awaitingClose[0];
    if (waiting !== undefined) {
      this.#violate(
        "close-events",
        `transport[${waiting.socket.index}] opened and ended, and no onClose came`,
      );
      this.#awaitingClose.length = 0;
    }
    const { clock } = this.#ctx;
    if (this.#quiet && transport.liveSockets.length === 0 && clock.live > 0) {
      this.#violate("timers", `${clock.live} timer(s) alive after close() resolved and every socket ended`);
    }
  }

  /** The frames the transport accepted, against the stats and the sends and requests made. */
  #checkFrames(): void {
    const { conn, transport, wire } = this.#ctx;
    const stats = conn.stats;
    let accepted = 0;
    let bytes = 0;
    const plainOut = new Map<string, number>();
    const requestOut = new Map<string, number[]>();
    for (const s of transport.sockets) {
      for (const f of s.frames) {
        const what = wire.classify(f.data);
        if (what?.kind === "ping" || f.result < 0) continue;
        accepted++;
        bytes += f.result;
        if (what?.kind === "send") plainOut.set(what.key, (plainOut.get(what.key) ?? 0) + 1);
        if (what?.kind === "request")
          requestOut.set(what.key, [...(requestOut.get(what.key) ?? []), s.index]);
      }
    }
    if (stats.messagesSent !== accepted || stats.bytesSent !== bytes) {
      this.#violate(
        "stats",
        `stats say ${stats.messagesSent} messages / ${stats.bytesSent} B sent; the transport accepted ${accepted} / ${bytes} B`,
      );
    }
    for (const [key, times] of plainOut) {
      if (times > 1) this.#violate("send-accounting", `send ${key} went out ${times} times`);
    }
    const made = this.sends.filter((c) => c.threw === undefined && c.result !== "dropped").length;
    const aborted = this.sends.filter((c) => c.abortedQueued).length;
    const outstanding = made - plainOut.size - this.#reportedUnsent - this.#reportedKeys.size - aborted;
    if (outstanding < 0) {
      this.#violate("send-accounting", `${-outstanding} more send(s) reported unsent than were left unsent`);
    } else if (outstanding > stats.queuedMessages) {
      this.#violate(
        "send-accounting",
        `${outstanding - stats.queuedMessages} send(s) neither sent, queued, aborted nor reported (${made} made, ${plainOut.size} accepted, ${this.#reportedUnsent} reported unsent, ${this.#reportedKeys.size} reported dropped, ${aborted} aborted, ${stats.queuedMessages} queued)`,
      );
    }
    this.#checkResends(requestOut);
    this.#requestOut = requestOut;
  }

  /**
   * `drop-settles`: a promise request without retryOnReconnect whose frame last went out on a
   * socket whose end onClose has told is settled once the step's reactions ran (the drop rejects
   * it; close() and reconnect() did already). Judged on settled steps only.
   */
  #checkDropped(): void {
    const requestOut = this.#requestOut;
    if (this.#toldEnded.length === 0) return;
    const ended = new Set(this.#toldEnded.splice(0));
    const byKey = new Map<string, RequestCall[]>();
    for (const r of this.registered()) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
    for (const [key, sockets] of requestOut) {
      const owners = byKey.get(key);
      if (owners?.length !== 1) continue; // a shared key: not attributable
      const r = owners[0]!;
      if (r.retry || r.kind !== "promise" || r.settled > 0 || !ended.has(sockets.at(-1)!)) continue;
      this.#violate(
        "drop-settles",
        `${r.label} went out on transport[${sockets.at(-1)}], whose end onClose told, and is still unsettled`,
      );
    }
  }

  /** A request's frame goes out once; under retryOnReconnect, at most once per socket. */
  #checkResends(requestOut: Map<string, number[]>): void {
    const byKey = new Map<string, RequestCall[]>();
    for (const r of this.registered()) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
    for (const [key, sockets] of requestOut) {
      const owners = byKey.get(key);
      if (owners?.length !== 1 || sockets.length < 2) continue; // a shared key: not attributable
      const r = owners[0]!;
      if (!r.retry) {
        this.#violate(
          "retry-on-reconnect",
          `${r.label} went out ${sockets.length} times without retryOnReconnect`,
        );
      } else if (new Set(sockets).size < sockets.length) {
        this.#violate("retry-on-reconnect", `${r.label} went out twice on one socket`);
      }
    }
  }

  /** How each end the transport reported, that nobody asked for, was reported (see "close-errors"). */
  #checkEndings(): void {
    for (const { socket, report, errors, reentered } of this.#endings) {
      const { code, closedBy, wasClean } = report;
      const name = `transport[${socket.index}] (${code}, closedBy ${closedBy})`;
      const ours = errors.filter(
        (e) =>
          (e.code === ErrorCode.DISCONNECTED && e.details.closeCode === code && !isRequestFailure(e)) ||
          (e.code === ErrorCode.RECONNECT_EXHAUSTED &&
            isEvtWebSocketError(e.cause, ErrorCode.DISCONNECTED) &&
            e.cause.details.closeCode === code),
      );
      for (const e of errors) {
        if (e.code === ErrorCode.MESSAGE_TOO_BIG)
          this.#violate("close-errors", `${name} reported as ${e.code}`);
      }
      if (ours.length > 1) this.#violate("close-errors", `${name} reported ${ours.length} times`);
      const refused = closedBy === "server" && REFUSALS.includes(code);
      if (refused || !wasClean) {
        // A callback that closed or dialled first makes the report untrue: it may be dropped.
        if (ours.length === 0 && !this.#reentered && !reentered)
          this.#violate("close-errors", `${name} was never reported`);
      } else if (ours.length > 0) {
        this.#violate("close-errors", `${name} was clean, yet reported as ${ours[0]!.code}`);
      }
    }
    this.#endings.length = 0;
  }

  /**
   * Every request left the pending set by settling exactly once: promises we saw settle,
   * callbacks that were called, and failed callbacks reported to onError; and none outlived
   * its deadline.
   */
  #checkSettlements(): void {
    const { conn, clock } = this.#ctx;
    const registered = this.registered();
    const promisesSettled = registered.filter((r) => r.kind === "promise" && r.settled > 0).length;
    const called = registered.filter((r) => r.kind === "callback" && r.settled > 0).length;
    const failedCallbacks = registered.length - conn.stats.pendingRequests - promisesSettled - called;
    if (this.#callbackErrors > failedCallbacks) {
      this.#violate(
        "settle-once",
        `${this.#callbackErrors} send-callback failures reported, but only ${failedCallbacks} send callbacks left the pending set without being called`,
      );
    } else if (this.#callbackErrors < failedCallbacks) {
      this.#violate(
        "request-settles",
        `${failedCallbacks - this.#callbackErrors} request(s) left the pending set without settling`,
      );
    }
    const now = clock.now();
    // Two timers' lateness: a deadline timer that fires late waits one more (zero-delay) timer
    // before it judges, so an answer still unread behind the timers counts (pending.ts). That
    // timer's delay is clamped to 1 ms (as by Node): +1. A freeze after the deadline delays the
    // timers by as much (the model clock's frozenAfter).
    for (const r of registered) {
      if (
        r.settled === 0 &&
        r.deadline !== undefined &&
        now > r.deadline + 2 * clock.latestLateMs + 1 + clock.frozenAfter(r.deadline)
      ) {
        this.#violate(
          "request-deadline",
          `${r.label} is unsettled at t=${now}, past its deadline t=${r.deadline}`,
        );
        r.deadline = undefined;
      }
    }
  }

  /**
   * A queued message with a deadline has left the queue (sent, reported, aborted) by its deadline
   * plus the timer's lateness; one a connection's end may have dropped (a report of unsent
   * messages since it was made) is accounted for by count in `send-accounting` instead.
   */
  #checkExpiry(): void {
    const { clock } = this.#ctx;
    const now = clock.now();
    for (const c of this.sends) {
      if (c.deadline === undefined || now <= c.deadline + clock.latestLateMs + clock.frozenAfter(c.deadline))
        continue;
      const gone = this.#acceptedKeys.has(c.key) || this.#reportedKeys.has(c.key) || c.abortedQueued;
      if (!gone && this.unsentReports === c.unsentReportsBefore) {
        this.#violate(
          "send-expiry",
          `${c.key} is still queued at t=${now}, past its deadline t=${c.deadline}`,
        );
      }
      c.deadline = undefined;
    }
  }

  /**
   * The "abort" listeners on each signal not aborted yet: one per unsettled request given it,
   * plus one while a plain message given it may still be queued (the queue holds one per
   * signal); none at the end (`final`).
   */
  #checkSignals(final: boolean): void {
    const queued = this.#ctx.conn.stats.queuedMessages > 0;
    const controllers = new Set([...this.sends, ...this.requests].map((c) => c.controller));
    for (const controller of controllers) {
      if (controller === undefined || controller.signal.aborted) continue;
      const requests = this.registered().filter((r) => r.controller === controller && r.settled === 0);
      const sends = this.sends.filter(
        (c) =>
          c.controller === controller &&
          c.result === "queued" &&
          !this.#acceptedKeys.has(c.key) &&
          !this.#reportedKeys.has(c.key) &&
          !c.abortedQueued,
      );
      const bound = final ? 0 : requests.length + (queued && sends.length > 0 ? 1 : 0);
      const listeners = getEventListeners(controller.signal, "abort").length;
      if (listeners > bound) {
        const of = [...requests.map((r) => r.label), ...sends.map((c) => c.key)].join(", ") || "nothing";
        this.#violate(
          "signal-listeners",
          `a signal has ${listeners} abort listener(s), at most ${bound} expected (${of} unsettled or maybe queued)`,
        );
      }
    }
  }

  /** Sockets that should be gone by now: closing past the close timeout, or silent past the heartbeat's verdict. */
  #checkTimeouts(): void {
    const { clock, config, transport } = this.#ctx;
    const now = clock.now();
    const late = clock.latestLateMs;
    const { pingIntervalMs, pongTimeoutMs } = config;
    // A timer later than min(interval, pong timeout) reads as a frozen process: the heartbeat
    // then pings once more before it judges, which adds a pong timeout and a fourth late timer.
    const judged = pingIntervalMs > 0;
    // A freeze (Starved) since the socket last heard anything is a late wake too, and delays the
    // timers by its length; +4: each of the four timers may be a zero-delay one, clamped to 1 ms.
    const lateBy = (frozenMs: number) =>
      late >= Math.min(pingIntervalMs, pongTimeoutMs) || frozenMs > 0
        ? 2 * (pingIntervalMs + pongTimeoutMs) + 4 * late + frozenMs + 4
        : pingIntervalMs + pongTimeoutMs + 3 * late + 4;
    for (const s of transport.liveSockets) {
      // Two timers' lateness: a late close timeout waits one more turn (clock.ts, setDeadline), a
      // zero-delay timer clamped to 1 ms (+1); a freeze since closing delays both by its length.
      const closeBy = DEFAULTS.closeTimeoutMs + 2 * late + 1;
      if (
        s.closingSince !== undefined &&
        now > s.closingSince + closeBy + clock.frozenAfter(s.closingSince)
      ) {
        this.#violate(
          "close-bounded",
          `transport[${s.index}] has been closing since t=${s.closingSince}; now t=${now}`,
        );
        s.closingSince = undefined;
      }
      // While reading is paused the heartbeat is suspended (nothing can be read); once it
      // resumes, it judges from then.
      const silentSince = Math.max(s.lastReceivedAt, s.resumedAt);
      if (judged && s.phase === "open" && s.closingSince === undefined && !s.paused && s.held === 0) {
        // Three timers each late: the ping's, the pong deadline's, and the turn a late verdict
        // waits so an unread pong is read first (four, and a fresh ping, when frozen).
        if (now > silentSince + lateBy(clock.frozenAfter(silentSince))) {
          this.#violate(
            "liveness",
            `transport[${s.index}] silent since t=${silentSince} is still open at t=${now}`,
          );
          s.lastReceivedAt = now;
        }
      }
    }
  }

  /** The books after the closing sequence: everything settled, nothing left. */
  final(): void {
    const { conn, transport, clock } = this.#ctx;
    const stats = conn.stats;
    for (const d of this.dials) {
      if (d.settled === 0) this.#violate("dial-settles", `dial#${d.n} never settled`);
    }
    for (const c of this.closes) {
      if (c.promise && c.settled === 0) this.#violate("close-settles", `close#${c.n} never settled`);
    }
    for (const w of this.waits) {
      if (w.settled === 0) this.#violate("waits-settle", `${w.label} never settled`);
    }
    for (const r of this.registered()) {
      if (r.kind === "promise" && r.settled === 0)
        this.#violate("request-settles", `${r.label} never settled`);
    }
    if (stats.pendingRequests > 0) {
      this.#violate("request-settles", `${stats.pendingRequests} request(s) still pending`);
    }
    if (stats.queuedMessages > 0) {
      this.#violate("send-accounting", `${stats.queuedMessages} message(s) still queued`);
    }
    for (const s of transport.liveSockets) {
      this.#violate("close-ends", `transport[${s.index}] still ${s.phase} at the end`);
    }
    if (conn.state !== "closed")
      this.#violate("close-closes", `after close() the connection is "${conn.state}"`);
    if (clock.live > 0) this.#violate("timers", `${clock.live} timer(s) alive at the end`);
    this.#checkSignals(true);
  }
}
