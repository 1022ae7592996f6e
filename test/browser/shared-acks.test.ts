/**
 * A leader's acknowledgements to its followers, in Debian's Chromium with real Web Locks,
 * BroadcastChannel and a real `ws` server on 127.0.0.1 that echoes: a follower counts (and
 * forgets) only what the leader's socket was handed, whatever happens between the open and the
 * acknowledgement, and a leader that closes leaves no timer behind. Every page's uncaught errors
 * are collected: a test fails if a page threw.
 */

import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WebSocket as WsSocket } from "ws";
import type { SharedConn } from "../../src/shared/index.js";
import { startServer, type TestServer } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { inPage, openPages, pauseReading, type Rig, sharedPage, startRig } from "./rig.js";

type W = Window & {
  a: SharedConn<string, string>;
  log: string[];
  /** Resolves the promise the last onConnected of a "hold" tab returned. */
  release?: () => void;
  /** Timers the page set since `countTimers` was set. */
  timers: number;
  countTimers: boolean;
};

let rig: Rig;
let server: TestServer;
/** The server's sockets, oldest first. */
const sockets: WsSocket[] = [];
/** The pages' uncaught errors. */
const errors: string[] = [];

beforeAll(async () => {
  rig = await startRig(await sharedPage());
  server = await startServer({
    onConnection: (ws) => sockets.push(ws),
    // A "mute:" message is not answered: its request stays pending.
    onMessage: (ws, data) => data.toString().startsWith("mute:") || ws.send(`echo:${data.toString()}`),
  });
}, 60_000);

afterAll(async () => {
  await rig?.close();
  await server?.close();
});

/**
 * A page whose shared connection `name` is made, not dialled; "hold": its onConnected returns a
 * promise that {@link W.release} resolves. Its errors are logged in `log`; the timers the page
 * sets are counted while `countTimers` is set.
 */
async function openTab(
  context: BrowserContext,
  name: string,
  hold = false,
  options: Record<string, unknown> = {},
): Promise<Page> {
  const [page] = (await openPages(context, `${rig.origin}/`, 1, () => window.shared !== undefined)) as [Page];
  page.on("pageerror", (error) => errors.push(String(error)));
  await inPage(page, [name, hold, options] as const, ([name, hold, options]) => {
    const w = window as unknown as W;
    w.log = [];
    w.timers = 0;
    w.countTimers = false;
    const set = window.setTimeout;
    window.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
      if (w.countTimers) w.timers++;
      return set(...args);
    }) as typeof setTimeout;
    w.a = window.shared.createSharedConn<string, string>(name, {
      ...options,
      matchMsg: (req, resp) => resp === `echo:${req}`,
      onConnected: () => {
        if (hold)
          return new Promise<void>((resolve) => {
            w.release = resolve;
          });
      },
      onError: (e) => void w.log.push(`error ${e.code}`),
    });
  });
  return page;
}

const tab = (page: Page) => ({
  role: () => inPage(page, null, () => (window as unknown as W).a.role),
  dial: (url: string) => inPage(page, url, (u) => (window as unknown as W).a.dial(u)),
  send: (body: string) => inPage(page, body, (b) => (window as unknown as W).a.send(b)),
  stats: () => inPage(page, null, () => (window as unknown as W).a.stats),
});

describe("evtwebsocket/shared: the leader's acknowledgements (Chromium)", requireTools("chromium"), () => {
  it("a leader closed while its onConnected promise holds the queue acknowledges nothing of it, then or once the promise settles: the follower's send reaches the server through the next leader", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const leader = await openTab(context, "closed-held", true);
    const follower = await openTab(context, "closed-held");
    expect(await tab(follower).role()).toBe("follower");
    // The follower's send waits in the leader's queue (not open yet).
    expect(await tab(follower).send("x")).toBe("queued");
    await inPage(leader, null, () =>
      window.waitFor(() => (window as unknown as W).a.stats.queuedMessages === 1, "the send queued"),
    );
    const before = server.received.length;
    const first = sockets.length;
    await tab(leader).dial(server.url);
    await tab(follower).dial(server.url);
    // The leader's socket keeps its close() waiting (the server reads no close frame): the
    // channel is still open while it closes, so anything it posted would reach the follower.
    pauseReading(sockets[first]!);
    // Closed while onConnected's promise holds the queue, which settles just after: the queue
    // was never flushed, so "x" was never sent.
    await inPage(leader, null, () => {
      const w = window as unknown as W;
      void w.a.close();
      w.release!();
    });
    await inPage(follower, null, () =>
      window.waitFor(() => (window as unknown as W).a.role === "leader", "the follower leads"),
    );
    await inPage(follower, null, () =>
      window.waitFor(() => (window as unknown as W).a.isConnected(), "the new leader open"),
    );
    await inPage(follower, null, () => (window as unknown as W).a.drained());
    // It was acknowledged (and forgotten, counted as sent) by the closing leader: lost.
    expect(server.received.slice(before)).toEqual(["x"]);
    expect((await tab(follower).stats()).messagesSent).toBe(1);
    expect(errors).toEqual([]);
    await context.close();
  });

  it("a leader closed once its open flushed the queue acknowledges what it sent before it lets the channel go: the follower's send reaches the server once, not again through the next leader", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const leader = await openTab(context, "closed-flushed");
    const follower = await openTab(context, "closed-flushed");
    expect(await tab(follower).role()).toBe("follower");
    expect(await tab(follower).send("z")).toBe("queued");
    await inPage(leader, null, () =>
      window.waitFor(() => (window as unknown as W).a.stats.queuedMessages === 1, "the send queued"),
    );
    const before = server.received.length;
    // Open (the queue flushed with it), then closed at once: before any timer could run.
    await inPage(leader, server.url, async (url) => {
      const w = window as unknown as W;
      await w.a.dial(url);
      w.log.push(`queued ${w.a.stats.queuedMessages}`);
      void w.a.close();
    });
    expect(await inPage(leader, null, () => (window as unknown as W).log)).toEqual(["queued 0"]);
    // The follower dials now: it leads once the closing leader lets the lock go. (Its dial() may
    // resolve first: until the closing leader's last state reaches it, it sees the connection open.)
    await tab(follower).dial(server.url);
    await inPage(follower, null, () =>
      window.waitFor(() => (window as unknown as W).a.role === "leader", "the follower leads"),
    );
    // A round trip through the new leader: anything it had to send again went before it.
    expect(await inPage(follower, null, () => (window as unknown as W).a.request("after"))).toBe(
      "echo:after",
    );
    expect(server.received.slice(before)).toEqual(["z", "after"]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it("a leader's onConnected promise that settles after close() sets no timer: nothing outlives close()", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const leader = await openTab(context, "late-held", true);
    const follower = await openTab(context, "late-held");
    expect(await tab(follower).role()).toBe("follower");
    expect(await tab(follower).send("y")).toBe("queued");
    await inPage(leader, null, () =>
      window.waitFor(() => (window as unknown as W).a.stats.queuedMessages === 1, "the send queued"),
    );
    await tab(leader).dial(server.url);
    const timers = await inPage(leader, null, async () => {
      const w = window as unknown as W;
      await w.a.close();
      w.countTimers = true;
      w.release!();
      // Every promise reaction of the release has run by the next task.
      await new Promise<void>((resolve) => {
        const c = new MessageChannel();
        c.port1.onmessage = () => resolve();
        c.port2.postMessage(0);
      });
      w.countTimers = false;
      return w.timers;
    });
    expect(timers).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  });

  it("a follower's request the open leader refuses at once (maxPendingRequests) is not counted as sent, in the follower as in the leader: as Conn counts a refused request", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const leader = await openTab(context, "refused-open", false, { maxPendingRequests: 1 });
    const follower = await openTab(context, "refused-open", false, { maxPendingRequests: 1 });
    expect(await tab(follower).role()).toBe("follower");
    await tab(leader).dial(server.url);
    await tab(follower).dial(server.url);
    const sentBefore = (await tab(leader).stats()).messagesSent;
    const outcome = await inPage(follower, null, async () => {
      const a = (window as unknown as W).a;
      // Written, and never answered: the leader's one pending request.
      void a.request("mute:1", { timeoutMs: 60_000 }).catch(() => {});
      await window.waitFor(() => a.stats.messagesSent === 1, "the first request acknowledged");
      return a.request("second").then(
        () => "answered",
        (e: { code: string }) => e.code,
      );
    });
    expect(outcome).toBe("ERR_TOO_MANY_PENDING");
    // The leader's Conn wrote one (its own count); the follower said two.
    expect((await tab(leader).stats()).messagesSent - sentBefore).toBe(1);
    const stats = await tab(follower).stats();
    expect([stats.messagesSent, stats.pendingRequests]).toEqual([1, 1]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it("a follower's request the leader refuses while not open (its queue full) is not counted as sent once the leader opens", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const options = { queue: { maxMessages: 1 } };
    const leader = await openTab(context, "refused-queued", false, options);
    const follower = await openTab(context, "refused-queued", false, options);
    expect(await tab(follower).role()).toBe("follower");
    const before = server.received.length;
    const second = await inPage(follower, null, async () => {
      const w = window as unknown as W & { first: Promise<string> };
      const settled = (p: Promise<string>) =>
        p.then(
          (v) => v,
          (e: { code: string }) => e.code,
        );
      w.first = settled(w.a.request("q1"));
      return settled(w.a.request("q2"));
    });
    expect(second).toBe("ERR_QUEUE_FULL");
    await tab(leader).dial(server.url);
    await tab(follower).dial(server.url);
    const outcomes = [
      second,
      await inPage(follower, null, () => (window as unknown as { first: Promise<string> }).first),
    ];
    expect(outcomes).toEqual(["ERR_QUEUE_FULL", "echo:q1"]);
    expect(server.received.slice(before)).toEqual(["q1"]);
    // Every acknowledgement the open owed has come: a send made now is acknowledged after them.
    await tab(follower).send("mute:later");
    await inPage(follower, null, () => (window as unknown as W).a.drained());
    const stats = await tab(follower).stats();
    expect([stats.messagesSent, stats.messagesReceived]).toEqual([2, 1]);
    expect(errors).toEqual([]);
    await context.close();
  });
});
