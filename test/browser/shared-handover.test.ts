/**
 * `evtwebsocket/shared` in Debian's Chromium: a send that crosses a handover is served once.
 * A follower that posted to the old leader posts again, to the new one, everything no leader
 * acknowledged; the new leader must not also serve what was addressed to the old one. Posts
 * name the leadership they are for, and a leader serves only its own. Real Web Locks and
 * BroadcastChannel, a real `ws` server on 127.0.0.1; the stale follower is a raw
 * BroadcastChannel in a second page (the race it stands for, a post in flight while the lock
 * passes, cannot be timed from a test).
 */

import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SharedConn } from "../../src/shared/index.js";
import { startServer, type TestServer, until } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { inPage, openPages, type Rig, sharedPage, startRig } from "./rig.js";

type W = Window & {
  a: SharedConn<string, string>;
  channel: BroadcastChannel;
  heard: Array<{ t: string; l?: string; to?: string; seq?: number; join?: true }>;
};

let rig: Rig;
let server: TestServer;
const received: string[] = [];

beforeAll(async () => {
  rig = await startRig(await sharedPage());
  server = await startServer({ onMessage: (_ws, data) => received.push(data.toString()) });
}, 60_000);

afterAll(async () => {
  await rig?.close();
  await server?.close();
});

describe("evtwebsocket/shared: a send across a handover (Chromium)", requireTools("chromium"), () => {
  it("a leader serves only the posts addressed to its leadership: one addressed to another (posted before the follower heard of this leader) is not written, and the follower's next post is", async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = (await openPages(
      context,
      `${rig.origin}/`,
      2,
      () => window.shared !== undefined,
    )) as [Page, Page];
    await inPage(leader, server.url, async (url) => {
      const w = window as unknown as W;
      w.a = window.shared.createSharedConn<string, string>("addressed");
      await w.a.dial(url);
      await window.waitFor(() => w.a.role === "leader", "the first tab to lead");
    });
    // The second page speaks the tabs' protocol itself, as a follower would.
    const lead = await inPage(follower, null, async () => {
      const w = window as unknown as W;
      w.heard = [];
      w.channel = new BroadcastChannel("evtwebsocket:addressed");
      w.channel.onmessage = (e) => w.heard.push(e.data);
      w.channel.postMessage({ t: "hello" });
      await window.waitFor(() => w.heard.some((m) => m.join), "the leader's answer to hello");
      return w.heard.find((m) => m.join)?.l;
    });
    await inPage(follower, lead, async (l) => {
      const w = window as unknown as W;
      // Posted to a leader that has since gone (the lock passed while it was in flight).
      w.channel.postMessage({ t: "send", from: "f1", seq: 1, body: "stale", l: "an-old-leadership" });
      // Posted again once the follower heard of this leader: the one that counts.
      w.channel.postMessage({ t: "send", from: "f1", seq: 1, body: "again", l });
      await window.waitFor(
        () => w.heard.some((m) => m.t === "ack" && m.to === "f1" && m.seq === 1),
        "the acknowledgement",
      );
    });
    await until(() => received.includes("again"), "the post addressed to this leader at the server");
    // The leader's channel hands posts over in order: had it served the stale one, it was first.
    expect(received.filter((m) => m === "stale" || m === "again")).toEqual(["again"]);
    expect(typeof lead, "the answer to hello names the leadership").toBe("string");
    await context.close();
  });
});
