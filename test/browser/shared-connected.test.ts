/**
 * A shared connection's `connected` listeners that return a promise, in Debian's Chromium with
 * a real `ws` server on 127.0.0.1: as Conn's, a rejection reaches this tab's `error` event as
 * `ERR_CALLBACK_THREW` ("onConnected rejected"), never the page as an unhandled rejection, in a
 * leader, a follower, a tab that joins an open connection and a lone tab; and the socket
 * holder's promise (a leader's, a lone tab's) holds the queue until it settles, the followers'
 * queued sends included. A follower's promise holds nothing: its sends go through the leader.
 */

import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SharedConn } from "../../src/shared/index.js";
import { startServer, type TestServer, until } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { inPage, openPages, type Rig, sharedPage, startRig } from "./rig.js";

type W = Window & {
  a: SharedConn<string, string>;
  log: string[];
  /** Settles the promise the last `connected` call of a "hold" tab returned: sends "auth" first. */
  release?: (fail: boolean) => void;
};

let rig: Rig;
let server: TestServer;
/** The pages' uncaught errors and unhandled rejections. */
const errors: string[] = [];

beforeAll(async () => {
  rig = await startRig(await sharedPage());
  server = await startServer({ onMessage: (ws, data) => ws.send(`echo:${data.toString()}`) });
}, 60_000);

afterAll(async () => {
  await rig?.close();
  await server?.close();
});

/**
 * A page whose shared connection `name` is made, not dialled. `mode` "reject": its onConnected
 * option and an `on("connected")` listener are async and reject (naming `tag`); "hold": its
 * onConnected returns a promise that {@link W.release} settles; "wait": one that never settles;
 * "odd": an object whose `then` is not a function (no promise, as Conn reads it).
 * `alone`: the page has no Web Locks.
 */
async function openTab(
  context: BrowserContext,
  name: string,
  tag: string,
  mode: "reject" | "hold" | "wait" | "odd",
  alone = false,
): Promise<Page> {
  const [page] = (await openPages(context, `${rig.origin}/`, 1, () => window.shared !== undefined)) as [Page];
  page.on("pageerror", (error) => errors.push(String(error)));
  if (alone)
    await page.evaluate(() => Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined }));
  await inPage(page, [name, tag, mode] as const, ([name, tag, mode]) => {
    const w = window as unknown as W;
    w.log = [];
    w.a = window.shared.createSharedConn<string, string>(name, {
      matchMsg: (req, resp) => resp === `echo:${req}`,
      onConnected: (c) => {
        w.log.push("connected");
        if (mode === "reject") return Promise.reject(new Error(`${tag}: onConnected rejected`));
        if (mode === "wait") return new Promise(() => {});
        // biome-ignore lint/suspicious/noThenProperty: the case under test, a then that is no function.
        if (mode === "odd") return { then: 5 };
        return new Promise<void>((resolve, reject) => {
          w.release = (fail) => {
            c.send("auth");
            if (fail) reject(new Error(`${tag}: auth failed`));
            else resolve();
          };
        });
      },
      onError: (e) =>
        void w.log.push(`error ${e.code} ${e.message}: ${(e.cause as Error | undefined)?.message}`),
    });
    if (mode === "reject")
      w.a.on("connected", async () => {
        throw new Error(`${tag}: listener rejected`);
      });
  });
  return page;
}

const log = (page: Page) => inPage(page, null, () => (window as unknown as W).log);
const errorsIn = async (page: Page) => (await log(page)).filter((l) => l.startsWith("error "));

describe(
  "evtwebsocket/shared: an onConnected that returns a promise (Chromium)",
  requireTools("chromium"),
  () => {
    it('a rejecting onConnected or connected listener reaches its own tab\'s onError as ERR_CALLBACK_THREW "onConnected rejected", in the leader, a follower and a tab that joins open; nothing is thrown in the page', async () => {
      errors.length = 0;
      const context = await rig.browser.newContext();
      const name = "rejects";
      const leader = await openTab(context, name, "leader", "reject");
      const follower = await openTab(context, name, "follower", "reject");
      expect(await inPage(follower, null, () => (window as unknown as W).a.role)).toBe("follower");
      await Promise.all(
        [leader, follower].map((p) => inPage(p, server.url, (url) => (window as unknown as W).a.dial(url))),
      );
      const joiner = await openTab(context, name, "joiner", "reject");
      await inPage(joiner, server.url, (url) => (window as unknown as W).a.dial(url));
      const tabs: [Page, string][] = [
        [leader, "leader"],
        [follower, "follower"],
        [joiner, "joiner"],
      ];
      for (const [page] of tabs)
        await inPage(page, null, () =>
          window.waitFor(
            () => (window as unknown as W).log.filter((l) => l.startsWith("error ")).length === 2,
            "two errors",
          ),
        );
      // The connection still works in every tab: a round trip from each, answered by the server.
      for (const [page, tag] of tabs)
        expect(
          await inPage(page, tag, (q) => (window as unknown as W).a.request(q, { timeoutMs: 5000 })),
        ).toBe(`echo:${tag}`);
      for (const [page, tag] of tabs) {
        expect(await errorsIn(page)).toEqual([
          `error ERR_CALLBACK_THREW onConnected rejected: ${tag}: onConnected rejected`,
          `error ERR_CALLBACK_THREW onConnected rejected: ${tag}: listener rejected`,
        ]);
        expect((await log(page)).filter((l) => l === "connected")).toHaveLength(1);
      }
      expect(errors).toEqual([]);
      await context.close();
    });

    it("a leader's onConnected promise holds the queue until it settles, as Conn's: what the leader and a follower queued reaches the server after what onConnected sent, and the follower's send stays unacknowledged until then", async () => {
      errors.length = 0;
      const context = await rig.browser.newContext();
      const name = "holds";
      const before = server.received.length;
      const leader = await openTab(context, name, "leader", "hold");
      const follower = await openTab(context, name, "follower", "wait");
      expect(await inPage(follower, null, () => (window as unknown as W).a.role)).toBe("follower");
      // Queued before the open: the follower's first (the leader holds it), then the leader's own.
      expect(await inPage(follower, null, () => (window as unknown as W).a.send("from-follower"))).toBe(
        "queued",
      );
      await inPage(leader, null, () =>
        window.waitFor(
          () => (window as unknown as W).a.stats.queuedMessages === 1,
          "the follower's send queued",
        ),
      );
      expect(await inPage(leader, null, () => (window as unknown as W).a.send("from-leader"))).toBe("queued");
      await inPage(leader, server.url, (url) => (window as unknown as W).a.dial(url));
      await inPage(follower, server.url, (url) => (window as unknown as W).a.dial(url));
      expect(await log(leader)).toEqual(["connected"]);
      // The connection is open and onConnected's promise pending: a round trip from the follower
      // (sent at once, as Conn sends while open) comes back, and the queue is still held.
      expect(
        await inPage(follower, null, () =>
          (window as unknown as W).a.request("round-trip", { timeoutMs: 5000 }),
        ),
      ).toBe("echo:round-trip");
      expect(server.received.slice(before)).toEqual(["round-trip"]);
      expect(await inPage(leader, null, () => (window as unknown as W).a.stats.queuedMessages)).toBe(2);
      expect(await inPage(follower, null, () => (window as unknown as W).a.stats.queuedMessages)).toBe(1);
      // Settled (rejected, so it is reported too): "auth" first, then the queue in order.
      await inPage(leader, null, () => (window as unknown as W).release!(true));
      await until(() => server.received.length === before + 4, "the queue flushed");
      expect(server.received.slice(before)).toEqual(["round-trip", "auth", "from-follower", "from-leader"]);
      await inPage(follower, null, () =>
        window.waitFor(
          () => (window as unknown as W).a.stats.queuedMessages === 0,
          "the follower's send acknowledged",
        ),
      );
      expect(await errorsIn(leader)).toEqual([
        "error ERR_CALLBACK_THREW onConnected rejected: leader: auth failed",
      ]);
      // The follower's promise, still pending, held nothing; its tab has no error of the leader's.
      expect(await errorsIn(follower)).toEqual([]);
      expect(errors).toEqual([]);
      await context.close();
    });

    it("a lone tab (no Web Locks) does as Conn does: its onConnected promise holds the queue until it settles, and a rejection reaches its onError", async () => {
      errors.length = 0;
      const context = await rig.browser.newContext();
      const before = server.received.length;
      const tab = await openTab(context, "lone", "alone", "hold", true);
      expect(await inPage(tab, null, () => (window as unknown as W).a.role)).toBe("alone");
      expect(await inPage(tab, null, () => (window as unknown as W).a.send("queued-1"))).toBe("queued");
      await inPage(tab, server.url, (url) => (window as unknown as W).a.dial(url));
      expect(await log(tab)).toEqual(["connected"]);
      expect(
        await inPage(tab, null, () => (window as unknown as W).a.request("round-trip", { timeoutMs: 5000 })),
      ).toBe("echo:round-trip");
      expect(server.received.slice(before)).toEqual(["round-trip"]);
      await inPage(tab, null, () => (window as unknown as W).release!(true));
      await until(() => server.received.length === before + 3, "the queue flushed");
      expect(server.received.slice(before)).toEqual(["round-trip", "auth", "queued-1"]);
      expect(await errorsIn(tab)).toEqual([
        "error ERR_CALLBACK_THREW onConnected rejected: alone: auth failed",
      ]);
      expect(errors).toEqual([]);
      await context.close();
    });

    it("an onConnected that returns an object whose then is not a function holds nothing and throws nothing, as in Conn (the leader and a lone tab)", async () => {
      errors.length = 0;
      const context = await rig.browser.newContext();
      const before = server.received.length;
      const leader = await openTab(context, "odd", "leader", "odd");
      const lone = await openTab(context, "odd-lone", "alone", "odd", true);
      for (const [tab, body] of [
        [leader, "leader-queued"],
        [lone, "alone-queued"],
      ] as const) {
        expect(await inPage(tab, body, (b) => (window as unknown as W).a.send(b))).toBe("queued");
        await inPage(tab, server.url, (url) => (window as unknown as W).a.dial(url));
        expect(await log(tab)).toEqual(["connected"]);
      }
      await until(() => server.received.length === before + 2, "both queues flushed");
      expect(server.received.slice(before).sort()).toEqual(["alone-queued", "leader-queued"]);
      expect(await errorsIn(leader)).toEqual([]);
      expect(await errorsIn(lone)).toEqual([]);
      expect(errors).toEqual([]);
      await context.close();
    });
  },
);
