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
