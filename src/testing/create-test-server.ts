/**
 * {@link createTestServer}: the test server itself (see test-server.ts for what it promises).
 *
 * It listens (again, on the same port, after `restart()`), answers handshakes (a refusal from
 * handshake-refusal.ts, or ws's upgrade), records clients, handshakes and messages, echoes by
 * default, holds reading, writing and new handshakes during a stall, and tears every socket
 * down on `close()`.
 * It does not define the options or the server's methods (test-server.ts), and does not fault
 * the network between client and server (fault-proxy.ts).
 */

import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import { invalidOption } from "../errors.js";
import { shown } from "../option-checks.js";
import { checkClose } from "./check-close.js";
import { handshakeRefusal } from "./handshake-refusal.js";
import type { HandshakeInfo, TestServer, TestServerOptions } from "./test-server.js";

/** What {@link guard} gives when the handler threw. */
const THREW = Symbol("threw");

/**
 * Calls a handler of the options (`authorize`, `onConnection`, `onMessage`). What it throws (a
 * failed `expect()`, say) is thrown again on the next tick, an uncaught exception the test
 * runner reports, rather than inside `ws` or `node:http`: there it left the handshake
 * unanswered, or stopped the client's messages being read, and `close()` waiting forever.
 */
function guard<R>(call: () => R): R | typeof THREW {
  try {
    return call();
  } catch (error) {
    process.nextTick(() => {
      throw error;
    });
    return THREW;
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
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` (a rejection) for a `port` that is not a whole
 * number from 0 to 65535, or an `authorize`, `onConnection` or `onMessage` that is not a function.
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
      `option port of createTestServer() must be a whole number from 0 to 65535, got ${shown(options.port)}`,
    );
  for (const name of ["authorize", "onConnection", "onMessage"] as const) {
    const handler: unknown = options[name];
    if (handler !== undefined && typeof handler !== "function")
      throw invalidOption(`option ${name} of createTestServer() must be a function, got ${typeof handler}`);
  }
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
    // A verdict no response can say (null, a Promise) is thrown again as a throw would be.
    const verdict = guard(() => handshakeRefusal(options.authorize?.(info)));
    const refusal = verdict === THREW ? handshakeRefusal(500) : verdict;
    if (refusal !== undefined) {
      socket.end(refusal);
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
        if (options.onMessage) guard(() => options.onMessage?.(message, ws, isBinary));
        else ws.send(message);
      });
      if (stalled) pause(ws);
      guard(() => options.onConnection?.(ws, info));
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
            `option downMs of restart() must be a number from 0 to 2147483647, got ${shown(downMs)}`,
          ),
        );
      }
      const run = async (): Promise<void> => {
        if (closes > 0) return; // close() came, before or meanwhile: it wins
        await stop();
        // close() came while this stopped, before a downtime it could end: no downtime then.
        if (closes > 0) return;
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
