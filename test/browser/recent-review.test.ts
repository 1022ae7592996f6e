/**
 * Adversarial review of the tenth pass's late changes (recent-review) in Debian's Chromium:
 * the shared connection's catch around what another tab posted (a follower's throwing handler
 * is still reported, as Conn reports one), and a leader announcement without its id.
 */

import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SharedConn } from "../../src/shared/index.js";
import { startServer, type TestServer, until } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { inPage, openPages, type Rig, sharedPage, startRig } from "./rig.js";

type W = Window & { a: SharedConn<string, string>; log: string[] };

let rig: Rig;
let server: TestServer;
/** The pages' uncaught errors. */
const errors: string[] = [];

beforeAll(async () => {
  rig = await startRig(await sharedPage());
  server = await startServer({ onMessage: (ws, data) => ws.send(`echo:${data.toString()}`) });
}, 60_000);

afterAll(async () => {
  await rig?.close();
  await server?.close();
});

/** A page whose shared connection `name` is made with handlers that throw, and dialled. */
async function openTab(context: BrowserContext, name: string): Promise<Page> {
  const [page] = (await openPages(context, `${rig.origin}/`, 1, () => window.shared !== undefined)) as [Page];
  page.on("pageerror", (error) => errors.push(String(error)));
  await inPage(page, [server.url, name] as const, async ([url, shared]) => {
    const w = window as unknown as W;
    w.log = [];
    w.a = window.shared.createSharedConn<string, string>(shared, {
      matchMsg: (req, resp) => resp === `echo:${req}`,
      onMessage: (msg) => {
        w.log.push(`message ${msg}`);
        throw new Error(`onMessage threw on ${msg}`);
      },
      onError: (e) =>
        void w.log.push(`error ${e.code} ${(e.cause as Error | undefined)?.message ?? e.message}`),
    });
    w.a.on("state", ({ newState }) => {
      w.log.push(`state ${newState}`);
      if (newState === "open") throw new Error("state listener threw");
    });
    await w.a.dial(url);
  });
  return page;
}

describe("evtwebsocket/shared: recent review (Chromium)", requireTools("chromium"), () => {
  it("a follower's throwing onMessage and state listener reach its onError as ERR_CALLBACK_THREW, as in the leader's tab and in Conn; nothing is thrown in the page", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const leader = await openTab(context, "throwing");
    const follower = await openTab(context, "throwing");
    expect(await inPage(follower, null, () => (window as unknown as W).a.role)).toBe("follower");
    // A push from the server reaches both tabs' onMessage.
    for (const ws of server.clients) ws.send("push");
    for (const page of [leader, follower])
      await page.waitForFunction(() =>
        (window as unknown as W).log.includes("error ERR_CALLBACK_THREW onMessage threw on push"),
      );
    const logs = await Promise.all(
      [leader, follower].map((p) => inPage(p, null, () => (window as unknown as W).log)),
    );
    for (const log of logs) {
      expect(log).toContain("error ERR_CALLBACK_THREW state listener threw");
      expect(log.filter((l) => l.startsWith("error ")).length).toBe(2);
      expect(log.indexOf("message push")).toBe(
        log.indexOf("error ERR_CALLBACK_THREW onMessage threw on push") - 1,
      );
    }
    // The follower still works after its handlers threw.
    expect(
      await inPage(follower, null, () => (window as unknown as W).a.request("after", { timeoutMs: 5000 })),
    ).toBe("echo:after");
    expect(errors).toEqual([]);
    await context.close();
  });

  it("a leader announcement with an empty id is ignored: the follower's sends and requests after it still reach the server, once", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const name = "empty-lead";
    await openTab(context, name);
    const follower = await openTab(context, name);
    const [other] = (await openPages(context, `${rig.origin}/`, 1, () => window.shared !== undefined)) as [
      Page,
    ];
    await inPage(other, `evtwebsocket:${name}`, async (channel) => {
      const bc = new BroadcastChannel(channel);
      for (const l of ["", null, 0, false]) bc.postMessage({ t: "leader", l });
      await new Promise((resolve) => setTimeout(resolve, 200));
      bc.close();
    });
    const before = server.received.length;
    await inPage(follower, null, () => void (window as unknown as W).a.send("after-empty"));
    expect(
      await inPage(follower, null, () =>
        (window as unknown as W).a.request("req-after", { timeoutMs: 5000 }),
      ),
    ).toBe("echo:req-after");
    await until(() => server.received.length >= before + 2, "both at the server");
    expect(server.received.slice(before).map(String)).toEqual(["after-empty", "req-after"]);
    expect(errors).toEqual([]);
    await context.close();
  });
});
