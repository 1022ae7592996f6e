/**
 * The commands of a model run, as fast-check `AsyncCommand`s: calls on the connection, the
 * network's and the server's moves on a socket (the newest one, or an older one), time, and
 * re-entrant calls armed inside callbacks.
 *
 * A command's `toString()` is its line in fast-check's counterexample; the run's own script
 * (harness.ts) writes the same line with the socket resolved to its index, and indents under
 * it what the connection did in response. A command that does not apply (no such socket, the
 * socket is past that point) is skipped through `check()`, so a shrunk script lists only
 * commands that ran. Most commands end by letting every pending promise reaction run; some
 * ("[no flush]") do not, so the next command lands between the connection's awaits.
 */

import fc from "fast-check";
import {
  type Action,
  actionArb,
  armedActionArb,
  CALLBACK_NAMES,
  type CallbackEvent,
  describeAction,
} from "./config.js";
import { flush, type ModelRun, type Release } from "./harness.js";
import type { MemorySocket } from "./memory-transport.js";

type Cmd = fc.AsyncCommand<ModelRun, ModelRun>;

/** What every command shares: the flush after it and the checks. */
abstract class Step implements Cmd {
  readonly settle: boolean;

  constructor(settle: boolean) {
    this.settle = settle;
  }

  check(run: Readonly<ModelRun>): boolean {
    return run.stoppedAt === undefined && this.applies(run as ModelRun);
  }

  applies(_run: ModelRun): boolean {
    return true;
  }

  abstract label(): string;

  /** Does the command; `run.command()` writes its line and catches what should not throw. */
  abstract act(run: ModelRun): void;

  async run(_model: ModelRun, run: ModelRun): Promise<void> {
    run.beginStep();
    this.act(run);
    if (this.settle) await flush();
    run.check(this.settle);
    run.assertClean();
  }

  toString(): string {
    return `${this.label()}${this.settle ? "" : " [no flush]"}`;
  }
}

/** A call on the connection. */
class Call extends Step {
  readonly action: Action;

  constructor(action: Action, settle: boolean) {
    super(settle);
    this.action = action;
  }

  label(): string {
    return describeAction(this.action);
  }

  act(run: ModelRun): void {
    run.command(this.toString(), () => run.act(this.action), true);
  }
}

/** Aborts the signal of an unsettled request. */
class Abort extends Step {
  readonly pick: number;

  constructor(pick: number, settle: boolean) {
    super(settle);
    this.pick = pick;
  }

  override applies(run: ModelRun): boolean {
    return run.abortable().length > 0;
  }

  label(): string {
    return `abort(an unsettled request's signal, pick ${this.pick})`;
  }

  act(run: ModelRun): void {
    run.command(this.toString(), () => run.abort(this.pick), true);
  }
}

/** Aborts the signal of a send (queued, sent or dropped: only a queued one may change anything). */
class AbortSend extends Step {
  readonly pick: number;

  constructor(pick: number, settle: boolean) {
    super(settle);
    this.pick = pick;
  }

  override applies(run: ModelRun): boolean {
    return run.abortableSends().length > 0;
  }

  label(): string {
    return `abort(a send's signal, pick ${this.pick})`;
  }

  act(run: ModelRun): void {
    run.command(this.toString(), () => run.abortSend(this.pick), true);
  }
}

/**
 * Aborts the signal of a send from inside the next plain frame handed to a transport (as a
 * `diagnostics_channel` `sent` subscriber can): the frame being sent is sent, the others leave.
 */
class AbortSendOnFrame extends AbortSend {
  override label(): string {
    return `abort(a send's signal, pick ${this.pick}) on the next frame`;
  }

  override act(run: ModelRun): void {
    run.command(this.toString(), () => run.abortSendOnNextFrame(this.pick), true);
  }
}

/** Releases a held headers call: its promise resolves, rejects, or resolves with invalid headers. */
class ReleaseHeaders extends Step {
  readonly pick: number;
  readonly how: Release;

  constructor(pick: number, how: Release, settle: boolean) {
    super(settle);
    this.pick = pick;
    this.how = how;
  }

  override applies(run: ModelRun): boolean {
    return run.holds.length > 0;
  }

  label(): string {
    const what =
      this.how === "resolve" ? "headers" : this.how === "reject" ? "a rejection" : "invalid headers";
    return `release a held headers call with ${what} (pick ${this.pick})`;
  }

  act(run: ModelRun): void {
    run.command(this.toString(), () => run.release(this.pick, this.how));
  }
}

/** Next time `event` fires, its callback does `action`. */
class Arm extends Step {
  readonly event: CallbackEvent;
  readonly action: Action;

  constructor(event: CallbackEvent, action: Action) {
    super(true);
    this.event = event;
    this.action = action;
  }

  label(): string {
    return `arm ${CALLBACK_NAMES[this.event]} → ${describeAction(this.action)}`;
  }

  act(run: ModelRun): void {
    run.command(this.toString(), () => run.arm(this.event, this.action));
  }
}

/** Moves the clock: by `ms`, or (`ms` undefined) to the next timer. */
class Advance extends Step {
  readonly ms: number | undefined;

  constructor(ms: number | undefined, settle: boolean) {
    super(settle);
    this.ms = ms;
  }

  override applies(run: ModelRun): boolean {
    return this.ms !== undefined || run.clock.nextInMs !== undefined;
  }

  label(): string {
    return this.ms === undefined ? "advance to the next timer" : `advance ${this.ms} ms`;
  }

  act(run: ModelRun): void {
    const ms = this.ms ?? run.clock.nextInMs ?? 0;
    const at = run.clock.now() + ms;
    run.command(`${this.label()} (to t=${at})`, () => run.clock.advance(ms));
  }
}

/** From now on timers fire up to `maxLateMs` late. */
class Late extends Step {
  readonly maxLateMs: number;

  constructor(maxLateMs: number) {
    super(true);
    this.maxLateMs = maxLateMs;
  }

  label(): string {
    return this.maxLateMs === 0 ? "timers on time" : `timers up to ${this.maxLateMs} ms late`;
  }

  act(run: ModelRun): void {
    run.command(this.toString(), () => {
      run.clock.maxLateMs = this.maxLateMs;
    });
  }
}

/** From now on timers of 2 ms or more may fire up to 1 ms early (`on`), or not. */
class Early extends Step {
  readonly on: boolean;

  constructor(on: boolean) {
    super(true);
    this.on = on;
  }

  label(): string {
    return this.on ? "timers up to 1 ms early" : "timers never early";
  }

  act(run: ModelRun): void {
    run.command(this.toString(), () => {
      run.clock.maxEarlyMs = this.on ? 1 : 0;
    });
  }
}

/**
 * The page enters the back/forward cache (`pagehide` with `persisted`) or comes back
 * (`pageshow`), dispatched on the fake page that harness.ts installs as the global object's
 * events: the connection closes its socket with 1000 and waits, or dials at once.
 */
class PageMove extends Step {
  readonly shown: boolean;

  constructor(shown: boolean, settle: boolean) {
    super(settle);
    this.shown = shown;
  }

  label(): string {
    return this.shown ? "page shown again (pageshow, persisted)" : "page hidden (pagehide, persisted)";
  }

  act(run: ModelRun): void {
    run.command(this.toString(), () => run.page(this.shown));
  }
}

/** What the network or the server does to a socket. */
export type SocketMove =
  | { move: "open"; protocol: number }
  | { move: "refuse"; status: number; retryAfterMs?: number }
  | { move: "proxyRefuse"; status: number; retryAfterMs?: number }
  | { move: "message"; what: "response" | "unsolicited" | "garbage" | "pong"; pick: number }
  /** A fast feed: `count` messages that answer no request, read one after another in one turn. */
  | { move: "burst"; count: number }
  | { move: "peerClose"; code: number; reason: string }
  | { move: "endTcp" }
  | { move: "abrupt" }
  | { move: "error" }
  | { move: "pong" }
  | { move: "peerPing" }
  | { move: "fail"; code: number }
  | { move: "throwOnSend" }
  | { move: "writeOut" };

/**
 * A move for each situation a socket can be in, picked when the command runs: a command on a
 * live socket always does something, whatever happened to the socket since it was generated.
 */
export interface SocketMoves {
  /** The handshake is under way. */
  connecting: SocketMove;
  /** Open, or our close frame sent and the peer's not received: the peer can still talk. */
  talking: SocketMove;
  /** The peer's close frame arrived; TCP is still open. */
  halfClosed: SocketMove;
}

function describeMove(m: SocketMove): string {
  switch (m.move) {
    case "open":
      return m.protocol === 0 ? "open" : `open(offered protocol #${m.protocol})`;
    case "refuse":
      return `refuse(HTTP ${m.status}${m.retryAfterMs === undefined ? "" : `, Retry-After ${m.retryAfterMs / 1000} s`})`;
    case "proxyRefuse":
      return `proxyRefuse(HTTP ${m.status}${m.retryAfterMs === undefined ? "" : `, Retry-After ${m.retryAfterMs / 1000} s`})`;
    case "message":
      return m.what === "response" ? `message(response, pick ${m.pick})` : `message(${m.what})`;
    case "peerClose":
      return `closeFrame(${m.code}${m.reason === "" ? "" : `, "${m.reason}"`}) with TCP held open`;
    case "endTcp":
      return "endTcp";
    case "abrupt":
      return "abrupt end (ECONNRESET)";
    case "error":
      return "error";
    case "pong":
      return "pong";
    case "peerPing":
      return "ping from the peer";
    case "fail":
      return `fail(${m.code}): the adapter refuses a frame, TCP held open`;
    case "throwOnSend":
      return "throws on its next data frame (a polyfill)";
    case "writeOut":
      return "writes out what it held";
    case "burst":
      return `burst of ${m.count} unsolicited messages`;
  }
}

function moveFor(s: MemorySocket, moves: SocketMoves): SocketMove {
  if (s.phase === "connecting") return moves.connecting;
  return s.closeReceived === undefined ? moves.talking : moves.halfClosed;
}

/**
 * A move on the socket `back` places before the newest (0: the newest). On an older socket that
 * already ended, the move arrives anyway, as from an adapter that breaks its contract (events
 * after terminate() or after onClose): the connection must ignore it.
 */
class OnSocket extends Step {
  readonly back: number;
  readonly moves: SocketMoves;
  /** Put before the socket's name in the script ("then read: " when a Starved command reads). */
  readonly prefix: string;

  constructor(back: number, moves: SocketMoves, settle: boolean, prefix = "") {
    super(settle);
    this.back = back;
    this.moves = moves;
    this.prefix = prefix;
  }

  /** Live sockets take the move; an older socket that ended gets it as a stale event. */
  override applies(run: ModelRun): boolean {
    const s = run.socket(this.back);
    return s !== undefined && (s.live || this.back > 0);
  }

  label(): string {
    const { connecting, talking, halfClosed } = this.moves;
    const which = this.back === 0 ? "newest" : `newest-${this.back}`;
    return `transport[${which}].(${describeMove(connecting)} | ${describeMove(talking)} | ${describeMove(halfClosed)})`;
  }

  act(run: ModelRun): void {
    const s = run.socket(this.back)!;
    if (!s.live) {
      this.#stale(run, s);
      return;
    }
    const m = moveFor(s, this.moves);
    const name = `${this.prefix}transport[${s.index}]`;
    const flag = this.settle ? "" : " [no flush]";
    switch (m.move) {
      case "open": {
        const protocol = m.protocol === 0 ? "" : (s.protocols[(m.protocol - 1) % s.protocols.length] ?? "");
        run.command(`${name}.open(${JSON.stringify(protocol)})${flag}`, () => s.open(protocol));
        return;
      }
      case "refuse":
        run.command(`${name}.${describeMove(m)}${flag}`, () => s.refuse(m.status, m.retryAfterMs));
        return;
      case "proxyRefuse":
        run.command(`${name}.${describeMove(m)}${flag}`, () => s.refuseProxy(m.status, m.retryAfterMs));
        return;
      case "message": {
        const msg =
          m.what === "response"
            ? run.response(m.pick, s)
            : m.what === "unsolicited"
              ? run.unsolicited()
              : m.what === "garbage"
                ? run.garbage()
                : run.pongMessage();
        run.command(`${name}.message(${msg.text})${flag}`, () => s.message(msg.data));
        return;
      }
      case "peerClose":
        run.command(`${name}.${describeMove(m)}${flag}`, () => s.peerClose(m.code, m.reason));
        return;
      case "burst":
        run.command(`${name}.${describeMove(m)}${flag}`, () => {
          for (let i = 0; i < m.count; i++) {
            const msg = run.unsolicited();
            run.line(`${msg.text}${s.paused ? " (waits: reading is paused)" : ""}`);
            s.message(msg.data);
          }
        });
        return;
      case "endTcp":
        run.command(`${name}.endTcp${flag}`, () => s.endTcp());
        return;
      case "abrupt":
        run.command(`${name}.abrupt end (ECONNRESET)${flag}`, () => s.abrupt());
        return;
      case "error":
        run.command(`${name}.error (reported with its close)${flag}`, () => s.raise("EPIPE"));
        return;
      case "pong":
        run.command(`${name}.pong${flag}`, () => s.pong());
        return;
      case "peerPing":
        run.command(`${name}.ping from the peer${flag}`, () => s.peerPing());
        return;
      case "fail":
        run.command(`${name}.${describeMove(m)}${flag}`, () => s.fail(m.code));
        return;
      case "throwOnSend":
        run.command(`${name}.${describeMove(m)}${flag}`, () => s.throwOnNextSend());
        return;
      case "writeOut":
        run.command(`${name}.${describeMove(m)}${flag}`, () => s.writeOut());
        return;
    }
  }

  #stale(run: ModelRun, s: MemorySocket): void {
    const { talking, connecting } = this.moves;
    const m = talking.move !== "message" && connecting.move === "open" ? connecting : talking;
    const name = `${this.prefix}transport[${s.index}] (ended)`;
    const flag = this.settle ? "" : " [no flush]";
    if (m.move === "message" || m.move === "burst") {
      const msg = m.move === "message" && m.what === "response" ? run.response(m.pick, s) : run.unsolicited();
      run.stale(s, `${name}.message(${msg.text})${flag}`, (events) =>
        events.onMessage(msg.data, msg.data.length),
      );
    } else if (m.move === "peerClose") {
      run.stale(s, `${name}.${describeMove(m)}${flag}`, (events) => events.onClosing(m.code, m.reason));
    } else if (m.move === "pong") {
      run.stale(s, `${name}.pong${flag}`, (events) => events.onPong());
    } else if (m.move === "peerPing") {
      run.stale(s, `${name}.ping from the peer${flag}`, (events) => events.onPing());
    } else if (m.move === "open") {
      run.stale(s, `${name}.open${flag}`, (events) => events.onOpen(""));
    } else {
      const info = { code: 1006, reason: "", wasClean: false, closedBy: "network" as const };
      run.stale(s, `${name}.end again (1006)${flag}`, (events) => events.onClose(info));
    }
  }
}

/**
 * A starved process: frozen `ms` (nothing runs), then the timers due at the wake run (and the
 * promise reactions after each, as in Node), and only then is a socket event that came in during
 * the freeze read: Node runs due timers before it polls the sockets. The event is a move on the
 * newest socket: mostly the answer to a pending request, else the handshake's answer, the peer's
 * close frame or TCP's end (a close answered), or a pong. An answer that came in time counts
 * however late the timers ran (property `starved-answer`).
 */
class Starved extends Step {
  readonly ms: number;
  readonly read: OnSocket;

  constructor(ms: number, moves: SocketMoves) {
    super(true);
    this.ms = ms;
    this.read = new OnSocket(0, moves, true, "then read: ");
  }

  override applies(run: ModelRun): boolean {
    // What is read must be read at once: nothing may wait behind a pause.
    const s = run.socket(0);
    return s?.live === true && !s.paused && s.held === 0;
  }

  label(): string {
    return `starved ${this.ms} ms, the due timers run, then read: ${this.read.label()}`;
  }

  act(run: ModelRun): void {
    const from = run.clock.now();
    run.command(`starved ${this.ms} ms (t=${from}→${from + this.ms}), then the due timers run`, () => {
      run.clock.freeze(this.ms);
      const ran = run.clock.wake();
      run.line(`↳ ${ran} timer(s) ran`);
    });
  }

  override async run(_model: ModelRun, run: ModelRun): Promise<void> {
    run.beginStep();
    const s = run.socket(0)!;
    run.starving(s);
    this.act(run);
    // Node runs the promise reactions after each timer, before it reads the sockets.
    await flush();
    run.books.woke();
    if (s.live) this.read.act(run);
    else run.line(`transport[${s.index}] ended while the timers ran: nothing left to read`);
    await flush();
    run.starved();
    run.check(true);
    run.assertClean();
  }
}

const settleArb = fc.oneof(
  { weight: 5, arbitrary: fc.constant(true) },
  { weight: 1, arbitrary: fc.constant(false) },
);

/** An arbitrary with its weight, for fc.oneof. */
const weigh = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });

const errorMove = fc.constant({ move: "error" as const });
const endTcpMove = fc.constant({ move: "endTcp" as const });
const abruptMove = fc.constant({ move: "abrupt" as const });

const connectingArb: fc.Arbitrary<SocketMove> = fc.oneof(
  weigh(6, fc.record({ move: fc.constant("open" as const), protocol: fc.integer({ min: 0, max: 2 }) })),
  weigh(2, fc.record({ move: fc.constant("refuse" as const), status: fc.constantFrom(401, 403, 500, 503) })),
  // A proxy's 407 ends the connection for good unless shouldReconnect says yes; others retry.
  weigh(1, fc.record({ move: fc.constant("proxyRefuse" as const), status: fc.constantFrom(407, 403, 502) })),
  // A proxy asking for respite: its wait counts as the server's would.
  weigh(
    1,
    fc.record({
      move: fc.constant("proxyRefuse" as const),
      status: fc.constantFrom(429, 503),
      retryAfterMs: fc.constantFrom(0, 2000, 3_600_000),
    }),
  ),
  weigh(
    1,
    fc.record({
      move: fc.constant("refuse" as const),
      status: fc.constantFrom(429, 503),
      retryAfterMs: fc.constantFrom(0, 2000, 3_600_000),
    }),
  ),
  weigh(1, endTcpMove),
  weigh(1, abruptMove),
  weigh(1, errorMove),
);

const talkingArb: fc.Arbitrary<SocketMove> = fc.oneof(
  weigh(
    9,
    fc.record({
      move: fc.constant("message" as const),
      what: fc.oneof(
        weigh(6, fc.constant("response" as const)),
        weigh(2, fc.constant("unsolicited" as const)),
        weigh(1, fc.constant("garbage" as const)),
        weigh(1, fc.constant("pong" as const)),
      ),
      pick: fc.nat(7),
    }),
  ),
  weigh(
    3,
    fc.record({
      move: fc.constant("peerClose" as const),
      code: fc.constantFrom(1000, 1001, 1005, 1007, 1008, 1009, 1011, 1013, 4000),
      reason: fc.constantFrom("", "going away"),
    }),
  ),
  weigh(2, endTcpMove),
  weigh(2, abruptMove),
  weigh(1, errorMove),
  weigh(2, fc.constant({ move: "pong" as const })),
  weigh(1, fc.constant({ move: "peerPing" as const })),
  // 1009 would say maxMessageBytes, which the model's messages never exceed.
  weigh(1, fc.record({ move: fc.constant("fail" as const), code: fc.constantFrom(1002, 1007) })),
  weigh(1, fc.constant({ move: "throwOnSend" as const })),
  weigh(4, fc.constant({ move: "writeOut" as const })),
  weigh(6, fc.record({ move: fc.constant("burst" as const), count: fc.integer({ min: 2, max: 8 }) })),
);

const halfClosedArb: fc.Arbitrary<SocketMove> = fc.oneof(
  weigh(4, endTcpMove),
  weigh(1, abruptMove),
  weigh(1, errorMove),
);

const movesArb: fc.Arbitrary<SocketMoves> = fc.record({
  connecting: connectingArb,
  talking: talkingArb,
  halfClosed: halfClosedArb,
});

const backArb = fc.oneof(
  { weight: 8, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.constant(1) },
  { weight: 1, arbitrary: fc.constant(2) },
);

const EVENTS: CallbackEvent[] = [
  "connected",
  "message",
  "error",
  "close",
  "reconnecting",
  "state",
  "pong",
  "drain",
  "sendCallback",
  "shouldReconnect",
  "matcher",
  "log",
];
const eventArb = fc.constantFrom<CallbackEvent>(...EVENTS);
/**
 * With a `message:sent` subscriber (`sent` runs): one more event to arm. A list of its own, so
 * the other runs generate exactly what they did (a seed's replay stays the same case).
 */
const eventArbWithSent = fc.constantFrom<CallbackEvent>(...EVENTS, "sent");

const callArb = fc.tuple(actionArb, settleArb).map(([a, s]) => new Call(a, s));
const socketArb = fc.tuple(backArb, movesArb, settleArb).map(([b, m, s]) => new OnSocket(b, m, s));
const advanceArb = fc.oneof(
  weigh(
    7,
    fc
      .tuple(
        fc.oneof(
          weigh(3, fc.integer({ min: 1, max: 60 })),
          weigh(2, fc.integer({ min: 100, max: 3500 })),
          weigh(1, fc.integer({ min: 5000, max: 40_000 })),
          weigh(3, fc.constant(undefined)),
        ),
        settleArb,
      )
      .map(([ms, s]): Step => new Advance(ms, s)),
  ),
  weigh(
    1,
    fc.constantFrom(0, 10, 500, 5000).map((ms): Step => new Late(ms)),
  ),
  weigh(
    1,
    fc.boolean().map((on): Step => new Early(on)),
  ),
);

const starvedArb = fc
  .tuple(
    fc.constantFrom(50, 500, 5000),
    fc.record<SocketMoves>({
      connecting: fc.record({ move: fc.constant("open" as const), protocol: fc.integer({ min: 0, max: 2 }) }),
      talking: fc.oneof<fc.MaybeWeightedArbitrary<SocketMove>[]>(
        weigh(
          6,
          fc.record({
            move: fc.constant("message" as const),
            what: fc.constant("response" as const),
            pick: fc.nat(7),
          }),
        ),
        weigh(1, fc.constant({ move: "pong" as const })),
        weigh(1, fc.constant({ move: "peerClose" as const, code: 1000, reason: "" })),
      ),
      halfClosed: endTcpMove,
    }),
  )
  .map(([ms, moves]) => new Starved(ms, moves));

/**
 * Every command arbitrary; fast-check picks among them uniformly, so weight by repetition.
 * `sent`: actions may also be armed in a `message:sent` subscriber (diagnostics_channel).
 */
export const commandArbsFor = (sent: boolean): fc.Arbitrary<Cmd>[] => [
  callArb,
  callArb,
  callArb,
  socketArb,
  socketArb,
  socketArb,
  socketArb,
  advanceArb,
  advanceArb,
  fc.tuple(sent ? eventArbWithSent : eventArb, armedActionArb).map(([e, a]) => new Arm(e, a)),
  fc.tuple(fc.nat(7), settleArb).map(([p, s]) => new Abort(p, s)),
  fc.tuple(fc.nat(7), settleArb).map(([p, s]) => new AbortSend(p, s)),
  fc.tuple(fc.nat(7), settleArb).map(([p, s]) => new AbortSendOnFrame(p, s)),
  fc
    .tuple(
      fc.nat(3),
      fc.constantFrom<Release>("resolve", "resolve", "resolve", "reject", "invalid"),
      settleArb,
    )
    .map(([p, how, s]) => new ReleaseHeaders(p, how, s)),
  fc.tuple(fc.boolean(), settleArb).map(([shown, s]) => new PageMove(shown, s)),
  starvedArb,
];
