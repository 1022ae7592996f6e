/**
 * An in-memory transport for the model-based suite: the test plays the network and the server.
 *
 * Every socket the connection opens is recorded, with every frame it accepted or refused and
 * every ping it sent. The test drives each socket by hand: open it (with a subprotocol), refuse
 * the handshake with an HTTP status, deliver messages, send the peer's close frame while TCP
 * stays open and end TCP later, end abruptly (1006), raise an error, answer pings or not, or
 * have the adapter refuse a frame and fail the connection itself (`fail`: `onFailing`, as `ws`).
 *
 * It keeps the adapter contract of `transport/types.ts` the way the `ws` adapter does: `open`
 * and `close` are reported at most once, nothing is reported after `terminate()`, and once a
 * close frame went either way `send` refuses data frames (returns -1). When the peer's close
 * frame arrives, the adapter answers with its own at once (as `ws` does) and reports
 * `onClosing`; `onClose` follows when TCP ends and says which side's close frame came first
 * (`closedBy`). Misuse by the connection (a send before open) is recorded as a violation
 * rather than thrown, so the model reports it with the script that led to it.
 *
 * In a pausable run (`pausable`, as `ws`) the socket has `pause()` and `resume()`: while paused,
 * what the peer sends (messages, pongs, pings, its close frame, TCP's end, a frame the adapter
 * would fail on) waits in TCP order and is read once reading resumes, in a turn of its own (as
 * Node's streams resume on the next tick), until reading pauses again. A reset is not held.
 */

import { byteLength, type Data } from "../../src/codec.js";
import type {
  ClosedBy,
  Transport,
  TransportClose,
  TransportEvents,
  TransportFactory,
  TransportOptions,
} from "../../src/transport/types.js";

/** The life of one socket as the test sees it. */
export type SocketPhase = "connecting" | "open" | "closing" | "ended";

/** One frame handed to `send`. */
export interface SentFrame {
  data: Data;
  /** What `send` returned: the payload size, or -1 when the frame was refused. */
  result: number;
}

/** One socket the connection opened, and the controls the test drives it with. */
export class MemorySocket implements Transport {
  readonly index: number;
  readonly url: string;
  readonly protocols: string[];
  /** The handshake headers the connection gave this socket. */
  readonly headers: Record<string, string> | undefined;
  readonly events: TransportEvents;
  readonly #owner: MemoryTransport;
  phase: SocketPhase = "connecting";
  /** The next data frame makes `send()` throw ({@link throwOnNextSend}). */
  #throwNext = false;
  /** A `send()` threw. */
  threw = false;
  /** Our close frame (the connection's `close`), once sent. */
  closeSent: { code: number; reason: string } | undefined;
  /** The peer's close frame, once received. */
  closeReceived: { code: number; reason: string } | undefined;
  closedBy: ClosedBy = "network";
  /** True after the connection called `terminate()`. */
  terminated = false;
  /** True once the handshake completed. */
  wasOpen = false;
  /** Every frame handed to `send`, accepted or refused. */
  readonly frames: SentFrame[] = [];
  /** Protocol pings sent, and those not answered yet. */
  pings = 0;
  unansweredPings = 0;
  /** An error raised on the socket, reported with its close. */
  error: Error | undefined;
  /** When the socket last received anything (opened, a message, a pong, a ping), on the test's clock. */
  lastReceivedAt = 0;
  /** When the connection last pinged on it (a protocol ping; the harness records ping messages). */
  lastPingAt: number | undefined;
  /** When the first close frame went either way; undefined before. */
  closingSince: number | undefined;
  /** The code of the close frame the adapter sent failing the connection itself (see `fail`). */
  failedWith: number | undefined;
  /** Reading is paused (pausable runs only): what arrives waits in `#held`. */
  paused = false;
  /** Reading was paused when the socket ended (or was terminated). */
  pausedAtEnd = false;
  /** When reading last resumed: the heartbeat, suspended until then, judges from there. */
  resumedAt = 0;
  /** What arrived while reading was paused, in order: each is read (replayed) once it resumes. */
  readonly #held: Array<() => void> = [];
  /** An arrival that waited is being read now (it must not wait again). */
  #replaying = false;
  /** Stops reading (present in pausable runs only, as on `ws`; absent as on a WHATWG socket). */
  pause: (() => void) | undefined;
  /** Reads again after `pause()`. */
  resume: (() => void) | undefined;

  constructor(
    owner: MemoryTransport,
    index: number,
    url: string,
    options: TransportOptions,
    events: TransportEvents,
  ) {
    this.#owner = owner;
    this.index = index;
    this.url = url;
    this.protocols = [...options.protocols];
    this.headers = options.headers;
    this.events = events;
    if (owner.pausable) {
      this.pause = () => {
        if (this.paused || this.phase === "ended") return;
        this.paused = true;
        owner.onPaused(this, true);
      };
      this.resume = () => {
        if (!this.paused) return;
        this.paused = false;
        this.resumedAt = owner.now();
        owner.onPaused(this, false);
        if (this.#held.length > 0) queueMicrotask(() => this.#readHeld());
      };
    }
  }

  /** Number of arrivals waiting behind a pause. */
  get held(): number {
    return this.#held.length;
  }

  /**
   * True when `arrival` must wait behind the pause (it is queued to run on resume). Called first
   * by each control that stands for something the peer sent.
   */
  #hold(arrival: () => void): boolean {
    if (this.#replaying || (!this.paused && this.#held.length === 0)) return false;
    this.#held.push(arrival);
    return true;
  }

  /** Reading resumed: what waited is read, in order, while reading stays resumed. */
  #readHeld(): void {
    while (!this.paused && this.#held.length > 0 && this.phase !== "ended") {
      const arrival = this.#held.shift()!;
      this.#replaying = true;
      try {
        arrival();
      } finally {
        this.#replaying = false;
      }
    }
  }

  /** True until TCP ended or the socket was terminated. */
  get live(): boolean {
    return this.phase !== "ended";
  }

  /**
   * Bytes of accepted data frames not written out yet: they leave at a `writeOut()` move. Only
   * counted when the run's water marks are small (`holdWrites`), else every frame leaves at once.
   */
  buffered = 0;
  /** The connection asked to be told when what it sent has been written (`requestFlushed`). */
  #flushAsked = false;

  get bufferedAmount(): number {
    return this.buffered;
  }

  /** As ws's writer: a report once everything sent before the request has left (at once when nothing waits). */
  requestFlushed(): void {
    this.#flushAsked = true;
    if (this.buffered === 0) queueMicrotask(() => this.#reportFlushed());
  }

  #reportFlushed(): void {
    if (!this.#flushAsked || this.phase === "ended") return;
    this.#flushAsked = false;
    this.events.onFlushed?.();
  }

  /** Test control: what the socket held has been written (the peer read it). */
  writeOut(): boolean {
    if ((this.phase !== "open" && this.phase !== "closing") || this.buffered === 0) return false;
    this.buffered = 0;
    this.#reportFlushed();
    return true;
  }

  send(data: Data): number {
    if (this.phase === "connecting") {
      this.#owner.violation(`transport[${this.index}].send() before the socket opened`);
      this.frames.push({ data, result: -1 });
      this.#owner.onFrame(this, data, -1);
      return -1;
    }
    if (this.#throwNext && this.phase === "open") {
      // A polyfill that throws instead of refusing: nothing was written.
      this.#throwNext = false;
      this.threw = true;
      this.frames.push({ data, result: -1 });
      this.#owner.onFrame(this, data, -1);
      throw new TypeError(`transport[${this.index}] refuses this frame`);
    }
    // Our close frame went out or the peer's arrived: a data frame may no longer be sent.
    const result = this.phase === "open" ? byteLength(data) : -1;
    if (result > 0 && this.#owner.holdWrites) this.buffered += result;
    this.frames.push({ data, result });
    this.#owner.onFrame(this, data, result);
    return result;
  }

  /** Test control: the next data frame makes `send()` throw (a polyfill), outside the contract. */
  throwOnNextSend(): void {
    this.#throwNext = true;
  }

  ping(): void {
    if (this.phase === "connecting") {
      this.#owner.violation(`transport[${this.index}].ping() before the socket opened`);
      return;
    }
    if (this.phase !== "open") return;
    this.pings++;
    this.unansweredPings++;
    this.lastPingAt = this.#owner.now();
  }

  close(code: number, reason: string): void {
    if (this.phase === "connecting") {
      this.#owner.violation(
        `transport[${this.index}].close() before the socket opened (terminate() is the way)`,
      );
      return;
    }
    if (this.phase !== "open" || this.closeSent !== undefined) return;
    this.closeSent = { code, reason };
    this.closingSince ??= this.#owner.now();
    if (this.closedBy === "network") this.closedBy = "client";
    this.phase = "closing";
  }

  terminate(): void {
    if (this.phase === "ended") return;
    this.terminated = true;
    this.#ended(undefined);
  }

  /** Test control: the handshake succeeded with `protocol` ("" for none). */
  open(protocol: string): boolean {
    if (this.phase !== "connecting") return false;
    this.phase = "open";
    this.wasOpen = true;
    this.lastReceivedAt = this.#owner.now();
    this.#owner.onHandshake(this);
    this.events.onOpen(protocol);
    return true;
  }

  /**
   * Test control: the server answered the handshake with an HTTP status other than 101 (and a
   * `Retry-After` asking for `retryAfterMs`, when given).
   */
  refuse(status: number, retryAfterMs?: number): boolean {
    if (this.phase !== "connecting") return false;
    this.error = new Error(`unexpected server response: ${status}`);
    const report: TransportClose = { code: 1006, reason: "", wasClean: false, error: this.error, status };
    if (retryAfterMs !== undefined) report.retryAfterMs = retryAfterMs;
    this.#end({ ...report, closedBy: "network" });
    return true;
  }

  /**
   * Test control: the proxy refused the tunnel (407, 403, 502…, or 429/503 with the wait its
   * `Retry-After` asks for): the server was never reached.
   */
  refuseProxy(proxyStatus: number, retryAfterMs?: number): boolean {
    if (this.phase !== "connecting") return false;
    this.error = new Error(`the proxy answered CONNECT with HTTP ${proxyStatus}`);
    const report: TransportClose = {
      code: 1006,
      reason: "",
      wasClean: false,
      error: this.error,
      proxyStatus,
      closedBy: "network",
    };
    if (retryAfterMs !== undefined) report.retryAfterMs = retryAfterMs;
    this.#end(report);
    return true;
  }

  /**
   * Test control: the peer sent what the adapter refuses (text that is not UTF-8, a protocol
   * error): it fails the connection as `ws` does, with a close frame of its own (`code`),
   * refuses data frames from then on, delivers nothing more and reports `onFailing`; `onClose`
   * follows when TCP ends, with that code and `closedBy: "client"`.
   */
  fail(code: number): boolean {
    if (this.phase !== "open") return false;
    if (this.#hold(() => this.fail(code))) return true;
    this.failedWith = code;
    this.closeSent = { code, reason: "" };
    this.closingSince ??= this.#owner.now();
    this.closedBy = "client";
    this.phase = "closing";
    this.error ??= new Error("invalid frame");
    this.events.onFailing?.(code, this.error);
    return true;
  }

  /** Test control: a whole message arrived. */
  message(data: Data): boolean {
    if (this.phase !== "open" && this.phase !== "closing") return false;
    if (this.failedWith !== undefined) return false;
    // After the peer's close frame nothing more can arrive from it.
    if (this.closeReceived !== undefined) return false;
    if (this.#hold(() => this.message(data))) return true;
    this.lastReceivedAt = this.#owner.now();
    this.events.onMessage(data, byteLength(data));
    return true;
  }

  /** Test control: a protocol pong arrived (answers the oldest unanswered ping, if any). */
  pong(): boolean {
    if ((this.phase !== "open" && this.phase !== "closing") || this.closeReceived !== undefined) return false;
    if (this.failedWith !== undefined) return false;
    if (this.#hold(() => this.pong())) return true;
    if (this.unansweredPings > 0) this.unansweredPings--;
    this.lastReceivedAt = this.#owner.now();
    this.events.onPong();
    return true;
  }

  /** Test control: the peer pinged us (the adapter answers by itself). */
  peerPing(): boolean {
    if ((this.phase !== "open" && this.phase !== "closing") || this.closeReceived !== undefined) return false;
    if (this.failedWith !== undefined) return false;
    if (this.#hold(() => this.peerPing())) return true;
    this.lastReceivedAt = this.#owner.now();
    this.events.onPing();
    return true;
  }

  /**
   * Test control: the peer's close frame arrived, TCP stays open. The adapter answers with its
   * own close frame (unless it sent one already) and from now on refuses data frames.
   */
  peerClose(code: number, reason: string): boolean {
    if (this.phase !== "open" && this.phase !== "closing") return false;
    if (this.closeReceived !== undefined) return false;
    if (this.#hold(() => this.peerClose(code, reason))) return true;
    this.closeReceived = { code, reason };
    this.closingSince ??= this.#owner.now();
    if (this.closedBy === "network") this.closedBy = "server";
    const answered = this.closeSent === undefined;
    this.closeSent ??= { code, reason };
    this.phase = "closing";
    if (answered) this.events.onClosing(code, reason);
    return true;
  }

  /**
   * Test control: TCP ended. After both close frames the close was clean (the peer's code);
   * otherwise the socket died without a closing handshake (1006).
   */
  endTcp(): boolean {
    if (this.phase === "ended") return false;
    if (this.phase === "connecting") {
      this.error ??= new Error("socket hang up");
      this.#end({ code: 1006, reason: "", wasClean: false, error: this.error, closedBy: "network" });
      return true;
    }
    // TCP's end comes after the data before it: behind a pause it waits too.
    if (this.#hold(() => this.endTcp())) return true;
    const received = this.closeReceived;
    if (received !== undefined) {
      const code = received.code;
      this.#end({
        code,
        reason: received.reason,
        wasClean: true,
        closedBy: this.closedBy,
        error: this.error,
      });
      return true;
    }
    this.#end({ code: 1006, reason: "", wasClean: false, error: this.error, closedBy: this.closedBy });
    return true;
  }

  /** Test control: the connection was reset (ECONNRESET): 1006 whatever frames went before. */
  abrupt(): boolean {
    if (this.phase === "ended") return false;
    this.error ??= Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    this.#end({ code: 1006, reason: "", wasClean: false, error: this.error, closedBy: this.closedBy });
    return true;
  }

  /** Test control: the socket raised an error; it is reported with the close that follows. */
  raise(message: string): boolean {
    if (this.phase === "ended") return false;
    this.error ??= new Error(message);
    return true;
  }

  #end(report: TransportClose): void {
    // A connection the adapter failed ends with the code it sent, whatever came after (as ws-socket.ts reports it).
    if (this.failedWith !== undefined)
      Object.assign(report, { code: this.failedWith, reason: "", wasClean: false, closedBy: "client" });
    this.#ended(report);
    this.events.onClose(report);
  }

  /** Marks the socket ended; `report` is what onClose says, undefined after terminate(). */
  #ended(report: TransportClose | undefined): void {
    this.phase = "ended";
    this.pausedAtEnd = this.paused;
    this.paused = false;
    this.#held.length = 0; // never read: the socket is gone
    this.#owner.onEnd(this, report);
  }
}

/** The factory handed to the connection: records every socket it opened. */
export class MemoryTransport implements TransportFactory {
  readonly name = "memory";
  readonly canPing = true;
  readonly canSendHeaders = true;
  readonly sockets: MemorySocket[] = [];
  /** The test's clock, for the times a socket records. */
  now: () => number = () => 0;
  /** Accepted frames wait in the socket until a `writeOut()` move (the run's water marks are small). */
  holdWrites = false;
  /** Sockets made from now on can pause reading (`pause`/`resume`), as `ws`'s. */
  pausable = false;
  /** Called when a socket pauses (true) or resumes (false) reading. */
  onPaused: (socket: MemorySocket, paused: boolean) => void = () => {};
  /** Called when the connection misuses a socket. */
  onViolation: (message: string) => void = () => {};
  /** Called for every socket opened, before the connection holds it. */
  onOpenSocket: (socket: MemorySocket) => void = () => {};
  /** Called when a socket's handshake completes, before the connection hears of it. */
  onHandshake: (socket: MemorySocket) => void = () => {};
  /** Called when a socket ends: with what its onClose reports, or undefined after terminate(). */
  onEnd: (socket: MemorySocket, report: TransportClose | undefined) => void = () => {};
  /** Called for every frame handed to a socket's `send`, with what `send` returned. */
  onFrame: (socket: MemorySocket, data: Data, result: number) => void = () => {};

  open(url: string, options: TransportOptions, events: TransportEvents): Transport {
    const socket = new MemorySocket(this, this.sockets.length, url, options, events);
    this.onOpenSocket(socket);
    this.sockets.push(socket);
    return socket;
  }

  violation(message: string): void {
    this.onViolation(message);
  }

  /** Sockets neither ended nor terminated. */
  get liveSockets(): MemorySocket[] {
    return this.sockets.filter((s) => s.live);
  }
}
