/**
 * The back/forward cache in Debian's Chromium, driven by playwright-core, against a real `ws`
 * server on 127.0.0.1: a REAL back/forward navigation, not dispatched events. playwright-core
 * launches Chromium with `--disable-back-forward-cache`; this file drops that switch, navigates
 * to a second same-origin page and back with `page.goBack()`, and checks that the page was
 * restored from the cache (`pageshow` with `persisted`, the same JavaScript heap).
 *
 * Frozen pages: the test DISPATCHES `freeze` and `resume` on `document`. CDP's
 * `Page.setWebLifecycleState({ state: "frozen" })` on a visible headless page did not get a close
 * to the server within 10 s (tried, Chromium 156), and a frozen page cannot be evaluated in.
 *
 * The page is built from src/ by esbuild (test/browser/rig.ts).
 */

import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer, until } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { bundle, html, inPage, type Rig, startRig } from "./rig.js";

let rig: Rig;
let server: TestServer;
const closes: string[] = [];

beforeAll(async () => {
  const app = await bundle({ code: `import * as evt from "./src/index.ts"; window.evt = evt;` });
  rig = await startRig(
    { "/": html("/app.js"), "/app.js": app, "/other": html("/none.js", "<p>another page</p>") },
    { ignoreDefaultArgs: ["--disable-back-forward-cache"] },
  );
  server = await startServer({
    onConnection: (ws) => ws.on("close", (code, reason) => closes.push(`${code} ${reason.toString()}`)),
  });
}, 60_000);

afterAll(async () => {
  await rig?.close();
  await server?.close();
});

async function openPage(): Promise<Page> {
  const context = await rig.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${rig.origin}/`);
  await page.waitForFunction(() => window.evt !== undefined, undefined, { timeout: 10_000 });
  return page;
}

describe(
  "the back/forward cache in Chromium (a real navigation away and back)",
  requireTools("chromium"),
  () => {
    it("closes with 1000 'page hidden' on the way into the cache and dials at once when restored", async () => {
      const page = await openPage();
      await inPage(page, server.url, async (url) => {
        const { Conn } = window.evt;
        window.seen = [];
        addEventListener("pagehide", (e) => window.seen.push(`pagehide persisted=${e.persisted}`));
        addEventListener("pageshow", (e) => window.seen.push(`pageshow persisted=${e.persisted}`));
        // A minute of backoff: only the restore can explain a prompt reconnect.
        window.conn = new Conn({
          reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 },
          matchMsg: (req, resp) => resp === req,
          onClose: (info) =>
            window.seen.push(`close ${info.code} ${info.reason} willReconnect=${info.willReconnect}`),
        });
        window.conn.on("state", ({ newState }) => window.seen.push(newState));
        await window.conn.dial(url);
      });
      const connections = server.connections;

      await page.goto(`${rig.origin}/other`);
      await until(() => closes.length === 1, "the server to see the close");
      expect(closes).toEqual(["1000 page hidden"]);

      await page.goBack({ waitUntil: "commit" }); // a page restored from the cache fires no load event
      const got = await inPage(page, null, async () => {
        await window.waitFor(() => window.conn.state === "open", "the reconnect after the restore");
        const reply = await window.conn.request("after");
        await window.conn.close();
        return { seen: window.seen, reply };
      });
      // Same heap, pageshow persisted: the page came from the back/forward cache. The hidden
      // socket's close event may come before the page froze or after the restore (the page can
      // freeze before its closing handshake ends); either way the new socket opens after it.
      const hiddenClose = "close 1000 page hidden willReconnect=true";
      expect(got.seen.filter((s) => s !== hiddenClose)).toEqual([
        "connecting",
        "open",
        "pagehide persisted=true",
        "reconnecting",
        "pageshow persisted=true",
        "open",
        "closed",
        "close 1000  willReconnect=false",
      ]);
      expect(got.seen.indexOf(hiddenClose)).toBeGreaterThan(got.seen.indexOf("pagehide persisted=true"));
      expect(got.seen.indexOf(hiddenClose)).toBeLessThan(got.seen.lastIndexOf("open"));
      expect(got.reply).toBe("after");
      expect(server.connections).toBe(connections + 1);
    });

    it("a frozen page closes with 1000 and dials on resume (freeze and resume DISPATCHED by the test)", async () => {
      const page = await openPage();
      const before = closes.length;
      await inPage(page, server.url, async (url) => {
        const { Conn } = window.evt;
        window.conn = new Conn({ reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 } });
        await window.conn.dial(url);
        document.dispatchEvent(new Event("freeze"));
      });
      const connections = server.connections;
      await until(() => closes.length === before + 1, "the server to see the close");
      expect(closes.at(-1)).toBe("1000 page hidden");
      const state = await inPage(page, null, async () => {
        document.dispatchEvent(new Event("resume"));
        await window.waitFor(() => window.conn.state === "open", "the reconnect on resume");
        await window.conn.close();
        return window.conn.state;
      });
      expect(state).toBe("closed");
      expect(server.connections).toBe(connections + 1);
    });
  },
);
