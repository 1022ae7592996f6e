/**
 * Control characters a server chooses to send (C0, DEL, C1: terminal escapes such as CSI) reach
 * what a person reads shown, never obeyed: the event lines, the `-v` logger's lines, the
 * `(unmatched)` lines on stderr, and JSON pretty-printed for a terminal. Data on stdout in a
 * pipeline leaves as sent. Against a hostile `ws` server on 127.0.0.1 port 0.
 */

import { describe, expect, it } from "vitest";
import { renderBody } from "../../src/cli/format.js";
import { runCli, startWsServerForTest, useSourceBundle } from "./helpers.js";

useSourceBundle();

const TS = String.raw`\d\d:\d\d:\d\d\.\d{3}`;

/** Control characters (C0, DEL, C1) but the newline that ends each line. */
const RAW_CONTROL = /[^\P{Cc}\n]/u;

describe("evtws -v against a server whose close reason holds terminal controls", () => {
  it("the logger's close line shows C1 controls (CSI U+009B, NEL U+0085) and DEL escaped, as the event line does", async () => {
    // JSON.stringify (the logger's quoting) escapes C0 only: U+009B is a one-character CSI, so
    // "\u009b2J" clears the screen of a terminal that reads C1 controls, as "\x1b[2J" would.
    const reason = "a\u009b2J\u009b1;1Hb\x7fc\u0085d\x1b[2J";
    const server = await startWsServerForTest(
      () => undefined,
      (ws) => ws.close(4001, reason),
    );
    const run = await runCli(["-v", "-n", server.url]);
    expect(run.code).toBe(1);
    const closeLine = run.stderr.split("\n").find((l) => l.startsWith("evtwebsocket[c1] close "));
    expect(closeLine).toBe(
      String.raw`evtwebsocket[c1] close code=4001 reason="a\x9b2J\x9b1;1Hb\x7fc\x85d\u001b[2J" wasClean=true willReconnect=false closedBy="server"`,
    );
    expect(run.stderr).not.toMatch(RAW_CONTROL);
    expect(run.stdout).not.toMatch(RAW_CONTROL);
  });
});

describe("--json on a terminal: a JSON string holding DEL or C1 controls (legal raw in JSON, kept raw by JSON.stringify)", () => {
  // `{"a":"\u009b2J"}` is valid JSON; parsed and pretty-printed, the CSI came out raw where a
  // plain text's was shown as \x9b. Shown as a JSON escape, the pretty JSON stays valid JSON.
  const hostile = '{"a\u0085":"x\u009b2J\u007f\\u001b[2J"}';

  it("the (unmatched) line on stderr (read by a person even in a pipeline) shows them as \\u escapes", async () => {
    const server = await startWsServerForTest(
      (text) => text,
      (ws) => ws.send(hostile),
    );
    const run = await runCli([
      "--json",
      "--responses-only",
      "--match",
      "echo",
      "-w",
      "1",
      "-x",
      '{"op":"hi"}',
      server.url,
    ]);
    expect(run.code).toBe(0);
    const unmatched = run.stderr.slice(run.stderr.indexOf("(unmatched)"));
    expect(unmatched).toContain(String.raw`"a\u0085": "x\u009b2J\u007f\u001b[2J"`);
    expect(run.stderr).not.toMatch(RAW_CONTROL);
  });

  it("renderBody: escaped on a terminal, as sent (compacted by JSON.stringify) in a pipeline", () => {
    expect(renderBody(hostile, { json: true, binary: false })).toBe(
      String.raw`{
  "a\u0085": "x\u009b2J\u007f\u001b[2J"
}`,
    );
    expect(JSON.parse(renderBody(hostile, { json: true, binary: false }))).toEqual(JSON.parse(hostile));
    expect(renderBody(hostile, { json: true, binary: false, pipeline: true })).toBe(
      JSON.stringify(JSON.parse(hostile), null, 2),
    );
  });
});

describe("--json in a pipeline: DEL and C1 controls inside JSON strings leave as sent", () => {
  it("a response and a pushed line keep U+0085, U+009B and DEL raw (UTF-8), not as \\u escapes", async () => {
    const hostile = '{"id":1,"a\u0085":"x\u009b2J\u007f"}';
    const server = await startWsServerForTest(
      () => hostile,
      (ws) => ws.send('{"push":"\u009b"}'),
    );
    const run = await runCli(["-q", "--json", "-w", "1", server.url], { input: '{"id":1}\n' });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('"a\u0085": "x\u009b2J\u007f"');
    expect(run.stdout).toContain('{"push":"\u009b"}');
    expect(run.stdout).not.toContain("\\u009b");
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
