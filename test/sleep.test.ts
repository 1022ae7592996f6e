/**
 * Sleep: the client runs in its own process and is frozen with SIGSTOP (a laptop lid, a
 * suspended VM), the network changes behind it, then SIGCONT. Expectations: a connection that
 * died during the freeze is detected within pingIntervalMs + pongTimeoutMs of waking, and a
 * healthy one is not declared dead because timers fired before the socket was read.
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
});
