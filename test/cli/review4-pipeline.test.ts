/**
 * Review of `evtws` in a pipeline (fourth review of issue 20): `--concurrency 0` ("no limit")
 * against the library's own bound on pending requests. Spawns the CLI against a real `ws`
 * server on 127.0.0.1 port 0.
 */

import { describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { readLinesFrom, runCli, startCli, startWsServerForTest, useSourceBundle } from "./helpers.js";

useSourceBundle();

describe("--concurrency 0 with more requests in flight than the library holds", () => {
  it("waits for room: every line is answered, in order, none fails with ERR_TOO_MANY_PENDING", async () => {
    // The server answers nothing until no request has come for 300 ms, then all it holds. With
    // no limit, evtws had 65,536 requests pending (the library's maxPendingRequests) and every
    // line after those failed at once with ERR_TOO_MANY_PENDING (exit 1).
    const TOTAL = 70_000;
    let held: Array<[WebSocket, string]> = [];
    let quiet: NodeJS.Timeout | undefined;
    const server = await startWsServerForTest((text, _binary, ws) => {
      held.push([ws, text]);
      clearTimeout(quiet);
      quiet = setTimeout(() => {
        const answers = held;
        held = [];
        for (const [client, message] of answers) client.send(message);
      }, 300);
      return undefined;
    });
    let input = "";
    for (let i = 1; i <= TOTAL; i++) input += `{"id":${i}}\n`;
    const run = await runCli(["-q", "--concurrency", "0", "--timeout", "60", server.url], {
      input,
      timeoutMs: 100_000,
    });
    clearTimeout(quiet);
    expect(run.stderr.split("\n").slice(0, 3).join("\n")).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(input);
    expect(server.received.length).toBe(TOTAL);
  }, 120_000);
});

describe("-w/--wait into a slow reader", () => {
  it("prints what the server sent during the wait, though the reader is slower than the wait", async () => {
    // 3,000 pushes of 1 KB right after the answer; the reader pauses for 4 s, longer than -w 2.
    // Before, evtws held the socket for the reader during the wait, the server was held back
    // after a few thousand, and when the wait ran out the rest were never read: a reader that
    // keeps up got all 3,000.
    const TOTAL = 3000;
    const pad = "x".repeat(1000);
    const server = await startWsServerForTest((text, _binary, ws) => {
      if (text !== '{"id":1}') return undefined;
      ws.send('{"id":1,"ok":true}');
      let sent = 0;
      const pump = () => {
        if (ws.readyState !== ws.OPEN) return;
        while (ws.bufferedAmount < 1 << 20 && sent < TOTAL) ws.send(JSON.stringify({ tick: ++sent, pad }));
        if (sent < TOTAL) setTimeout(pump, 1);
      };
      pump();
      return undefined;
    });
    const cli = startCli(["-q", "-x", '{"id":1}', "-w", "2", server.url]);
    cli.child.stdout.pause();
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const ticks: number[] = [];
    let answers = 0;
    readLinesFrom(cli, (line) => {
      const msg = JSON.parse(line) as { tick?: number; ok?: boolean };
      if (msg.ok === true) answers++;
      else ticks.push(msg.tick ?? -1);
    });
    expect(await cli.exited).toBe(0);
    expect(cli.stderr()).toBe("");
    expect(answers).toBe(1);
    expect(ticks).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
  }, 60_000);
});
