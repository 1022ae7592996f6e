/**
 * `evtws` streams a server's pushes (issue 20, part 3): in a pipeline, every message that
 * answers no request is one line on stdout (compact JSON with `--json`), `--responses-only`
 * keeps them off stdout, `-n/--no-close` keeps the stream open after stdin ends, and a
 * reconnect keeps it going. Each test spawns the CLI against a real `ws` server on 127.0.0.1
 * port 0; stdout is a pipe, as in `evtws URL | jq`.
 */

import { afterEach, describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { idReply, runCli, startWsServer, useSourceBundle, type WsServer } from "./helpers.js";

useSourceBundle();

let server: WsServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const PUSHES = ['{"tick": 1,  "px": [1, 2]}', '{"tick": 2}', '{"tick": 3}'];

/** Sends {@link PUSHES} to a new connection at once. */
function pushOnConnect(ws: WebSocket): void {
  for (const push of PUSHES) ws.send(push);
}

describe("evtws streams pushes in a pipeline", () => {
  it("prints each message that answers no request on stdout, one line each, even with -q", async () => {
    // Before: pushes went to stderr as `(unmatched)`, and -q dropped them.
    server = await startWsServer(idReply, pushOnConnect);
    const run = await runCli(["-q", "-x", '{"id":1}', server.url]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${PUSHES.join("\n")}\n{"id":1,"ok":true}\n`);
    expect(run.stderr).toBe("");
  });

  it("keeps events on stderr and pushes on stdout without -q", async () => {
    server = await startWsServer(idReply, pushOnConnect);
    const run = await runCli(["-x", '{"id":1}', server.url]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${PUSHES.join("\n")}\n{"id":1,"ok":true}\n`);
    expect(run.stderr).toMatch(/\* connected to/);
    expect(run.stderr).not.toMatch(/unmatched/);
  });

  it("--json prints each push as compact JSON, one line each", async () => {
    server = await startWsServer(idReply, pushOnConnect);
    const run = await runCli(["-q", "--json", "-x", '{"id":1}', server.url]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines.slice(0, 3)).toEqual(['{"tick":1,"px":[1,2]}', '{"tick":2}', '{"tick":3}']);
    expect(lines.slice(0, 3).map((line) => JSON.parse(line))).toEqual(PUSHES.map((p) => JSON.parse(p)));
  });

  it("--responses-only prints responses alone on stdout; pushes go to stderr as (unmatched)", async () => {
    server = await startWsServer(idReply, pushOnConnect);
    const quiet = await runCli(["-q", "--responses-only", "-x", '{"id":1}', server.url]);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toBe('{"id":1,"ok":true}\n');
    expect(quiet.stderr).toBe("");
    const loud = await runCli(["--responses-only", "-x", '{"id":1}', server.url]);
    expect(loud.stdout).toBe('{"id":1,"ok":true}\n');
    expect(loud.stderr).toMatch(/< \(unmatched\) \{"tick": 3\}/);
  });
});
