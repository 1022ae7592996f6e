/**
 * `evtws` in a pipeline (issue 20): every piped line goes through whatever the input's size,
 * at most `--concurrency` requests in flight (with `--concurrency 0`, as many as the library
 * holds, the rest waiting for room), requests that repeat an id one after another, and a late
 * answer (or echo) to a request that timed out, which the next line with that id (or text)
 * waits for; lines piped while the connection is down wait unread, so no `--timeout` runs out
 * during the outage; stdout carries data only, a byte order mark that starts the input is
 * dropped (that one only), a closed stdout ends the run quietly, and a close by the server is
 * reported even with `-q`. Each test spawns the CLI against a real `ws` server on 127.0.0.1
 * port 0.
 */

import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { requireTools } from "../helpers/tools.js";
import {
  defaultCli,
  idReply,
  peakRssMb,
  root,
  runCli,
  startCli,
  startWsServerForTest,
  useSourceBundle,
  type WsServer,
  waitFor,
} from "./helpers.js";

useSourceBundle();

/** `{"id":1}` … `{"id":count}`, one per line. */
function requests(count: number): string {
  let text = "";
  for (let i = 1; i <= count; i++) text += `{"id":${i}}\n`;
  return text;
}

function answers(count: number): string {
  let text = "";
  for (let i = 1; i <= count; i++) text += `{"id":${i},"ok":true}\n`;
  return text;
}

/** A server that holds each connection's requests for 1 ms and answers them newest first. */
async function outOfOrderServer(): Promise<WsServer> {
  const held = new Map<WebSocket, number[]>();
  return startWsServerForTest((text, _bin, ws) => {
    const id = (JSON.parse(text) as { id: number }).id;
    let batch = held.get(ws);
    if (batch === undefined) {
      const fresh: number[] = [];
      held.set(ws, fresh);
      batch = fresh;
      setTimeout(() => {
        held.delete(ws);
        for (const n of fresh.reverse()) ws.send(JSON.stringify({ id: n, ok: true }));
      }, 1);
    }
    batch.push(id);
    return undefined;
  });
}

describe("evtws in a pipeline", () => {
  it("sends 100,000 piped requests, read before the connection opens, and prints every answer in order", async () => {
    // Before: stdin was read at once, the library's queue (1,024 messages) overflowed while
    // connecting, and the rest failed with ERR_QUEUE_FULL.
    const count = 100_000;
    const server = await outOfOrderServer();
    const cli = startCli(["-q", server.url]);
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, peakRssMb(cli.child.pid) ?? 0);
    }, 50);
    const started = Date.now();
    cli.child.stdin.end(requests(count));
    const code = await cli.exited;
    clearInterval(sampler);
    console.log(
      `evtws: ${count} piped requests in ${Date.now() - started} ms, peak RSS ${peak.toFixed(0)} MB`,
    );
    expect(cli.stderr()).toBe("");
    expect(code).toBe(0);
    expect(cli.stdout() === answers(count)).toBe(true);
    if (peak > 0) expect(peak).toBeLessThan(150);
  }, 60_000);

  it("keeps at most --concurrency requests in flight, so a slow server causes no timeouts", async () => {
    // Before: all 800 lines were sent at once and --timeout ran from the send; answering one
    // message per 20 ms, the server reached the last ones after 16 s: 313 ERR_REQUEST_TIMEOUT.
    const queue: [WebSocket, number][] = [];
    let inFlightMax = 0;
    const server = await startWsServerForTest((text, _bin, ws) => {
      queue.push([ws, (JSON.parse(text) as { id: number }).id]);
      inFlightMax = Math.max(inFlightMax, queue.length);
      return undefined;
    });
    const ticker = setInterval(() => {
      const next = queue.shift();
      if (next) next[0].send(JSON.stringify({ id: next[1], ok: true }));
    }, 20);
    try {
      const run = await runCli(["-q", server.url], { input: requests(800), timeoutMs: 40_000 });
      expect(run.stderr).not.toMatch(/ERR_/);
      expect(run.code).toBe(0);
      expect(run.stdout === answers(800)).toBe(true);
      expect(inFlightMax).toBeLessThanOrEqual(100);
    } finally {
      clearInterval(ticker);
    }
  }, 45_000);

  it("--concurrency 3 sends the fourth request only after the first answer is printed", async () => {
    const server = await startWsServerForTest(() => undefined);
    const cli = startCli(["-q", "--concurrency", "3", "--timeout", "0.5", server.url]);
    cli.child.stdin.end(requests(4));
    const code = await cli.exited;
    expect(code).toBe(1);
    // The fourth is sent after the first times out, and times out 500 ms after its own send.
    expect(server.received).toEqual(['{"id":1}', '{"id":2}', '{"id":3}', '{"id":4}']);
    expect(cli.stderr().match(/ERR_REQUEST_TIMEOUT/g)).toHaveLength(4);
  }, 15_000);

  it("a closed stdout (| head -1) ends the run quietly with exit 0 after a clean close", async () => {
    // Before: an unhandled `Error: write EPIPE` stack trace.
    const server = await startWsServerForTest((text) => text);
    const codes: number[] = [];
    server.clients.clear();
    const cli = startCli(["-q", server.url]);
    const firstLine = new Promise<void>((resolve) => cli.child.stdout.once("data", () => resolve()));
    for (let i = 0; i < 50; i++) cli.send(`{"id":${i}}`);
    await firstLine;
    for (const ws of server.clients) ws.on("close", (code) => codes.push(code));
    cli.child.stdout.destroy();
    for (let i = 50; i < 2000; i++) cli.send(`{"id":${i}}`);
    const code = await cli.exited;
    expect(cli.stderr()).toBe("");
    expect(code).toBe(0);
    expect(codes).toEqual([1000]);
  }, 15_000);

  it("a closed stderr (2> >(head -1)) loses the log lines, not the run: the stream goes on", async () => {
    // Before: the next line written to stderr threw an unhandled EPIPE, and the process died
    // with exit 1 in the middle of the stream, without a close frame.
    const codes: number[] = [];
    const server = await startWsServerForTest(
      (text) => text,
      (ws) => ws.on("close", (code) => codes.push(code)),
    );
    const cli = startCli(["-v", "-n", "--max-attempts", "inf", "--min-delay", "10ms", server.url]);
    try {
      cli.child.stdin.end();
      await cli.waitFor("stderr", /\* connected to/);
      cli.child.stderr.destroy();
      // The server cuts the line: the close and the retry are logged to the closed stderr.
      for (const ws of server.clients) ws.terminate();
      await waitFor("the reconnect", () => server.handshakes.length === 2 && server.clients.size === 1);
      for (const ws of server.clients) ws.send("after the reconnect");
      await cli.waitFor("stdout", /after the reconnect/);
      cli.child.kill("SIGTERM");
      expect(await cli.exited).toBe(143);
      await waitFor("the server to see the close", () => codes.length === 2);
      expect(codes[1]).toBe(1000);
      expect(cli.stdout()).toBe("after the reconnect\n");
    } finally {
      cli.kill();
    }
  });

  // A pseudo-terminal for stdin comes from Python's pty module.
  describe("with a terminal on stdin", requireTools("python3"), () => {
    it("with a terminal on stdin and stdout to a pipe, stdout carries the answers only", async () => {
      // Before: stdout started with the interactive prompt `> ` (and its timestamps), so `| jq` failed.
      const server = await startWsServerForTest((text) => text);
      const script = String.raw`
import json, os, pty, subprocess, sys, time
master, slave = pty.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
os.close(slave)
os.write(master, b'{"id":1}\n')
time.sleep(1.0)
os.write(master, b'\x04')
out, err = p.communicate(timeout=10)
sys.stdout.write(json.dumps([p.returncode, out.decode(), err.decode()]))
`;
      // Asynchronously: the server lives in this process.
      const result = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
        execFile(
          "python3",
          ["-c", script, process.execPath, ...defaultCli(), server.url],
          {
            cwd: root,
            env: { ...process.env, NODE_NO_WARNINGS: "1", FORCE_COLOR: "", NO_COLOR: "" },
            timeout: 15_000,
          },
          (error, stdout, stderr) => (error ? reject(error) : resolve({ stdout, stderr })),
        ),
      );
      expect(result.stderr).toBe("");
      const [code, stdout, stderr] = JSON.parse(result.stdout) as [number, string, string];
      expect(stdout, stderr).toBe('{"id":1}\n');
      expect(stderr).toMatch(/connected to ws:\/\/127\.0\.0\.1/);
      expect(code).toBe(0);
    }, 20_000);
  });

  it("with -q, a close by the server is reported on stderr with its code and reason", async () => {
    // Before: `evtws: the connection closed`.
    const server = await startWsServerForTest((_text, _bin, ws) => {
      ws.close(4001, "go away");
      return undefined;
    });
    const run = await runCli(["-q", server.url], { input: '{"id":1}\n' });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe("evtws: closed 4001 go away\n");
  });

  it("drops a byte order mark that starts the input (a file saved by Notepad), and only that one", async () => {
    // Before: the mark stayed in line 1, so --json refused it as not JSON (exit 2), and without
    // --json it went out at the start of the first message.
    const server = await startWsServerForTest();
    const json = await runCli(["-q", "--json", server.url], { input: '\uFEFF{"id":1}\n{"id":2}\n' });
    expect(json.stderr).toBe("");
    expect(json.code).toBe(0);
    expect(json.stdout).toBe('{\n  "id": 1\n}\n{\n  "id": 2\n}\n');
    // A U+FEFF that starts a later line is text, sent as it is.
    const text = await runCli(["-q", server.url], { input: "\uFEFFa\n\uFEFFb\n" });
    expect(text.code).toBe(0);
    expect(text.stdout).toBe("a\n\uFEFFb\n");
  });
});

describe("a byte order mark at the start of stdin", () => {
  // Quiet, and a line's echo is its answer.
  const ECHO = ["-q", "--match", "echo"];

  it("split across two writes (EF, then BB BF and the line): dropped, the line sent as typed", async () => {
    const server = await startWsServerForTest();
    const cli = startCli([...ECHO, server.url]);
    // Once the CLI runs (it has dialled), so the two writes reach it as two reads.
    await waitFor("the handshake", () => server.handshakes.length === 1);
    cli.child.stdin.write(Buffer.from([0xef]));
    await new Promise((r) => setTimeout(r, 100));
    cli.child.stdin.end(Buffer.concat([Buffer.from([0xbb, 0xbf]), Buffer.from('{"a":1}\n')]));
    expect(await cli.exited).toBe(0);
    expect(server.received).toEqual(['{"a":1}']);
    expect(cli.stdout()).toBe('{"a":1}\n');
  });

  it("stdin that is only a byte order mark: nothing sent, exit 0", async () => {
    const server = await startWsServerForTest();
    const run = await runCli([...ECHO, server.url], { input: "\uFEFF" });
    expect(run.code).toBe(0);
    expect(server.received).toEqual([]);
    expect(run.stderr).toBe("");
  });

  it("a byte order mark that starts the second line is not the stream's: kept in what is sent", async () => {
    const server = await startWsServerForTest();
    const run = await runCli([...ECHO, server.url], { input: "\uFEFFone\n\uFEFFtwo\n" });
    expect(run.code).toBe(0);
    expect(server.received).toEqual(["one", "\uFEFFtwo"]);
  });
});

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

describe("requests that repeat an id", () => {
  it("requests that repeat an id are sent one after another, each answered, whatever the timing", async () => {
    // Each message is echoed 50 ms later, so all three would be in flight together. Before:
    // lines 2 and 3 failed with ERR_DUPLICATE_ID when piped at once (exit 1), and went
    // through when typed slowly: the outcome hung on how fast stdin came.
    const server = await startWsServerForTest((text, _binary, ws) => {
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
    const server = await startWsServerForTest((text, _binary, ws) => {
      setTimeout(() => ws.send(text), 50);
      return undefined;
    });
    const run = await runCli(["-q", "-x", '{"id":"a","n":1}', "-x", '{"id":"a","n":2}', server.url]);
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe('{"id":"a","n":1}\n{"id":"a","n":2}\n');
    expect(run.code).toBe(0);
  });
});

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
