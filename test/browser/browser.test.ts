/**
 * The browser bundle (`dist/browser.js`) in Debian's Chromium, driven by playwright-core,
 * against a real `ws` server on 127.0.0.1. Every result is returned from `page.evaluate()` and
 * asserted here, in Node.
 *
 * What `context.setOffline(true)` does to Chromium 156 (measured, headless, 127.0.0.1):
 * - `navigator.onLine` turns false and `offline` fires on `window`; `setOffline(false)` fires
 *   `online`.
 * - An open WebSocket is NOT closed: `readyState` stays 1. Data frames in both directions are
 *   held (not delivered, `bufferedAmount` stays 0) and arrive once the context is online again.
 *   A close frame from the server does get through while offline (the socket closes with the
 *   server's code).
 * - A new WebSocket fails at once with `net::ERR_INTERNET_DISCONNECTED` (close 1006), even to
 *   127.0.0.1, so without the offline hook every backoff tick while offline burns an attempt.
 *
 * Without Chromium the file is skipped, or fails under CI=true (test/helpers/tools.ts); a
 * missing built bundle always fails it.
 */

import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RawData, WebSocket as WsSocket } from "ws";
import { startServer, type TestServer } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { distPages, distRoutes, inPage, type Rig, startRig } from "./rig.js";

/**
 * The test server's protocol: binary frames are echoed; "ping" answers "pong"; JSON requests
 * `{ id, body, batch }` are held until `batch` of them arrived and answered in reverse order
 * (so only id matching can pair them); any other text answers `echo:<text>`.
 */
function createProtocol(): (ws: WsSocket, data: RawData, isBinary: boolean) => void {
  const held: { ws: WsSocket; id: unknown; body: unknown }[] = [];
  return (ws, data, isBinary) => {
    if (isBinary) return ws.send(data, { binary: true });
    const text = data.toString();
    if (text === "ping") return ws.send("pong");
    if (!text.startsWith("{")) return ws.send(`echo:${text}`);
    const msg = JSON.parse(text) as { id: unknown; body: unknown; batch?: number };
    held.push({ ws, id: msg.id, body: msg.body });
    if (held.length < (msg.batch ?? 1)) return;
    for (const h of held.splice(0).reverse()) h.ws.send(JSON.stringify({ id: h.id, echo: h.body }));
  };
}

let rig: Rig;
let server: TestServer;
const pages = distPages(() => rig);

beforeAll(async () => {
  rig = await startRig(distRoutes(), { args: ["--disable-background-networking"] });
  server = await startServer({ onMessage: createProtocol() });
}, 60_000);

afterAll(async () => {
  await rig?.close();
  await server?.close();
});

afterEach(() => pages.close());

describe("the browser bundle in Chromium", requireTools("chromium"), () => {
  it("dials, and send() with a callback gets the matched response, which does not reach onMessage", async () => {
    const page = await pages.open();
    const result = await inPage(page, server.url, async (url) => {
      const { Conn } = window.evt;
      const messages: unknown[] = [];
      const conn = new Conn({
        matchMsg: (req, resp) => resp === `echo:${String(req)}`,
        onMessage: (msg) => messages.push(msg),
      });
      await conn.dial(url);
      const state = conn.state;
      const handshake = conn.handshake;
      const reply = await new Promise((resolve) => conn.send("hello", resolve));
      conn.send("unsolicited");
      await window.waitFor(() => messages.length > 0, "the unsolicited echo");
      await conn.close();
      return { state, handshake, reply, messages, closed: conn.state, after: conn.handshake ?? "none" };
    });
    expect(result).toEqual({
      state: "open",
      // The browser hides the response's headers: none are claimed.
      handshake: { url: server.url, status: 101, protocol: "" },
      reply: "echo:hello",
      messages: ["echo:unsolicited"],
      closed: "closed",
      after: "none",
    });
  });

  it("request() with messageId pairs responses that arrive out of order", async () => {
    const page = await pages.open();
    const replies = await inPage(page, server.url, async (url) => {
      const { Conn, json } = window.evt;
      type Msg = { id: number; body?: string; batch?: number; echo?: string };
      const conn = new Conn<Msg, Msg>({ codec: json(), messageId: (m) => m.id });
      await conn.dial(url);
      const all = await Promise.all(
        ["a", "b", "c"].map((body, i) => conn.request({ id: i + 1, body, batch: 3 })),
      );
      await conn.close();
      return all;
    });
    expect(replies).toEqual([
      { id: 1, echo: "a" },
      { id: 2, echo: "b" },
      { id: 3, echo: "c" },
    ]);
  });

  it("binary frames arrive as Uint8Array, never as Blob", async () => {
    const page = await pages.open();
    const got = await inPage(page, server.url, async (url) => {
      const { Conn } = window.evt;
      let received: unknown;
      const conn = new Conn({
        onMessage: (msg) => {
          received = msg;
        },
      });
      await conn.dial(url);
      conn.send(new Uint8Array([0, 1, 2, 127, 128, 254, 255]));
      await window.waitFor(() => received !== undefined, "the binary echo");
      await conn.close();
      return {
        isUint8Array: received instanceof Uint8Array,
        isBlob: received instanceof Blob,
        bytes: received instanceof Uint8Array ? Array.from(received) : String(received),
      };
    });
    expect(got).toEqual({ isUint8Array: true, isBlob: false, bytes: [0, 1, 2, 127, 128, 254, 255] });
  });

  it("pingMsg goes out on the heartbeat and the isPong reply gives a round-trip time, not a message", async () => {
    const page = await pages.open();
    const before = server.received.filter((m) => m === "ping").length;
    const got = await inPage(page, server.url, async (url) => {
      const { Conn } = window.evt;
      const messages: unknown[] = [];
      const conn = new Conn({
        pingIntervalMs: 100,
        pingMsg: "ping",
        isPong: (msg) => msg === "pong",
        onMessage: (msg) => messages.push(msg),
      });
      const rtt = new Promise<number>((resolve) => conn.on("pong", ({ rttMs }) => resolve(rttMs)));
      await conn.dial(url);
      const rttMs = await rtt;
      const lastRttMs = conn.stats.lastRttMs;
      await conn.close();
      return { rttMs, lastRttMs, messages };
    });
    expect(got.rttMs).toBeGreaterThanOrEqual(0);
    expect(got.lastRttMs).toBeTypeOf("number");
    expect(got.messages).toEqual([]);
    expect(server.received.filter((m) => m === "ping").length).toBeGreaterThan(before);
  });

  it("options a browser cannot honour reject dial() with ERR_INVALID_OPTION and open no socket", async () => {
    const page = await pages.open();
    const before = server.connections;
    const codes = await inPage(page, server.url, async (url) => {
      const { Conn } = window.evt;
      const codeOf = (p: Promise<unknown>) =>
        p.then(
          () => "resolved",
          (e: { code?: string }) => e.code ?? String(e),
        );
      return {
        pingWithoutPingMsg: await codeOf(new Conn({ pingIntervalMs: 1000 }).dial(url)),
        headers: await codeOf(new Conn({ headers: { authorization: "Bearer x" } }).dial(url)),
        proxy: await codeOf(new Conn({ proxy: "http://127.0.0.1:3128" }).dial(url)),
        agent: await codeOf(new Conn({ agent: {} }).dial(url)),
        headersFunction: await codeOf(new Conn({ headers: () => ({ authorization: "Bearer x" }) }).dial(url)),
      };
    });
    expect(codes).toEqual({
      pingWithoutPingMsg: "ERR_INVALID_OPTION",
      headers: "ERR_INVALID_OPTION",
      proxy: "ERR_INVALID_OPTION",
      agent: "ERR_INVALID_OPTION",
      headersFunction: "ERR_INVALID_OPTION",
    });
    expect(server.connections).toBe(before);
  });

  it("the logger option logs in the browser: the refused headers option, then an attempt and an open, with the URL redacted", async () => {
    const page = await pages.open();
    const lines = await inPage(page, server.url, async (url) => {
      const { Conn } = window.evt;
      const lines: string[] = [];
      const log = (line: string) => void lines.push(line);
      const logger = { debug: log, info: log, warn: log, error: log };
      const secret = `${url.replace("ws://", "ws://user:pw-secret@")}/path-secret?token=q-secret`;
      await new Conn({ logger, headers: { authorization: "Bearer x" } }).dial(secret).catch(() => {});
      const c = new Conn({ logger });
      await c.dial(secret);
      await c.close();
      return lines.map((l) => l.replace(/^evtwebsocket\[c\d+\] /, ""));
    });
    const origin = new URL(server.url).host;
    expect(lines.map((l) => l.split(" ")[0])).toEqual(["option", "attempt", "open", "close"]);
    expect(lines[1]).toBe(`attempt attempt=1 url="ws://${origin}"`);
    expect(lines.join("\n")).not.toMatch(/secret/);
  });

  it("reconnects after the server restarts on the same port, and works again", async () => {
    const page = await pages.open();
    await inPage(page, server.url, async (url) => {
      const { Conn } = window.evt;
      window.seen = [];
      window.conn = new Conn({
        reconnect: { minDelayMs: 50, maxDelayMs: 200 },
        matchMsg: (req, resp) => resp === `echo:${String(req)}`,
        onClose: (info) => window.seen.push(`close willReconnect=${info.willReconnect}`),
      });
      window.conn.on("state", ({ newState }) => window.seen.push(newState));
      await window.conn.dial(url);
    });
    await server.restart();
    const got = await inPage(page, null, async () => {
      const { conn } = window;
      await window.waitFor(() => conn.state === "open" && conn.stats.reconnects === 1, "the reconnect");
      const reply = await new Promise((resolve) => conn.send("again", resolve));
      await conn.close();
      return { seen: window.seen, reply, reconnects: conn.stats.reconnects };
    });
    expect(got.reply).toBe("echo:again");
    expect(got.reconnects).toBe(1);
    expect(got.seen.filter((s) => !s.startsWith("reconnecting"))).toEqual([
      "connecting",
      "open",
      "close willReconnect=true",
      "open",
      "closed",
      "close willReconnect=false",
    ]);
    expect(got.seen).toContain("reconnecting");
  });
});

/**
 * What the WHATWG transport (src/transport/native.ts) must do for Chromium, against a `ws`
 * server of its own that echoes each message with its type. The same checks in Node 24, Bun
 * and Deno are test/runtimes/smoke.mjs's.
 */
describe("the WHATWG transport in Chromium", requireTools("chromium"), () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server?.close());

  it("a Uint8Array over a resizable ArrayBuffer goes out as its bytes, queued or not (Chromium's send() throws on it)", async () => {
    const page = await pages.open();
    const seen = await inPage(page, server.url, async (url) => {
      const got: (string | Uint8Array)[] = [];
      const conn = new window.evt.Conn<string | Uint8Array, string | Uint8Array>({
        reconnect: false,
        onMessage: (msg) => void got.push(msg),
      });
      // ES2024's resizable ArrayBuffer, missing from the TypeScript lib this project targets.
      const Resizable = ArrayBuffer as unknown as new (bytes: number, options: object) => ArrayBuffer;
      const resizable = (byte: number) =>
        new Uint8Array(new Resizable(4, { maxByteLength: 8 }), 1, 2).fill(byte);
      conn.send(resizable(6)); // queued, then sent at the open
      conn.send("after");
      await conn.dial(url);
      conn.send(resizable(5));
      await window.waitFor(() => got.length === 3, "three echoes");
      await conn.close();
      return got.map((m) => (typeof m === "string" ? m : Array.from(m).join(",")));
    });
    expect(seen).toEqual(["6,6", "after", "5,5"]);
  });
});

describe("offline and online (context.setOffline)", requireTools("chromium"), () => {
  /** Replaces the page's WebSocket with one that records whether the browser was online at each dial. */
  async function countDials(page: Page): Promise<void> {
    await inPage(page, null, () => {
      window.seen = [];
      const Native = WebSocket;
      globalThis.WebSocket = class extends Native {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols);
          window.seen.push(navigator.onLine ? "dial online" : "dial offline");
        }
      };
    });
  }

  async function goOffline(page: Page, offline: boolean): Promise<void> {
    await page.context().setOffline(offline);
    await page.waitForFunction((want) => navigator.onLine === want, !offline, { timeout: 10_000 });
  }

  it("an open connection stays open while offline and its request completes once online", async () => {
    const page = await pages.open();
    await inPage(page, server.url, async (url) => {
      const { Conn } = window.evt;
      window.conn = new Conn({ matchMsg: (req, resp) => resp === `echo:${String(req)}` });
      await window.conn.dial(url);
    });
    await goOffline(page, true);
    const offline = await inPage(page, null, () => {
      window.seen = [];
      window.conn.request("during").then((r) => window.seen.push(String(r)));
      return window.conn.state;
    });
    await goOffline(page, false);
    const got = await inPage(page, null, async () => {
      await window.waitFor(() => window.seen.length > 0, "the reply sent while offline");
      await window.conn.close();
      return window.seen;
    });
    expect(offline).toBe("open");
    expect(got).toEqual(["echo:during"]);
  });

  it("reconnect attempts wait while offline instead of burning the backoff budget", async () => {
    const page = await pages.open();
    await countDials(page);
    await inPage(page, server.url, async (url) => {
      const { Conn } = window.evt;
      window.conn = new Conn({ reconnect: { minDelayMs: 50, maxDelayMs: 50, jitter: 0 } });
      await window.conn.dial(url);
    });
    await server.stop();
    await page.waitForFunction(() => window.conn.state === "reconnecting", undefined, { timeout: 10_000 });
    await goOffline(page, true);
    await server.start();
    // Twenty backoff periods offline: without the hook each one dials and fails at once.
    await page.waitForTimeout(1000);
    await goOffline(page, false);
    const got = await inPage(page, null, async () => {
      await window.waitFor(() => window.conn.state === "open", "the reconnect after online");
      await window.conn.close();
      return window.seen;
    });
    expect(got.filter((s) => s === "dial offline")).toEqual([]);
  });

  it("a page visible again after being hidden longer than pingIntervalMs pings at once", async () => {
    const page = await pages.open();
    await inPage(page, server.url, async (url) => {
      const { Conn } = window.evt;
      window.conn = new Conn({ pingIntervalMs: 60_000, pingMsg: "ping", isPong: (msg) => msg === "pong" });
      await window.conn.dial(url);
    });
    const before = server.received.filter((m) => m === "ping").length;
    const rttMs = await inPage(page, null, async () => {
      // Headless Chromium stays visible, so play the hidden spell: the document says "hidden",
      // then "visible" with the wall clock 61 s later (the heartbeat runs on the monotonic clock
      // and is not affected; its own ping is 60 s away).
      let visibility = "hidden";
      Object.defineProperty(document, "visibilityState", { configurable: true, get: () => visibility });
      document.dispatchEvent(new Event("visibilitychange"));
      const realNow = Date.now;
      Date.now = () => realNow() + 61_000;
      const pong = new Promise<number>((resolve) => window.conn.on("pong", ({ rttMs }) => resolve(rttMs)));
      visibility = "visible";
      document.dispatchEvent(new Event("visibilitychange"));
      const timeout = new Promise<string>((resolve) => setTimeout(() => resolve("no ping within 5 s"), 5000));
      const result = await Promise.race([pong, timeout]);
      Date.now = realNow;
      await window.conn.close();
      return result;
    });
    expect(rttMs).toBeTypeOf("number");
    expect(server.received.filter((m) => m === "ping").length).toBe(before + 1);
  });

  it("the online event triggers an immediate attempt instead of waiting out the backoff", async () => {
    const page = await pages.open();
    await inPage(page, server.url, async (url) => {
      const { Conn } = window.evt;
      window.conn = new Conn({ reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 } });
      await window.conn.dial(url);
    });
    await server.stop();
    await page.waitForFunction(() => window.conn.state === "reconnecting", undefined, { timeout: 10_000 });
    await goOffline(page, true);
    await server.start();
    await goOffline(page, false);
    const state = await inPage(page, null, async () => {
      // Far below the 60 s backoff: only the online event can explain an open connection.
      await window.waitFor(() => window.conn.state === "open", "an attempt on the online event", 10_000);
      await window.conn.close();
      return window.conn.state;
    });
    expect(state).toBe("closed");
  });
});
