/**
 * A real `ws` server on 127.0.0.1 for integration tests: port 0, restart on the same port,
 * drop every client, and a record of what arrived. Nothing here is mocked.
 */

import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { type RawData, type WebSocket, WebSocketServer } from "ws";

export interface TestServer {
  readonly url: string;
  readonly port: number;
  readonly clients: Set<WebSocket>;
  /** Every message received, as strings (binary as hex prefixed with "bin:"). */
  readonly received: string[];
  /** Request headers of each handshake, in order. */
  readonly handshakes: IncomingMessage[];
  /** Number of connections accepted so far. */
  connections: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
  dropAll(code?: number): void;
  close(): Promise<void>;
}

export interface ServerOptions {
  /** Called for every message; default echoes it back with the same type. */
  onMessage?(ws: WebSocket, data: RawData, isBinary: boolean): void;
  onConnection?(ws: WebSocket, req: IncomingMessage): void;
  /** Passed through to ws (e.g. autoPong: false to play a dead peer). */
  autoPong?: boolean;
  verifyClient?(info: { req: IncomingMessage }, cb: (ok: boolean, code?: number) => void): void;
}

export function echo(ws: WebSocket, data: RawData, isBinary: boolean): void {
  ws.send(data, { binary: isBinary });
}

export async function startServer(options: ServerOptions = {}, port = 0): Promise<TestServer> {
  let wss: WebSocketServer | undefined;
  const clients = new Set<WebSocket>();
  const received: string[] = [];
  const handshakes: IncomingMessage[] = [];
  const onMessage = options.onMessage ?? echo;

  const listen = (p: number) =>
    new Promise<WebSocketServer>((resolve, reject) => {
      const server = new WebSocketServer({
        host: "127.0.0.1",
        port: p,
        autoPong: options.autoPong ?? true,
        ...(options.verifyClient ? { verifyClient: options.verifyClient } : {}),
      });
      server.once("listening", () => resolve(server));
      server.once("error", reject);
      server.on("connection", (ws, req) => {
        api.connections++;
        clients.add(ws);
        handshakes.push(req);
        ws.on("close", () => clients.delete(ws));
        ws.on("error", () => {});
        ws.on("message", (data, isBinary) => {
          received.push(isBinary ? `bin:${Buffer.from(data as Buffer).toString("hex")}` : data.toString());
          onMessage(ws, data, isBinary);
        });
        options.onConnection?.(ws, req);
      });
    });

  wss = await listen(port);
  const boundPort = (wss.address() as AddressInfo).port;

  const stop = async () => {
    const server = wss;
    wss = undefined;
    if (server === undefined) return;
    for (const ws of clients) ws.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  const api: TestServer = {
    url: `ws://127.0.0.1:${boundPort}`,
    port: boundPort,
    clients,
    received,
    handshakes,
    connections: 0,
    stop,
    async start() {
      wss ??= await listen(boundPort);
    },
    async restart() {
      await stop();
      wss = await listen(boundPort);
    },
    dropAll(code?: number) {
      for (const ws of clients) {
        if (code === undefined) ws.terminate();
        else ws.close(code);
      }
    },
    close: stop,
  };
  return api;
}

/** Resolves when `predicate` holds, polling; rejects after `timeoutMs` with `what` in the message. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A port nothing listens on now, outside the range the OS picks ports from for port 0. */
export async function freePort(): Promise<number> {
  // Below the range the OS hands out for port 0: a server that another test file (another
  // worker) starts meanwhile on port 0 can never be given this port, so a dial meant to be
  // refused cannot reach it. (From the ephemeral range, that happened: a refused-dial test
  // connected to another file's server, and both failed.)
  const { readFileSync } = await import("node:fs");
  let low = 32768;
  try {
    low =
      Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: keep the usual floor
  }
  const floor = Math.min(10_000, low - 1000);
  for (;;) {
    const port = floor + Math.floor(Math.random() * (low - floor));
    if (await canListen(port)) return port;
  }
}

/** Whether a server can listen on 127.0.0.1:`port` now (it listens, then closes at once). */
async function canListen(port: number): Promise<boolean> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}
