/**
 * A real HTTP server on 127.0.0.1 (port 0) that answers each WebSocket upgrade as the test
 * says: with an HTTP response of its own (503 and a Retry-After, say), or by accepting it
 * through `ws`. It records when each upgrade request arrived, on the server's side, and its
 * request headers.
 */

import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import { onCleanup } from "./harness.js";

export interface Arrival {
  /** `performance.now()` when the upgrade request arrived. */
  at: number;
  /** `Date.now()` when it arrived. */
  wallAt: number;
  headers: IncomingHttpHeaders;
}

export interface UpgradeServer {
  url: string;
  /** Every upgrade request, in order of arrival. */
  arrivals: Arrival[];
  /** The WebSockets accepted, in order. */
  accepted: WebSocket[];
}

/**
 * @param answer - for upgrade request `n` (0 first): the head of an HTTP response to refuse it
 *   with (status line and headers, without the blank line), or undefined to accept it.
 */
export async function upgradeServer(
  answer: (n: number, req: IncomingMessage) => string | undefined,
  options: {
    onAccept?: (ws: WebSocket, n: number) => void;
    /** Extra response header lines for accepted upgrade `n` ("Name: value"). */
    responseHeaders?: (n: number) => string[];
  } = {},
): Promise<UpgradeServer> {
  const { onAccept, responseHeaders } = options;
  const wss = new WebSocketServer({ noServer: true });
  if (responseHeaders !== undefined) {
    wss.on("headers", (lines) => lines.push(...responseHeaders(accepted.length)));
  }
  const arrivals: Arrival[] = [];
  const accepted: WebSocket[] = [];
  const sockets = new Set<Duplex>();
  const srv = http.createServer((_req, res) => res.writeHead(426).end());
  srv.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  srv.on("upgrade", (req, socket, head) => {
    const n = arrivals.length;
    arrivals.push({ at: performance.now(), wallAt: Date.now(), headers: req.headers });
    socket.on("error", () => {});
    const refusal = answer(n, req);
    if (refusal !== undefined) {
      socket.end(`${refusal}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      accepted.push(ws);
      ws.on("error", () => {});
      onAccept?.(ws, n);
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  onCleanup(async () => {
    for (const ws of accepted) ws.terminate();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => srv.close(resolve));
  });
  const { port } = srv.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}`, arrivals, accepted };
}
