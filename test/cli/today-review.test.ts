/**
 * Adversarial review of the tenth pass's CLI changes (today-review), run as the built command
 * against real servers.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireTools } from "../helpers/tools.js";
import {
  defaultCli,
  runCli,
  startWsServer,
  startWsServerForTest,
  useSourceBundle,
  type WsServer,
} from "./helpers.js";
import { createTmux, withExitLine } from "./tmux.js";

useSourceBundle();

const ECHO = ["--match", "echo", "-x", "hi"];
const TS = String.raw`\d\d:\d\d:\d\d\.\d{3}`;

describe("-H, joined by name", () => {
  it('-H "__proto__: x" is sent, as any token-named header (joining into an object dropped it)', async () => {
    const server = await startWsServerForTest();
    const run = await runCli([...["-H", "__proto__: x", "-H", "X-A: 1"], ...ECHO, server.url]);
    expect(run.code).toBe(0);
    const raw = server.handshakes[0]?.rawHeaders ?? [];
    const lines = raw.flatMap((v, i) => (i % 2 === 0 ? [`${v}: ${raw[i + 1]}`] : []));
    expect(lines.filter((l) => /^(__proto__|x-a):/i.test(l))).toEqual(["__proto__: x", "X-A: 1"]);
  });
});

describe("a URL that does not parse, quoted in the usage error", () => {
  it.each([
    ["a / in the password", "ws://alice:S3/CRET@example.com:99999/", '"ws://…@example.com:99999/"'],
    ["a # in the password", "wss://alice:S3#CRET@example.com:99999/", '"wss://…@example.com:99999/"'],
    ["an @ in the password, no scheme", "alice:S3@CRET@example.com:99999", '"…@example.com:99999"'],
  ])("%s: no part of the credentials shown", async (_, url, shown) => {
    // Before: the credentials were hidden only up to a /, ? or #: "S3/CRET" showed its end and
    // "S3#CRET" whole. A password with such a character is what makes the URL fail to parse.
    const run = await runCli(["-x", "hi", url]);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toMatch(/S3|CRET|alice/);
    expect(run.stderr).toBe(`evtws: ${shown} is not a URL: use ws://host[:port][/path] or wss://…\n`);
  });
});

describe(
  "lines pasted at the prompt with an empty one and a refused one among them",
  requireTools("tmux"),
  () => {
    const tmux = createTmux("evtws-today");
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
