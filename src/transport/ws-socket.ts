/**
 * ws's `WebSocket`, subclassed so its events go straight to the `ws` transport, and so every
 * frame ws writes itself passes the transport first.
 *
 * Events come from ws's EventEmitter side (no `MessageEvent` allocation per message). Text
 * frames arrive as strings, binary frames as `Buffer` (a `Uint8Array`). ws's UTF-8 check is off
 * (`skipUTF8Validation`): decoding is the check, since the decoder turns any invalid sequence
 * into U+FFFD, and only text holding one is read again; text that is not UTF-8 (a message or a
 * close reason) fails the connection with 1007 as ws would, and a text push costs one pass over
 * its bytes instead of two (about 7% of the client's CPU per 32-byte push). A refused handshake
 * reports its HTTP status and the wait its `Retry-After` asks for; an accepted one, its status
 * and headers (handshake-response.ts). The first close frame, sent or answered, is recorded
 * where it passes, and the socket's end is reported from that record. ws's automatic pongs are
 * written one at a time, each answering the latest ping (`pong()`).
 * An error kept as the cause loses the fields that hold what we sent or were given (raw request
 * bytes, a SOCKS agent's password): see {@link SECRET_FIELDS}.
 *
 * It does not write data frames (ws-writer.ts), open the socket (create-connection.ts) or hold
 * the transport's state (ws.ts): it reads and sets the transport's fields.
 */

import { isUtf8 } from "node:buffer";
import type { Duplex } from "node:stream";
import WebSocket from "ws";
import { parseRetryAfter } from "../retry-after.js";
import { adopt, kTransport, type SocketOptions } from "./create-connection.js";
import { handshakeResponse } from "./handshake-response.js";
import type { WsTransport } from "./ws.js";
import { installReader } from "./ws-reader.js";

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
export class WsSocket extends WebSocket {
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
        this.frame(buf, 0, buf.byteLength, b === true);
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
        // ws's receiver exists now, and reads nothing before this returns.
        installReader((this as { _receiver?: unknown })._receiver, this);
        events.onOpen(this.protocol, transport.response);
        return true;
      case "error":
        if (a instanceof Error) forgetSecrets(a);
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

  /** True while a message may be handed on: open, not failed, not ended (ws-reader.ts reads then). */
  get reading(): boolean {
    return this.transport?.failed === false && this.readyState === WebSocket.OPEN;
  }

  /**
   * One whole message, the payload at `chunk[start, end)`, from ws's receiver or from ws-reader.ts;
   * only while the transport is set and has not failed.
   */
  frame(chunk: Buffer, start: number, end: number, binary: boolean): void {
    const transport = this.transport!;
    if (binary) {
      const buf = start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end);
      transport.events.onMessage(buf, end - start);
      return;
    }
    // ws's own check is off (it would read every text message twice): the decoder turns any
    // invalid sequence into U+FFFD, so only a message holding one needs a second look.
    const text = chunk.toString("utf8", start, end);
    if (text.includes("\uFFFD") && !isUtf8(chunk.subarray(start, end))) this.#failUtf8(transport);
    else transport.events.onMessage(text, end - start);
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
    if (cb === undefined || cb !== (this as { _autoPongComplete?: unknown })._autoPongComplete) {
      this.transport?.writeBatch();
      super.pong(data, mask, cb);
      return;
    }
    // ws's automatic pong. One pong at a time: pings that come while one is due (read in the
    // same chunk: pings that queued up in TCP while reading was paused) or still being written
    // (stuck behind a large send the peer reads slowly) are answered by one pong, for the latest
    // ping (RFC 6455 §5.5.3 allows it). ws counts every pong not yet written and terminates the
    // connection at its 61st; a superseded ping's pong is done at once, so the count stays at 2.
    const done = cb as () => void;
    const due = this.#duePong;
    if (due !== undefined) {
      due.data = data;
      done();
      return;
    }
    this.#duePong = { data, mask, done };
    if (!this.#pongWriting) process.nextTick(() => this.#writePong());
  }

  /** The automatic pong to write next: the latest ping's payload, and ws's callback for it. */
  #duePong: { data: unknown; mask: boolean | undefined; done: () => void } | undefined;
  /** An automatic pong was handed to the socket and is not written yet. */
  #pongWriting = false;

  /** Writes the due pong, once the chunk being read is done or the pong before it was written. */
  #writePong(): void {
    const due = this.#duePong;
    if (due === undefined) return;
    this.#duePong = undefined;
    // As ws answers a ping only while open: after a close frame nothing more is written.
    if (this.readyState !== WebSocket.OPEN) {
      due.done();
      return;
    }
    this.#pongWriting = true;
    this.transport?.writeBatch();
    super.pong(due.data, due.mask, () => {
      this.#pongWriting = false;
      due.done();
      this.#writePong();
    });
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

/**
 * Fields of a library's error that may hold what we sent or were given, not what went wrong:
 * Node's HTTP parser keeps the bytes it choked on (`rawPacket`: from a peer that echoes, our own
 * request with its path, query and headers), and socks' `SocksClientError` (the `agent` option
 * with socks-proxy-agent) the options it was called with (`options`: the proxy's password).
 */
const SECRET_FIELDS = ["rawPacket", "options"] as const;

/** Drops {@link SECRET_FIELDS} from an error kept as a cause: the rest of it says what went wrong. */
function forgetSecrets(error: Error): void {
  const fields = error as unknown as Record<string, unknown>;
  for (const field of SECRET_FIELDS) if (Object.hasOwn(error, field)) delete fields[field];
}

/** Reports the socket's end, from what the transport recorded of the closing handshake and its failure. */
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
