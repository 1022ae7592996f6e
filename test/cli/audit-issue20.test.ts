/**
 * Conformance audit of issue 20 (`evtws` in pipelines): promises of the issue that no earlier
 * test pinned, or pinned loosely, checked as a user of the pipeline meets them. Each test
 * spawns the CLI against a real `ws` server on 127.0.0.1 port 0.
 */

import { afterEach, describe, expect, it } from "vitest";
import { idReply, runCli, startCli, startWsServer, useSourceBundle, type WsServer } from "./helpers.js";

useSourceBundle();

let server: WsServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe("a late answer to a request that timed out, with --match id", () => {
  it("is not taken by a later line that reuses the id: that line gets its own answer", async () => {
    // Message k (from 0) is answered 500 + 100 k ms after the first came; --timeout is 300 ms.
    // Line 1's answer comes late (500 ms). Before: line 2 went out as line 1 timed out (300 ms),
    // took line 1's late answer as its own ({"answer":"first"} printed in its place) and its
    // own answer, at 600 ms, was no answer to anything. Now line 2 waits for that late answer.
    let first: number | undefined;
    let k = 0;
    server = await startWsServer((text, _binary, ws) => {
      first ??= Date.now();
      const at = first + 500 + 100 * k++;
      const { id, q } = JSON.parse(text) as { id: number; q: string };
      setTimeout(() => ws.send(JSON.stringify({ id, answer: q })), Math.max(0, at - Date.now()));
      return undefined;
    });
    const input = '{"id":1,"q":"first"}\n{"id":1,"q":"second"}\n';
    const run = await runCli(["-q", "--responses-only", "--timeout", "0.3", server.url], { input });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^evtws: ERR_REQUEST_TIMEOUT: .*\(line 1: /);
    expect(run.stderr).not.toMatch(/line 2/);
    // Line 2's slot on stdout holds line 2's answer (line 1's late one went to stderr as unmatched).
    expect(run.stdout).toBe('{"id":1,"answer":"second"}\n');
    expect(server.received).toEqual(input.trimEnd().split("\n"));
  });

  it("a late answer that never comes holds the next line with that id for one more --timeout, no longer", async () => {
    server = await startWsServer((text) => (text.includes('"first"') ? undefined : text));
    const input = '{"id":1,"q":"first"}\n{"id":1,"q":"second"}\n';
    const run = await runCli(["-q", "--timeout", "0.3", server.url], { input });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^evtws: ERR_REQUEST_TIMEOUT: .*\(line 1: [^\n]*\n$/);
    expect(run.stdout).toBe('{"id":1,"q":"second"}\n');
  });
});

describe("lines piped while the connection is down (--max-attempts)", () => {
  it("wait unread until it is back: none times out though the outage outlasts --timeout", async () => {
    // --timeout counts from the moment a request goes on the wire. Had the lines been read and
    // queued in the library while the server was down, their deadlines would have run out
    // during the outage (the library's request timeout runs while a request is queued).
    server = await startWsServer(idReply);
    const peer = server;
    const cli = startCli([
      "--max-attempts",
      "inf",
      "--min-delay",
      "20ms",
      "--max-delay",
      "50ms",
      "--timeout",
      "0.3",
      peer.url,
    ]);
    try {
      cli.send('{"id":1}');
      await cli.waitFor("stdout", /"id":1,"ok":true/);
      await peer.stop();
      // Lines written before evtws has seen the drop went to a socket it still took for open.
      await cli.waitFor("stderr", /reconnecting in/);
      for (let i = 2; i <= 4; i++) cli.send(`{"id":${i}}`);
      // An outage of more than three times --timeout: queued lines would all have timed out.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await peer.start();
      await cli.waitFor("stdout", /"id":4,"ok":true/);
      cli.child.stdin.end();
      expect(await cli.exited).toBe(0);
      expect(cli.stderr()).not.toMatch(/ERR_REQUEST_TIMEOUT/);
      expect(cli.stdout()).toBe([1, 2, 3, 4].map((i) => `{"id":${i},"ok":true}\n`).join(""));
      expect(peer.received).toEqual([1, 2, 3, 4].map((i) => `{"id":${i}}`));
    } finally {
      cli.kill();
    }
  });
});

describe("--binary-in with raw bytes piped (not base64 or hex text)", () => {
  it("stops at that line with exit 2, saying the line is not base64, not to use --binary-in", async () => {
    // Before: "not UTF-8 text; send bytes with --binary-in base64|hex", to one who gave it.
    server = await startWsServer();
    const cli = startCli(["-q", "--binary-in", "base64", server.url]);
    cli.child.stdin.end(Buffer.concat([Buffer.from("aGk=\n"), Buffer.from([0xe9, 0xff, 0x0a])]));
    const code = await cli.exited;
    expect(cli.stderr()).toBe(
      "evtws: ERR_USAGE: not sent: --binary-in base64 needs base64 (A-Z a-z 0-9 + / =) (line 2)\n",
    );
    expect(code).toBe(2);
    // (This helper server answers a binary frame with its bytes as text.)
    expect(cli.stdout()).toBe("hi\n");
    expect(server.received).toEqual(["bin:6869"]);
  });
});
