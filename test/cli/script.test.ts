/**
 * Scripted mode (`-x` and piped stdin), driven as a child process against a real `ws` server:
 * what reaches stdout and stderr, and the exit code. A duration below a millisecond is 1 ms,
 * never 0 (the library's "no deadline").
 */

import { describe, expect, it } from "vitest";
import { idReply, runCli, startCli, startWsServerForTest, useSourceBundle, waitFor } from "./helpers.js";

useSourceBundle();

describe("evtws -x", () => {
  it("prints each matched response on stdout in request order and exits 0", async () => {
    // The server answers id 1 only after id 2, so arrival order differs from request order.
    let held: (() => void) | undefined;
    const server = await startWsServerForTest((text, _bin, ws) => {
      const { id } = JSON.parse(text) as { id: number };
      if (id === 1) {
        held = () => ws.send(JSON.stringify({ id: 1, ok: true }));
        return undefined;
      }
      setImmediate(() => held?.());
      return JSON.stringify({ id, ok: true });
    });
    const run = await runCli(["-x", '{"id":1}', "-x", '{"id":2}', server.url]);
    expect(run.stderr).not.toMatch(/ERR_/);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('{"id":1,"ok":true}\n{"id":2,"ok":true}\n');
    expect(server.received).toEqual(['{"id":1}', '{"id":2}']);
  });

  it("an empty or blank -x message is sent, as asked (only blank stdin lines are skipped)", async () => {
    // docs/cli.md: "Each -x message, or each non-empty stdin line, is sent". Before: `-x ""`
    // and `-x " "` sent nothing and exited 0; wscat -x "" sends an empty message.
    const server = await startWsServerForTest((text) => text);
    const run = await runCli(["-q", "--match", "echo", "-x", "", "-x", " ", server.url]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(server.received).toEqual(["", " "]);
    expect(run.stdout).toBe("\n \n");
  });

  it("exits 1 with ERR_REQUEST_TIMEOUT on stderr when no response arrives within --timeout", async () => {
    const server = await startWsServerForTest(() => undefined);
    const run = await runCli(["-x", '{"id":1}', "--timeout", "0.3", server.url]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^evtws: ERR_REQUEST_TIMEOUT: .*300 ms.*message 1/m);
  });

  it("exits 1 with ERR_DIAL_FAILED on stderr when the connection fails", async () => {
    const server = await startWsServerForTest();
    const url = server.url;
    await server.stop();
    const run = await runCli(["-x", "hello", url]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^evtws: ERR_DIAL_FAILED: could not connect/m);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it("--match echo waits for the identical message; with --responses-only others go to stderr as unmatched", async () => {
    const server = await startWsServerForTest((text, _bin, ws) => {
      ws.send("noise");
      return text;
    });
    const run = await runCli(["--responses-only", "--match", "echo", "-x", "hello", server.url]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("hello\n");
    expect(run.stderr).toMatch(/< \(unmatched\) noise/);
  });

  it("--match id:<field> matches on a nested JSON field", async () => {
    const server = await startWsServerForTest((text, _bin, ws) => {
      const rid = (JSON.parse(text) as { meta: { rid: number } }).meta.rid;
      ws.send(JSON.stringify({ meta: { rid: rid + 100 }, other: true }));
      return JSON.stringify({ meta: { rid }, result: "yes" });
    });
    const run = await runCli([
      "--responses-only",
      "--match",
      "id:meta.rid",
      "-x",
      '{"meta":{"rid":7}}',
      server.url,
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('{"meta":{"rid":7},"result":"yes"}\n');
  });

  it("--json pretty-prints JSON responses and refuses to send a line that is not JSON", async () => {
    const server = await startWsServerForTest(idReply);
    const ok = await runCli(["--json", "-x", '{"id":1}', server.url]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('{\n  "id": 1,\n  "ok": true\n}\n');
    const bad = await runCli(["--json", "-x", "not json", server.url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^evtws: -x message 1: not sent: --json is on and this is not JSON/m);
    expect(server.received).toEqual(['{"id":1}']);
  });

  it("-H sends the header and -s offers the subprotocol in the handshake", async () => {
    const server = await startWsServerForTest();
    const run = await runCli([
      "-H",
      "X-Token: abc 123",
      "-H",
      "X-Other:2",
      "-s",
      "chat",
      "--match",
      "echo",
      "-x",
      "hi",
      server.url,
    ]);
    expect(run.code).toBe(0);
    const headers = server.handshakes[0]?.headers;
    expect(headers?.["x-token"]).toBe("abc 123");
    expect(headers?.["x-other"]).toBe("2");
    expect(headers?.["sec-websocket-protocol"]).toBe("chat");
  });

  it("--binary sends lines as binary frames and prints binary replies as hex", async () => {
    const server = await startWsServerForTest((text, isBinary) =>
      isBinary ? Buffer.from(text) : "not binary",
    );
    const run = await runCli(["--binary", "--match", "echo", "-x", "hi!", server.url]);
    expect(run.code).toBe(0);
    expect(server.received).toEqual(["bin:686921"]);
    expect(run.stdout).toBe("68 69 21\n");
  });

  it("-q prints data only: the response on stdout, no events", async () => {
    const server = await startWsServerForTest(idReply);
    const loud = await runCli(["-x", '{"id":1}', server.url]);
    expect(loud.stderr).toMatch(/\* connected to ws:\/\/127\.0\.0\.1:\d+\//);
    const quiet = await runCli(["-q", "-x", '{"id":1}', server.url]);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toBe('{"id":1,"ok":true}\n');
    expect(quiet.stderr).toBe("");
  });

  it("colours nothing when output is not a terminal; FORCE_COLOR turns colour on, NO_COLOR wins", async () => {
    const server = await startWsServerForTest(idReply);
    const args = ["-x", '{"id":1}', server.url];
    expect((await runCli(args)).stderr).not.toContain("\x1b[");
    expect((await runCli(args, { env: { FORCE_COLOR: "1" } })).stderr).toContain("\x1b[2m");
    expect((await runCli(args, { env: { FORCE_COLOR: "1", NO_COLOR: "1" } })).stderr).not.toContain("\x1b[");
  });
});

describe("evtws with piped stdin", () => {
  it("sends one request per line, prints responses in order, exits 0 when all settled", async () => {
    const server = await startWsServerForTest(idReply);
    const run = await runCli([server.url], { input: '{"id":1}\n\n{"id":"two"}\n{"id":3}\n' });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('{"id":1,"ok":true}\n{"id":"two","ok":true}\n{"id":3,"ok":true}\n');
  });

  it("a line without the id field is answered by the next message", async () => {
    const server = await startWsServerForTest((text) => `got ${text}`);
    const run = await runCli([server.url], { input: "hello\n" });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("got hello\n");
  });

  it("exits 1 when one of the requests times out, after printing the others", async () => {
    const server = await startWsServerForTest((text) =>
      text.includes('"id":2') ? undefined : idReply(text, false, undefined!),
    );
    const run = await runCli(["--timeout", "0.3", server.url], { input: '{"id":1}\n{"id":2}\n{"id":3}\n' });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('{"id":1,"ok":true}\n{"id":3,"ok":true}\n');
    expect(run.stderr).toMatch(/ERR_REQUEST_TIMEOUT: .*\(line 2: \{"id":2\}\)/);
  });
});

describe("evtws heartbeat and reconnect", () => {
  it("--ping-interval pings and prints the pong with its round-trip time", async () => {
    const server = await startWsServerForTest();
    const cli = startCli(["-v", "--ping-interval", "0.2", server.url]);
    try {
      await cli.waitFor("stderr", /\* pong, RTT \d+\.\d ms/, 2);
    } finally {
      cli.kill();
    }
  });

  it("pong lines are shown only with -v: the heartbeat's pongs are not news", async () => {
    const peer = await startWsServerForTest();
    const cli = startCli(["--ping-interval", "0.2", "--ping-msg", "hb", peer.url]);
    try {
      // Each ping follows 200 ms of silence, so the echo of the first (its pong) came before the third.
      await waitFor("three pings", () => peer.received.filter((m) => m === "hb").length >= 3);
      expect(cli.stderr()).toMatch(/\* connected to/);
      expect(cli.stderr()).not.toMatch(/pong/);
    } finally {
      cli.kill();
    }
  });

  it("--ping-msg sends a text ping whose echo gives the RTT", async () => {
    const server = await startWsServerForTest();
    const cli = startCli(["--verbose", "--ping-interval", "0.2", "--ping-msg", "hb", server.url]);
    try {
      await cli.waitFor("stderr", /\* pong, RTT \d+\.\d ms/);
      expect(server.received).toContain("hb");
      expect(cli.stderr()).not.toMatch(/unmatched\) hb/);
    } finally {
      cli.kill();
    }
  });

  it("--pong-timeout declares a silent peer dead: ERR_PONG_TIMEOUT and exit 1", async () => {
    const server = await startWsServerForTest(() => undefined);
    const cli = startCli(["--ping-interval", "0.2", "--ping-msg", "hb", "--pong-timeout", "0.3", server.url]);
    try {
      expect(await cli.exited).toBe(1);
      expect(cli.stderr()).toMatch(/ERR_PONG_TIMEOUT: no data from .* within 300 ms of a ping/);
    } finally {
      cli.kill();
    }
  });

  it("reconnects after the server restarts on the same port, then carries data again", async () => {
    const server = await startWsServerForTest(idReply);
    const cli = startCli(["--max-attempts", "50", "--min-delay", "100ms", "--max-delay", "200", server.url]);
    try {
      await cli.waitFor("stderr", /\* connected to/);
      await server.stop();
      await cli.waitFor("stderr", /\* reconnecting in \d+ ms, attempt 2/);
      await server.start();
      await cli.waitFor("stderr", /\* connected to/, 2);
      cli.send('{"id":9}');
      await cli.waitFor("stdout", /\{"id":9,"ok":true\}/);
      const delays = [...cli.stderr().matchAll(/reconnecting in (\d+) ms/g)].map((m) => Number(m[1]));
      expect(Math.max(...delays)).toBeLessThanOrEqual(200);
      expect(cli.stderr()).toMatch(/\* closed 1006, not clean, will reconnect/);
    } finally {
      cli.kill();
    }
  });

  it("--max-attempts gives up after that many retries with ERR_RECONNECT_EXHAUSTED", async () => {
    const server = await startWsServerForTest();
    const url = server.url;
    await server.stop();
    const run = await runCli(["--max-attempts", "2", "--min-delay", "10ms", "-x", "hi", url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/attempt 2/);
    expect(run.stderr).not.toMatch(/attempt 3/);
    expect(run.stderr).toMatch(/^evtws: ERR_RECONNECT_EXHAUSTED: gave up after 2 reconnect attempts/m);
    // The give-up is reported once, not again as the request's ERR_DISCONNECTED.
    expect(run.stderr.match(/^evtws: /gm)).toHaveLength(1);
  });

  it("-q --max-attempts: the give-up line says why the last attempt failed", async () => {
    // Before: only "gave up after 2 reconnect attempts": under -q nothing said the port refused.
    const server = await startWsServerForTest();
    const url = server.url;
    await server.stop();
    const run = await runCli(["-q", "--max-attempts", "2", "--min-delay", "10ms", "-x", "hi", url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^evtws: ERR_RECONNECT_EXHAUSTED: gave up after 2 reconnect attempts: could not connect to .*ECONNREFUSED/,
    );
    expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  it("-q: a close evtws itself started (--max-message-size) says why, not just its code", async () => {
    // Before: "evtws: closed 1009", read as the server's close (`closed 4001 go away` is).
    const server = await startWsServerForTest((text) => text);
    const big = "a".repeat(2000);
    const run = await runCli(["-q", "--match", "echo", "--max-message-size", "1k", "-x", big, server.url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^evtws: ERR_MESSAGE_TOO_BIG: .*\(close code 1009, closed by client\)\n$/);
  });

  it("--no-reconnect wins over --max-attempts: a drop ends the run with exit 1", async () => {
    const server = await startWsServerForTest(idReply);
    const cli = startCli(["--no-reconnect", "--max-attempts", "5", server.url]);
    try {
      await cli.waitFor("stderr", /\* connected to/);
      await server.stop();
      expect(await cli.exited).toBe(1);
      expect(cli.stderr()).toMatch(/\* closed 1006, not clean\n/);
      expect(cli.stderr()).not.toMatch(/reconnecting/);
    } finally {
      cli.kill();
    }
  });
});

describe("durations below a millisecond", () => {
  it("--timeout 0.0001 times the request out (1 ms) rather than waiting forever, as 0 does", async () => {
    // Before: 0.1 ms was rounded to 0, the library's "no deadline", and the run hung on a server
    // that never answers.
    const server = await startWsServerForTest(() => undefined);
    const run = await runCli(["-q", "--timeout", "0.0001", "-x", "never answered", server.url], {
      timeoutMs: 15_000,
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^evtws: ERR_REQUEST_TIMEOUT: request timed out after 1 ms/);
  });

  it("--connect-timeout 0.4ms is 1 ms, not refused as 0", async () => {
    const server = await startWsServerForTest();
    const run = await runCli(["-q", "--connect-timeout", "0.4ms", "-x", "hi", server.url]);
    // Before: a usage mistake (exit 2), "--connect-timeout: option connectTimeoutMs must be a
    // whole number of ms from 1 …, got 0". A 1 ms bound may or may not be enough here.
    expect(run.code).not.toBe(2);
    expect(run.stderr).not.toMatch(/--connect-timeout|got 0/);
  });
});
