/**
 * What the interactive session leaves on a real screen: tmux runs `evtws` in a 40-column pane
 * against a `ws` echo server of the test, `send-keys` types, and `capture-pane` reads what a
 * person would see. After Enter, the session replaces the echoed `> line` with its timestamped
 * record; it must take away exactly the rows the echo took, no fewer (a stale echo stays on
 * screen) and no more (an earlier record is erased). A binary frame's bytes are shown, never
 * obeyed by the terminal.
 * Without tmux the suite is skipped, or fails under CI=true (test/helpers/tools.ts).
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireTools } from "../helpers/tools.js";
import { defaultCli, startWsServer, useSourceBundle, type WsServer } from "./helpers.js";
import { createTmux, withExitLine } from "./tmux.js";

useSourceBundle();

const tmux = createTmux("evtws-screen");
const pane = tmux.pane("screen");
const COLUMNS = 40;
let server: WsServer;

/** The screen, each wrapped line joined into one (`-J`). */
const screen = () => pane.screen("-J");

const see = (what: string, check: (text: string) => boolean) => pane.see(what, check, { flags: ["-J"] });

const type = pane.type;

/** Clear the screen, cursor home, shift out (a line-drawing character set), CR LF. */
const BINARY = "h\x1b[2J\x1b[Hgotcha\x0e\r\nxy";

const TS = String.raw`\d\d:\d\d:\d\d\.\d{3}`;
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Rows of `text` that still show a typed line after its `> ` prompt: once the echo of the last
 * line has come back and nothing else is typed, the only prompt on screen is the empty one.
 */
function staleEchoes(text: string): string[] {
  return text.split("\n").filter((row) => row.startsWith("> ") && row.slice(2).trim() !== "");
}

describe("the interactive session on screen", requireTools("tmux"), () => {
  beforeAll(async () => {
    // "bin" is answered with a binary frame holding escape sequences and control bytes.
    // "esc" with a text message holding the same escape sequences.
    server = await startWsServer((text) =>
      text === "bin" ? Buffer.from(BINARY, "latin1") : text === "esc" ? `text${BINARY}` : text,
    );
    pane.start(
      withExitLine([process.execPath, ...defaultCli(), server.url]),
      { width: COLUMNS, height: 40 },
      {
        NODE_NO_WARNINGS: "1",
        NO_COLOR: "1",
        FORCE_COLOR: undefined,
      },
    );
    await see("the session to connect", (text) => /\* connected to/.test(text));
  });

  afterAll(async () => {
    tmux.kill();
    await server?.stop();
  });

  it("a line exactly as wide as the terminal (prompt included) leaves no stale echo", async () => {
    const line = "a".repeat(COLUMNS - 2);
    type(line);
    const text = await see("the echo", (t) => new RegExp(`${TS} < ${line}`).test(t));
    expect(text).toMatch(new RegExp(`${TS} > ${line}`));
    expect(staleEchoes(text)).toEqual([]);
  });

  it("a line of emoji with U+FE0F (one column each) erases no earlier record", async () => {
    // 25 hearts take 25 columns in readline and tmux; counted as 2 each they seemed to take two rows.
    const line = "\u2764\ufe0f".repeat(25);
    type(line);
    const text = await see("the echo", (t) => new RegExp(`${TS} < ${escapeRegExp(line)}`).test(t));
    expect(text).toMatch(new RegExp(`${TS} > ${escapeRegExp(line)}`));
    // The records of the line before are still there.
    const before = "a".repeat(COLUMNS - 2);
    expect(text).toMatch(new RegExp(`${TS} > ${before}`));
    expect(text).toMatch(new RegExp(`${TS} < ${before}`));
    expect(staleEchoes(text)).toEqual([]);
  });

  it("a line of emoji joined by U+200D (two columns a part) leaves no stale echo", async () => {
    // 7 families of 3 people: 42 columns in readline and tmux (each person 2), so two rows.
    const line = "\u{1f468}\u200d\u{1f469}\u200d\u{1f467}".repeat(7);
    type(line);
    const text = await see("the echo", (t) => new RegExp(`${TS} < ${escapeRegExp(line)}`).test(t));
    expect(text).toMatch(new RegExp(`${TS} > ${escapeRegExp(line)}`));
    expect(staleEchoes(text)).toEqual([]);
  });

  it("a binary frame's control bytes are shown escaped, not obeyed by the terminal", async () => {
    // Before: its UTF-8 reading went to the terminal raw, which cleared the screen.
    type("bin");
    const shown = String.raw`(binary 19 B) h\x1b[2J\x1b[Hgotcha\x0e\r\nxy`;
    const text = await see("the binary frame", (t) => t.includes(shown));
    expect(text).toMatch(new RegExp(`${TS} < ${escapeRegExp(shown)}`));
    // Nothing before it was cleared.
    expect(text).toMatch(/\* connected to/);
    expect(text).toMatch(new RegExp(`${TS} > bin`));
  });

  it("messages that arrive while a wrapped line is half typed stay on screen above it", async () => {
    // Before: readline's redraw of the wrapped line started one row up and erased the message
    // just printed, from the second one on.
    const half = "half typed, wider than the pane: it wraps";
    pane.typeLiterally(half);
    await see("the typed line", (t) => t.includes(`> ${half}`));
    for (const n of [1, 2, 3]) {
      for (const ws of server.clients) ws.send(`push ${n}`);
      await see(`push ${n}`, (t) => t.includes(`< push ${n}`));
    }
    const text = screen();
    const lines = text.trimEnd().split("\n");
    // The three pushes in order, each on its own line, and the typed line, intact, below them.
    expect(lines.slice(-4).map((l) => l.replace(new RegExp(`^${TS} `), ""))).toEqual([
      "< push 1",
      "< push 2",
      "< push 3",
      `> ${half}`,
    ]);
    pane.keys("C-c");
    await see("the line cleared", (t) => !t.includes(`> ${half}`));
  });

  it("a line typed while /reconnect runs erases none of the lines printed meanwhile", async () => {
    // Before: the line waited for /reconnect, whose event lines were printed below its echo;
    // erasing "the echo" then erased the last of them ("* dialling …") and left the echo.
    pane.typeLiterally("/reconnect\rtyped during reconnect\r");
    const text = await see("the echo", (t) => new RegExp(`${TS} < typed during reconnect`).test(t));
    expect(text).toMatch(/\* closed 1000 "reconnect"/);
    expect(text).toMatch(/\* dialling ws:\/\/127\.0\.0\.1:\d+\//);
    expect(text).toMatch(new RegExp(`${TS} > typed during reconnect`));
  });

  it("a text message's control characters but newline are shown escaped, not obeyed", async () => {
    // Before: the text went to the terminal raw, which cleared the screen.
    type("esc");
    const shown = String.raw`< texth\x1b[2J\x1b[Hgotcha\x0e\r`;
    const text = await see("the text message", (t) => t.includes(shown));
    // The newline is kept (the next line is indented under the body), and nothing was cleared.
    expect(text).toMatch(new RegExp(`${TS} ${escapeRegExp(shown)}\n +xy`));
    expect(text).toMatch(/\* connected to/);
  });
});
