/**
 * Lines pasted at the prompt, several at once, in a real terminal: tmux runs `evtws` in a
 * 40-column pane against a `ws` echo server of the test, `paste-buffer` pastes as a terminal
 * does (one write, each newline a carriage return), and `capture-pane` reads the screen. Each
 * line leaves its timestamped record once and no stale echo, an empty line leaves nothing.
 * Without tmux the suite is skipped, or fails under CI=true (test/helpers/tools.ts).
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireTools } from "../helpers/tools.js";
import { defaultCli, startWsServer, useSourceBundle, type WsServer } from "./helpers.js";
import { createTmux, withExitLine } from "./tmux.js";

useSourceBundle();

const TS = String.raw`\d\d:\d\d:\d\d\.\d{3}`;

describe(
  "lines pasted at the prompt with an empty one and a refused one among them",
  requireTools("tmux"),
  () => {
    const tmux = createTmux("evtws-paste-empty");
    const pane = tmux.pane("paste");
    let peer: WsServer;
    const see = (what: string, check: (text: string) => boolean) => pane.see(what, check, { flags: ["-J"] });

    beforeAll(async () => {
      peer = await startWsServer();
      pane.start(
        withExitLine([process.execPath, ...defaultCli(), peer.url]),
        { width: 40, height: 40 },
        { NODE_NO_WARNINGS: "1", NO_COLOR: "1", FORCE_COLOR: undefined },
      );
      await see("the session to connect", (text) => /\* connected to/.test(text));
    });

    afterAll(async () => {
      tmux.kill();
      await peer?.stop();
    });

    it("every message's record once, no stale echo of a sent line", async () => {
      tmux.run("set-buffer", "-b", "today", "aa\n\nbb\n");
      tmux.run("paste-buffer", "-b", "today", "-t", "paste");
      const text = await see("the answer to bb", (t) => new RegExp(`${TS} < bb`).test(t));
      const rows = text.trimEnd().split("\n");
      const sent = rows.filter((row) => new RegExp(`^${TS} > `).test(row)).map((row) => row.slice(15));
      expect(sent).toEqual(["aa", "bb"]);
      // No echo left of a sent line, nor a blank row for the empty one: only the prompt.
      expect(rows.filter((row) => /^(> ?)?(aa|bb)?$/.test(row))).toEqual([">"]);
      expect(rows.at(-1)).toBe(">");
    });
  },
);

describe("text pasted at the prompt, several lines at once", requireTools("tmux"), () => {
  const tmux = createTmux("evtws-paste");
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
