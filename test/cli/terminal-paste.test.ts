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
