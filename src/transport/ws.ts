/**
 * Adapter for the `ws` package, the default transport on Node.
 *
 * Takes `ws`'s events from its EventEmitter side through a subclass of ws's `WebSocket`
 * (ws-socket.ts), protocol ping frames, custom headers and a `maxPayload` bound.
 * permessage-deflate stays off (memory, CPU, and the compression side channel). Text frames
 * arrive as strings, binary frames as `Buffer` (a `Uint8Array`); text that is not UTF-8 fails
 * the connection with 1007 as ws would (checked while decoding, see ws-socket.ts). A refused
 * handshake reports its HTTP status and the wait its `Retry-After` asks for; an accepted one,
 * its status and headers.
 *
 * Data frames are built and masked by frame.ts and written by one writer, ws-writer.ts (the
 * transport's base class), while ws reports the connection open (ws masks byte by byte without
 * its optional native add-on: 60% of the client's CPU at 64 KiB per message); the frames sent in
 * one tick leave in few socket writes. Whole unfragmented text and binary frames received are
 * read straight from the socket's chunks (ws-reader.ts); ws keeps the handshake, every control
 * frame and every other frame received; with compression off and no `Blob`, ws writes its
 * frames at once, and a frame ws writes itself (ping, pong, close) first hands the writer's
 * batch to the socket, so frames leave in the order they were asked for.
 *
 * The socket ws writes to comes from create-connection.ts, through ws's public
 * `createConnection` option, not a private field: TCP or TLS, or with `proxy` a `CONNECT`
 * tunnel (proxy.ts; the proxy is chosen per attempt by proxy-env.ts) with TLS to the server
 * inside it for `wss:`; with an `agent`, ws's socket comes from the agent and is taken from the
 * `upgrade` response's public `socket`. Coalescing and frame building work on whichever socket
 * ws writes to.
 *
 * Backpressure: `requestFlushed()` is the writer's (ws-writer.ts); `pause()`/`resume()` are ws's
 * own, which stop reading the TCP socket, so the peer's sends back up.
 *
 * This module holds the transport's state for one socket and the factory (which checks the
 * `proxy` and `agent` options); it does no reading, writing or connecting of its own.
 *
 * What this relies on inside `ws` (pinned to the minor range the suite passes on; CI also runs
 * the transport tests against the newest `ws` 8):
 * - its receiver answers pings and close frames, and fails the connection, by calling the
 *   instance's own `pong()` and `close(code)` methods, which `WsSocket` overrides to hand over the
 *   batch first and to record the close code sent;
 * - `_closeFrameReceived` is set before that `close()` call when the peer's close frame came
 *   first (it tells "answering the peer" from "failing the connection"), and that call carries
 *   the peer's reason as a `Buffer` (checked for UTF-8 there);
 * - its Sender writes straight to the socket given by `createConnection` (a public option), so
 *   our data frames written to that socket interleave correctly with its control frames;
 * - `emit()` is the only way it raises events, and it reads `emit`'s result only for
 *   `unexpected-response`;
 * - its receiver (`_receiver`, made before `open` is raised) takes each chunk through its own
 *   `write()`, and its fields `_state`, `_bufferedBytes`, `_fragmented`, `_errored` and
 *   `_maxPayload` say where it stands (ws-reader.ts; where one is missing, ws reads everything);
 * - its automatic pong passes `_autoPongComplete` as `pong()`'s callback (8.23's count of pongs
 *   not yet written, `maxPendingAutoPongs`): `WsSocket` tells it by that, and otherwise writes
 *   every pong as before.
 *
 * And inside Node (read only; where missing, our bytes leaving count for nothing, as before):
 * `net.Socket`'s `_bytesDispatched` and its handle's `writeQueueSize` (under TLS, the TCP
 * handle's, `_handle._parent`), for how far a large write has gone ({@link WsTransport.bytesRead}).
 */

import type * as net from "node:net";
import { ErrorCode, EvtWebSocketError } from "../errors.js";
import { socketOptions, wrongAgent } from "./create-connection.js";
import { type ProxyTarget, parseProxyUrl, proxyFor } from "./proxy-env.js";
import type {
  ClosedBy,
  HandshakeResponse,
  Transport,
  TransportEvents,
  TransportFactory,
  TransportOptions,
} from "./types.js";
import { WsSocket } from "./ws-socket.js";
import { WsWriter } from "./ws-writer.js";

/** The socket ws writes to, with the Node internals that tell how far a write has gone. */
type Queue = { writeQueueSize?: unknown };
type Tcp = net.Socket & { _bytesDispatched?: number; _handle?: (Queue & { _parent?: Queue }) | null };

/** One `ws` socket behind the {@link Transport} interface. */
export class WsTransport extends WsWriter implements Transport {
  readonly socket: WsSocket;
  readonly events: TransportEvents;
  readonly secure: boolean;
  lastError: unknown;
  /** The proxy this attempt tunnels through (read from the environment per attempt under "env"). */
  readonly proxy: ProxyTarget | undefined;
  /** Aborts the `CONNECT` still under way. */
  abortTunnel: (() => void) | undefined;
  /**
   * Why the handshake was refused, when it was: the server's HTTP status and the wait its
   * `Retry-After` asks for (in ms), or the proxy's status. One record, made only on a refusal.
   */
  refused:
    | { status?: number | undefined; retryAfterMs?: number | undefined; proxyStatus?: number }
    | undefined;
  /** The server's answer to a handshake that succeeded. */
  response: HandshakeResponse | undefined;
  /** Whose close frame came first, once one was sent or received. */
  closedBy: ClosedBy | undefined;
  /** The close code our side sent. */
  sentCode = 1005;
  /** The connection asked for the close (`close()`), as opposed to ws failing it. */
  requested = false;
  /** The peer's answer to our close frame, once it came. */
  closeAnswer: { code: number; reason: string; wasClean: true } | undefined;
  /** Text that was not UTF-8 failed the connection (1007): what ws reads after it is dropped. */
  failed = false;

  constructor(url: string, options: TransportOptions, events: TransportEvents) {
    super();
    this.events = events;
    this.secure = url.startsWith("wss:");
    const wsOptions = socketOptions(options, this); // warns first, then the proxy is chosen
    this.proxy = options.agent === undefined ? proxyFor(url, options.proxy, process.env) : undefined;
    this.socket = new WsSocket(url, options.protocols, wsOptions);
  }

  /**
   * Bytes read, plus our own bytes that left while more of ours waited (read when the heartbeat
   * asks: at a ping, and at its deadline). A ping sent behind a large send on a slow line waits
   * for it, and so does its pong; that data leaving proves the peer reads, as a message still
   * arriving does. Counted from libuv's write queue of the TCP handle (under TLS, the handle
   * TLS writes to), which moves while one large frame (one write) is handed to the kernel,
   * where Node's public counts move only once it is all gone. What the kernel's send buffer
   * holds is not seen. Only bytes queued before the outstanding ping count ({@link markPing}):
   * what the app sends after it, read and dropped by a middlebox whose server died, would
   * otherwise keep a dead peer alive for ever.
   */
  get bytesRead(): number | undefined {
    const tcp = this.tcp as Tcp | undefined;
    if (tcp === undefined) return undefined;
    const out = this.#out(tcp);
    const last = this.#outAtLastRead;
    const ahead = last === undefined ? 0 : Math.min(out, this.#outMark) - last;
    if (ahead > 0) this.#outLeft += ahead;
    this.#outAtLastRead =
      this.bufferedAmount > 0 && !Number.isNaN(out) ? Math.max(out, last ?? out) : undefined;
    return tcp.bytesRead + this.#outLeft;
  }

  /**
   * The heartbeat is about to ping: our bytes queued now are ahead of it, and only they count.
   * They end at what was handed to the socket (its public `bytesWritten`), plus what ws and the
   * writer still hold above it; not at `#out` plus `bufferedAmount`, whose count of the socket
   * includes a write under way that `#out` has partly counted already (a ping in the middle of a
   * large send put the mark that much too far, and that much of a later send counted).
   */
  markPing(): void {
    const tcp = this.tcp as Tcp | undefined;
    if (tcp !== undefined) this.#outMark = tcp.bytesWritten + this.bufferedAmount - tcp.writableLength;
  }

  /** Our bytes handed on to the kernel so far (NaN where Node's internals do not tell). */
  #out(tcp: Tcp): number {
    const handle = tcp._handle;
    const queued = handle?._parent?.writeQueueSize ?? handle?.writeQueueSize;
    return typeof queued === "number" ? (tcp._bytesDispatched ?? Number.NaN) - queued : Number.NaN;
  }

  /** Where our bytes queued before the outstanding ping end, on the scale of `#outAtLastRead`. */
  #outMark = Number.NaN;
  /** Our bytes handed on at the last read of {@link bytesRead}, when more of ours waited then. */
  #outAtLastRead: number | undefined;
  /** Our bytes that left while more of ours waited, as counted by {@link bytesRead}. */
  #outLeft = 0;

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  ping(): void {
    this.socket.ping();
  }

  close(code: number, reason: string): void {
    this.requested = true; // WsSocket.close records the code it sends
    this.socket.close(code, reason);
  }

  terminate(): void {
    this.abortTunnel?.();
    this.dropBatch();
    this.socket.transport = undefined;
    this.socket.terminate();
  }
}

/**
 * Options of ws's `WebSocket`, and of Node's `http.request` (which ws hands every option it is
 * given), that are not TLS settings. The `tls` option is handed to ws with its options (so TLS
 * settings beyond the typed ones, `minVersion` or `checkServerIdentity`, reach TLS): one of
 * these there would override a choice of ours, `followRedirects` the most (redirects are never
 * followed), or change the handshake (`auth` sent a Basic `Authorization` header, `setHost:
 * false` dropped `Host`), so it is refused instead. No key of `tls.connect`'s options is here.
 */
const WS_ONLY = new Set([
  "agent",
  "allowSynchronousEvents",
  "auth",
  "autoPong",
  "closeTimeout",
  "createConnection",
  "defaultPort",
  "finishRequest",
  "followRedirects",
  "generateMask",
  "handshakeTimeout",
  "headers",
  "hostname",
  "insecureHTTPParser",
  "joinDuplicateHeaders",
  "maxBufferedChunks",
  "maxFragments",
  "maxHeaderSize",
  "maxPayload",
  "maxPendingAutoPongs",
  "maxRedirects",
  "method",
  "origin",
  "perMessageDeflate",
  "protocol",
  "protocolVersion",
  "setDefaultHeaders",
  "setHost",
  "skipUTF8Validation",
  "socketPath",
  "uniqueHeaders",
]);

/** The `ws` transport factory. */
export const wsTransport: TransportFactory = {
  name: "ws",
  canPing: true,
  canSendHeaders: true,
  open(url, options, events) {
    try {
      return new WsTransport(url, options, events);
    } catch (cause) {
      // Node's http.request refuses an agent of the other scheme at once, on every attempt.
      throw (options.agent !== undefined && wrongAgent(url, cause)) || cause;
    }
  },
  check({ proxy, agent, tls }) {
    const invalid = (message: string) => new EvtWebSocketError(ErrorCode.INVALID_OPTION, message);
    for (const key of Object.keys(tls ?? {})) {
      if (WS_ONLY.has(key))
        throw invalid(`option tls.${key} is not a TLS setting (ws's own options are not taken)`);
    }
    if (typeof proxy !== "string" && proxy !== undefined)
      throw invalid('option proxy must be "env" or a URL string');
    if (proxy !== undefined && proxy !== "env") {
      try {
        parseProxyUrl(proxy, "option proxy");
      } catch (cause) {
        throw invalid((cause as Error).message);
      }
    }
    // Node's own test of an agent (an object with addRequest): one without it fails every attempt.
    if (agent !== undefined && typeof (agent as { addRequest?: unknown } | null)?.addRequest !== "function") {
      throw invalid("option agent must be a Node http.Agent");
    }
  },
};
