/**
 * Issue 19's promises that no other test pinned, checked in Debian's Chromium as a user of
 * `evtwebsocket/shared` and the page-lifecycle handling would meet them: real Web Locks and
 * BroadcastChannel, pages of one origin built from src/ by esbuild (test/browser/rig.ts),
 * against a real `ws` server on 127.0.0.1.
 *
 * - "The codec runs in the leader, and requests are matched in the tab that made them": each
 *   tab's codec tags what it encodes and decodes with the tab's own name, so the server and the
 *   tabs can tell whose codec ran; two followers' requests in flight at once each settle in the
 *   tab that made it, and reach no tab's `"message"` event.
 * - "Where Web Locks or BroadcastChannel is missing ... falls back to a private connection and
 *   says so (`"alone"`)": each of the two removed in turn from real pages.
 * - "When the leader tab closes, crashes or is frozen, the lock passes to another tab": the
 *   leader's renderer CRASHED through CDP (`Page.crash`); closing and freezing are
 *   test/browser/shared.test.ts's.
 * - Back/forward cache: "Queued messages and pending requests follow the usual rules": a send
 *   and a request made while the page is in the cache are queued and go out once it is back.
 *   The test DISPATCHES `pagehide`/`pageshow` with `persisted` (a page in the real cache runs
 *   no script to send with; page-lifecycle.test.ts makes the real navigation).
 */

import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SharedConn } from "../../src/shared/index.js";
import { startServer, type TestServer, until } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { bundle, html, inPage, openPages, type Rig, startRig } from "./rig.js";

type Tagged = { by: string; text: string };
type W = Window & { tab: string; tc: SharedConn<Tagged, string>; got: unknown[]; roles: string[] };

let rig: Rig;
let server: TestServer;

beforeAll(async () => {
  const app = await bundle({
    code: `import * as shared from "./src/shared/index.ts"; import * as evt from "./src/index.ts";
window.shared = shared; window.evt = evt;`,
  });
  rig = await startRig({ "/": html("/app.js"), "/app.js": app });
  server = await startServer({
    onMessage: (ws, data) => {
      const text = data.toString();
      if (text.includes("hold")) return; // "hold" anywhere: not answered
      // "<tab>:<body>" (a tagging codec's output) is answered "echo:<body>".
      ws.send(`echo:${text.slice(text.indexOf(":") + 1)}`);
    },
  });
}, 60_000);

afterAll(async () => {
  await rig?.close();
  await server?.close();
});

const tabs = (count: number) =>
  rig.browser
    .newContext()
    .then((context) => openPages(context, `${rig.origin}/`, count, () => window.shared !== undefined));

describe("issue 19 audit (Chromium)", requireTools("chromium"), () => {
  it("the codec runs in the leader: a follower's send is encoded, and every tab's message decoded, by the leader tab's codec; two followers' requests at once each settle in the tab that made it, and no tab's message event gets them", async () => {
    const pages = await tabs(3);
    for (const [i, page] of pages.entries()) {
      await inPage(page, { url: server.url, name: `tab${i}` }, async ({ url, name }) => {
        const w = window as unknown as W;
        w.tab = name;
        w.got = [];
        w.tc = w.shared.createSharedConn<Tagged, string>("codec", {
          codec: {
            encode: (body: string) => `${w.tab}:${body}`,
            decode: (data) => ({ by: w.tab, text: String(data) }),
          },
          matchMsg: (req, resp) => resp.text === `echo:${req}`,
        });
        w.tc.on("message", (msg) => w.got.push(msg));
        await w.tc.dial(url);
      });
    }
    const roles = await Promise.all(
      pages.map((p) => inPage(p, null, () => (window as unknown as W).tc.role)),
    );
    expect([...roles].sort()).toEqual(["follower", "follower", "leader"]);
    const leaderTab = `tab${roles.indexOf("leader")}`;
    const followers = pages.filter((_, i) => roles[i] === "follower") as [Page, Page];

    await inPage(followers[0], null, () => void (window as unknown as W).tc.send("hold-plain"));
    await until(() => server.received.includes(`${leaderTab}:hold-plain`), "the follower's send, encoded");
    expect(server.received.filter((m) => m.endsWith(":hold-plain"))).toEqual([`${leaderTab}:hold-plain`]);

    for (const ws of server.clients) ws.send("pushed");
    for (const page of pages)
      await inPage(page, null, () =>
        window.waitFor(() => (window as unknown as W).got.length > 0, "the pushed message"),
      );
    const heard = await Promise.all(pages.map((p) => inPage(p, null, () => (window as unknown as W).got)));
    expect(heard).toEqual(pages.map(() => [{ by: leaderTab, text: "pushed" }]));

    const answers = await Promise.all(
      followers.map((page, i) =>
        inPage(page, `q${i}`, (q) => (window as unknown as W).tc.request(q).then((r) => ({ ...r }))),
      ),
    );
    expect(answers).toEqual([
      { by: leaderTab, text: "echo:q0" },
      { by: leaderTab, text: "echo:q1" },
    ]);
    // Matched responses are no tab's messages: every tab still has the one push only.
    const after = await Promise.all(pages.map((p) => inPage(p, null, () => (window as unknown as W).got)));
    expect(after).toEqual(heard);
    for (const page of pages) await inPage(page, null, () => (window as unknown as W).tc.close());
    await pages[0]!.context().close();
  });

  it.each([
    [
      "navigator.locks",
      () => void Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined }),
    ],
    ["BroadcastChannel", () => void Reflect.deleteProperty(window, "BroadcastChannel")],
  ])('without %s two pages each hold a private connection and say so: role "alone"', async (_, remove) => {
    const pages = await tabs(2);
    const before = server.connections;
    const got = await Promise.all(
      pages.map((page) =>
        page.evaluate(remove).then(() =>
          inPage(page, server.url, async (url) => {
            const w = window as unknown as W;
            w.sc = w.shared.createSharedConn<string, string>("alone", {
              matchMsg: (req, resp) => resp === `echo:${req}`,
            });
            const role = w.sc.role;
            await w.sc.dial(url);
            return { role, reply: await w.sc.request("q") };
          }),
        ),
      ),
    );
    expect(got).toEqual([
      { role: "alone", reply: "echo:q" },
      { role: "alone", reply: "echo:q" },
    ]);
    expect(server.connections).toBe(before + 2);
    for (const page of pages) await inPage(page, null, () => window.sc.close());
    await pages[0]!.context().close();
  });

  it("close() leaves no listener on the page's window or document, in a leader and in a follower (no listener outlives close())", async () => {
    const pages = await tabs(2);
    for (const page of pages)
      await inPage(page, server.url, async (url) => {
        const w = window as unknown as W & { pageListeners: Map<string, number> };
        w.pageListeners = new Map();
        for (const target of [window, document] as EventTarget[]) {
          const add = target.addEventListener.bind(target);
          const remove = target.removeEventListener.bind(target);
          const name = target === window ? "window" : "document";
          target.addEventListener = (type: string, ...rest: [EventListener]) => {
            w.pageListeners.set(`${name} ${type}`, (w.pageListeners.get(`${name} ${type}`) ?? 0) + 1);
            add(type, ...rest);
          };
          target.removeEventListener = (type: string, ...rest: [EventListener]) => {
            w.pageListeners.set(`${name} ${type}`, (w.pageListeners.get(`${name} ${type}`) ?? 0) - 1);
            remove(type, ...rest);
          };
        }
        w.sc = w.shared.createSharedConn<string, string>("listeners");
        await w.sc.dial(url);
      });
    const got = await Promise.all(
      pages.map((page) =>
        inPage(page, null, async () => {
          const w = window as unknown as W & { pageListeners: Map<string, number> };
          const role = w.sc.role;
          const open = [...w.pageListeners.values()].reduce((a, b) => a + b, 0);
          await w.sc.close();
          return { role, open: open > 0, left: [...w.pageListeners].filter(([, n]) => n !== 0) };
        }),
      ),
    );
    expect(got.map((g) => g.role).sort()).toEqual(["follower", "leader"]);
    expect(got.map(({ open, left }) => ({ open, left }))).toEqual([
      { open: true, left: [] },
      { open: true, left: [] },
    ]);
    await pages[0]!.context().close();
  });

  it("the leader's page CRASHES (CDP Page.crash): the lock passes, another tab dials, and a follower's request resolves through it", async () => {
    const pages = await tabs(3);
    const before = server.connections;
    for (const page of pages)
      await inPage(page, server.url, async (url) => {
        const w = window as unknown as W;
        w.roles = [];
        w.sc = w.shared.createSharedConn<string, string>("crash", {
          matchMsg: (req, resp) => resp === `echo:${req}`,
          reconnect: { minDelayMs: 50, maxDelayMs: 50, jitter: 0 },
        });
        w.sc.on("role", (role) => w.roles.push(role));
        await window.sc.dial(url);
      });
    expect(server.connections).toBe(before + 1);
    const roles = await Promise.all(pages.map((p) => inPage(p, null, () => window.sc.role)));
    const leader = pages[roles.indexOf("leader")]!;
    const others = pages.filter((p) => p !== leader) as [Page, Page];
    const cdp = await leader.context().newCDPSession(leader);
    void cdp.send("Page.crash").catch(() => {}); // the session dies with the renderer
    await until(() => server.connections === before + 2, "the next leader's connection");
    const after = await Promise.all(
      others.map((page) =>
        inPage(page, null, async () => {
          await window.waitFor(() => window.sc.state === "open", "the shared connection open again");
          return {
            roles: (window as unknown as W).roles,
            reply: await window.sc.request(`after-${window.sc.role}`),
          };
        }),
      ),
    );
    expect(after.map((a) => a.roles.join()).sort()).toEqual(["", "leader"]);
    expect(after.map((a) => a.reply).sort()).toEqual(["echo:after-follower", "echo:after-leader"]);
    expect(server.connections).toBe(before + 2);
    for (const page of others) await inPage(page, null, () => window.sc.close());
    await leader.context().close();
  });

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
