/**
 * The heavy receive-backpressure test: a server process pushes 1,000,000 sequence-numbered
 * messages of 100 B as fast as TCP takes them, at a consumer of `conn.messages()` that is far
 * slower (it sleeps 1 ms every 200 messages), and is killed and started again on the same port
 * halfway. Client memory stays flat (RSS within 50 MiB of its level after a warm-up) and every
 * message arrives once, in order.
 *
 * "Every message in order" is exact by design: on every connection the client first sends
 * `from:N`, N being one past the last message the connection delivered (counted by an
 * `onMessage` listener, which hears each message as it is read), and the server streams from
 * there. A message is delivered once the socket read it, whatever the iterator has consumed, so
 * what the restart cuts off in flight is asked for again and nothing is counted twice. The
 * server (test/fixtures/sequence-server.ts) runs in its own process, so RSS measures the
 * client alone. `STREAM_TOTAL` sets a smaller count.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { expect, it } from "vitest";
import { conn, fast, onCleanup, sleep } from "./helpers/harness.js";

const MiB = 1024 * 1024;

/** Starts the sequence server on `port` (0: any); resolves with the process and its port. */
async function startProducer(port: number, total: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "test/fixtures/sequence-server.ts", String(port), String(total)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
  });
  const [line] = (await once(child.stdout!, "data")) as [Buffer];
  return { child, port: Number(line.toString().trim()) };
}

it("1,000,000 messages at a slow consumer across a server restart: flat memory, every message in order", async () => {
  const total = Number(process.env.STREAM_TOTAL ?? 1_000_000);
  const first = await startProducer(0, total);
  let delivered = 0; // one past the last message the connection delivered
  let outOfOrder = 0;
  const c = conn({
    reconnect: fast,
    onError: () => {},
    onConnected: (cc) => cc.send(`from:${delivered}`),
    onMessage: (m) => {
      if (Number(m.slice(0, 7)) !== delivered) outOfOrder++;
      delivered++;
    },
  });
  const messages = c.messages({ bufferSize: 1024 });
  await c.dial(`ws://127.0.0.1:${first.port}`);
  const restart = async () => {
    first.child.kill("SIGKILL");
    await once(first.child, "exit");
    await startProducer(first.port, total);
  };
  let restarted: Promise<void> | undefined;
  const warmUp = 50_000;
  let baseline = 0;
  let peak = 0;
  let expected = 0;
  let wrong = 0;
  for await (const m of messages) {
    if (Number(m.slice(0, 7)) !== expected) wrong++;
    expected++;
    if (expected === warmUp) baseline = process.memoryUsage.rss();
    if (expected === total >> 1) restarted = restart();
    if (expected % 200 === 0) {
      await sleep(1);
      if (expected > warmUp) peak = Math.max(peak, process.memoryUsage.rss());
    }
    if (expected === total) break;
  }
  await restarted;
  expect(wrong).toBe(0);
  expect(outOfOrder).toBe(0);
  expect(expected).toBe(total);
  expect(delivered).toBe(total);
  expect(c.stats.reconnects).toBe(1);
  const growth = peak - baseline;
  expect(growth, `RSS grew ${(growth / MiB).toFixed(1)} MiB after the warm-up`).toBeLessThan(50 * MiB);
}, 600_000);
