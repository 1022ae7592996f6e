/**
 * One socket, from handshake to end, with every timer it owns.
 *
 * A link opens a transport, enforces the handshake deadline, runs the heartbeat while open,
 * and bounds the closing handshake. Whatever way it ends (peer close, network error, pong
 * timeout, handshake timeout, `close()` or `terminate()`), it disposes its timers and reports
 * `end` exactly once; after that it reports nothing. Because each attempt gets a fresh link, a
 * late event or timer of an old socket can never act on a new one. Retry policy, queues and
 * requests are the connection's business, not the link's.
 *
 * Backpressure mechanics live here too: while its owner {@link Link.watchWrites watches}, a
 * link asks its transport to report when what was sent has been written (polling
 * `bufferedAmount` every {@link FLUSH_POLL_MS} ms where the transport cannot tell), and it
 * pauses reading (with the heartbeat's deadline) when asked to. When to wait, and for whom, is
 * the owner's.
 */

import { type Clock, clearDeadline, type Deadline, setDeadline, type TimerHandle } from "./clock.js";
import type { Data } from "./codec.js";
import { ErrorCode, EvtWebSocketError, evtError } from "./errors.js";
import { describeHandshake } from "./handshake.js";
import { Heartbeat, type HeartbeatHooks, type HeartbeatTiming } from "./heartbeat.js";
import { closeError, dialError, shownUrl, tornDownEnd } from "./link-end.js";
import type { Announced } from "./observe.js";
import { DEFAULTS } from "./resolve-options.js";
import type {
  ClosedBy,
  HandshakeResponse,
  Transport,
  TransportClose,
  TransportEvents,
  TransportFactory,
  TransportOptions,
} from "./transport/types.js";
import type { Handshake, HeadersFunction } from "./types.js";

/** How a link ended. */
export interface LinkEnd {
  code: number;
  reason: string;
  wasClean: boolean;
  /** True when the socket had opened. */
  wasOpen: boolean;
  /** True when the end was asked for with `close()`. */
  requested: boolean;
  /** What went wrong, when something did. */
  error?: EvtWebSocketError;
  /** HTTP status of a refused handshake. */
  status?: number;
  /** HTTP status of a proxy that refused the tunnel. */
  proxyStatus?: number;
  /** The wait a refused handshake's `Retry-After` asked for, in ms. */
  retryAfterMs?: number;
  /** Which side's close frame came first; "network" when there was none. */
  closedBy: ClosedBy;
}

/**
 * What a link reports to its owner. One object serves every link of every connection: each
 * call names the owner, so no connection holds closures for its links.
 */
export interface LinkEvents<O> {
  open(owner: O, link: Link<O>, protocol: string): void;
  message(owner: O, link: Link<O>, data: Data, bytes: number): void;
  pong(owner: O, link: Link<O>, rttMs: number): void;
  end(owner: O, link: Link<O>, end: LinkEnd): void;
  /** While watched: a frame was sent (`flushed` false), or what was sent before a {@link Link.requestFlushed} has been written. */
  written?(owner: O, link: Link<O>, flushed: boolean): void;
}

/**
 * How often a link whose transport cannot report written bytes (WHATWG `WebSocket`) reads
 * `bufferedAmount` while someone waits for it to fall, in ms. Nobody waiting, no timer.
 */
export const FLUSH_POLL_MS = 10;

/**
 * Everything a link needs to open its socket but the URL: fixed by one `dial()` and shared by
 * its attempts. It is also the transport's options.
 */
export interface LinkConfig extends TransportOptions {
  factory: TransportFactory;
  clock: Clock;
  connectTimeoutMs: number;
  heartbeat: HeartbeatTiming | undefined;
  /** Builds the application-level ping; undefined means a protocol ping frame. */
  pingData: (() => Data) | undefined;
  /** The `headers` option when it is a function, called per attempt by the connection (`headers` is then undefined). */
  headersFn?: HeadersFunction | undefined;
  /** The connection's observer (logger, diagnostics), if any. */
  obs?: Announced | undefined;
}

/**
 * `dropping`: its socket threw on a send (a polyfill), so it no longer takes frames and is torn
 * down in a turn of its own, or at once by `close()`.
 */
type Phase = "handshake" | "open" | "closing" | "dropping" | "ended";

/** The error of a socket we tore down because it threw: 1006, closed by our side, as its end says. */
function torn(message: string, cause: unknown): EvtWebSocketError {
  return new EvtWebSocketError(ErrorCode.DISCONNECTED, message, {
    cause,
    details: { closeCode: 1006, closedBy: "client" },
  });
}

/** One socket's life; see the module header. */
export class Link<O = unknown> implements TransportEvents, HeartbeatHooks {
  #phase: Phase = "handshake";
  #transport: Transport | undefined;
  /** The connect timeout while opening, the close timeout while closing. */
  #timer: Deadline | undefined;
  #heartbeat: Heartbeat | undefined;
  #requested = false;
  /** The peer's close frame arrived first: its code and reason. */
  #peerClose: { code: number; reason: string } | undefined;
  /** Our side failed the connection first (the transport's onFailing): the code it sent, and why. */
  #failure: { code: number; cause: unknown } | undefined;
  readonly #config: LinkConfig;
  readonly #url: string;
  readonly #events: LinkEvents<O>;
  readonly #owner: O;
  /** This attempt's headers, when a headers function built them. */
  readonly #headers: Record<string, string> | undefined;
  /**
   * Once open: the server's answer as the transport saw it (undefined where it shows none), then
   * the public description. Held as it came, with no record of its own per connection.
   */
  #opened: HandshakeResponse | Handshake | undefined;
  /** A flush report (or poll) is on its way. */
  #flushAsked = false;
  #pollTimer: TimerHandle | undefined;
  /** Reading is meant to be paused (applied once open). */
  #paused = false;
  /** The owner wants {@link LinkEvents.written} after every send. */
  watchWrites = false;

  /** @param headers - this attempt's headers, replacing `config.headers` (a headers function's result). */
  constructor(
    config: LinkConfig,
    url: string,
    events: LinkEvents<O>,
    owner: O,
    headers?: Record<string, string>,
  ) {
    this.#config = config;
    this.#url = url;
    this.#events = events;
    this.#owner = owner;
    this.#headers = headers;
  }

  /**
   * What the handshake settled, `protocol` being the subprotocol it chose (the connection keeps
   * it): see `Conn.handshake`. Ask only once the link has opened. Built on the first call.
   */
  handshake(protocol: string): Handshake {
    const opened = this.#opened;
    if (opened !== undefined && "url" in opened) return opened;
    const handshake = describeHandshake(this.#url, protocol, opened);
    this.#opened = handshake;
    return handshake;
  }

  /** Opens the socket. Separate from the constructor so the owner can store the link first. */
  start(): void {
    const config = this.#config;
    // Infinity: no connect timeout, and no timer (one that long would fire after 1 ms).
    if (Number.isFinite(config.connectTimeoutMs)) {
      this.#timer = setDeadline(
        config.clock,
        () => {
          this.#timer = undefined;
          const error = evtError(
            ErrorCode.CONNECT_TIMEOUT,
            `opening handshake with ${shownUrl(this.#url)} did not finish within ${config.connectTimeoutMs} ms`,
          );
          this.terminate(error);
        },
        config.connectTimeoutMs,
      );
    }
    try {
      // The link is its transport's listener (and its heartbeat's hooks): no closures per socket.
      const options = this.#headers === undefined ? config : { ...config, headers: this.#headers };
      this.#transport = config.factory.open(this.#url, options, this);
    } catch (cause) {
      // The transport's own verdict (ws's: an agent of the other scheme) comes out as it is.
      const error = cause instanceof EvtWebSocketError ? cause : dialError(this.#url, cause);
      this.#end({ code: 1006, reason: "", wasClean: false, error });
    }
  }

  /** True between the open and the start of closing. */
  get isOpen(): boolean {
    return this.#phase === "open";
  }

  /** Bytes accepted but not yet written by the transport. */
  get bufferedAmount(): number {
    return this.#transport?.bufferedAmount ?? 0;
  }

  /**
   * Sends one frame on the open socket (call it only while {@link isOpen}); returns its size in
   * bytes, or -1 when the socket refused it (closing): then nothing was written and the link is
   * no longer open.
   */
  send(data: Data): number {
    let bytes: number;
    try {
      bytes = this.#transport!.send(data);
    } catch (cause) {
      // A socket that throws instead of refusing (a polyfill): refused like a closing one, so the
      // frame waits in the queue (never thrown out of a flush), and the link ends as a failed one
      // in a turn of its own (ended now, the queue would be settled before the frame was back in
      // it), or at once when close() comes first.
      this.#closing();
      this.#phase = "dropping";
      const thrown = torn("the socket threw on a send", cause);
      const clock = this.#config.clock;
      clearDeadline(clock, this.#timer);
      this.#timer = setDeadline(clock, () => this.terminate(thrown), 0);
      return -1;
    }
    if (bytes < 0) this.#closing();
    else {
      this.#heartbeat?.noteSent();
      if (this.watchWrites) this.#events.written?.(this.#owner, this, false);
    }
    return bytes;
  }

  /** Asks for one {@link LinkEvents.written} once what was sent so far has been written (at most one asked at a time). */
  requestFlushed(): void {
    if (this.#flushAsked || this.#phase !== "open") return;
    this.#flushAsked = true;
    const transport = this.#transport!;
    if (transport.requestFlushed !== undefined) transport.requestFlushed();
    else this.#pollTimer = this.#config.clock.setTimeout(() => this.onFlushed(), FLUSH_POLL_MS);
  }

  /** Transport callback (or the poll): what was sent before the request has been written. */
  onFlushed(): void {
    this.#pollTimer = undefined;
    if (!this.#flushAsked || this.#phase !== "open") return;
    this.#flushAsked = false;
    this.#events.written?.(this.#owner, this, true);
  }

  /** True when the transport can stop reading (Node's `ws`); false before it exists. */
  get canPause(): boolean {
    return this.#transport?.pause !== undefined;
  }

  /**
   * Stops (or resumes) reading from the socket, with the heartbeat's pong deadline (a pong would
   * wait behind the pause). Before the open it takes effect at the open.
   */
  setPaused(paused: boolean): void {
    if (this.#paused === paused) return;
    this.#paused = paused;
    if (this.#phase === "open") this.#applyPause();
  }

  #applyPause(): void {
    const transport = this.#transport!;
    if (transport.pause === undefined) return;
    if (this.#paused) {
      transport.pause?.();
      this.#heartbeat?.suspend();
    } else {
      transport.resume?.();
      this.#heartbeat?.resume();
    }
  }

  /** Records inbound traffic for the heartbeat; returns the RTT when `isPong` closes a ping. */
  noteReceived(isPong: boolean): number | undefined {
    return this.#heartbeat?.noteReceived(isPong);
  }

  /** Sends a liveness ping now (no-op without a heartbeat). */
  probe(): void {
    this.#heartbeat?.probe();
  }

  /** Starts the closing handshake; the socket is terminated if it does not finish in time. */
  close(code: number, reason: string): void {
    if (this.#phase === "ended") return;
    if (this.#phase === "closing") return;
    this.#requested = true;
    // Still opening, or its socket threw on a send and waits to be dropped: dropped now.
    if (this.#phase !== "open") {
      this.terminate();
      return;
    }
    this.#closing();
    try {
      this.#transport!.close(code, reason);
    } catch {
      this.terminate();
    }
  }

  /** Destroys the socket now and ends the link with code 1006 (or the peer's close code). */
  terminate(error?: EvtWebSocketError): void {
    if (this.#phase === "ended") return;
    const answer = this.#transport?.closeAnswer;
    this.#transport?.terminate();
    this.#end(tornDownEnd(this.#url, error, this.#requested, answer, this.#peerClose, this.#failure));
  }

  /**
   * No more data frames: stops the heartbeat and bounds the wait for the socket's end. Reading
   * resumes if it was paused: the peer's close frame (the end of the closing handshake) waits
   * behind a pause, and what arrives now is for no one.
   */
  #closing(): void {
    if (this.#phase !== "open") return;
    this.#phase = "closing";
    this.#stopTimers();
    if (this.#paused) {
      this.#paused = false;
      this.#transport!.resume?.();
    }
    this.#timer = setDeadline(
      this.#config.clock,
      () => {
        this.#timer = undefined;
        this.terminate();
      },
      DEFAULTS.closeTimeoutMs,
    );
  }

  /** Transport callback: the peer's close frame arrived and was answered; TCP may stay open a while. */
  onClosing(code: number, reason: string): void {
    if (this.#phase !== "open") return;
    this.#peerClose = { code, reason };
    this.#closing();
  }

  /** Transport callback: our side failed the connection; the socket's end follows (bounded by the close timeout). */
  onFailing(code: number, cause: unknown): void {
    if (this.#phase !== "open") return;
    this.#failure = { code, cause };
    this.#closing();
  }

  /** Transport callback: the handshake completed. */
  onOpen(protocol: string, response?: HandshakeResponse): void {
    if (this.#phase !== "handshake") return;
    this.#phase = "open";
    this.#opened = response;
    this.#stopTimers();
    const timing = this.#config.heartbeat;
    if (timing !== undefined) {
      this.#heartbeat = new Heartbeat(this.#config.clock, timing, this);
    }
    if (this.#paused) this.#applyPause();
    this.#events.open(this.#owner, this, protocol);
  }

  /** Transport callback: a message arrived. */
  onMessage(data: Data, bytes: number): void {
    this.#events.message(this.#owner, this, data, bytes);
  }

  /** Transport callback: a protocol ping arrived (and was answered); it proves the peer alive. */
  onPing(): void {
    this.#heartbeat?.noteReceived(false);
  }

  /** Heartbeat hook: bytes read from the socket so far, where the transport can tell. */
  bytesRead(): number | undefined {
    return this.#transport?.bytesRead;
  }

  /** Heartbeat hook: the pong deadline passed with nothing received. */
  onDead(): void {
    // Its "dead" line is the connection's to tell, once this link's end is settled (lifecycle.ts).
    const timeout = this.#config.heartbeat?.pongTimeoutMs;
    this.terminate(
      evtError(
        ErrorCode.PONG_TIMEOUT,
        `no data from ${shownUrl(this.#url)} within ${timeout} ms of a ping: connection is dead`,
      ),
    );
  }

  /** Heartbeat hook: sends one ping (the protocol frame or the built `pingMsg`). */
  sendPing(): void {
    const obs = this.#config.obs;
    if (obs?.hears("ping")) obs.event("ping", {});
    const build = this.#config.pingData;
    let frame: Data | undefined;
    try {
      frame = build?.();
    } catch (cause) {
      // The user's pingMsg function (or the codec) failed: without a ping the line cannot be checked.
      this.terminate(evtError(ErrorCode.CALLBACK_THREW, "pingMsg could not be built", cause));
      return;
    }
    const t = this.#transport!;
    t.markPing?.(); // what of ours it holds now is ahead of the ping
    try {
      if (frame === undefined) t.ping!();
      // Refused: the socket is closing (a WHATWG socket after the peer's close frame), as for a send.
      else if (t.send(frame) < 0) this.#closing();
    } catch (cause) {
      this.terminate(torn("could not send a ping", cause));
    }
  }

  /** Transport callback: a protocol pong arrived. */
  onPong(): void {
    const rtt = this.#heartbeat?.noteReceived(true);
    if (rtt !== undefined) this.#events.pong(this.#owner, this, rtt);
  }

  /** Transport callback: the socket is gone. */
  onClose(info: TransportClose): void {
    const wasOpen = this.#phase !== "handshake";
    const closedBy = info.closedBy ?? (this.#peerClose !== undefined ? "server" : "network");
    let error: EvtWebSocketError | undefined;
    if (!wasOpen) error = dialError(this.#url, info.error, info.status, info.proxyStatus);
    else if (!this.#requested) error = closeError(this.#url, info, closedBy);
    this.#end({
      code: info.code,
      reason: info.reason,
      wasClean: info.wasClean,
      error,
      status: info.status,
      proxyStatus: info.proxyStatus,
      retryAfterMs: info.retryAfterMs,
      closedBy,
    });
  }

  #stopTimers(): void {
    clearDeadline(this.#config.clock, this.#timer);
    this.#timer = undefined;
    if (this.#pollTimer !== undefined) this.#config.clock.clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    this.#heartbeat?.stop();
    this.#heartbeat = undefined;
  }

  #end(end: Omit<LinkEnd, "wasOpen" | "requested" | "closedBy"> & { closedBy?: ClosedBy }): void {
    if (this.#phase === "ended") return;
    const wasOpen = this.#phase !== "handshake";
    this.#phase = "ended";
    this.#stopTimers();
    // A link we tore down ourselves (close(), a dead peer, a handshake timeout) ended on our side.
    const closedBy =
      end.closedBy ??
      (this.#peerClose !== undefined
        ? "server"
        : this.#requested || end.error !== undefined
          ? "client"
          : "network");
    this.#events.end(this.#owner, this, { ...end, closedBy, wasOpen, requested: this.#requested });
  }
}
