/**
 * A real WebSocket server for tests, with the faults a server can cause on purpose: its
 * contract (the options and the running server's methods, documented here) and its entry.
 *
 * Built on `ws` and `node:http` (or `node:https` when given a certificate), listening on
 * 127.0.0.1 and port 0 by default. It can restart on the same port, drop every client with a
 * chosen close code, stall (stop reading and writing while keeping TCP open, as a hung process
 * does), refuse handshakes with an HTTP status, write crafted frames, and it records what arrived. What it does not
 * do: fault the network between client and server; that is the fault proxy's job.
 *
 * No code lives here: the server is create-test-server.ts.
 */

import type * as http from "node:http";
import type { WebSocket } from "ws";

export { createTestServer } from "./create-test-server.js";

/** What a test server records about one opening handshake. */
export interface HandshakeInfo {
  /** The request target, path and query (e.g. `/chat?token=...`). */
  readonly url: string;
  /** The request headers, lower-cased as Node gives them. */
  readonly headers: http.IncomingHttpHeaders;
}

/**
 * Options of {@link createTestServer}. Every one is optional.
 *
 * A handler (`authorize`, `onConnection`, `onMessage`) that throws, a failed `expect()` say,
 * has its error thrown again on the next tick, an uncaught exception the test runner reports,
 * and the server carries on: a throwing `authorize` refuses the handshake with HTTP 500, a
 * throwing `onMessage` sends nothing for that message and the client's next ones are read.
 */
export interface TestServerOptions {
  /** Port to listen on; keep 0 so parallel tests never collide. @default 0 */
  port?: number;
  /** Address to listen on. @default "127.0.0.1" */
  host?: string;
  /** Called for every accepted connection, after it is recorded in `clients`. */
  onConnection?(client: WebSocket, handshake: HandshakeInfo): void;
  /**
   * Called for every message, after it is recorded in `received`. The default echoes it back
   * with the same frame type.
   *
   * @example
   * ```ts
   * onMessage: (data, client) => client.send(JSON.stringify({ ok: true, echo: String(data) }))
   * ```
   */
  onMessage?(data: string | Buffer, client: WebSocket, isBinary: boolean): void;
  /**
   * Decides whether to accept a handshake: `true` (or undefined) accepts, `false` answers
   * HTTP 401, a number answers that HTTP status, and `{ status, headers }` that status with
   * those response headers (a `Retry-After`, say). It is not awaited: anything else (`null`, a
   * promise, a status outside 100-599, a header name that is not an HTTP token, a header value with
   * a control character but tab) is answered with HTTP 500, and
   * an `ERR_INVALID_OPTION` naming `authorize` is thrown on the next tick, as a throw is.
   *
   * @example
   * ```ts
   * authorize: ({ headers }) => headers.authorization === "Bearer good" || 401
   * authorize: () => ({ status: 503, headers: { "Retry-After": "2" } }) // come back in 2 s
   * ```
   */
  authorize?(handshake: HandshakeInfo):
    | boolean
    | number
    | {
        /** The HTTP status to refuse the handshake with. */
        status: number;
        /** Headers to add to the refusal, e.g. `Retry-After`. */
        headers?: Record<string, string>;
      }
    | undefined;
  /** A certificate and key (PEM) to serve `wss:` instead of `ws:`. */
  tls?: {
    /** The server's certificate chain (PEM); clients must trust its CA (the `tls.ca` option of `Conn`). */
    cert: string | Buffer;
    /** The private key of `cert` (PEM). */
    key: string | Buffer;
  };
}

/** A running test server; see {@link createTestServer}. */
export interface TestServer {
  /** `ws://127.0.0.1:<port>` (or `wss://`); stays the same across `restart()`. */
  readonly url: string;
  /** The port bound at creation; `restart()` binds it again. */
  readonly port: number;
  /** The connections open right now. */
  readonly clients: ReadonlySet<WebSocket>;
  /** Every message received, in order: text frames as strings, binary frames as `Buffer`; clear it with `received.length = 0`. */
  readonly received: Array<string | Buffer>;
  /** Every accepted or refused handshake, in order; `handshakes.length = 0` starts a new record. */
  readonly handshakes: HandshakeInfo[];
  /** Connections accepted since creation, across restarts. */
  readonly connections: number;
  /**
   * True from `stall()` until `resume()`: the server reads and writes nothing and holds new
   * handshakes. Check it to know whether a fault is still on, e.g. before a test's cleanup.
   */
  readonly stalled: boolean;
  /** Handshakes that arrived while stalled and wait for `resume()` (a reconnect attempt, say). */
  readonly heldHandshakes: number;
  /**
   * Stops listening and destroys every connection (no close frame: clients see 1006), waits
   * `downMs`, then listens again on the same port. A `restart()` called while another is under
   * way runs after it. After `close()`, it does nothing; `close()` during `downMs` ends the wait
   * (it resolves at once, listening no more).
   *
   * @throws EvtWebSocketError `ERR_INVALID_OPTION` (a rejection, nothing restarted) for a
   * `downMs` outside 0 to 2147483647 (what a timer takes) or not a number.
   */
  restart(downMs?: number): Promise<void>;
  /**
   * Ends every open connection: with a close frame carrying `code` (1000, 1001, 1011, 4000…)
   * when given, otherwise by destroying the TCP socket (clients see 1006). Resolves once every
   * one of them is closed on the server's side (for a close frame: answered, or timed out by `ws`
   * after 30 s). During a `stall()` the close frame waits like every write, until `resume()`.
   *
   * @throws EvtWebSocketError `ERR_INVALID_OPTION` (a rejection) for a `code` a close frame cannot
   * carry (1004-1006, below 1000, 1015-2999, over 4999) or a `reason` over 123 bytes; `sendRaw()`
   * writes such frames.
   */
  dropAll(code?: number, reason?: string): Promise<void>;
  /**
   * Stops answering while keeping every TCP connection open, as a hung process does: nothing
   * is read (so pings get no pong) and nothing is written; new handshakes get no answer.
   * Resolves once every open connection is paused (`stalled` is then true).
   */
  stall(): Promise<void>;
  /**
   * Ends `stall()`: held data is read and written, held handshakes are answered. Resolves once
   * every held handshake has been answered (accepted or refused).
   */
  resume(): Promise<void>;
  /**
   * Writes `bytes` as they are to every client's TCP socket, for crafted frames the `ws` API
   * will not send: invalid UTF-8, a bad close code, a reserved opcode, an unmasked-rule breach.
   *
   * @example
   * ```ts
   * server.sendRaw(Uint8Array.of(0x81, 0x02, 0xff, 0xfe)); // a text frame that is not UTF-8
   * ```
   */
  sendRaw(bytes: Uint8Array): void;
  /** Stops listening and destroys every connection, for good (`restart()` no longer listens). Safe to call twice. */
  close(): Promise<void>;
}
