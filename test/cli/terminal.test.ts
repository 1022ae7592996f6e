/**
 * The interactive session in a real terminal: tmux runs `npm start` (the embedded server and a
 * session to it), `send-keys` types as a person would, and `capture-pane` reads the screen.
 * The steps share one tmux session and run in order; each asserts what a person would see.
 * Without tmux the suite is skipped, or fails under CI=true (test/helpers/tools.ts).
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireTools } from "../helpers/tools.js";
import { waitFor } from "./helpers.js";
import { createTmux, withExitLine } from "./tmux.js";

const tmux = createTmux("evtws-test");
const pane = tmux.pane("evtws");

/** The visible screen (with `-e`, its colour escapes too). */
const screen = (escapes = false) => pane.screen(...(escapes ? ["-e"] : []));
const type = pane.type;

function count(text: string, pattern: RegExp): number {
  const flags = pattern.flags.includes("g") ? pattern.flags : `${pattern.flags}g`;
  return text.match(new RegExp(pattern.source, flags))?.length ?? 0;
}

/** Waits until the screen matches `pattern` at least `times` times; returns the screen. */
function see(pattern: RegExp, times = 1, timeoutMs = 15_000): Promise<string> {
  return pane.see(`the screen to show ${pattern} ${times}x`, (text) => count(text, pattern) >= times, {
    timeoutMs,
  });
}

const TS = String.raw`\d\d:\d\d:\d\d\.\d{3}`;
const ESC = "\u001b";

/** The last escape sequence (as tmux renders attributes) before `needle` on the screen. */
function styleBefore(coloured: string, needle: string): string {
  const at = coloured.indexOf(needle);
  const start = coloured.lastIndexOf(ESC, at);
  if (at < 0 || start < 0) return "";
  return coloured.slice(start, coloured.indexOf("m", start) + 1);
}

beforeAll(() => {
  // The shell prints npm's exit status on the screen, where the last test reads it.
  pane.start(
    withExitLine(["npm", "start"]),
    { width: 100, height: 50 },
    {
      NO_COLOR: undefined,
      FORCE_COLOR: undefined,
      // Outside CI, npm checks the registry for a newer npm before it exits, which delays the exit
      // this test waits for by seconds; the delay is npm's, not evtws's.
      NPM_CONFIG_UPDATE_NOTIFIER: "false",
    },
  );
});

afterAll(() => tmux.kill());

describe("npm start in a terminal", requireTools("tmux"), () => {
  it("shows the banner and connects to the embedded server", async () => {
    const text = await see(new RegExp(`${TS} \\* connected to ws://127\\.0\\.0\\.1:\\d+/`));
    expect(text).toMatch(/evtws: embedded echo server on ws:\/\/127\.0\.0\.1:\d+\//);
    expect(text).toMatch(/\/drop/);
  });

  it("sends a typed line and prints it and its echo with timestamps and markers", async () => {
    type("hello from tmux");
    const text = await see(new RegExp(`${TS} < hello from tmux`));
    expect(text).toMatch(new RegExp(`${TS} > hello from tmux`));
    // The typed "> hello from tmux" prompt line was replaced by the timestamped record.
    expect(count(text, /^> hello from tmux$/m)).toBe(0);
  });

  it("prints events dimmed and data markers in colour on a terminal", () => {
    const coloured = screen(true);
    expect(styleBefore(coloured, "* connected to")).toBe(`${ESC}[2m`);
    expect(coloured).toContain(`${ESC}[32m<${ESC}[39m hello from tmux`);
    expect(coloured).toContain(`${ESC}[36m>${ESC}[39m hello from tmux`);
  });

  it("/stats shows the connection's counters", async () => {
    type("/stats");
    const text = await see(/received\s+1 messages, 15 bytes/);
    expect(text).toMatch(/state\s+open/);
    expect(text).toMatch(/sent\s+1 messages, 15 bytes/);
    expect(text).toMatch(/reconnects\s+0/);
  });

  it("Up arrow recalls the history: the earlier line is sent again", async () => {
    pane.keys("Up", "Up", "Enter");
    await see(new RegExp(`${TS} < hello from tmux`), 2);
  });

  it("/ping prints the pong with its round-trip time", async () => {
    type("/ping");
    await see(new RegExp(`${TS} \\* pong, RTT \\d+\\.\\d ms`));
  });

  it("/drop makes the server cut the line: closed, reconnecting, connected again, data flows", async () => {
    type("/drop");
    await see(/\* connected to/, 2);
    const text = screen();
    expect(text).toMatch(/\* closed 1006, not clean, will reconnect/);
    expect(text).toMatch(/\* reconnecting in \d+ ms, attempt 1/);
    type("after the drop");
    await see(new RegExp(`${TS} < after the drop`));
    type("/stats");
    await see(/reconnects\s+1/);
  });

  it("/reconnect drops the socket and dials again as a reconnect: /stats counts it", async () => {
    type("/reconnect");
    await see(/\* connected to/, 3);
    expect(screen()).toMatch(/\* closed 1000 "reconnect", will reconnect/);
    type("/stats");
    await see(/reconnects\s+2/);
  });

  it("a line wider than the terminal in display columns (70 CJK characters) leaves no stale echo", async () => {
    const wide = "中".repeat(70); // 140 columns, plus the prompt: two rows of the 100-column pane
    type(wide);
    await see(new RegExp(`${TS} < 中`));
    // -J joins the rows a wrapped line took, so each record reads as one line.
    const text = pane.screen("-J");
    expect(text).toMatch(new RegExp(`${TS} > ${wide}`));
    expect(text).toMatch(new RegExp(`${TS} < ${wide}`));
    // Neither row of the typed prompt line is left behind: every run of 中 is part of a record.
    const runs = text.match(/中+/g) ?? [];
    const inRecords = count(text, new RegExp(`${TS} [<>] 中+`));
    expect(runs.length - inRecords).toBe(0);
  });

  it("/quit closes the connection and the process exits 0", async () => {
    type("/quit");
    const status = await waitFor("the process to exit", () => /\[exited with (\d+)\]/.exec(screen())?.[1]);
    expect(status).toBe("0");
    expect(screen()).toMatch(/\* closed 1000/);
  });
});
