/**
 * Review of `evtws` signals with a stuck stdout reader (fourth review of issue 20): a signal
 * must end the run even when nothing reads stdout any more (`timeout 60 evtws -n URL | stuck`,
 * a pager left open). Each test spawns the CLI against a real `ws` server on 127.0.0.1 port 0.
 */

import { afterEach, describe, expect, it } from "vitest";
import { type CliProcess, startCli, startWsServerForTest, useSourceBundle } from "./helpers.js";

useSourceBundle();

let cli: CliProcess | undefined;
afterEach(() => {
  cli?.kill();
  cli = undefined;
});

describe("a signal while stdout's reader has stopped reading", () => {
  for (const [signal, status] of [
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const) {
    it(`${signal} still ends the run (${status}, close 1000), though stdout holds output nobody reads`, async () => {
      // A feed of 1 KB pushes, far more than the pipe and stdout's buffer hold. Before, evtws
      // closed with 1000 and then waited, without end, for the reader to take what stdout held.
      const pad = "x".repeat(1000);
      let sent = 0;
      const closes: number[] = [];
      const server = await startWsServerForTest(undefined, (ws) => {
        ws.on("close", (code) => closes.push(code));
        const pump = () => {
          if (ws.readyState !== ws.OPEN) return;
          for (let i = 0; i < 256 && ws.bufferedAmount < 1 << 20; i++)
            ws.send(JSON.stringify({ tick: ++sent, pad }));
          setTimeout(pump, 1);
        };
        pump();
      });
      const run = startCli(["-q", "-n", server.url]);
      cli = run;
      run.child.stdin.end();
      run.child.stdout.pause();
      // Far more than the pipe (64 KB) and stdout's buffer hold: evtws's stdout is behind.
      const deadline = Date.now() + 30_000;
      while (sent < 1000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(sent).toBeGreaterThanOrEqual(1000);
      run.child.kill(signal);
      // The reader never reads again; the run must end anyway.
      const ended = await Promise.race([
        run.exited,
        new Promise<string>((r) => setTimeout(() => r("still running 20 s after the signal"), 20_000)),
      ]);
      expect(ended).toBe(status);
      expect(closes).toEqual([1000]);
      expect(run.stderr()).toBe("");
    }, 60_000);
  }
  it("SIGTERM after the run is over, while stdout waits for its reader, exits 143", async () => {
    // One answer of 2 MB, far more than the pipe and stdout's buffer hold: the run ends (the
    // server sees its 1000) and evtws waits for the reader to take the rest of stdout.
    const closes: number[] = [];
    const server = await startWsServerForTest(
      () => JSON.stringify({ id: 1, pad: "y".repeat(2 << 20) }),
      (ws) => ws.on("close", (code) => closes.push(code)),
    );
    const run = startCli(["-q", "-x", '{"id":1}', server.url]);
    cli = run;
    run.child.stdout.pause();
    const deadline = Date.now() + 30_000;
    while (closes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(closes).toEqual([1000]);
    run.child.kill("SIGTERM");
    const ended = await Promise.race([
      run.exited,
      new Promise<string>((r) => setTimeout(() => r("still running 20 s after the signal"), 20_000)),
    ]);
    expect(ended).toBe(143);
    expect(run.stderr()).toBe("");
  }, 60_000);
});
