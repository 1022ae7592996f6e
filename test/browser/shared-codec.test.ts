/**
 * `evtwebsocket/shared` in Debian's Chromium: the codec runs in the leader, and requests are
 * matched in the tab that made them. Each tab's codec tags what it encodes and decodes with the
 * tab's own name, so the server and the tabs can tell whose codec ran: a follower's send is
 * encoded, and every tab's message decoded, by the leader's codec; two followers' requests in
 * flight at once each settle in the tab that made it, and reach no tab's `"message"` event.
 * Real Web Locks and BroadcastChannel, pages of one origin built from src/ by esbuild
 * (test/browser/rig.ts), against a real `ws` server on 127.0.0.1.
 */

import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SharedConn } from "../../src/shared/index.js";
import { startServer, type TestServer, until } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { bundle, html, inPage, newTabs, type Rig, startRig } from "./rig.js";

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

const tabs = (count: number) => newTabs(rig, count);

describe("evtwebsocket/shared: the codec and request matching (Chromium)", requireTools("chromium"), () => {
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
});
