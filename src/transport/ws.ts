/**
 * Adapter for the `ws` package, the default transport on Node.
 *
 * Takes `ws`'s events from its EventEmitter side (no `MessageEvent` allocation per message;
 * see `Socket` below), protocol ping frames, custom headers and a `maxPayload` bound.
 * permessage-deflate stays off (memory, CPU, and the compression side channel). Text frames
 * arrive as strings, binary frames as `Buffer` (a `Uint8Array`). ws's UTF-8 check is off
 * (`skipUTF8Validation`): decoding is the check, since the decoder turns any invalid sequence
 * into U+FFFD, and only text holding one is read again; text that is not UTF-8 (a message or a
 * close reason) fails the connection with 1007 as ws would, and a text push costs one pass
 * over its bytes instead of two (about 7% of the client's CPU per 32-byte push). A refused handshake reports its
 * HTTP status and the wait its `Retry-After` asks for; an accepted one, its status and headers
 * (handshake-response.ts).
 *
 * Data frames go through one writer, ws-writer.ts (the transport's base class), which coalesces
 * the frames sent in one tick into few socket writes. The socket is obtained through ws's public
 * `createConnection` option, not a private field. A frame ws writes itself (ping, pong, close)
 * first hands the writer's batch to the socket.
 *
 * The socket ws writes to comes from create-connection.ts: TCP or TLS, or with `proxy` a
 * `CONNECT` tunnel (proxy.ts; the proxy is chosen per attempt by proxy-env.ts) with TLS to the
 * server inside it for `wss:`; with an `agent`, ws's socket comes from the agent and is taken
 * from the `upgrade` response's public `socket`. Coalescing and frame building work on whichever
 * socket ws writes to.
 *
 * Data frames are built and masked by `frame.ts` and written to that socket while ws reports
 * the connection open (ws masks byte by byte without its optional native add-on: 60% of the
 * client's CPU at 64 KiB per message). ws keeps the handshake, every control frame and all
 * that is received; with compression off and no `Blob`, ws writes its frames at once, so frames
 * leave in the order they were asked for.
 *
 * Backpressure: `requestFlushed()` is the writer's (ws-writer.ts); `pause()`/`resume()` are ws's
 * own, which stop reading the TCP socket, so the peer's sends back up.
 *
 * What this relies on inside `ws` (pinned to the minor range the suite passes on; CI also runs
 * the transport tests against the newest `ws` 8):
 * - its receiver answers pings and close frames, and fails the connection, by calling the
 *   instance's own `pong()` and `close(code)` methods, which `Socket` overrides to hand over the
 *   batch first and to record the close code sent;
 * - `_closeFrameReceived` is set before that `close()` call when the peer's close frame came
 *   first (it tells "answering the peer" from "failing the connection"), and that call carries
 *   the peer's reason as a `Buffer` (checked for UTF-8 there);
 * - its Sender writes straight to the socket given by `createConnection` (a public option), so
 *   our data frames written to that socket interleave correctly with its control frames;
 * - `emit()` is the only way it raises events, and it reads `emit`'s result only for
 *   `unexpected-response`.
 */

import { isUtf8 } from "node:buffer";
import type * as net from "node:net";
import type { Duplex } from "node:stream";
import WebSocket from "ws";
import { ErrorCode, EvtWebSocketError } from "../errors.js";
import { parseRetryAfter } from "../retry-after.js";
import { adopt, kTransport, type SocketOptions, socketOptions } from "./create-connection.js";
import { handshakeResponse } from "./handshake-response.js";
import { type ProxyTarget, parseProxyUrl, proxyFor } from "./proxy-env.js";
import type {
  ClosedBy,
  HandshakeResponse,
  Transport,
  TransportEvents,
  TransportFactory,
  TransportOptions,
} from "./types.js";
import { WsWriter } from "./ws-writer.js";

type Response = {
  statusCode?: number;
  headers: Record<string, string | string[] | undefined>;
  resume(): void;
};

/**
 * ws's `WebSocket` with its events handed straight to the transport: `emit` is the dispatch, so
 * a socket holds no listeners (a listener table per socket was ~450 bytes, a third of what a
 * connection adds to a bare `ws` socket) and a message costs one call instead of EventEmitter's
 * lookup. ws raises every event through `emit` and reads its result only for
 * `unexpected-response` (handled here). After the socket ended, every event is dropped.
 */
class Socket extends WebSocket {
  transport: WsTransport | undefined;

  constructor(url: string, protocols: string | string[] | undefined, options: SocketOptions) {
    super(url, protocols, options);
    this.transport = options[kTransport];
  }

  override emit(event: string | symbol, a?: unknown, b?: unknown): boolean {
    const transport = this.transport;
    if (transport === undefined) return false;
    const events = transport.events;
    switch (event) {
      case "message": {
        if (transport.failed) return true;
        const buf = Array.isArray(a) ? Buffer.concat(a as Buffer[]) : (a as Buffer);
        if (b === true) {
          events.onMessage(buf, buf.byteLength);
          return true;
        }
        // ws's own check is off (it would read every text message twice): the decoder turns
        // any invalid sequence into U+FFFD, so only a message holding one needs a second look.
        const text = buf.toString("utf8");
        if (text.includes("\uFFFD") && !isUtf8(buf)) this.#failUtf8(transport);
        else events.onMessage(text, buf.byteLength);
        return true;
      }
      case "pong":
        events.onPong();
        return true;
      case "ping":
        events.onPing();
        return true;
      case "upgrade": // the 101 response, just before "open"
        // With a user's `agent`, ws's socket did not come through createConnection.
        if (transport.tcp === undefined) adopt(transport, (a as { socket: Duplex }).socket);
        transport.response = handshakeResponse(a as Response);
        return true;
      case "open":
        events.onOpen(this.protocol, transport.response);
        return true;
      case "error":
        transport.lastError ??= a;
        return true;
      case "unexpected-response": {
        const status = (b as Response).statusCode;
        const retryAfterMs = parseRetryAfter((b as Response).headers["retry-after"], Date.now());
        transport.refused = { status, retryAfterMs };
        transport.lastError = new Error(`unexpected server response: ${status}`);
        (b as Response).resume();
        this.terminate();
        return true;
      }
      case "close":
        this.transport = undefined;
        transport.abortTunnel?.();
        onClose(transport, a as number, b as Buffer);
        return true;
      default:
        return false;
    }
  }

  /**
   * Fails the connection for text that is not UTF-8, as ws does when its own check is on
   * (`skipUTF8Validation` is set): a 1007 close frame, then our side of TCP ends without waiting
   * for the peer's answer, and the error ws would give is the cause. What ws reads after it is
   * dropped.
   */
  #failUtf8(transport: WsTransport): void {
    transport.failed = true;
    transport.lastError ??= Object.assign(new Error("invalid UTF-8 sequence"), {
      code: "WS_ERR_INVALID_UTF8",
    });
    this.close(1007);
    transport.tcp?.end();
  }

  // Every frame ws writes itself (the pings the transport asks for, its automatic pongs, the
  // closing handshake it starts or answers, a close after a protocol error) goes through these
  // methods: the transport's batched data frames are handed to the socket first, so frames
  // leave in the order they were asked for and no data frame follows a close frame.
  override ping(data?: unknown, mask?: boolean, cb?: (err: Error) => void): void {
    this.transport?.writeBatch();
    super.ping(data, mask, cb);
  }

  override pong(data?: unknown, mask?: boolean, cb?: (err: Error) => void): void {
    this.transport?.writeBatch();
    super.pong(data, mask, cb);
  }

  // Every first close frame passes here while the socket is open, and its code is recorded where
  // it is sent (not guessed later from the error): ours (the transport's close(), which marks it
  // `requested`), ws answering the peer's close frame (`_closeFrameReceived` is already set), or
  // ws failing the connection for a protocol error or an oversized message (the error follows).
  override close(code?: number, data?: string | Buffer): void {
    const transport = this.transport;
    if (transport === undefined || this.readyState !== WebSocket.OPEN) {
      // The peer's answer to our close frame, with a reason that is not UTF-8: the connection
      // fails (its close event says 1006, as ws's own check gave), the reason is not reported.
      if (transport?.failed === false && Buffer.isBuffer(data) && !isUtf8(data)) {
        this.#failUtf8(transport);
        return;
      }
      // The peer's answer to our close frame: the closing handshake is complete.
      if (
        transport?.requested &&
        !transport.failed &&
        (this as { _closeFrameReceived?: boolean })._closeFrameReceived
      )
        transport.closeAnswer = {
          code: code ?? 1005,
          reason: data === undefined ? "" : data.toString(),
          wasClean: true,
        };
      super.close(code, data);
      return;
    }
    transport.writeBatch();
    const byPeer =
      !transport.failed && (this as { _closeFrameReceived?: boolean })._closeFrameReceived === true;
    if (byPeer && Buffer.isBuffer(data) && !isUtf8(data)) {
      this.#failUtf8(transport); // a close reason that is not UTF-8: 1007, not an echo
      return;
    }
    transport.closedBy = byPeer ? "server" : "client";
    transport.sentCode = code ?? 1005;
    super.close(code, data);
    if (byPeer) transport.events.onClosing(code ?? 1005, data === undefined ? "" : data.toString());
    // ws (or #failUtf8) failing the connection: the link stops its heartbeat and bounds the wait
    // for a peer that never closes TCP. ws raises its own error after this call: no cause yet.
    else if (!transport.requested) transport.events.onFailing?.(transport.sentCode, transport.lastError);
  }
}

function onClose(transport: WsTransport, code: number, reason: Buffer): void {
  const { events, lastError, refused, closedBy } = transport;
  const proxyStatus = refused?.proxyStatus;
  // ws failed the connection itself (a protocol error, an oversized message): it sent
  // `sentCode`, then stopped reading, so its own close event says 1006.
  const failed = closedBy === "client" && !transport.requested;
  // After our close frame, text that was not UTF-8 (the peer's reason, or a message) failed the
  // connection: no valid close frame came back, so 1006, as ws's own check gave.
  const failedAfterOurs = transport.failed && transport.requested;
  events.onClose({
    code: failed ? transport.sentCode : failedAfterOurs ? 1006 : code,
    reason: failed || failedAfterOurs ? "" : reason.toString("utf8"),
    wasClean: !failed && !failedAfterOurs && code !== 1006,
    error: lastError,
    status: refused?.status,
    retryAfterMs: refused?.retryAfterMs,
    closedBy: closedBy ?? "network",
    ...(proxyStatus === undefined ? {} : { proxyStatus }),
  });
}

/** One `ws` socket behind the {@link Transport} interface. */
export class WsTransport extends WsWriter implements Transport {
  readonly socket: Socket;
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
    this.socket = new Socket(url, options.protocols, wsOptions);
  }

  get bytesRead(): number | undefined {
    return (this.tcp as net.Socket | undefined)?.bytesRead;
  }

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
    this.requested = true; // Socket.close records the code it sends
    this.socket.close(code, reason);
  }

  terminate(): void {
    this.abortTunnel?.();
    this.dropBatch();
    this.socket.transport = undefined;
    this.socket.terminate();
  }
}

/** The `ws` transport factory. */
export const wsTransport: TransportFactory = {
  name: "ws",
  canPing: true,
  canSendHeaders: true,
  open: (url, options, events) => new WsTransport(url, options, events),
  check({ proxy, agent }) {
    const invalid = (message: string) => new EvtWebSocketError(ErrorCode.INVALID_OPTION, message);
    if (typeof proxy !== "string" && proxy !== undefined)
      throw invalid('option proxy must be "env" or a URL string');
    if (proxy !== undefined && proxy !== "env") {
      try {
        parseProxyUrl(proxy, "option proxy");
      } catch (cause) {
        throw invalid((cause as Error).message);
      }
    }
    if (agent !== undefined && (typeof agent !== "object" || agent === null)) {
      throw invalid("option agent must be a Node http.Agent");
    }
  },
};
