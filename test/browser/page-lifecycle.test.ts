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
 *
 * The rest of the lifecycle, with the events DISPATCHED by the tests: each of several
 * connections in one page reacts once to a freeze and a pagehide together; no listener is left
 * on window or document after a connection ends any way; offline and online flapping while
 * reconnecting dials nothing while offline; a pagehide during a handshake abandons it; a freeze
 * with requests in flight fails the plain ones and answers the retried ones after the resume.
 * Late timers are real: the heartbeat's are native-transport.test.ts's.
 */

import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { heldUpgradeServer } from "../helpers/held-upgrade.js";
import { startServer, type TestServer, until } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { bundle, distPages, html, inPage, newTabs, type Rig, startRig } from "./rig.js";

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

/**
 * Lifecycle events DISPATCHED by the tests on a page of its own per test (`distPages`): several
 * connections in one page, the listeners a connection leaves behind, offline and online flapping,
 * a handshake in progress, requests in flight.
 */
describe("the page lifecycle in Chromium, events dispatched", requireTools("chromium"), () => {
  const pages = distPages(() => rig);
  afterEach(() => pages.close());

  it("three connections in one page each react once to a freeze and a pagehide together, come back once each, and close() removes every listener they added", async () => {
    const page = await pages.open();
    const connections = server.connections;
    const got = await inPage(page, server.url, async (url) => {
      // Counts live listeners per target and type, through the page's own addEventListener.
      const live = new Map<string, number>();
      for (const [tag, target] of [
        ["window", window],
        ["document", document],
      ] as const) {
        const add = target.addEventListener as (...args: unknown[]) => void;
        const remove = target.removeEventListener as (...args: unknown[]) => void;
        const count = (type: string, by: number) =>
          live.set(`${tag} ${type}`, (live.get(`${tag} ${type}`) ?? 0) + by);
        target.addEventListener = function (this: EventTarget, ...args: [string, ...unknown[]]) {
          count(args[0], 1);
          return add.apply(this, args);
        };
        target.removeEventListener = function (this: EventTarget, ...args: [string, ...unknown[]]) {
          count(args[0], -1);
          return remove.apply(this, args);
        };
      }
      const seen: string[] = [];
      const conns = [0, 1, 2].map(
        (i) =>
          new window.evt.Conn({
            reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 },
            onClose: (info) => seen.push(`${i} close ${info.code} ${info.reason}`),
            onConnected: () => seen.push(`${i} open`),
          }),
      );
      await Promise.all(conns.map((c) => c.dial(url)));
      const added = Object.fromEntries(live);
      seen.length = 0;
      document.dispatchEvent(new Event("freeze"));
      dispatchEvent(new PageTransitionEvent("pagehide", { persisted: true }));
      document.dispatchEvent(new Event("freeze"));
      await window.waitFor(() => seen.length === 3, "three closes");
      document.dispatchEvent(new Event("resume"));
      dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true }));
      document.dispatchEvent(new Event("resume"));
      await window.waitFor(() => conns.every((c) => c.state === "open"), "three reopens");
      // online/offline flapping while open: nothing to do.
      for (let i = 0; i < 10; i++) dispatchEvent(new Event(i % 2 ? "online" : "offline"));
      const states = conns.map((c) => c.state);
      const before = [...seen];
      await Promise.all(conns.map((c) => c.close()));
      return { added, seen: before, states, left: [...live].filter(([, n]) => n !== 0) };
    });
    expect(got.added).toEqual({
      "window online": 3,
      "window offline": 3,
      "window pagehide": 3,
      "window pageshow": 3,
      "document freeze": 3,
      "document resume": 3,
      "document visibilitychange": 3,
    });
    expect([...got.seen].sort()).toEqual([
      "0 close 1000 page hidden",
      "0 open",
      "1 close 1000 page hidden",
      "1 open",
      "2 close 1000 page hidden",
      "2 open",
    ]);
    expect(got.states).toEqual(["open", "open", "open"]);
    expect(got.left).toEqual([]);
    expect(server.connections).toBe(connections + 6);
  });

  it("no listener is left on window or document after a connection ends any way: dial failed, retries exhausted, close() while connecting, close() after a re-dial", async () => {
    const page = await pages.open();
    const got = await inPage(page, server.url, async (url) => {
      const live = new Map<string, number>();
      for (const target of [window, document]) {
        const add = target.addEventListener as (...args: unknown[]) => void;
        const remove = target.removeEventListener as (...args: unknown[]) => void;
        const count = (type: string, by: number) => live.set(type, (live.get(type) ?? 0) + by);
        target.addEventListener = function (this: EventTarget, ...args: [string, ...unknown[]]) {
          count(args[0], 1);
          return add.apply(this, args);
        };
        target.removeEventListener = function (this: EventTarget, ...args: [string, ...unknown[]]) {
          count(args[0], -1);
          return remove.apply(this, args);
        };
      }
      const left = () => [...live].filter(([, n]) => n !== 0).length;
      const seen: string[] = [];
      const { Conn } = window.evt;
      const refused = "ws://127.0.0.1:1/";
      let conn = new Conn({ reconnect: false });
      await conn.dial(refused).catch(() => {});
      seen.push(`dial failed: ${conn.state} ${left()}`);
      conn = new Conn({ reconnect: { maxAttempts: 1, minDelayMs: 5, maxDelayMs: 5 } });
      await conn.dial(refused).catch(() => {});
      seen.push(`exhausted: ${conn.state} ${left()}`);
      conn = new Conn({ reconnect: { minDelayMs: 5, maxDelayMs: 5 } });
      const dialing = conn.dial(refused).catch(() => {});
      await conn.close();
      await dialing;
      seen.push(`closed while connecting: ${conn.state} ${left()}`);
      conn = new Conn();
      await conn.dial(url);
      await conn.close();
      await conn.dial(url);
      seen.push(`re-dialled: ${conn.state} ${left()}`);
      await conn.close();
      seen.push(`closed: ${conn.state} ${left()}`);
      return seen;
    });
    expect(got).toEqual([
      "dial failed: closed 0",
      "exhausted: closed 0",
      "closed while connecting: closed 0",
      "re-dialled: open 7",
      "closed: closed 0",
    ]);
  });

  it("offline and online flapping (context.setOffline) while reconnecting: no dial while offline, one socket at a time, open once online", async () => {
    const page = await pages.open();
    await inPage(page, server.url, async (url) => {
      window.seen = [];
      let live = 0;
      const Native = WebSocket;
      window.WebSocket = class extends Native {
        constructor(...args: ConstructorParameters<typeof WebSocket>) {
          super(...args);
          window.seen.push(`socket live=${++live} online=${navigator.onLine}`);
          this.addEventListener("close", () => live--);
        }
      };
      window.conn = new window.evt.Conn({
        reconnect: { minDelayMs: 200, maxDelayMs: 400, jitter: 0 },
        onError: () => {},
      });
      await window.conn.dial(url);
    });
    for (const client of server.clients) client.terminate();
    for (let i = 0; i < 12; i++) {
      await page.context().setOffline(i % 2 === 0);
      await new Promise((resolve) => setTimeout(resolve, 30 * (i % 3)));
    }
    await page.context().setOffline(false);
    const got = await inPage(page, null, async () => {
      await window.waitFor(() => window.conn.state === "open", "the reconnect once online");
      const seen = [...window.seen];
      await window.conn.close();
      return seen;
    });
    expect(got.length).toBeGreaterThanOrEqual(2);
    expect(new Set(got)).toEqual(new Set(["socket live=1 online=true"]));
  });

  it("a pagehide (persisted) during a handshake in progress abandons it; the pageshow dials again and dial() resolves on that socket, one socket at a time", async () => {
    const held = await heldUpgradeServer(() => ({ holdMs: 400 }));
    const page = await pages.open();
    const got = await inPage(page, held.url, async (url) => {
      const seen: string[] = [];
      let live = 0;
      let most = 0;
      const Native = WebSocket;
      window.WebSocket = class extends Native {
        constructor(...args: ConstructorParameters<typeof WebSocket>) {
          super(...args);
          most = Math.max(most, ++live);
          this.addEventListener("close", () => live--);
        }
      };
      const conn = new window.evt.Conn({ reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 } });
      conn.on("state", ({ newState }) => seen.push(newState));
      const dialed = conn.dial(url).then(
        () => "resolved",
        (e: { code: string }) => e.code,
      );
      await new Promise((r) => setTimeout(r, 100));
      dispatchEvent(new PageTransitionEvent("pagehide", { persisted: true }));
      await window.waitFor(() => live === 0, "the abandoned handshake's socket to end");
      const hidden = conn.state;
      dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true }));
      const result = await dialed;
      const state = conn.state;
      await conn.close();
      return { seen, hidden, result, state, most };
    });
    expect(got).toEqual({
      seen: ["connecting", "open", "closed"],
      hidden: "connecting",
      result: "resolved",
      state: "open",
      most: 1,
    });
    await until(() => held.arrivals.length === 2, "two upgrades");
    expect(held.accepted.length).toBe(1);
  });

  it("a freeze with requests in flight: a plain request fails ERR_DISCONNECTED, a retryOnReconnect one and one made while frozen are answered after the resume", async () => {
    const page = await pages.open();
    const got = await inPage(page, server.url, async (url) => {
      const seen: string[] = [];
      const conn = new window.evt.Conn({
        matchMsg: (req, resp) => resp === req,
        reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 },
      });
      await conn.dial(url);
      const settle = (name: string, p: Promise<unknown>) =>
        p.then(
          (r) => seen.push(`${name} ${r}`),
          (e: { code: string }) => seen.push(`${name} ${e.code}`),
        );
      const all = [
        settle("plain", conn.request("plain")),
        settle("retried", conn.request("retried", { retryOnReconnect: true })),
      ];
      document.dispatchEvent(new Event("freeze"));
      all.push(settle("frozen", conn.request("frozen")));
      await new Promise((r) => setTimeout(r, 100));
      document.dispatchEvent(new Event("resume"));
      await Promise.all(all);
      const pending = conn.stats.pendingRequests;
      await conn.close();
      return { seen: [...seen].sort(), pending };
    });
    expect(got).toEqual({ seen: ["frozen frozen", "plain ERR_DISCONNECTED", "retried retried"], pending: 0 });
  });
});

/**
 * What a connection does with a send and a request made while its page is in the back/forward
 * cache (pagehide/pageshow with persisted DISPATCHED by the test: a page in the real cache runs
 * no script to send with), against a server of its own that answers each message `echo:<text>`.
 */
describe("the back/forward cache: what is sent while the page is in it", requireTools("chromium"), () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ onMessage: (ws, data) => ws.send(`echo:${data.toString()}`) });
  });
  afterAll(() => server?.close());
  /** `count` pages of "/" in a new context, once the library is loaded. */
  const tabs = (count: number) => newTabs(rig, count, () => window.evt !== undefined);

  it("a send and a request made while the page is in the back/forward cache are queued and go out when it is back (pagehide/pageshow with persisted DISPATCHED by the test)", async () => {
    const [page] = (await tabs(1)) as [Page];
    const before = server.connections;
    const got = await inPage(page, server.url, async (url) => {
      window.conn = new window.evt.Conn({
        reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 },
        matchMsg: (req, resp) => resp === `echo:${req}`,
      });
      await window.conn.dial(url);
      dispatchEvent(new PageTransitionEvent("pagehide", { persisted: true }));
      const hidden = window.conn.state;
      const sent = window.conn.send("while hidden");
      const reply = window.conn.request("asked while hidden");
      // Nothing goes out while hidden, however long: the socket is closed and none is dialled.
      await new Promise((r) => setTimeout(r, 100));
      const stats = window.conn.stats;
      dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true }));
      return {
        hidden,
        sent,
        queued: stats.queuedMessages,
        pending: stats.pendingRequests,
        reply: await reply,
      };
    });
    expect(got).toEqual({
      hidden: "reconnecting",
      sent: "queued",
      queued: 2,
      pending: 1,
      reply: "echo:asked while hidden",
    });
    await until(() => server.received.includes("while hidden"), "the queued send");
    expect(server.connections).toBe(before + 2);
    await inPage(page, null, () => window.conn.close());
    await page.context().close();
  });
});
