/**
 * The seam between the connection and a concrete WebSocket implementation.
 *
 * An adapter opens one socket and reports what happens to it through {@link TransportEvents};
 * it makes no decisions (no retries, no timers). After `terminate()` an adapter reports nothing
 * more, so the connection can tear a socket down and move on without waiting for late events.
 */

import type { Data } from "../codec.js";
import type { TlsOptions } from "../options.js";

/** Which side's close frame came first; `"network"` when the socket ended without one. */
export type ClosedBy = "client" | "server" | "network";

/** How a socket ended, as an adapter reports it. */
export interface TransportClose {
  code: number;
  reason: string;
  wasClean: boolean;
  /** What went wrong, when something did. */
  error?: unknown;
  /** HTTP status of a refused handshake. */
  status?: number;
  /** HTTP status of a proxy that refused the `CONNECT` tunnel (the server was never reached). */
  proxyStatus?: number;
  /** The wait the `Retry-After` header of a refused handshake (or of a proxy's 429 or 503 to `CONNECT`) asked for, in ms (adapters that see it). */
  retryAfterMs?: number;
  /** Which side started the closing handshake, where the adapter knows it. */
  closedBy?: ClosedBy;
}

/** The server's answer to a handshake that succeeded, where the adapter sees it (`ws`). */
export interface HandshakeResponse {
  /** The HTTP status (101). */
  status: number;
  /**
   * The response headers but the handshake's own (`Upgrade`, `Connection`, `Sec-WebSocket-*`):
   * names lower-cased, repeated ones joined with ", ".
   */
  headers: Readonly<Record<string, string>>;
}

/** What an adapter reports about its socket. Called at most once each for open, closing and close. */
export interface TransportEvents {
  /** The handshake completed; `response` when the adapter can see the server's answer. */
  onOpen(protocol: string, response?: HandshakeResponse): void;
  /** A whole message; `bytes` is its payload size. */
  onMessage(data: Data, bytes: number): void;
  /** A protocol pong arrived (only adapters with `canPing`). */
  onPong(): void;
  /** A protocol ping arrived and was answered by the adapter; counts as liveness. */
  onPing(): void;
  /**
   * The peer's close frame arrived while the TCP connection stays open (the adapter has
   * answered it): from now on `send` refuses data. Adapters that cannot see the frame before
   * the socket ends (WHATWG) never call it. `onClose` follows.
   */
  onClosing(code: number, reason: string): void;
  /**
   * Our side failed the connection (a protocol error, an oversized message, text that is not
   * UTF-8): a close frame with `code` went out, `send` refuses data from now on, and `cause` is
   * what went wrong, when the adapter knows it yet. Adapters that never fail a connection
   * themselves (WHATWG) never call it. `onClose` follows.
   */
  onFailing?(code: number, cause: unknown): void;
  /** The socket is gone. `error` explains a failure; `status` is the HTTP status of a refused handshake. */
  onClose(info: TransportClose): void;
  /** Everything accepted before the last `requestFlushed()` has been written (adapters with it only). */
  onFlushed?(): void;
}

/** One open (or opening) socket. */
export interface Transport {
  /**
   * Sends one data frame; returns its payload size in bytes, or -1 when the socket no longer
   * accepts data (a close frame was sent or received): the frame was not written.
   */
  send(data: Data): number;
  /**
   * Bytes read from the socket so far, frames not yet whole included (adapters that can tell):
   * the heartbeat counts a message still arriving as a sign of life. The `ws` adapter adds our
   * own bytes that left while more of ours waited (a ping behind them waits too).
   */
  readonly bytesRead?: number | undefined;
  /**
   * The heartbeat's ping is about to be sent (`ping()` or the ping message): adapters that count
   * our bytes leaving in `bytesRead` count from now on only those queued before it.
   */
  markPing?(): void;
  /**
   * The peer's answer to our close frame, once it came (adapters that can tell): the closing
   * handshake is complete (`wasClean`) and only the socket's end is pending.
   */
  readonly closeAnswer?: { code: number; reason: string; wasClean: true } | undefined;
  /** Sends a protocol ping frame; only present when the adapter `canPing`. */
  ping?(): void;
  /** Starts the closing handshake. */
  close(code: number, reason: string): void;
  /** Destroys the socket at once; no event is reported afterwards. */
  terminate(): void;
  /** Bytes accepted by `send` but not yet written to the network. */
  readonly bufferedAmount: number;
  /**
   * Asks for one `onFlushed` once everything accepted so far has been written to the network
   * (the `ws` adapter: a zero-length write whose callback runs after the writes before it).
   * Absent where the runtime tells nothing (WHATWG): the link then polls `bufferedAmount`.
   */
  requestFlushed?(): void;
  /**
   * Stops reading from the network, so TCP pushes back on the peer; absent where the runtime
   * cannot (WHATWG). Messages the adapter had already read may still be reported.
   */
  pause?(): void;
  /** Reads again after `pause()`. */
  resume?(): void;
}

/** Options an adapter receives for one socket. */
export interface TransportOptions {
  protocols: string[];
  headers: Record<string, string> | undefined;
  tls: TlsOptions | undefined;
  maxMessageBytes: number;
  /** The `proxy` option: a proxy URL, `"env"`, or undefined (none). */
  proxy?: string | undefined;
  /** The `agent` option: a Node `http.Agent`, or undefined. */
  agent?: object | undefined;
}

/** Opens sockets of one kind and says what they can do. */
export interface TransportFactory {
  /** A short name for messages ("ws", "WebSocket"). */
  readonly name: string;
  /** Protocol ping frames are available (`ws`); browsers have none. */
  readonly canPing: boolean;
  /** Custom handshake headers and TLS settings can be given (`ws`); browsers cannot. */
  readonly canSendHeaders: boolean;
  open(url: string, options: TransportOptions, events: TransportEvents): Transport;
  /**
   * Checks, at `dial()`, the options only this transport understands (the `ws` transport: the
   * `proxy` URL, the `agent`, and that `tls` holds no option of ws's own).
   *
   * @throws EvtWebSocketError `ERR_INVALID_OPTION` naming the option.
   */
  check?(options: { proxy?: string | undefined; agent?: object | undefined; tls?: object | undefined }): void;
}

/**
 * The constructor shape of a WHATWG `WebSocket` (browsers, Deno, Bun, Node 22+, polyfills).
 * Only what the adapter uses is required.
 */
export type WebSocketConstructorLike = new (url: string, protocols?: string | string[]) => WebSocketLike;

/**
 * An `on…` handler of a {@link WebSocketLike}, checked as a method is (its event bivariantly),
 * so the DOM's `WebSocket`, whose handlers take an `Event`, `MessageEvent` or `CloseEvent`, is
 * a `WebSocketLike` without naming a DOM type here.
 */
type SocketHandler<E> = { bivarianceHack(event: E): void }["bivarianceHack"];

/** The instance shape of a WHATWG `WebSocket`, as far as the adapter uses it. */
export interface WebSocketLike {
  /** Set to `"arraybuffer"` by the adapter, so binary frames never arrive as `Blob`. */
  binaryType: string;
  /** Bytes queued by `send()` and not yet written to the network. */
  readonly bufferedAmount: number;
  /** The subprotocol the server chose, or an empty string. */
  readonly protocol: string;
  /** 0 connecting, 1 open, 2 closing, 3 closed: data is sent only while 1. */
  readonly readyState: number;
  /** Called when the opening handshake completed. */
  onopen: SocketHandler<unknown> | null;
  /** Called for every whole message. */
  onmessage: SocketHandler<{ data: unknown }> | null;
  /** Called once when the socket is gone. */
  onclose: SocketHandler<{ code: number; reason: string; wasClean: boolean }> | null;
  /** Called when the socket fails; `onclose` follows. */
  onerror: SocketHandler<unknown> | null;
  /** Sends one frame: a string as text, bytes as binary. */
  send(data: string | ArrayBufferLike | ArrayBufferView): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
}
