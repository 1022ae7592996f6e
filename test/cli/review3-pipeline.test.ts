/**
 * Review of `evtws` in a pipeline (third review of issue 20): inputs a wscat user pipes that the
 * earlier tests did not try. Each test spawns the CLI against a real `ws` server on 127.0.0.1
 * port 0.
 */

import { afterEach, describe, expect, it } from "vitest";
import { runCli, startWsServer, useSourceBundle, type WsServer } from "./helpers.js";

useSourceBundle();

let server: WsServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe("evtws in a pipeline, reviewed", () => {
  it("requests that repeat an id are sent one after another, each answered, whatever the timing", async () => {
    // Each message is echoed 50 ms later, so all three would be in flight together. Before:
    // lines 2 and 3 failed with ERR_DUPLICATE_ID when piped at once (exit 1), and went
    // through when typed slowly: the outcome hung on how fast stdin came.
    server = await startWsServer((text, _binary, ws) => {
      setTimeout(() => ws.send(text), 50);
      return undefined;
    });
    const input = '{"id":1,"n":1}\n{"id":1,"n":2}\n{"id":2,"n":3}\n{"id":1,"n":4}\n';
    const run = await runCli(["-q", server.url], { input });
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe(input);
    expect(run.code).toBe(0);
    expect(server.received).toEqual(input.trimEnd().split("\n"));
  });

  it("-x messages that repeat an id are each answered too", async () => {
    server = await startWsServer((text, _binary, ws) => {
      setTimeout(() => ws.send(text), 50);
      return undefined;
    });
    const run = await runCli(["-q", "-x", '{"id":"a","n":1}', "-x", '{"id":"a","n":2}', server.url]);
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe('{"id":"a","n":1}\n{"id":"a","n":2}\n');
    expect(run.code).toBe(0);
  });
});
