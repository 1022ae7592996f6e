/**
 * The interactive session in a real terminal: tmux runs `npm start` (the embedded server and a
 * session to it), `send-keys` types as a person would, and `capture-pane` reads the screen.
 * The steps share one tmux session and run in order; each asserts what a person would see.
 * Without tmux the suite is skipped, or fails under CI=true (test/helpers/tools.ts).
 */

import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireTools } from "../helpers/tools.js";
import { root, waitFor } from "./helpers.js";

const socket = `evtws-test-${process.pid}`;
const target = "evtws";

function tmux(...args: string[]): string {
  return execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
}

/** The visible screen (with `-e`, its colour escapes too). */
function screen(escapes = false): string {
  return tmux("capture-pane", "-p", ...(escapes ? ["-e"] : []), "-t", target);
}

/** Types `text` literally, then Enter. */
function type(text: string): void {
  tmux("send-keys", "-t", target, "-l", text);
  tmux("send-keys", "-t", target, "Enter");
}

function count(text: string, pattern: RegExp): number {
  const flags = pattern.flags.includes("g") ? pattern.flags : `${pattern.flags}g`;
  return text.match(new RegExp(pattern.source, flags))?.length ?? 0;
}

/** Waits until the screen matches `pattern` at least `times` times; returns the screen. */
function see(pattern: RegExp, times = 1, timeoutMs = 15_000): Promise<string> {
  return waitFor(
    `the screen to show ${pattern} ${times}x`,
    () => {
      const text = screen();
      return count(text, pattern) >= times ? text : undefined;
    },
    timeoutMs,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n--- screen ---\n${screen()}`);
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
  const env = { ...process.env };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  // Outside CI, npm checks the registry for a newer npm before it exits, which delays the exit
  // this test waits for by seconds; the delay is npm's, not evtws's.
  env.NPM_CONFIG_UPDATE_NOTIFIER = "false";
  execFileSync(
    "tmux",
    // The shell prints npm's exit status on the screen, where the last test reads it: tmux's own
    // pane_dead_status was sometimes still empty seconds after the pane had died.
    ["-L", socket, "new-session", "-d", "-s", target, "-x", "100", "-y", "50", "-c", root].concat([
      "sh -c 'npm start; echo \"[exited with $?]\"'",
    ]),
    { env },
  );
  tmux("set-option", "-t", target, "remain-on-exit", "on");
});

afterAll(() => {
  try {
    tmux("kill-server");
  } catch {
    // Already gone.
  }
});

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
    tmux("send-keys", "-t", target, "Up", "Up", "Enter");
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

  it("a line wider than the terminal in display columns (70 CJK characters) leaves no stale echo", async () => {
    const wide = "中".repeat(70); // 140 columns, plus the prompt: two rows of the 100-column pane
    type(wide);
    await see(new RegExp(`${TS} < 中`));
    // -J joins the rows a wrapped line took, so each record reads as one line.
    const text = tmux("capture-pane", "-p", "-J", "-t", target);
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
