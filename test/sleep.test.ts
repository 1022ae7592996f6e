/**
 * Sleep: the client runs in its own process and is frozen with SIGSTOP (a laptop lid, a
 * suspended VM), the network changes behind it, then SIGCONT. Expectations: a connection that
 * died during the freeze is detected within pingIntervalMs + pongTimeoutMs of waking, and a
 * healthy one is not declared dead because timers fired before the socket was read.
 *
 * Starved: the client is stopped most of the time and runs in short slices (a container out of
 * CPU quota), so every one of its timers fires late and, on waking, Node runs them before it
 * reads the socket. A dead server must still be detected, and a live one's pongs still count.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { createFaultProxy, createTestServer } from "../src/testing/index.js";
import { onCleanup, sleep } from "./helpers/harness.js";
import { until } from "./helpers/server.js";

type Child = { proc: ChildProcess; lines: Array<{ at: number; text: string }> };

function startClient(url: string, pingIntervalMs: number, pongTimeoutMs: number): Child {
  const proc = spawn(
    process.execPath,
    ["--import", "tsx", "test/fixtures/sleep-client.ts", url, String(pingIntervalMs), String(pongTimeoutMs)],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const child: Child = { proc, lines: [] };
  let buffer = "";
  proc.stdout!.on("data", (d) => {
    buffer += d;
    for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
      child.lines.push({ at: performance.now(), text: buffer.slice(0, i) });
      buffer = buffer.slice(i + 1);
    }
  });
  onCleanup(async () => {
    proc.kill("SIGCONT");
    proc.stdin!.end();
    const exited = new Promise((r) => proc.once("exit", r));
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  });
  return child;
}

/** Stops `child` for `stoppedMs`, lets it run `runningMs`, again and again until the test ends. */
function starve(child: Child, stoppedMs: number, runningMs: number): void {
  let on = true;
  const loop = async () => {
    while (on) {
      child.proc.kill("SIGSTOP");
      await sleep(stoppedMs);
      child.proc.kill("SIGCONT");
      await sleep(runningMs);
    }
  };
  const running = loop();
  onCleanup(async () => {
    on = false;
    await running;
  });
}

async function setup() {
  const server = await createTestServer();
  const proxy = await createFaultProxy(server.url);
  onCleanup(() => server.close());
  onCleanup(() => proxy.close());
  return { server, proxy };
}

describe("sleep (SIGSTOP / SIGCONT)", () => {
  it("a connection that died during the freeze is detected within pingIntervalMs + pongTimeoutMs of waking", async () => {
    const { proxy } = await setup();
    const ping = 500;
    const pong = 500;
    const child = startClient(proxy.url, ping, pong);
    await until(() => child.lines.some((l) => l.text === "open"), "child open", 20_000);
    child.proc.kill("SIGSTOP");
    await proxy.blackhole();
    await sleep(2000);
    const wokeAt = performance.now();
    child.proc.kill("SIGCONT");
    await until(() => child.lines.some((l) => l.text === "error ERR_PONG_TIMEOUT"), "dead detected", 20_000);
    const detectedAt = child.lines.find((l) => l.text === "error ERR_PONG_TIMEOUT")!.at;
    // Generous slack for a loaded 2-core machine: the bound itself is what matters.
    expect(detectedAt - wokeAt).toBeLessThan(ping + pong + 1500);
  }, 60_000);

  it("a starved client whose every timer fires late, by more than min(pingIntervalMs, pongTimeoutMs), still detects a dead server", async () => {
    const { proxy } = await setup();
    const ping = 200;
    const pong = 200;
    const child = startClient(proxy.url, ping, pong);
    await until(() => child.lines.some((l) => l.text === "open"), "child open", 20_000);
    // It runs 10 ms of every 610: a pong deadline fires at the next slice, 410 ms late, more than
    // min(ping, pong), and each such deadline used to send another ping instead of judging.
    starve(child, 600, 10);
    await proxy.blackhole();
    const silentFrom = performance.now();
    await until(() => child.lines.some((l) => l.text === "error ERR_PONG_TIMEOUT"), "dead detected", 20_000);
    const detectedAt = child.lines.find((l) => l.text === "error ERR_PONG_TIMEOUT")!.at;
    // 2 x (ping + pong) plus four timers up to 610 ms late each, and slack for a loaded machine.
    expect(detectedAt - silentFrom).toBeLessThan(2 * (ping + pong) + 4 * 610 + 1500);
  }, 60_000);

  it("a starved client does not declare a live server dead when the pong came in while it was stopped", async () => {
    const { proxy } = await setup();
    const child = startClient(proxy.url, 500, 500);
    await until(() => child.lines.some((l) => l.text === "open"), "child open", 20_000);
    // A round trip of 300 ms, and the client runs 10 ms of every 260: a pong arrives while it is
    // stopped, in time, and its deadline passes before the next slice, which runs timers first.
    await proxy.latency(150);
    starve(child, 250, 10);
    await sleep(8000);
    expect(child.lines.map((l) => l.text)).not.toContain("error ERR_PONG_TIMEOUT");
    expect(child.lines.filter((l) => l.text.startsWith("pong ")).length).toBeGreaterThan(3);
  }, 60_000);
});
