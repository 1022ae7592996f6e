/**
 * A peer that stops reading, for tests of backpressure (`bufferedAmount`, `drained()`,
 * `"drain"`): its connections read nothing until `resume()`, so the client's buffer grows; and
 * a filler that sends until that buffer is over a mark.
 */

import type { WebSocket as ServerSocket } from "ws";
import { server } from "./harness.js";

/**
 * A server whose connections do not read until `resume()`; counts the bytes it got and the most
 * connections it held at once.
 */
export async function stalledServer() {
  const sockets: ServerSocket[] = [];
  let bytes = 0;
  let live = 0;
  let mostLive = 0;
  let resumed = false;
  const s = await server({
    onConnection: (ws) => {
      sockets.push(ws);
      mostLive = Math.max(mostLive, ++live);
      ws.on("close", () => void live--);
      if (!resumed) ws.pause();
    },
    onMessage: (_ws, data) => {
      bytes += (data as Buffer).length;
    },
  });
  return {
    url: s.url,
    server: s,
    /** Its connections, oldest first. */
    sockets,
    get bytes() {
      return bytes;
    },
    /** The most connections open at once so far. */
    get mostLive() {
      return mostLive;
    },
    /** Reads from now on, on every connection (a later one included). */
    resume: () => {
      resumed = true;
      for (const ws of sockets) ws.resume();
    },
  };
}

/** Sends 64 KiB pieces until the socket holds more than `bytes`; returns the bytes sent. */
export function fill(c: { send(b: Uint8Array): unknown; bufferedAmount: number }, bytes: number): number {
  const piece = new Uint8Array(64 * 1024);
  let sent = 0;
  while (c.bufferedAmount <= bytes) {
    c.send(piece);
    sent += piece.byteLength;
  }
  return sent;
}
