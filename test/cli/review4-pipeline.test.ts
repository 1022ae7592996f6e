/**
 * Review of `evtws` in a pipeline (fourth review of issue 20): `--concurrency 0` ("no limit")
 * against the library's own bound on pending requests. Spawns the CLI against a real `ws`
 * server on 127.0.0.1 port 0.
 */

import { afterEach, describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { runCli, startWsServer, useSourceBundle, type WsServer } from "./helpers.js";

useSourceBundle();

let server: WsServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe("--concurrency 0 with more requests in flight than the library holds", () => {
  it("waits for room: every line is answered, in order, none fails with ERR_TOO_MANY_PENDING", async () => {
    // The server answers nothing until no request has come for 300 ms, then all it holds. With
    // no limit, evtws had 65,536 requests pending (the library's maxPendingRequests) and every
    // line after those failed at once with ERR_TOO_MANY_PENDING (exit 1).
    const TOTAL = 70_000;
    let held: Array<[WebSocket, string]> = [];
    let quiet: NodeJS.Timeout | undefined;
    server = await startWsServer((text, _binary, ws) => {
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
