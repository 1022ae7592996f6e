/**
 * Slash commands at the prompt with odd input, in a real terminal: tmux runs `evtws` against a
 * `ws` server of the test, `send-keys` types, and `capture-pane` reads the screen. A mistake
 * typed at the prompt is told on one line and the session goes on (no stack trace, no crash,
 * the connection not cut); `/reconnect` during a wait the server asked for says it waits.
 * Without tmux the suite is skipped, or fails under CI=true (test/helpers/tools.ts).
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { requireTools } from "../helpers/tools.js";
import { defaultCli, startWsServer, useSourceBundle, type WsServer, waitFor } from "./helpers.js";
import { createTmux, withExitLine } from "./tmux.js";

useSourceBundle();

const tmux = createTmux("evtws-commands");
const pane = tmux.pane("commands");
let server: WsServer;
const codes: number[] = [];

// One tmux server for the file's panes, ended once every suite is done.
afterAll(() => tmux.kill());

describe("slash commands with odd input", requireTools("tmux"), () => {
  beforeAll(async () => {
    server = await startWsServer(undefined, (ws: WebSocket) => ws.on("close", (code) => codes.push(code)));
    pane.start(
      withExitLine([process.execPath, ...defaultCli(), server.url]),
      { width: 100, height: 40 },
      { NODE_NO_WARNINGS: "1", NO_COLOR: "1", FORCE_COLOR: undefined },
    );
    await pane.see("the session to connect", (text) => /\* connected to/.test(text));
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("/close with a reason over 123 bytes is refused on one line; the session and connection go on", async () => {
    // 42 three-byte characters: 126 bytes of UTF-8, over the 123 a close frame may carry.
    pane.type(`/close 4000 ${"€".repeat(42)}`);
    const text = await pane.see("the refusal", (t) => /close reason/.test(t) || /exited with/.test(t));
    expect(text).not.toMatch(/exited with|EvtWebSocketError|at .*cli\.mjs/);
    expect(text).toMatch(/^! close reason must be at most 123 bytes/m);
    pane.type("still here");
    await pane.see("the echo", (t) => /< still here/.test(t));
    expect(codes).toEqual([]);
    pane.keys("C-d");
    const end = await pane.see("the exit", (t) => /\[exited with \d+\]/.test(t));
    expect(end).toMatch(/\[exited with 0\]/);
    await waitFor("the server to see the close", () => codes.length === 1);
    expect(codes).toEqual([1000]);
  });
});

describe("/reconnect during a wait the server asked for", requireTools("tmux"), () => {
  const wait = tmux.pane("wait");
  let waitServer: WsServer;

  beforeAll(async () => {
    // The first connection is closed with 1013 (try again later): the reconnect waits as the
    // server asked, which reconnect() does not cut short.
    waitServer = await startWsServer(undefined, (ws: WebSocket) => {
      if (waitServer.handshakes.length === 1) setTimeout(() => ws.close(1013, "try later"), 50);
    });
    wait.start(
      withExitLine([process.execPath, ...defaultCli(), "--max-delay", "60000", waitServer.url]),
      { width: 100, height: 40 },
      { NODE_NO_WARNINGS: "1", NO_COLOR: "1", FORCE_COLOR: undefined },
    );
  });

  afterAll(async () => {
    await waitServer?.stop();
  });

  it("says it waits for the server, rather than that it is dialling", async () => {
    await wait.see("the server's wait", (t) =>
      /reconnecting in \d+ ms, attempt 1 \(the server asked/.test(t),
    );
    wait.type("/reconnect");
    const text = await wait.see("the answer", (t) => /\/reconnect\n.*\S/.test(t));
    expect(text).toMatch(/\* the server asked to wait: dialling in \d+ ms$/m);
    expect(text).not.toMatch(/dialling ws:/);
    expect(waitServer.handshakes).toHaveLength(1);
    wait.keys("C-d");
    const end = await wait.see("the exit", (t) => /\[exited with \d+\]/.test(t));
    expect(end).toMatch(/\[exited with 0\]/);
    expect(waitServer.handshakes).toHaveLength(1);
  });
});
