/**
 * Fifth review of `evtws` (issue 20): what a wscat/websocat user runs into in a pipeline, at a
 * terminal and with `evtws serve`. Each test drives the CLI as a child process (or in tmux)
 * against a real `ws` server on 127.0.0.1 port 0.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { requireTools } from "../helpers/tools.js";
import {
  type CliProcess,
  defaultCli,
  runCli,
  startCli,
  startWsServer,
  startWsServerForTest,
  useSourceBundle,
  type WsServer,
} from "./helpers.js";
import { createTmux, withExitLine } from "./tmux.js";

useSourceBundle();

const TS = String.raw`\d\d:\d\d:\d\d\.\d{3}`;

describe("text pasted at the prompt, several lines at once", requireTools("tmux"), () => {
  const tmux = createTmux("evtws-review5");
  const pane = tmux.pane("paste");
  let server: WsServer;
  const screen = () => pane.screen("-J");
  const see = (what: string, check: (text: string) => boolean) => pane.see(what, check, { flags: ["-J"] });

  beforeAll(async () => {
    server = await startWsServer();
    pane.start(
      withExitLine([process.execPath, ...defaultCli(), server.url]),
      { width: 40, height: 40 },
      { NODE_NO_WARNINGS: "1", NO_COLOR: "1", FORCE_COLOR: undefined },
    );
    await see("the session to connect", (text) => /\* connected to/.test(text));
  });

  afterAll(async () => {
    tmux.kill();
    await server?.stop();
  });

  /** Pastes `text` as a terminal does: one write, each newline a carriage return. */
  const paste = (text: string) => {
    tmux.run("set-buffer", "-b", "r5", text);
    tmux.run("paste-buffer", "-b", "r5", "-t", "paste");
  };

  it("leaves each line's record and no stale echo (each line once, then its answer)", async () => {
    // Before: the first line's erase took away the last echo instead of its own, so "> one",
    // "two" and "three" stayed on screen above the records.
    paste("one\ntwo\nthree\nfour\n");
    const text = await see("the four answers", (t) => new RegExp(`${TS} < four`).test(t));
    const rows = text.trimEnd().split("\n");
    const sent = rows.filter((row) => new RegExp(`^${TS} > `).test(row)).map((row) => row.slice(15));
    expect(sent).toEqual(["one", "two", "three", "four"]);
    // No echo of a pasted line is left: every row that shows one is a timestamped record.
    const bare = rows.filter((row) => /^(> )?(one|two|three|four)$/.test(row));
    expect(bare).toEqual([]);
    expect(rows.at(-1)).toBe(">");
  });

  it("with wrapped lines and a wrapped half-typed line after them, leaves no stale row", async () => {
    // The half-typed line, drawn again after each record, must be drawn from its first row:
    // drawn from its last, its first row stayed on screen once per pasted line.
    const long = "first line, long enough to wrap past the forty columns";
    const wide = "second 漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字 wide";
    const partial = "partial, typed and not sent, long enough to wrap too";
    paste(`${long}\n${wide}\n${partial}`);
    const text = await see("the answer to the wide line", (t) => t.includes(`< ${wide}`));
    const rows = text.trimEnd().split("\n");
    const from = rows.findIndex((row) => row.endsWith(`> ${long}`));
    expect(from).toBeGreaterThanOrEqual(0);
    expect(rows.slice(from).map((row) => row.replace(new RegExp(`^${TS} `), ""))).toEqual([
      `> ${long}`,
      `> ${wide}`,
      `< ${long}`,
      `< ${wide}`,
      `> ${partial}`,
    ]);
    pane.keys("C-c");
    await see("the half-typed line cleared", (t) => !t.includes(`> ${partial}`));
  });

  it("keeps the echoes when a command is among them, so its output is seen under it", async () => {
    paste("a1\n/stats\nb1\n");
    const text = await see("the answer to b1", (t) => new RegExp(`${TS} < b1`).test(t));
    const rows = text.trimEnd().split("\n");
    const at = rows.indexOf("> a1");
    expect(at).toBeGreaterThanOrEqual(0);
    expect(rows.slice(at, at + 3)).toEqual(["> a1", "/stats", "b1"]);
    expect(text).toMatch(new RegExp(`${TS} > a1\n(.*\n)*state +open`));
    expect(screen()).toMatch(new RegExp(`${TS} > b1`));
  });
});

const running: CliProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill();
});

/** Starts `evtws serve args…` and returns it with the URL it printed. */
async function serve(args: string[]): Promise<{ peer: CliProcess; url: string }> {
  const peer = startCli(["serve", ...args]);
  running.push(peer);
  const out = await peer.waitFor("stdout", /listening on ws:\/\/\S+/);
  const url = /listening on (ws:\/\/\S+)/.exec(out)?.[1];
  if (url === undefined) throw new Error(`no URL in ${out}`);
  return { peer, url };
}

describe("evtws serve as a test peer", () => {
  it("logs a message's control characters escaped, on one line: a client cannot clear its terminal", async () => {
    // Before: the text went to the log raw, "\x1b[2J" cleared the server's screen and the
    // newline started a line that looked like the server's own.
    const { peer, url } = await serve([]);
    const nasty = "a\x1b[2J\x1b[Hb\n12:00:00.000 #9 forged\r";
    const run = await runCli(["--match", "echo", "-x", nasty, url]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${nasty}\n`);
    const log = await peer.waitFor("stdout", /#1 closed 1000/);
    expect(log).not.toContain("\x1b");
    expect(log).not.toContain("\r");
    expect(log).toContain(String.raw`#1 < a\x1b[2J\x1b[Hb\n12:00:00.000 #9 forged\r`);
    expect(log).not.toMatch(/^12:00:00\.000/m);
  });

  it("goes on serving when its log's reader goes away (`evtws serve | head -1`)", async () => {
    // Before: the next log line failed with EPIPE, unheard, and the server died with a stack
    // trace as the first client connected.
    const { peer, url } = await serve([]);
    peer.child.stdout.destroy();
    for (const message of ["one", "two"]) {
      const run = await runCli(["-q", "--match", "echo", "-x", message, url]);
      expect(run).toEqual({ code: 0, stdout: `${message}\n`, stderr: "" });
    }
    // A raw client too, closed by the server when it stops: it is still there.
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    const closed = new Promise<number>((resolve) => ws.once("close", resolve));
    peer.child.kill("SIGTERM");
    expect(await closed).toBe(1001);
    expect(await peer.exited).toBe(0);
    expect(peer.stderr()).toBe("");
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

describe("what the server chooses to say, on stderr or at the prompt", () => {
  it("a close reason's control characters are escaped, its newline too: one line each", async () => {
    // Before: "\x1b[2J" in the reason cleared the terminal (the event line is on stdout in the
    // interactive session), and its newline split both lines in two.
    const reason = "\x1b[2J\x1b[Hpwned\nevtws: forged";
    const server = await startWsServerForTest((_text, _binary, ws) => {
      ws.close(4001, reason);
      return undefined;
    });
    const run = await runCli(["-x", "hi", server.url]);
    expect(run.code).toBe(1);
    expect(run.stderr).not.toContain("\x1b");
    const lines = run.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(
      new RegExp(`^${TS} \\* closed 4001 "\\\\x1b\\[2J\\\\x1b\\[Hpwned\\\\nevtws: forged"$`),
    );
    expect(lines[2]).toBe(String.raw`evtws: closed 4001 \x1b[2J\x1b[Hpwned\nevtws: forged`);
  });

  it("wss:// to a plain server says so, on one line, instead of OpenSSL's bare 'wrong version number'", async () => {
    const server = await startWsServerForTest();
    const run = await runCli(["-q", "-x", "hi", server.url.replace("ws://", "wss://")]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^evtws: ERR_DIAL_FAILED: .*wrong version number.*; the server does not speak TLS on this port: for a plain server use ws:\/\/\n$/,
    );
  });
});

describe("pushes that go to stderr in a pipeline (--responses-only)", () => {
  it("are shown with their control characters escaped, as on a terminal", async () => {
    // Before: stdout was a pipe, so the body was written as sent, to stderr (a terminal):
    // the push cleared it and turned it red.
    const server = await startWsServerForTest((text, _binary, ws) => {
      ws.send("push\x1b[2J\x1b[31mred");
      return text;
    });
    const run = await runCli(["--responses-only", "--match", "echo", "-x", "hi", server.url]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("hi\n");
    expect(run.stderr).not.toContain("\x1b");
    expect(run.stderr).toMatch(new RegExp(`${TS} < \\(unmatched\\) push\\\\x1b\\[2J\\\\x1b\\[31mred\n`));
  });
});

describe("secrets in a mistyped command line", () => {
  it("-H with its colon forgotten is refused without quoting the value", async () => {
    // Before: commander and evtws both quoted it, `"Authorization Bearer S3CRET" is not a header`,
    // into a CI log.
    const run = await runCli([
      "-H",
      "X-Tag: a",
      "-H",
      "Authorization Bearer S3CRET",
      "-x",
      "hi",
      "ws://127.0.0.1:1",
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'evtws: --header 2 is not a header: use "Name: value" (not shown: it may hold a secret)\n',
    );
  });

  it("a URL that does not parse is quoted without its credentials", async () => {
    const run = await runCli(["-x", "hi", "ws://alice:S3CRET@[::1"]);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toContain("S3CRET");
    expect(run.stderr).not.toContain("alice");
    expect(run.stderr).toBe('evtws: "ws://…@[::1" is not a URL: use ws://host[:port][/path] or wss://…\n');
    // A token in the query, as many servers take it, neither.
    const query = await runCli(["-x", "hi", "ws://127.0.0.1:99999/feed?token=S3CRET"]);
    expect(query.code).toBe(2);
    expect(query.stderr).toBe(
      'evtws: "ws://127.0.0.1:99999/feed?…" is not a URL: use ws://host[:port][/path] or wss://…\n',
    );
  });
});
