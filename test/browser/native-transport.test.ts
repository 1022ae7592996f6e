/**
 * The WHATWG transport (src/transport/native.ts) in Debian's Chromium at its edges, driven by
 * playwright-core against real `ws` servers on 127.0.0.1: a close the server starts (its close
 * frame with TCP held open, or followed by a reset), a send() after it, close codes and reasons
 * a browser refuses from script, a socket that hands binary frames over as Blobs, a WebSocket
 * constructor that throws, a port the browser blocks; and the heartbeat when every timer is late
 * (the page's main thread kept busy longer than its periods, as in a throttled tab). The page is
 * built from src/ by esbuild with the browser build's plugins (test/browser/rig.ts). Two tests
 * replace the page's WebSocket with a subclass to play what this page cannot show (a polyfill
 * that hands binary frames over as Blobs; the SecurityError Chromium throws for ws: from an
 * https page); the socket underneath is still Chromium's, against the real server. The built
 * bundle's own checks are browser.test.ts's; the page lifecycle's, page-lifecycle.test.ts's.
 */

import type { Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { bundle, distPages, html, inPage, pauseReading, type Rig, startRig } from "./rig.js";

let rig: Rig;
let server: TestServer;
let silent: TestServer;
/** The server's side of the last connection that got "close <code>", reading paused. */
let held: Socket | undefined;
const pages = distPages(() => rig);

beforeAll(async () => {
  const app = await bundle({ code: `import * as evt from "./src/index.ts"; window.evt = evt;` });
  rig = await startRig({ "/": html("/app.js"), "/app.js": app });
  // Echoes, answers "ping" with "pong", and on "close <code>" sends a close frame with that code
  // and then reads nothing more: the browser's reply is never read, so TCP stays open and the
  // page's socket stays CLOSING until Chromium gives up on the closing handshake.
  server = await startServer({
    onMessage: (ws, data, isBinary) => {
      const text = data.toString();
      if (isBinary) return ws.send(data, { binary: true });
      if (text === "ping") return ws.send("pong");
      if (text === "burst") {
        for (let i = 0; i < 20; i++) ws.send(i % 2 ? `t${i}` : Buffer.from([i]), { binary: i % 2 === 0 });
        return void ws.close(4001, "done");
      }
      if (text.startsWith("close ")) {
        ws.close(Number(text.slice(6)), "bye");
        held = pauseReading(ws);
        return;
      }
      ws.send(text);
    },
  });
  // Never answers anything: a dead peer behind a live TCP connection.
  silent = await startServer({ onMessage: () => {} });
}, 60_000);

afterAll(async () => {
  await rig?.close();
  await server?.close();
  await silent?.close();
});

afterEach(() => pages.close());
describe("the WHATWG transport in Chromium: closes and failed dials", requireTools("chromium"), () => {
  it("close() after the server's close frame (TCP held open, the browser's socket CLOSING) reports the server's close: closedBy 'server', its code", async () => {
    const page = await pages.open();
    const got = await inPage(page, server.url, async (url) => {
      const sockets: WebSocket[] = [];
      const Native = WebSocket;
      window.WebSocket = class extends Native {
        constructor(...args: ConstructorParameters<typeof WebSocket>) {
          super(...args);
          sockets.push(this);
        }
      };
      const closes: string[] = [];
      const conn = new window.evt.Conn({
        reconnect: false,
        onClose: (info) => closes.push(`${info.code} ${info.reason} ${info.closedBy}`),
      });
      await conn.dial(url);
      conn.send("close 4000");
      await window.waitFor(
        () => sockets[0]!.readyState === WebSocket.CLOSING,
        "the browser's socket to be CLOSING",
      );
      // Nothing told the connection yet (a WHATWG socket has no event for the close frame).
      const stateBefore = conn.state;
      await conn.close();
      return { stateBefore, closes };
    });
    expect(got.stateBefore).toBe("open");
    expect(got.closes).toEqual(["4000 bye server"]);
  });

  it("a server's close frame followed by a TCP reset before the closing handshake ends (wasClean false) is the server's close: its 1008 is reported as its refusal, not as a lost connection", async () => {
    const page = await pages.open();
    await inPage(page, server.url, async (url) => {
      const sockets: WebSocket[] = [];
      const Native = WebSocket;
      window.WebSocket = class extends Native {
        constructor(...args: ConstructorParameters<typeof WebSocket>) {
          super(...args);
          sockets.push(this);
        }
      };
      window.seen = [];
      window.conn = new window.evt.Conn({
        reconnect: false,
        onClose: (info) => window.seen.push(`close ${info.code} wasClean=${info.wasClean} ${info.closedBy}`),
        onError: (e) => window.seen.push(`error ${e.code} ${e.message.replace(url, "URL")}`),
      });
      await window.conn.dial(url);
      window.conn.send("close 1008");
      // The close frame was read: only then is the TCP connection reset (a reset may discard it).
      await window.waitFor(
        () => sockets[0]!.readyState === WebSocket.CLOSING,
        "the browser's socket to be CLOSING",
      );
    });
    held!.resetAndDestroy();
    const seen = await inPage(page, null, async () => {
      await window.waitFor(() => window.conn.state === "closed", "the end");
      return window.seen;
    });
    expect(seen).toEqual([
      "close 1008 wasClean=false server",
      "error ERR_DISCONNECTED URL refused a message of ours as against its policy (close code 1008, closed by server)",
    ]);
  });

  it("a send() after the server's close frame (the browser's socket CLOSING) is queued, not lost, and goes out on the next connection", async () => {
    const page = await pages.open();
    const before = server.received.length;
    const got = await inPage(page, server.url, async (url) => {
      const sockets: WebSocket[] = [];
      const Native = WebSocket;
      window.WebSocket = class extends Native {
        constructor(...args: ConstructorParameters<typeof WebSocket>) {
          super(...args);
          sockets.push(this);
        }
      };
      const seen: string[] = [];
      const conn = new window.evt.Conn({
        reconnect: { minDelayMs: 10, maxDelayMs: 10, jitter: 0 },
        onMessage: (msg) => seen.push(`message ${msg}`),
        onClose: (info) =>
          seen.push(`close ${info.code} ${info.closedBy} willReconnect=${info.willReconnect}`),
        onError: (e) => seen.push(`error ${e.code}`),
      });
      await conn.dial(url);
      conn.send("close 1001");
      await window.waitFor(
        () => sockets[0]!.readyState === WebSocket.CLOSING,
        "the browser's socket to be CLOSING",
      );
      const result = conn.send("late");
      const sent = conn.stats.messagesSent;
      await window.waitFor(
        () => seen.includes("message late"),
        "the echo of the late message on the next socket",
      );
      const before = [...seen];
      await conn.close();
      return { result, sent, seen: before, sockets: sockets.length };
    });
    expect(got.result).toBe("queued");
    expect(got.sent).toBe(1); // "close 1001" only: the refused frame is not counted
    expect(got.seen).toEqual(["close 1001 server willReconnect=true", "message late"]);
    expect(got.sockets).toBe(2);
    expect(server.received.slice(before)).toEqual(["close 1001", "late"]);
  });

  it("close codes a browser refuses from script (1001, 1005, 1006, 1015) and a reason over 123 UTF-8 bytes are ERR_INVALID_OPTION, and the connection stays open", async () => {
    const page = await pages.open();
    const got = await inPage(page, server.url, async (url) => {
      const conn = new window.evt.Conn({ reconnect: false });
      await conn.dial(url);
      const refused: string[] = [];
      const calls: [number, string][] = [
        [1001, ""],
        [1005, ""],
        [1006, ""],
        [1015, ""],
        [1000, "x".repeat(124)],
        [4000, "é".repeat(62)], // 124 bytes in 62 characters
      ];
      for (const [code, reason] of calls) {
        try {
          await conn.close(code, reason);
          refused.push(`${code} accepted`);
        } catch (e) {
          refused.push(`${code} ${(e as { code: string }).code} ${conn.state}`);
        }
      }
      // 123 bytes exactly (41 lone surrogates, 3 bytes each as U+FFFD) is accepted.
      await conn.close(4000, "\uD800".repeat(41));
      return { refused, state: conn.state };
    });
    expect(got.refused).toEqual([
      "1001 ERR_INVALID_OPTION open",
      "1005 ERR_INVALID_OPTION open",
      "1006 ERR_INVALID_OPTION open",
      "1015 ERR_INVALID_OPTION open",
      "1000 ERR_INVALID_OPTION open",
      "4000 ERR_INVALID_OPTION open",
    ]);
    expect(got.state).toBe("closed");
  });

  it("a socket that hands binary frames over as Blobs (binaryType ignored, as some polyfills do) keeps text and binary in order, and the close after them", async () => {
    const page = await pages.open();
    const seen = await inPage(page, server.url, async (url) => {
      const Native = WebSocket;
      window.WebSocket = class extends Native {
        override set binaryType(_: BinaryType) {}
        override get binaryType(): BinaryType {
          return "blob";
        }
      };
      const seen: string[] = [];
      const conn = new window.evt.Conn<string | Uint8Array, string>({
        reconnect: false,
        onMessage: (m) => seen.push(typeof m === "string" ? m : `b${m[0]}`),
        onClose: (info) => seen.push(`close ${info.code} ${info.closedBy}`),
      });
      await conn.dial(url);
      conn.send("burst");
      await window.waitFor(() => conn.state === "closed", "the close");
      return seen;
    });
    const expected = Array.from({ length: 20 }, (_, i) => (i % 2 ? `t${i}` : `b${i}`));
    expect(seen).toEqual([...expected, "close 4001 server"]);
  });

  it("a WebSocket constructor that throws (Chromium's SecurityError for ws: from an https page, played by a subclass) fails the dial with ERR_DIAL_FAILED and the cause; with retries on, the next attempt dials", async () => {
    const page = await pages.open();
    const got = await inPage(page, server.url, async (url) => {
      const Native = WebSocket;
      let throws = 0;
      window.WebSocket = class extends Native {
        constructor(...args: ConstructorParameters<typeof WebSocket>) {
          if (throws-- > 0) throw new DOMException("Mixed Content", "SecurityError");
          super(...args);
        }
      };
      const once = new window.evt.Conn({ reconnect: false });
      throws = 1;
      const error = await once.dial(url).then(
        () => "opened",
        (e: { code: string; cause?: { name: string } }) => `${e.code} ${e.cause?.name}`,
      );
      const retried = new window.evt.Conn({
        reconnect: { minDelayMs: 10, maxDelayMs: 10 },
        onError: () => {},
      });
      throws = 2;
      await retried.dial(url);
      const state = retried.state;
      await retried.close();
      return { error, onceState: once.state, state };
    });
    expect(got).toEqual({ error: "ERR_DIAL_FAILED SecurityError", onceState: "closed", state: "open" });
  });

  it("a port the browser blocks (6000) fails the dial with ERR_DIAL_FAILED and the connection ends closed", async () => {
    const page = await pages.open();
    const got = await inPage(page, null, async () => {
      const conn = new window.evt.Conn({ reconnect: false });
      const error = await conn.dial("ws://127.0.0.1:6000/").then(
        () => "opened",
        (e: { code: string }) => e.code,
      );
      return { error, state: conn.state };
    });
    expect(got).toEqual({ error: "ERR_DIAL_FAILED", state: "closed" });
  });
});

describe("the heartbeat with late timers in Chromium (issue 15 item 3)", requireTools("chromium"), () => {
  /**
   * Runs a heartbeat (ping every 300 ms, 200 ms for the pong) while the page's main thread is
   * kept busy for 520 ms at a time (so every timer and every message is at least that late, as in
   * a throttled tab), for up to `rounds` rounds; returns what happened.
   */
  const run = (url: string, rounds: number) =>
    inPage(page(), { url, rounds }, async ({ url, rounds }) => {
      const seen: string[] = [];
      const conn = new window.evt.Conn({
        pingIntervalMs: 300,
        pongTimeoutMs: 200,
        pingMsg: "ping",
        isPong: (m) => m === "pong",
        reconnect: false,
        onError: (e) => seen.push(e.code),
      });
      let pongs = 0;
      conn.on("pong", () => pongs++);
      await conn.dial(url);
      for (let i = 0; i < rounds && conn.state === "open"; i++) {
        const start = performance.now();
        while (performance.now() - start < 520);
        await new Promise((r) => setTimeout(r, 20));
      }
      const state = conn.state;
      await conn.close();
      return { seen, state, pongs };
    });
  let current: Awaited<ReturnType<typeof pages.open>> | undefined;
  const page = () => current!;

  it("a peer that answers every ping is never declared dead, however late the timers", {
    timeout: 60_000,
  }, async () => {
    current = await pages.open();
    const got = await run(server.url, 10);
    expect(got.seen).toEqual([]);
    expect(got.state).toBe("open");
    expect(got.pongs).toBeGreaterThan(0);
  });

  it("a silent peer is still declared dead (ERR_PONG_TIMEOUT) when every timer is late", {
    timeout: 60_000,
  }, async () => {
    current = await pages.open();
    const got = await run(silent.url, 20);
    expect(got.seen).toEqual(["ERR_PONG_TIMEOUT"]);
    expect(got.state).toBe("closed");
    expect(got.pongs).toBe(0);
  });
});
