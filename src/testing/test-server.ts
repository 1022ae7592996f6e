/**
 * A real WebSocket server for tests, with the faults a server can cause on purpose.
 *
 * Built on `ws` and `node:http` (or `node:https` when given a certificate), listening on
 * 127.0.0.1 and port 0 by default. It can restart on the same port, drop every client with a
 * chosen close code, stall (stop reading and writing while keeping TCP open, as a hung process
 * does), refuse handshakes with an HTTP status, write crafted frames, and it records what arrived. What it does not
 * do: fault the network between client and server; that is the fault proxy's job.
 */

import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import { invalidOption } from "../errors.js";

/** What a test server records about one opening handshake. */
export interface HandshakeInfo {
  /** The request target, path and query (e.g. `/chat?token=...`). */
  readonly url: string;
  /** The request headers, lower-cased as Node gives them. */
  readonly headers: http.IncomingHttpHeaders;
}

/** Options of {@link createTestServer}. Every one is optional. */
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
   * those response headers (a `Retry-After`, say).
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

/**
 * Refuses a close code or reason no close frame can carry (RFC 6455 section 7.4: 1000-1014
 * but 1004-1006, or 3000-4999; a reason of at most 123 bytes), before any client is closed.
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` naming the option.
 */
function checkClose(code: number, reason: string): void {
  const sendable =
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1014 && (code < 1004 || code > 1006)) || (code >= 3000 && code <= 4999));
  if (!sendable) {
    throw invalidOption(
      `option code of dropAll() must be a close code a frame can carry (1000-1003, 1007-1014, 3000-4999), got ${String(code)}; sendRaw() writes any other`,
    );
  }
  if (typeof reason !== "string" || Buffer.byteLength(reason) > 123) {
    throw invalidOption("option reason of dropAll() must be a string of at most 123 bytes (UTF-8)");
  }
}

interface Held {
  req: http.IncomingMessage;
  socket: Duplex;
  head: Buffer;
}

/**
 * Starts a WebSocket server on 127.0.0.1 (port 0 unless told) for tests of reconnect, heartbeat
 * and request logic against real sockets.
 *
 * @example
 * ```ts
 * const server = await createTestServer();
 * const conn = new Conn({ reconnect: { minDelayMs: 10 } });
 * await conn.dial(server.url);
 * server.dropAll(1011); // the client reconnects
 * await server.close();
 * ```
 */
export async function createTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  if (
    options.port !== undefined &&
    !(Number.isInteger(options.port) && options.port >= 0 && options.port <= 65_535)
  )
    throw invalidOption(
      `option port of createTestServer() must be a whole number from 0 to 65535, got ${String(options.port)}`,
    );
  const host = options.host ?? "127.0.0.1";
  const scheme = options.tls === undefined ? "ws" : "wss";
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const clients = new Set<WebSocket>();
  const sockets = new Map<WebSocket, Duplex>();
  const tcp = new Set<Socket>();
  const held = new Set<Held>();
  const received: Array<string | Buffer> = [];
  const handshakes: HandshakeInfo[] = [];
  let connections = 0;
  let stalled = false;
  let server: http.Server | undefined;
  /** Bumped by close(): no restart() listens again after it, whenever it began. */
  let closes = 0;
  /** A restart()'s listen in progress, which close() waits for. */
  let relisten: Promise<http.Server> | undefined;
  /** The last restart() called: the next one runs after it, so they never listen at once. */
  let restarting: Promise<void> = Promise.resolve();
  /** Ends a restart()'s downtime at once (close() does: nothing listens after it anyway). */
  let endDowntime: () => void = () => {};

  /** Answers a handshake; resolves once it is accepted or refused. */
  const accept = ({ req, socket, head }: Held): Promise<void> => {
    if (socket.destroyed) return Promise.resolve();
    const info: HandshakeInfo = { url: req.url ?? "/", headers: req.headers };
    handshakes.push(info);
    const verdict = options.authorize?.(info);
    if (verdict === false || typeof verdict === "number" || typeof verdict === "object") {
      const status = verdict === false ? 401 : typeof verdict === "number" ? verdict : verdict.status;
      const extra = typeof verdict === "object" ? Object.entries(verdict.headers ?? {}) : [];
      const lines = extra.map(([name, value]) => `${name}: ${value}\r\n`).join("");
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Refused"}\r\n${lines}Connection: close\r\n\r\n`,
      );
      return Promise.resolve();
    }
    let resolve: () => void = () => {};
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    // ws answers a bad handshake itself (400) and never calls back: the socket closes then.
    socket.once("close", () => resolve());
    wss.handleUpgrade(req, socket, head, (ws) => {
      connections++;
      clients.add(ws);
      sockets.set(ws, socket);
      ws.on("error", () => {});
      ws.on("close", () => {
        clients.delete(ws);
        sockets.delete(ws);
      });
      ws.on("message", (data: RawData, isBinary: boolean) => {
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
        const message = isBinary ? buf : buf.toString("utf8");
        received.push(message);
        if (options.onMessage) options.onMessage(message, ws, isBinary);
        else ws.send(message);
      });
      if (stalled) pause(ws);
      options.onConnection?.(ws, info);
      resolve();
    });
    return promise;
  };

  const pause = (ws: WebSocket): void => {
    ws.pause();
    sockets.get(ws)?.cork();
  };

  const listen = (port: number): Promise<http.Server> =>
    new Promise((resolve, reject) => {
      const s = options.tls === undefined ? http.createServer() : https.createServer(options.tls);
      s.on("connection", (socket: Socket) => {
        tcp.add(socket);
        socket.on("close", () => tcp.delete(socket));
      });
      s.on("request", (_req, res) => {
        res.writeHead(426, { Connection: "close" }).end();
      });
      s.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
        socket.on("error", () => {});
        const entry = { req, socket, head };
        if (!stalled) return void accept(entry);
        held.add(entry);
        socket.on("close", () => held.delete(entry));
      });
      s.once("error", reject);
      s.listen(port, host, () => {
        s.off("error", reject);
        resolve(s);
      });
    });

  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (s === undefined) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    // Every client still listed emits "close" (which unlists it) once its socket is gone.
    const unlisted = [...clients].map(
      (ws) => new Promise<void>((resolve) => ws.once("close", () => resolve())),
    );
    for (const ws of clients) ws.terminate();
    for (const entry of held) entry.socket.destroy();
    held.clear();
    for (const socket of tcp) socket.destroy();
    await Promise.all([closed, ...unlisted]);
  };

  server = await listen(options.port ?? 0);
  const port = (server.address() as AddressInfo).port;
  const url = `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`;

  return {
    url,
    port,
    clients,
    received,
    handshakes,
    get connections() {
      return connections;
    },
    get stalled() {
      return stalled;
    },
    get heldHandshakes() {
      return held.size;
    },
    restart(downMs = 0) {
      // A timer takes at most 2^31-1 ms: a longer one fires at once.
      if (typeof downMs !== "number" || !(downMs >= 0 && downMs <= 2_147_483_647)) {
        return Promise.reject(
          invalidOption(
            `option downMs of restart() must be a number from 0 to 2147483647, got ${String(downMs)}`,
          ),
        );
      }
      const run = async (): Promise<void> => {
        if (closes > 0) return; // close() came, before or meanwhile: it wins
        await stop();
        if (downMs > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => endDowntime(), downMs);
            endDowntime = () => {
              clearTimeout(timer);
              endDowntime = () => {};
              resolve();
            };
          });
        }
        if (closes > 0) return;
        relisten = listen(port);
        try {
          server = await relisten;
        } finally {
          relisten = undefined;
        }
      };
      const done = restarting.then(run);
      restarting = done.catch(() => {});
      return done;
    },
    async dropAll(code?: number, reason = "") {
      if (code !== undefined) checkClose(code, reason);
      const closed: Promise<void>[] = [];
      for (const ws of clients) {
        if (ws.readyState !== ws.CLOSED) {
          closed.push(new Promise<void>((resolve) => ws.once("close", () => resolve())));
        }
        if (code === undefined) ws.terminate();
        else ws.close(code, reason);
      }
      await Promise.all(closed);
    },
    async stall() {
      if (stalled) return;
      stalled = true;
      for (const ws of clients) pause(ws);
    },
    async resume() {
      if (!stalled) return;
      stalled = false;
      for (const ws of clients) {
        sockets.get(ws)?.uncork();
        ws.resume();
      }
      const waiting = [...held];
      held.clear();
      await Promise.all(waiting.map(accept));
    },
    sendRaw(bytes: Uint8Array) {
      for (const ws of clients) sockets.get(ws)?.write(bytes);
    },
    async close() {
      closes++;
      endDowntime();
      await relisten?.catch(() => {}); // a restart() listening again: let it finish, then stop it
      await stop();
      // A restart() stopping meanwhile destroyed them: they are unlisted at their "close".
      const unlisted = [...clients].map(
        (ws) => new Promise<void>((resolve) => ws.once("close", () => resolve())),
      );
      for (const ws of clients) ws.terminate();
      await Promise.all(unlisted);
    },
  };
}
