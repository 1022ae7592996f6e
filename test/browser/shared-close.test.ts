/**
 * `evtwebsocket/shared` in Debian's Chromium: what a tab's listeners hear around its close().
 * A leader's close() resolves once its old socket has closed and nothing is heard after it
 * (after a step-down, and for a second close() made while the first waits); a leader that
 * stepped down and leads again before its old socket closed does not report that socket's close
 * as news; and close() leaves no listener on the page's window or document, in a leader and in a
 * follower. Real Web Locks and BroadcastChannel, a real `ws` server on 127.0.0.1 (its
 * "pause:reading" stops reading a socket, so that socket's close waits until the test resumes it).
 */

import type { Socket } from "node:net";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SharedConn } from "../../src/shared/index.js";
import { startServer, type TestServer, until } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import {
  countSocketEnds,
  inPage,
  newTabs,
  openPages,
  pauseReading,
  type Rig,
  sharedPage,
  startRig,
} from "./rig.js";

type W = Window & {
  a: SharedConn<string, string>;
  late: string[];
  done: boolean;
  endsAtClose: number;
  closes: string[];
};

let rig: Rig;
let server: TestServer;
const closes: string[] = [];
/** Server sockets that stopped reading ("pause:reading"). */
const paused: Socket[] = [];

beforeAll(async () => {
  rig = await startRig(await sharedPage());
  server = await startServer({
    onConnection: (ws) => ws.on("close", (code, reason) => closes.push(`${code} ${reason.toString()}`)),
    onMessage: (ws, data) => {
      if (data.toString() === "pause:reading") paused.push(pauseReading(ws));
    },
  });
}, 60_000);

afterAll(async () => {
  await rig?.close();
  await server?.close();
});

const blankTabs = (context: BrowserContext, count: number) =>
  openPages(context, `${rig.origin}/`, count, () => window.shared !== undefined);
/** `count` blank tabs in a new context. */
const tabs = (count: number) => newTabs(rig, count);

/**
 * A tab whose shared connection `name` leads, records in `late` every event heard once `done`
 * is set, and has asked the server to stop reading (so its socket's close waits).
 */
async function leaderWithReadingPaused(name: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await rig.browser.newContext();
  const [page] = (await blankTabs(context, 1)) as [Page];
  await countSocketEnds(page);
  await inPage(page, [server.url, name] as const, async ([url, shared]) => {
    const w = window as unknown as W;
    w.late = [];
    w.done = false;
    w.a = window.shared.createSharedConn<string, string>(shared);
    for (const event of ["close", "state", "error", "message", "role", "reconnecting"] as const)
      w.a.on(event, () => w.done && w.late.push(event));
    await w.a.dial(url);
    w.a.send("pause:reading");
  });
  return { context, page };
}

describe("evtwebsocket/shared: a tab's close() (Chromium)", requireTools("chromium"), () => {
  it("a leader that stepped down (freeze) and then closes hears nothing after its close() resolved, which waits for its old socket's close (freeze DISPATCHED by the test)", async () => {
    const { context, page } = await leaderWithReadingPaused("stepped-then-closed");
    await until(() => paused.length === 1, "the server to stop reading");
    const closesBefore = closes.length;
    await inPage(page, null, () => {
      const w = window as unknown as W;
      document.dispatchEvent(new Event("freeze")); // steps down: its socket's close waits for the server
      void w.a.close().then(() => {
        w.endsAtClose = window.socketEnds;
        w.done = true;
      });
    });
    paused[0]!.resume();
    await until(() => closes.length === closesBefore + 1, "the old socket's close at the server");
    expect(closes.at(-1)).toBe("1000 page hidden");
    const got = await inPage(page, null, async () => {
      const w = window as unknown as W;
      await window.waitFor(
        () => window.socketEnds === 1 && w.done,
        "the old socket's close event and close() in the page",
      );
      await new Promise((r) => setTimeout(r, 0)); // the transport's onclose ran in that turn
      return { late: w.late, endsAtClose: w.endsAtClose };
    });
    // close() resolves once its old socket is closed (no socket outlives it), and nothing after.
    expect(got).toEqual({ late: [], endsAtClose: 1 });
    await context.close();
  });

  it("a leader that stepped down (freeze) and leads again (resume) before its old socket closed does not tell that socket's close (1000, page hidden) as news: the one close is the drop (1006) (freeze and resume DISPATCHED by the test)", async () => {
    const context = await rig.browser.newContext();
    const [page] = (await blankTabs(context, 1)) as [Page];
    await countSocketEnds(page);
    await inPage(page, server.url, async (url) => {
      const w = window as unknown as W;
      w.closes = [];
      w.a = window.shared.createSharedConn<string, string>("stepped-then-led");
      w.a.on("role", (role) => w.closes.push(role));
      w.a.on("close", (info) => w.closes.push(`${info.code} ${info.reason}`));
      await w.a.dial(url);
      w.a.send("pause:reading");
    });
    await until(() => paused.length === 2, "the server to stop reading");
    await inPage(page, null, async () => {
      const w = window as unknown as W;
      document.dispatchEvent(new Event("freeze")); // steps down: its socket's close waits for the server
      document.dispatchEvent(new Event("resume")); // queues for the lock again: no other tab has it
      await window.waitFor(() => w.a.role === "leader", "this tab to lead again");
    });
    paused[1]!.resume();
    const closes = await inPage(page, null, async () => {
      const w = window as unknown as W;
      await window.waitFor(
        () => window.socketEnds === 1 && w.a.state === "open",
        "the old socket's end, then open",
      );
      await new Promise((r) => setTimeout(r, 0)); // the transport's onclose ran in that turn
      return w.closes;
    });
    expect(closes).toEqual(["leader", "follower", "leader", "1006 "]);
    await inPage(page, null, () => (window as unknown as W).a.close());
    await context.close();
  });

  it("a leader's second close(), made while the first waits for the socket, resolves when the first does: no event after it", async () => {
    const { context, page } = await leaderWithReadingPaused("closed-twice");
    await until(() => paused.length === 3, "the server to stop reading");
    await inPage(page, null, () => {
      const w = window as unknown as W;
      void w.a.close(); // waits for the server's close frame
      void w.a.close().then(() => {
        w.endsAtClose = window.socketEnds;
        w.done = true;
      });
    });
    paused[2]!.resume();
    const got = await inPage(page, null, async () => {
      const w = window as unknown as W;
      await window.waitFor(
        () => window.socketEnds === 1 && w.done,
        "the socket's close event and the second close()",
      );
      await new Promise((r) => setTimeout(r, 0));
      return { late: w.late, endsAtClose: w.endsAtClose };
    });
    expect(got).toEqual({ late: [], endsAtClose: 1 });
    await context.close();
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
});
