/**
 * Ctrl-C in the interactive session (issue 20, part 6), in a real terminal: tmux runs `evtws`
 * against a `ws` server of the test, `send-keys` types. Ctrl-C on a half-typed line clears it
 * (nothing is sent); on an empty line it closes with 1000 and the process exits 0.
 * Without tmux the suite is skipped, or fails under CI=true (test/helpers/tools.ts).
 */

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { requireTools } from "../helpers/tools.js";
import { defaultCli, root, startWsServer, useSourceBundle, type WsServer, waitFor } from "./helpers.js";

useSourceBundle();

const socket = `evtws-keys-${process.pid}`;
const target = "keys";
let server: WsServer;
const codes: number[] = [];

function tmux(...args: string[]): string {
  return execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
}

const screen = () => tmux("capture-pane", "-p", "-t", target);

function see(what: string, check: (text: string) => boolean): Promise<string> {
  return waitFor(what, () => {
    const text = screen();
    return check(text) ? text : undefined;
  }).catch((error: Error) => {
    throw new Error(`${error.message}\n--- screen ---\n${screen()}`);
  });
}

describe("Ctrl-C in an interactive session", requireTools("tmux"), () => {
  beforeAll(async () => {
    server = await startWsServer(undefined, (ws: WebSocket) => ws.on("close", (code) => codes.push(code)));
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_NO_WARNINGS: "1" };
    delete env.NO_COLOR;
    delete env.FORCE_COLOR;
    const command = [process.execPath, ...defaultCli(), server.url].map((a) => `'${a}'`).join(" ");
    execFileSync(
      "tmux",
      ["-L", socket, "new-session", "-d", "-s", target, "-x", "100", "-y", "30", "-c", root].concat([
        `sh -c "${command.replaceAll('"', '\\"')}; echo \\"[exited with \\$?]\\""`,
      ]),
      { env },
    );
    tmux("set-option", "-t", target, "remain-on-exit", "on");
  });

  afterAll(async () => {
    try {
      tmux("kill-server");
    } catch {
      // Already gone.
    }
    await server?.stop();
  });

  it("clears a half-typed line without sending it", async () => {
    await see("the session to connect", (text) => /\* connected to/.test(text));
    tmux("send-keys", "-t", target, "-l", "half typed");
    await see("the typed text", (text) => /^> half typed$/m.test(text));
    tmux("send-keys", "-t", target, "C-c");
    await see("the line to be cleared", (text) => !text.includes("half typed") && /^>\s*$/m.test(text));
    tmux("send-keys", "-t", target, "-l", "after");
    tmux("send-keys", "-t", target, "Enter");
    await waitFor("the line to arrive", () => server.received.length === 1);
    expect(server.received).toEqual(["after"]);
    expect(codes).toEqual([]);
  });

  it("on an empty line, closes with 1000 and exits 0", async () => {
    await see("the echo", (text) => /< after/.test(text));
    tmux("send-keys", "-t", target, "C-c");
    const text = await see("the exit", (t) => /\[exited with \d+\]/.test(t));
    expect(text).toMatch(/\[exited with 0\]/);
    await waitFor("the server to see the close", () => codes.length === 1);
    expect(codes).toEqual([1000]);
  });

  it("SIGTERM from outside (kill -TERM) closes with 1000 and exits 143", async () => {
    codes.length = 0;
    // A shell runs evtws and prints its exit status: tmux's own #{pane_dead_status} was seen
    // empty for good after a clean exit under load, so the test reads the shell's line instead.
    const command = [process.execPath, ...defaultCli(), server.url].map((a) => `'${a}'`).join(" ");
    tmux(
      "new-session",
      "-d",
      "-s",
      "term",
      "-x",
      "100",
      "-y",
      "30",
      "-c",
      root,
      `sh -c "${command.replaceAll('"', '\\"')}; echo \\"[exited with \\$?]\\""`,
    );
    tmux("set-option", "-t", "term", "remain-on-exit", "on");
    const pane = () => tmux("capture-pane", "-p", "-t", "term");
    await waitFor("the session to connect", () => /\* connected to/.test(pane()));
    // The pane's process is the shell; evtws is its one child.
    const shell = tmux("display-message", "-p", "-t", "term", "#{pane_pid}").trim();
    const children = readFileSync(`/proc/${shell}/task/${shell}/children`, "utf8").trim().split(/\s+/);
    expect(children).toHaveLength(1);
    process.kill(Number(children[0]), "SIGTERM");
    const text = await waitFor("evtws to exit", () => {
      const t = pane();
      return /\[exited with \d+\]/.test(t) ? t : undefined;
    }).catch((error: Error) => {
      throw new Error(`${error.message}\n--- screen ---\n${pane()}`);
    });
    expect(text).toMatch(/\[exited with 143\]/);
    await waitFor("the server to see the close", () => codes.length === 1);
    expect(codes).toEqual([1000]);
  });

  it("closing the terminal (SIGHUP) closes with 1000", async () => {
    // Before: SIGHUP had no handler, the process died at once and the server saw 1006.
    codes.length = 0;
    const command = [process.execPath, ...defaultCli(), server.url];
    tmux("new-session", "-d", "-s", "hup", "-x", "100", "-y", "30", "-c", root, ...command);
    await waitFor("the session to connect", () =>
      /\* connected to/.test(tmux("capture-pane", "-p", "-t", "hup")),
    );
    // The pane goes away with its terminal; the process in it gets SIGHUP.
    tmux("kill-session", "-t", "hup");
    await waitFor("the server to see the close", () => codes.length === 1);
    expect(codes).toEqual([1000]);
  });
});
