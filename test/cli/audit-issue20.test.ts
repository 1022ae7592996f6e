/**
 * Conformance audit of issue 20 (`evtws` in pipelines): promises of the issue that no earlier
 * test pinned, or pinned loosely, checked as a user of the pipeline meets them. Each test
 * spawns the CLI against a real `ws` server on 127.0.0.1 port 0.
 */

import { describe, expect, it } from "vitest";
import { idReply, runCli, startCli, startWsServerForTest, useSourceBundle } from "./helpers.js";

useSourceBundle();

describe("a late answer to a request that timed out, with --match id", () => {
  it("is not taken by a later line that reuses the id: that line gets its own answer", async () => {
    // Message k (from 0) is answered 500 + 100 k ms after the first came; --timeout is 300 ms.
    // Line 1's answer comes late (500 ms). Before: line 2 went out as line 1 timed out (300 ms),
    // took line 1's late answer as its own ({"answer":"first"} printed in its place) and its
    // own answer, at 600 ms, was no answer to anything. Now line 2 waits for that late answer.
    let first: number | undefined;
    let k = 0;
    const server = await startWsServerForTest((text, _binary, ws) => {
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
    const server = await startWsServerForTest((text) => (text.includes('"first"') ? undefined : text));
    const input = '{"id":1,"q":"first"}\n{"id":1,"q":"second"}\n';
    const run = await runCli(["-q", "--timeout", "0.3", server.url], { input });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^evtws: ERR_REQUEST_TIMEOUT: .*\(line 1: [^\n]*\n$/);
    expect(run.stdout).toBe('{"id":1,"q":"second"}\n');
  });
});

describe("a late echo to a request that timed out, with --match echo (as with --match id)", () => {
  it("is not taken by a later identical line: that line is sent only once the late echo came, and gets its own", async () => {
    // Message k (from 0) is echoed 500 + 100 k ms after the first came; --timeout is 300 ms.
    // Before: line 2 went out as line 1 timed out (300 ms) and took line 1's late echo (500 ms)
    // as its own; its own echo, at 600 ms, answered nothing.
    let first: number | undefined;
    let k = 0;
    const log: string[] = [];
    const server = await startWsServerForTest((text, _binary, ws) => {
      first ??= Date.now();
      const n = k++;
      log.push(`got ${n}`);
      setTimeout(
        () => {
          log.push(`echoed ${n}`);
          ws.send(text);
        },
        Math.max(0, first + 500 + 100 * n - Date.now()),
      );
      return undefined;
    });
    const args = ["-q", "--match", "echo", "--concurrency", "1", "--timeout", "0.3"];
    const run = await runCli([...args, "--responses-only", server.url], { input: "hello\nhello\n" });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^evtws: ERR_REQUEST_TIMEOUT: .*\(line 1: hello\)\n/);
    expect(run.stderr).not.toMatch(/line 2/);
    // Line 2's slot holds line 2's own echo (line 1's late one answered nothing: quiet, unshown).
    expect(run.stdout).toBe("hello\n");
    expect(log).toEqual(["got 0", "echoed 0", "got 1", "echoed 1"]);
  });

  it("two identical lines in flight that both time out: a third waits for both late echoes", async () => {
    // Messages 0 and 1 are echoed after 500 ms, later ones at once; --timeout is 300 ms.
    let k = 0;
    const log: string[] = [];
    const server = await startWsServerForTest((text, _binary, ws) => {
      const n = k++;
      log.push(`got ${n}`);
      if (n >= 2) {
        log.push(`echoed ${n}`);
        return text;
      }
      setTimeout(() => {
        log.push(`echoed ${n}`);
        ws.send(text);
      }, 500);
      return undefined;
    });
    const args = ["-q", "--match", "echo", "--concurrency", "2", "--timeout", "0.3", "--responses-only"];
    const run = await runCli([...args, server.url], { input: "hi\nhi\nhi\n" });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("hi\n");
    // Before: line 3 went out when both timed out (300 ms), before either late echo.
    expect(log.slice(0, 5)).toEqual(["got 0", "got 1", "echoed 0", "echoed 1", "got 2"]);
  });
});

describe("lines piped while the connection is down (--max-attempts)", () => {
  it("wait unread until it is back: none times out though the outage outlasts --timeout", async () => {
    // --timeout counts from the moment a request goes on the wire. Had the lines been read and
    // queued in the library while the server was down, their deadlines would have run out
    // during the outage (the library's request timeout runs while a request is queued).
    const server = await startWsServerForTest(idReply);
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
    const server = await startWsServerForTest();
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
