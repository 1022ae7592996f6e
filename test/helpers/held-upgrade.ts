/**
 * A real HTTP server on 127.0.0.1 (port 0) that holds each WebSocket upgrade as long as the
 * test says before it answers: with an HTTP refusal of its own, or by accepting through `ws`
 * (a slow handshake). It records when each upgrade arrived and when it was answered, on the
 * server's side. It does not fault an open connection (the testing kit's proxy does that).
 */

import http, { type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import { onCleanup } from "./harness.js";

/** How upgrade `n` (0 first) is answered: after `holdMs`, refused with `refuse` (a status line and headers) or accepted. */
export interface HeldAnswer {
  holdMs: number;
  refuse?: string;
}

export interface HeldUpgradeServer {
  url: string;
  /** `performance.now()` when each upgrade request arrived. */
  arrivals: number[];
  /** `performance.now()` when each upgrade was answered. */
  answered: number[];
  /** The WebSockets accepted, in order. */
  accepted: WebSocket[];
  /** Server-side sockets of upgrades that were closed (by either side). */
  closedSockets: number;
}

export async function heldUpgradeServer(
  answer: (n: number, req: IncomingMessage) => HeldAnswer,
): Promise<HeldUpgradeServer> {
  const wss = new WebSocketServer({ noServer: true });
  const sockets = new Set<Duplex>();
  const timers = new Set<NodeJS.Timeout>();
  const api: HeldUpgradeServer = { url: "", arrivals: [], answered: [], accepted: [], closedSockets: 0 };
  const srv = http.createServer((_req, res) => res.writeHead(426).end());
  srv.on("upgrade", (req, socket, head) => {
    const n = api.arrivals.length;
    api.arrivals.push(performance.now());
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => {
      sockets.delete(socket);
      api.closedSockets++;
    });
    const { holdMs, refuse } = answer(n, req);
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (socket.destroyed) return;
      api.answered.push(performance.now());
      if (refuse !== undefined) {
        socket.end(`${refuse}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        api.accepted.push(ws);
        ws.on("error", () => {});
      });
    }, holdMs);
    timers.add(timer);
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  onCleanup(async () => {
    for (const t of timers) clearTimeout(t);
    for (const ws of api.accepted) ws.terminate();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => srv.close(resolve));
  });
  api.url = `ws://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  return api;
}
