/**
 * Ctrl-C in the interactive session (issue 20, part 6), in a real terminal: tmux runs `evtws`
 * against a `ws` server of the test, `send-keys` types. Ctrl-C on a half-typed line clears it
 * (nothing is sent); on an empty line it closes with 1000 and the process exits 0.
 * Without tmux the suite is skipped, or fails under CI=true (test/helpers/tools.ts).
 */

import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { requireTools } from "../helpers/tools.js";
import { defaultCli, root, startWsServer, useSourceBundle, type WsServer, waitFor } from "./helpers.js";
import { createTmux, withExitLine } from "./tmux.js";

useSourceBundle();

const tmux = createTmux("evtws-keys");
const pane = tmux.pane("keys");
let server: WsServer;
const codes: number[] = [];

const see = pane.see;

describe("Ctrl-C in an interactive session", requireTools("tmux"), () => {
  beforeAll(async () => {
    server = await startWsServer(undefined, (ws: WebSocket) => ws.on("close", (code) => codes.push(code)));
    pane.start(
      withExitLine([process.execPath, ...defaultCli(), server.url]),
      { width: 100, height: 30 },
      {
        NODE_NO_WARNINGS: "1",
        NO_COLOR: undefined,
        FORCE_COLOR: undefined,
      },
    );
  });

  afterAll(async () => {
    tmux.kill();
    await server?.stop();
  });

  it("clears a half-typed line without sending it", async () => {
    await see("the session to connect", (text) => /\* connected to/.test(text));
    pane.typeLiterally("half typed");
    await see("the typed text", (text) => /^> half typed$/m.test(text));
    pane.keys("C-c");
    await see("the line to be cleared", (text) => !text.includes("half typed") && /^>\s*$/m.test(text));
    pane.type("after");
    await waitFor("the line to arrive", () => server.received.length === 1);
    expect(server.received).toEqual(["after"]);
    expect(codes).toEqual([]);
  });

  it("on an empty line, closes with 1000 and exits 0", async () => {
    await see("the echo", (text) => /< after/.test(text));
    pane.keys("C-c");
    const text = await see("the exit", (t) => /\[exited with \d+\]/.test(t));
    expect(text).toMatch(/\[exited with 0\]/);
    await waitFor("the server to see the close", () => codes.length === 1);
    expect(codes).toEqual([1000]);
  });

  it("SIGTERM from outside (kill -TERM) closes with 1000 and exits 143", async () => {
    codes.length = 0;
    // A shell runs evtws and prints its exit status (withExitLine).
    const term = tmux.pane("term");
    term.start(withExitLine([process.execPath, ...defaultCli(), server.url]), { width: 100, height: 30 });
    await term.see("the session to connect", (text) => /\* connected to/.test(text));
    // The pane's process is the shell; evtws is its one child.
    const shell = tmux.run("display-message", "-p", "-t", "term", "#{pane_pid}").trim();
    const children = readFileSync(`/proc/${shell}/task/${shell}/children`, "utf8").trim().split(/\s+/);
    expect(children).toHaveLength(1);
    process.kill(Number(children[0]), "SIGTERM");
    const text = await term.see("evtws to exit", (t) => /\[exited with \d+\]/.test(t));
    expect(text).toMatch(/\[exited with 143\]/);
    await waitFor("the server to see the close", () => codes.length === 1);
    expect(codes).toEqual([1000]);
  });

  it("closing the terminal (SIGHUP) closes with 1000", async () => {
    // Before: SIGHUP had no handler, the process died at once and the server saw 1006.
    codes.length = 0;
    const command = [process.execPath, ...defaultCli(), server.url];
    tmux.run("new-session", "-d", "-s", "hup", "-x", "100", "-y", "30", "-c", root, ...command);
    await waitFor("the session to connect", () => /\* connected to/.test(tmux.pane("hup").screen()));
    // The pane goes away with its terminal; the process in it gets SIGHUP.
    tmux.run("kill-session", "-t", "hup");
    await waitFor("the server to see the close", () => codes.length === 1);
    expect(codes).toEqual([1000]);
  });
});
