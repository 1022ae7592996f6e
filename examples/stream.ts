/**
 * Consuming a fast feed with `for await`, and uploading with `drained()`: backpressure both ways.
 *
 * The server pushes 400,000 price ticks as fast as TCP lets it. The client reads them with
 * `for await (const tick of conn.messages())` and is slow on purpose (it sleeps 1 ms every
 * 1,000 ticks). When the iterator holds `bufferSize` unread ticks, the connection stops reading
 * its socket, TCP's window closes, and the server's sends wait: client memory stays flat and no
 * tick is lost. Then the client uploads 16 MiB in 64 KiB pieces, awaiting `conn.drained()`
 * before each, so it never holds more than `lowWaterMark` plus one piece in the socket.
 *
 * Run: npx tsx examples/stream.ts
 */

import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Conn, json } from "evtwebsocket";
import { type WebSocket, WebSocketServer } from "ws";

type Tick = { seq: number; symbol: string; price: number };

const TICKS = 400_000;
let serverWaits = 0;
let uploaded = 0;

/** Sends the ticks while ws holds under 256 KiB; each wait resumes from a write callback. */
function feed(socket: WebSocket): void {
  let seq = 0;
  const pump = () => {
    while (seq < TICKS && socket.readyState === socket.OPEN) {
      const full = socket.bufferedAmount >= 256 * 1024;
      const tick: Tick = { seq, symbol: "EURUSD", price: 1.08 + (seq % 100) / 10_000 };
      seq++;
      if (full) serverWaits++;
      socket.send(JSON.stringify(tick), full ? () => setImmediate(pump) : undefined);
      if (full) return;
    }
  };
  pump();
}

const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
await new Promise((resolve) => server.once("listening", resolve));
const { port } = server.address() as AddressInfo;
server.on("connection", (socket) => {
  socket.on("message", (data, isBinary) => {
    if (isBinary) uploaded += (data as Buffer).length;
    else if (JSON.parse(String(data)) === "subscribe") feed(socket);
  });
});

const conn = new Conn<Tick | string, unknown>({
  codec: json(),
  onConnected: (c) => c.send("subscribe"),
});
const ticks = conn.messages({ bufferSize: 256 });
await conn.dial(`ws://127.0.0.1:${port}`);
console.log("connected");

let expected = 0;
for await (const tick of ticks) {
  if (typeof tick === "string" || tick.seq !== expected) throw new Error(`tick ${expected} missing`);
  expected++;
  if (expected % 1000 === 0) await sleep(1); // a slow consumer
  if (expected === TICKS) break; // `break` unsubscribes the iterator
}
console.log(`ticks received in order: ${expected}`);
console.log(`server had to wait for the slow reader: ${serverWaits > 0 ? "yes" : "no"}`);

// The other direction: an upload paced by the socket, not by memory.
const piece = new TextEncoder().encode("x".repeat(64 * 1024));
const raw = new Conn<Uint8Array, Uint8Array>();
await raw.dial(`ws://127.0.0.1:${port}`);
for (let sent = 0; sent < 16 * 1024 * 1024; sent += piece.byteLength) {
  await raw.drained();
  raw.send(piece);
}
await raw.drained();
while (uploaded < 16 * 1024 * 1024) await sleep(5);
console.log(`upload: 16 MiB sent with drained(), server got ${uploaded} bytes`);

await raw.close();
await conn.close();
server.close();
console.log("done");
