/**
 * The heavy send-backpressure test: a 1 GiB upload in 64 KiB pieces, each sent after
 * `await conn.drained()`, never holds more than `highWaterMark` plus one message in memory: RSS
 * stays within 64 MiB of its level after a warm-up, and the server gets every byte. The server
 * is a hand-written WebSocket endpoint on a raw TCP listener that answers the handshake and
 * then only counts bytes (parsing and unmasking a GiB would cost more than the client does).
 * `UPLOAD_MIB` sets a smaller upload for a quick look.
 */

import { expect, it } from "vitest";
import { conn } from "./helpers/harness.js";
import { switchingProtocols, tcpServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const PIECE = 64 * KiB;
/** A 64 KiB payload needs the 8-byte length form; client frames carry a 4-byte mask. */
const FRAME_OVERHEAD = 2 + 8 + 4;

/** Answers the opening handshake, then counts every byte the client sends. */
async function countingServer(): Promise<{ url: string; bytes: () => number }> {
  let counted = 0;
  const { port } = await tcpServer((socket) => {
    let head = "";
    let upgraded = false;
    socket.on("data", (chunk: Buffer) => {
      if (upgraded) {
        counted += chunk.length;
        return;
      }
      head += chunk.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.write(switchingProtocols(head.slice(0, end)));
      upgraded = true;
      counted += head.length - end - 4;
    });
    socket.on("error", () => {});
  });
  return { url: `ws://127.0.0.1:${port}/`, bytes: () => counted };
}

it("a 1 GiB upload in 64 KiB pieces with await drained() holds at most highWaterMark plus one message", async () => {
  const total = Number(process.env.UPLOAD_MIB ?? 1024) * MiB;
  const warmUp = 64 * MiB;
  const s = await countingServer();
  const c = conn<Uint8Array, Uint8Array>({ highWaterMark: 1 * MiB });
  await c.dial(s.url);
  const piece = new Uint8Array(PIECE).fill(7);
  let baseline = 0;
  let peak = 0;
  let pieces = 0;
  for (let sent = 0; sent < total; sent += PIECE) {
    await c.drained();
    c.send(piece);
    pieces++;
    if (sent === warmUp) baseline = process.memoryUsage.rss();
    else if (sent > warmUp && pieces % 16 === 0) peak = Math.max(peak, process.memoryUsage.rss());
    expect(c.bufferedAmount).toBeLessThanOrEqual(1 * MiB + PIECE + FRAME_OVERHEAD);
  }
  await until(
    () => s.bytes() === pieces * (PIECE + FRAME_OVERHEAD),
    "the server to count every byte",
    120_000,
  );
  expect(pieces).toBe(total / PIECE);
  const growth = peak - baseline;
  expect(growth, `RSS grew ${(growth / MiB).toFixed(1)} MiB after the warm-up`).toBeLessThan(64 * MiB);
}, 600_000);
