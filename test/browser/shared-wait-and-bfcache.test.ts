/**
 * `evtwebsocket/shared` in Debian's Chromium, across the tabs: a server's wait (1013 "try again
 * later") kept through a leader that is frozen or closes, a follower's reconnect() and close()
 * (no tab dials before the wait's end, no dial is left behind); and the back/forward cache (a
 * leader's or a follower's page restored, a follower sending all along while the leader's page
 * is cached, useConn under StrictMode restored). Real Web Locks and BroadcastChannel, a real
 * `ws` server on 127.0.0.1 ("please:1013" makes it close that socket with 1013); the pages are
 * built from src/ by esbuild (test/browser/rig.ts).
 *
 * The back/forward cache: a REAL navigation away and back (page-lifecycle.test.ts's way), with
 * CDP's `Page.backForwardCacheNotUsed` listened to, so a page that was not restored says why (a
 * tab whose channel was open while cached was evicted: "BroadcastChannelOnMessage").
 *
 * Frozen pages: the test DISPATCHES `freeze` and `resume` on `document`. CDP's
 * `Page.setWebLifecycleState({ state: "frozen" })` on a headless page froze nothing (tried,
 * Chromium 156: the page's timers kept running, no freeze event, the lock stayed put; a window
 * minimized through CDP stays "visible"), as page-lifecycle.test.ts found.
 */

import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SharedConn } from "../../src/shared/index.js";
import { startServer, type TestServer, until } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { bundle, html, inPage, openPages, type Rig, sharedPage, startRig } from "./rig.js";

type W = Window & { a: SharedConn<string, string>; log: string[]; shows: boolean[] };

/** Two components sharing one connection (`share`), under StrictMode: their states in `window.states`. */
const REACT_APP = `
import { StrictMode } from "react";
import { flushSync } from "react-dom";
import { createRoot } from "react-dom/client";
import { useConn } from "./src/react/index.ts";

window.states = {};
function Feed({ name, url }) {
  const { conn, state } = useConn(url, { share: "feed", reconnect: { minDelayMs: 60000, maxDelayMs: 60000, jitter: 0 } });
  window.states[name] = state;
  window.conns = { ...window.conns, [name]: conn };
  return <p>{name}: {state}</p>;
}
const root = createRoot(document.getElementById("root"));
window.render = (url) => flushSync(() => root.render(<StrictMode><Feed name="a" url={url} /><Feed name="b" url={url} /></StrictMode>));
window.ready = true;
`;

let rig: Rig;
let server: TestServer;
/** What the server saw, in order, with its clock: connections, messages, closes. */
const seen: { at: number; what: string }[] = [];
const at = (what: string) => seen.find((s) => s.what === what)?.at ?? Number.NaN;

beforeAll(async () => {
  // The back/forward cache on (playwright-core turns it off), and a second page to navigate to.
  rig = await startRig(
    {
      ...(await sharedPage()),
      "/other": html("/none.js", "<p>another page</p>"),
      "/react": html("/react.js", `<div id="root"></div>`),
      "/react.js": await bundle({ code: REACT_APP }),
    },
    { ignoreDefaultArgs: ["--disable-back-forward-cache"] },
  );
  server = await startServer({
    onConnection: (ws) => {
      const n = server.connections;
      seen.push({ at: Date.now(), what: `open ${n}` });
      ws.on("close", (code) => seen.push({ at: Date.now(), what: `close ${n} ${code}` }));
    },
    onMessage: (ws, data) => {
      const text = data.toString();
      seen.push({ at: Date.now(), what: text });
      if (text.startsWith("please:1013")) ws.close(1013, "try again later");
      else ws.send(`echo:${text}`);
    },
  });
}, 60_000);

afterAll(async () => {
  await rig?.close();
  await server?.close();
});

/** A page whose shared connection `name` is made, listened to (`log`) and dialled; resolves once it is open. */
async function openTab(context: BrowserContext, name: string): Promise<Page> {
  const [page] = (await openPages(context, `${rig.origin}/`, 1, () => window.shared !== undefined)) as [Page];
  await inPage(page, [server.url, name] as const, async ([url, shared]) => {
    const w = window as unknown as W;
    w.log = [];
    // The 1013 wait is 5 s (TRY_AGAIN_LATER_MS); a 50 ms backoff is far shorter.
    w.a = window.shared.createSharedConn<string, string>(shared, {
      reconnect: { minDelayMs: 50, maxDelayMs: 10_000, jitter: 0 },
      matchMsg: (req, resp) => resp === `echo:${req}`,
    });
    for (const event of ["role", "state", "reconnecting"] as const)
      w.a.on(event, (arg: unknown) =>
        w.log.push(`${event} ${typeof arg === "object" ? JSON.stringify(arg) : String(arg)}`),
      );
    await w.a.dial(url);
  });
  return page;
}

const state = (page: Page) => inPage(page, null, () => (window as unknown as W).a.state);

describe(
  "evtwebsocket/shared: a server's wait (1013) across the tabs (Chromium)",
  requireTools("chromium"),
  () => {
    for (const how of ["is frozen", "closes"] as const) {
      it(`a leader that ${how} during the server's wait (1013): the next leader dials at the wait's end, not at once, and a follower's send made meanwhile reaches the server once${how === "is frozen" ? " (freeze and resume DISPATCHED by the test)" : ""}`, async () => {
        const context = await rig.browser.newContext();
        const name = `wait-${how === "closes" ? "close" : "freeze"}`;
        const first = await openTab(context, name);
        const second = await openTab(context, name);
        // A closed page sends nothing: a third tab (after the second in the lock's queue) follows and sends.
        const third = how === "closes" ? await openTab(context, name) : undefined;
        const before = server.connections;
        const please = `please:1013 ${name}`;
        await inPage(second, please, (m) => (window as unknown as W).a.send(m));
        await until(() => seen.some((s) => s.what === `close ${before} 1013`), "the server's 1013");
        await inPage(second, null, () =>
          window.waitFor(
            () => (window as unknown as W).log.some((l) => l.startsWith("reconnecting")),
            "the second tab to hear the wait",
          ),
        );
        if (how === "closes") await first.close();
        else await inPage(first, null, () => document.dispatchEvent(new Event("freeze")));
        await inPage(second, null, () =>
          window.waitFor(() => (window as unknown as W).a.role === "leader", "the second tab to lead"),
        );
        // A follower (the old leader, back; or the third tab) sends while the new leader waits.
        const sender = third ?? first;
        if (how === "is frozen") await inPage(first, null, () => document.dispatchEvent(new Event("resume")));
        const during = `during the wait ${name}`;
        await inPage(sender, during, (m) => (window as unknown as W).a.send(m));
        await until(() => server.connections === before + 1, "the next leader's socket", 20_000);
        await inPage(second, null, () =>
          window.waitFor(() => (window as unknown as W).a.state === "open", "open again", 20_000),
        );
        await until(() => seen.some((s) => s.what === during), "the send made during the wait");
        // The server's clock, from the moment it closed with 1013 (before any tab heard of the
        // wait, 5,000 ms, no jitter; its close event comes later, once the tab answered).
        const waited = at(`open ${before + 1}`) - at(please);
        expect(waited, "the next leader's socket came before the server's wait ended").toBeGreaterThanOrEqual(
          5000,
        );
        expect(seen.filter((s) => s.what === during)).toHaveLength(1);
        expect(at(during)).toBeGreaterThanOrEqual(at(`open ${before + 1}`));
        expect(server.connections, "one socket for the tabs").toBe(before + 1);
        expect(await state(sender)).toBe("open");
        const log = await inPage(second, null, () => (window as unknown as W).log);
        expect(log.filter((l) => l.startsWith("state"))).toEqual([
          'state {"oldState":"idle","newState":"open"}',
          'state {"oldState":"open","newState":"reconnecting"}',
          'state {"oldState":"reconnecting","newState":"open"}',
        ]);
        for (const page of context.pages())
          await inPage(page, null, () => (window as unknown as W).a?.close());
        await context.close();
      }, 60_000);
    }

    it("during a takeover's wait for the server (1013), a follower's reconnect() dials nothing early, and the waiting leader's close() leaves no dial behind: the next leader dials once, at the wait's end (freeze DISPATCHED by the test)", async () => {
      const context = await rig.browser.newContext();
      const name = "wait-then-close";
      const [first, second, third] = [
        await openTab(context, name),
        await openTab(context, name),
        await openTab(context, name),
      ] as [Page, Page, Page];
      const before = server.connections;
      await inPage(third, `please:1013 ${name}`, (m) => (window as unknown as W).a.send(m));
      await until(() => seen.some((s) => s.what === `close ${before} 1013`), "the server's 1013");
      await inPage(second, null, () =>
        window.waitFor(
          () => (window as unknown as W).log.some((l) => l.startsWith("reconnecting")),
          "the second tab to hear the wait",
        ),
      );
      await inPage(first, null, () => document.dispatchEvent(new Event("freeze")));
      await inPage(second, null, () =>
        window.waitFor(() => (window as unknown as W).a.role === "leader", "the second tab to lead"),
      );
      // Asked of the waiting leader: Conn's reconnect() keeps the server's wait.
      await inPage(third, null, () => (window as unknown as W).a.reconnect(4000, "now please"));
      // The leader that waits closes: the lock passes to the third tab, which waits too.
      await inPage(second, null, () => (window as unknown as W).a.close());
      await inPage(third, null, () =>
        window.waitFor(() => (window as unknown as W).a.state === "open", "open again", 20_000),
      );
      const waited = at(`open ${before + 1}`) - at(`please:1013 ${name}`);
      expect(waited, "a socket came before the server's wait ended").toBeGreaterThanOrEqual(5000);
      expect(await inPage(third, null, () => (window as unknown as W).a.role)).toBe("leader");
      // One socket, and none made later by the tab that closed while it waited.
      const reply = await inPage(third, null, () => (window as unknown as W).a.request("after the wait"));
      expect(reply).toBe("echo:after the wait");
      expect(server.connections).toBe(before + 1);
      for (const page of [first, third]) await inPage(page, null, () => (window as unknown as W).a.close());
      await context.close();
    }, 60_000);

    it("during the leader's wait for the server (1013), a follower's reconnect() dials nothing early, and another follower's close() settles its own request (ERR_CLOSED) and changes nothing for the others", async () => {
      const context = await rig.browser.newContext();
      const name = "wait-follower-calls";
      const [leader, asker, leaver] = [
        await openTab(context, name),
        await openTab(context, name),
        await openTab(context, name),
      ] as [Page, Page, Page];
      const before = server.connections;
      const please = `please:1013 ${name}`;
      await inPage(leader, please, (m) => (window as unknown as W).a.send(m));
      for (const page of [asker, leaver])
        await inPage(page, null, () =>
          window.waitFor(
            () => (window as unknown as W).log.some((l) => l.startsWith("reconnecting")),
            "the follower to hear the wait",
          ),
        );
      await inPage(asker, null, () => (window as unknown as W).a.reconnect(4000, "now please"));
      const left = await inPage(leaver, null, async () => {
        const w = window as unknown as W;
        const pending = w.a.request("never answered").then(
          () => "resolved",
          (error) => error.code,
        );
        await w.a.close();
        return { request: await pending, state: w.a.state };
      });
      expect(left).toEqual({ request: "ERR_CLOSED", state: "closed" });
      const reply = await inPage(asker, null, async () => {
        const w = window as unknown as W;
        await window.waitFor(() => w.a.state === "open", "open again", 20_000);
        return w.a.request("after the wait");
      });
      expect(reply).toBe("echo:after the wait");
      const waited = at(`open ${before + 1}`) - at(please);
      expect(waited, "a socket came before the server's wait ended").toBeGreaterThanOrEqual(5000);
      expect(server.connections).toBe(before + 1);
      expect(await inPage(leader, null, () => (window as unknown as W).a.role)).toBe("leader");
      for (const page of [leader, asker]) await inPage(page, null, () => (window as unknown as W).a.close());
      await context.close();
    }, 60_000);
  },
);

describe(
  "evtwebsocket/shared: the back/forward cache, a real navigation away and back (Chromium)",
  requireTools("chromium"),
  () => {
    for (const which of ["follower", "leader"] as const) {
      it(`a ${which}'s page navigated away and back while the other tab's connection is busy is restored from the back/forward cache (not evicted by the tabs' channel): it follows, its request resolves, and the server sees no second socket`, async () => {
        const context = await rig.browser.newContext();
        const name = `bfcache-${which}`;
        const first = await openTab(context, name);
        const second = await openTab(context, name);
        const away = which === "leader" ? first : second;
        const stays = which === "leader" ? second : first;
        const before = server.connections;
        const from = seen.length;
        await inPage(away, null, () => {
          const w = window as unknown as W;
          w.shows = [];
          addEventListener("pageshow", (e) => w.shows.push(e.persisted));
          // Made as the page leaves (after the shared connection's own pagehide listener): kept.
          addEventListener("pagehide", () => {
            w.a.send(`bye ${w.a.role}`);
            w.log.push("bye sent");
            void w.a.request(`bye request`).then((reply) => w.log.push(reply));
          });
        });
        const cdp = await context.newCDPSession(away);
        await cdp.send("Page.enable");
        const notRestored: string[] = [];
        cdp.on("Page.backForwardCacheNotUsed", (e) =>
          notRestored.push(...e.notRestoredExplanations.map((x) => x.reason)),
        );
        await away.goto(`${rig.origin}/other`);
        // The tab that stays leads (a leader that left stepped down) and its connection is busy:
        // every message it hears crosses the tabs' channel.
        await inPage(stays, null, async () => {
          const w = window as unknown as W;
          await window.waitFor(
            () => w.a.role === "leader" && w.a.state === "open",
            "the other tab to lead, open",
          );
          let heard = 0;
          const off = w.a.on("message", () => heard++);
          for (let i = 0; i < 3; i++) w.a.send(`while away ${i}`); // echoed: messages, not responses
          await window.waitFor(() => heard === 3, "the echoes");
          off();
        });
        await away.goBack({ waitUntil: "commit" });
        await away.waitForFunction(() => document.readyState === "complete", undefined, { timeout: 10_000 });
        expect(notRestored, "why Chromium did not restore the page").toEqual([]);
        const got = await inPage(away, null, async () => {
          const w = window as unknown as W;
          await window.waitFor(() => w.a.state === "open", "open after the restore");
          return { shows: w.shows, role: w.a.role, reply: await w.a.request("back") };
        });
        expect(got).toEqual({ shows: [true], role: "follower", reply: "echo:back" });
        // What it sent as it left reached the server once, after the restore; its request resolved.
        await inPage(away, null, () =>
          window.waitFor(
            () => (window as unknown as W).log.includes("echo:bye request"),
            "the request made as it left",
          ),
        );
        const mine = seen.slice(from).map((x) => x.what);
        expect(mine.filter((x) => x === "bye follower")).toHaveLength(1);
        expect(mine.filter((x) => x === "bye request")).toHaveLength(1);
        expect(await inPage(stays, null, () => (window as unknown as W).a.role)).toBe("leader");
        expect(server.connections, "one socket for the tabs").toBe(before + (which === "leader" ? 1 : 0));
        for (const page of [first, second])
          await inPage(page, null, () => (window as unknown as W).a.close());
        await context.close();
      }, 60_000);
    }

    it("while the leader's page goes into the back/forward cache and comes back, a follower sending and requesting all along loses nothing and sends nothing twice, every request settles, the roles go in order, and the server holds one socket at a time", async () => {
      const context = await rig.browser.newContext();
      const name = "bfcache-busy";
      const [leader, sender, third] = [
        await openTab(context, name),
        await openTab(context, name),
        await openTab(context, name),
      ] as [Page, Page, Page];
      const before = server.connections;
      const from = seen.length;
      type Busy = W & { halted: boolean; count: number; outcomes: string[] };
      await inPage(sender, null, () => {
        const w = window as unknown as Busy;
        w.halted = false;
        w.count = 0;
        w.outcomes = [];
        const tick = () => {
          if (w.halted) return;
          const i = w.count++;
          w.a.send(`busy ${i}`);
          if (i % 5 === 0) {
            const retry = i % 10 === 0;
            w.a.request(`req ${i}`, { retryOnReconnect: retry, timeoutMs: 20_000 }).then(
              (reply) => w.outcomes.push(`${i} ${reply}`),
              (error) => w.outcomes.push(`${i} ${retry ? "retry " : ""}${error.code}`),
            );
          }
          setTimeout(tick, 5);
        };
        tick();
      });
      await leader.goto(`${rig.origin}/other`);
      await until(() => server.connections === before + 1, "the next leader's socket");
      await leader.goBack({ waitUntil: "commit" });
      await leader.waitForFunction(() => document.readyState === "complete", undefined, { timeout: 10_000 });
      const restored = await inPage(leader, null, async () => {
        const w = window as unknown as W;
        await window.waitFor(() => w.a.state === "open", "open after the restore");
        return { role: w.a.role, roles: w.log.filter((l) => l.startsWith("role")) };
      });
      const sent = await inPage(sender, null, async () => {
        const w = window as unknown as Busy;
        w.halted = true;
        const requests = Math.ceil(w.count / 5);
        await window.waitFor(() => w.outcomes.length === requests, "every request to settle", 30_000);
        await w.a.drained();
        return { count: w.count, outcomes: w.outcomes };
      });
      const got = seen.slice(from).map((x) => x.what);
      for (let i = 0; i < sent.count; i++)
        expect(
          got.filter((x) => x === `busy ${i}`),
          `busy ${i} at the server`,
        ).toHaveLength(1);
      // A request without retryOnReconnect may be lost with the old leader; one with it is not.
      for (const outcome of sent.outcomes) expect(outcome).toMatch(/^\d+ (echo:req \d+|ERR_DISCONNECTED)$/);
      expect(restored).toEqual({ role: "follower", roles: ["role leader", "role follower"] });
      // The old leader's socket closed (it may overlap the next one's handshake: one socket at a
      // time once the handover settled) and the next one opened; none since.
      const events = got.filter((x) => x.startsWith("open") || x.startsWith("close"));
      expect(events.sort()).toEqual([`close ${before} 1000`, `open ${before + 1}`]);
      expect(sent.count, "sends made across the handover").toBeGreaterThan(0);
      console.log(
        `bfcache-busy: ${sent.count} sends, ${sent.outcomes.length} requests: ${sent.outcomes.join(", ")}`,
      );
      expect(server.connections).toBe(before + 1);
      for (const page of [leader, sender, third])
        await inPage(page, null, () => (window as unknown as W).a.close());
      await context.close();
    }, 60_000);

    it("useConn under StrictMode, two components sharing one connection: a page navigated away and back is restored from the back/forward cache, both components go back to open on one socket, and none is left behind", async () => {
      type R = Window & {
        render(url: string): void;
        states: Record<string, string>;
        conns: Record<string, unknown>;
      };
      const context = await rig.browser.newContext();
      const page = await context.newPage();
      await page.goto(`${rig.origin}/react`);
      await page.waitForFunction(
        () => (window as unknown as R & { ready?: boolean }).ready === true,
        undefined,
        {
          timeout: 10_000,
        },
      );
      const before = server.connections;
      const from = seen.length;
      await inPage(page, server.url, async (url) => {
        const w = window as unknown as R;
        w.render(url);
        await window.waitFor(() => w.states.a === "open" && w.states.b === "open", "both open");
      });
      expect(server.connections, "StrictMode left one socket").toBe(before + 1);
      const cdp = await context.newCDPSession(page);
      await cdp.send("Page.enable");
      const notRestored: string[] = [];
      cdp.on("Page.backForwardCacheNotUsed", (e) =>
        notRestored.push(...e.notRestoredExplanations.map((x) => x.reason)),
      );
      await page.goto(`${rig.origin}/other`);
      await until(
        () => seen.slice(from).some((x) => x.what === `close ${before + 1} 1000`),
        "the hidden page's close",
      );
      await page.goBack({ waitUntil: "commit" });
      await page.waitForFunction(() => document.readyState === "complete", undefined, { timeout: 10_000 });
      expect(notRestored, "why Chromium did not restore the page").toEqual([]);
      const got = await inPage(page, null, async () => {
        const w = window as unknown as R;
        // A minute of backoff: only the restore explains a prompt reconnect.
        await window.waitFor(() => w.states.a === "open" && w.states.b === "open", "both open again");
        return w.conns.a === w.conns.b;
      });
      expect(got, "one connection for both").toBe(true);
      expect(server.connections, "one socket after the restore").toBe(before + 2);
      await context.close();
    }, 60_000);
  },
);
