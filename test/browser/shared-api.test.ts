/**
 * `evtwebsocket/shared` has Conn's API in a follower too: `send()` with options and its
 * result, `messages()`, `ping()`, `protocol`, `handshake`, `bufferedAmount`, `drained()` and
 * `stats`. Debian's Chromium, one context per test, pages of one origin (real Web Locks and
 * BroadcastChannel), a real `ws` server on 127.0.0.1 that echoes. The lone tab's ("alone")
 * are in test/shared.test.ts.
 */

import { type AddressInfo, createServer, type Socket } from "node:net";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SharedConn } from "../../src/shared/index.js";
import { startServer, type TestServer, until } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { inPage, openPages, pauseReading, type Rig, sharedPage, startRig } from "./rig.js";

declare global {
  interface Window {
    got: string[];
    errors: string[];
  }
}

let rig: Rig;
let server: TestServer;
/** Server sockets that stopped reading ("pause:reading"). */
const paused: Socket[] = [];

/** Opens `count` pages of the shared origin, each with the shared module loaded and nothing made. */
const blankTabs = (context: BrowserContext, count: number) =>
  openPages(context, `${rig.origin}/`, count, () => window.shared !== undefined);

beforeAll(async () => {
  rig = await startRig(await sharedPage());
  server = await startServer({
    onMessage: (ws, data) => {
      // Reads nothing more from this socket (its close frame included) until the test resumes it.
      if (data.toString() === "pause:reading") return void paused.push(pauseReading(ws));
      ws.send(data.toString());
    },
  });
}, 60_000);

afterAll(async () => {
  await rig?.close();
  await server?.close();
});

/**
 * Two pages sharing `name`: the first is made the leader before the second starts, so the
 * second is a follower. Nobody dials.
 */
async function leaderAndFollower(
  context: BrowserContext,
  name: string,
  pingIntervalMs = 0,
  /** Requests match the echo of their body. */
  matching = false,
  /** The first page's `queue` option. */
  leaderQueue?: { maxMessages: number; overflow: "drop-oldest" },
): Promise<[Page, Page]> {
  const pages: Page[] = [];
  for (const i of [0, 1]) {
    const [page] = (await blankTabs(context, 1)) as [Page];
    await inPage(
      page,
      [name, pingIntervalMs, i, matching, i === 0 ? leaderQueue : undefined] as const,
      async ([name, pingIntervalMs, i, matching, queue]) => {
        window.got = [];
        window.errors = [];
        // The WHATWG socket has no protocol ping: an application ping the echo server returns.
        const heartbeat = pingIntervalMs > 0 ? { pingMsg: "hb", isPong: (m: string) => m === "hb" } : {};
        const match = matching ? { matchMsg: (req: string, resp: string) => resp === req } : {};
        window.sc = window.shared.createSharedConn<string, string>(name, {
          pingIntervalMs,
          ...heartbeat,
          ...match,
          ...(queue && { queue }),
        });
        window.sc.on("error", (e) => window.errors.push(e.code));
        await window.waitFor(() => window.sc.role === (i === 0 ? "leader" : "follower"), "the role");
      },
    );
    pages.push(page);
  }
  return pages as [Page, Page];
}

describe("evtwebsocket/shared: Conn's API in a follower (Chromium)", requireTools("chromium"), () => {
  it('a follower\'s send(body, options) says what it did: "dropped" (volatile, not open), "queued" (handed to the leader); options are checked as Conn checks them; drained() waits for the leader\'s acknowledgement', async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "send-result");
    const before = await inPage(follower, null, () => {
      const results = [window.sc.send("cursor-1", { volatile: true }), window.sc.send("plain-1")];
      const refused = [{ volatile: 1 }, { maxAgeMs: -5 }, { signal: AbortSignal.abort() }].map((o) => {
        try {
          window.sc.send("never", o as never);
          return "accepted";
        } catch (e) {
          return `${(e as { code: string }).code} ${(e as Error).message}`;
        }
      });
      window.sc.drained().then(() => window.got.push("drained"));
      return { results, refused, queued: window.sc.stats.queuedMessages, buffered: window.sc.bufferedAmount };
    });
    expect(before.results).toEqual(["dropped", "queued"]);
    expect(before.refused).toEqual([
      expect.stringMatching(/^ERR_INVALID_OPTION .*volatile/),
      expect.stringMatching(/^ERR_INVALID_OPTION .*maxAgeMs/),
      expect.stringMatching(/^ERR_ABORTED /),
    ]);
    expect(before.queued).toBe(1);
    expect(before.buffered).toBe(0);
    // The leader has it queued (not open): the follower is not drained until it is flushed.
    await inPage(leader, null, () =>
      window.waitFor(() => window.sc.stats.queuedMessages === 1, "the leader's queue"),
    );
    expect(await inPage(follower, null, () => window.got)).toEqual([]);
    await inPage(leader, server.url, (url) => window.sc.dial(url));
    await inPage(follower, null, () => window.waitFor(() => window.got.includes("drained"), "drained()"));
    const after = await inPage(follower, null, () => {
      const stats = window.sc.stats;
      return { stats, volatileOpen: window.sc.send("cursor-2", { volatile: true }) };
    });
    expect(after.volatileOpen).toBe("queued");
    expect(after.stats).toMatchObject({ messagesSent: 1, queuedMessages: 0, bytesSent: 0 });
    await until(() => server.received.includes("cursor-2"), "the volatile send while open");
    expect(server.received).toContain("plain-1");
    expect(server.received).not.toContain("cursor-1");
    expect(server.received).not.toContain("never");
    await context.close();
  });

  it("a follower's signal forgets a send it still holds (not reported at close); its maxAgeMs goes to the leader's queue, which drops it and every tab hears ERR_QUEUE_EXPIRED", async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "send-options");
    await inPage(follower, null, async () => {
      const controller = new AbortController();
      window.sc.send("aborted-1", { signal: controller.signal });
      window.sc.send("old-1", { maxAgeMs: 20 });
      await window.waitFor(() => window.sc.stats.queuedMessages === 2, "both held");
      controller.abort();
      await window.waitFor(() => window.sc.stats.queuedMessages === 1, "the aborted one forgotten");
      await window.waitFor(() => window.errors.includes("ERR_QUEUE_EXPIRED"), "the expiry");
    });
    await inPage(leader, server.url, (url) => window.sc.dial(url));
    await inPage(follower, null, () => window.waitFor(() => window.sc.stats.queuedMessages === 0, "the ack"));
    await inPage(follower, null, () => window.sc.close());
    // Forgotten, not reported as unacknowledged at close.
    expect(await inPage(follower, null, () => window.errors)).toEqual(["ERR_QUEUE_EXPIRED"]);
    await inPage(leader, null, () => window.sc.send("marker-1"));
    await until(() => server.received.includes("marker-1"), "the marker");
    expect(server.received).not.toContain("old-1");
    await context.close();
  });

  it("a follower's messages() and for await get what its message event gets, across the leader's messages, and end at close()", async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "messages");
    await inPage(leader, server.url, (url) => window.sc.dial(url));
    await inPage(follower, server.url, async (url) => {
      await window.sc.dial(url);
      const collect = async (it: AsyncIterable<string>, tag: string) => {
        for await (const msg of it) window.got.push(`${tag}:${msg}`);
        window.got.push(`${tag}:done`);
      };
      void collect(window.sc.messages({ bufferSize: 4 }), "m");
      void collect(window.sc, "i");
    });
    await inPage(leader, null, () => {
      window.sc.send("msg-1");
      window.sc.send("msg-2");
    });
    await inPage(follower, null, async () => {
      await window.waitFor(() => window.got.length === 4, "the messages");
      await window.sc.close();
      await window.waitFor(() => window.got.length === 6, "the ends");
    });
    const got = await inPage(follower, null, () => window.got);
    expect(got.filter((g) => g.startsWith("m:"))).toEqual(["m:msg-1", "m:msg-2", "m:done"]);
    expect(got.filter((g) => g.startsWith("i:"))).toEqual(["i:msg-1", "i:msg-2", "i:done"]);
    await context.close();
  });

  it("a follower's ping() goes through the leader and it hears the pong; protocol and handshake are the leader's; stats are this tab's view", async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "ping", 600_000);
    await inPage(leader, server.url, (url) => window.sc.dial(url, "chat"));
    const seen = await inPage(follower, server.url, async (url) => {
      await window.sc.dial(url);
      const pong = new Promise<number>((resolve) => window.sc.on("pong", ({ rttMs }) => resolve(rttMs)));
      window.sc.ping();
      const rtt = await pong;
      return {
        rtt: rtt >= 0,
        protocol: window.sc.protocol,
        handshake: window.sc.handshake?.protocol,
        lastRtt: window.sc.stats.lastRttMs === rtt,
      };
    });
    expect(seen).toEqual({ rtt: true, protocol: "chat", handshake: "chat", lastRtt: true });
    await context.close();
  });
  it("a follower's messages() throws the reason when the shared connection gives up (ERR_RECONNECT_EXHAUSTED), as Conn's does", async () => {
    const context = await rig.browser.newContext();
    const own = await startServer();
    const pages: Page[] = [];
    for (const i of [0, 1]) {
      const [page] = (await blankTabs(context, 1)) as [Page];
      await inPage(page, [own.url, i] as const, async ([url, i]) => {
        window.got = [];
        window.sc = window.shared.createSharedConn<string, string>("give-up", {
          reconnect: { maxAttempts: 1, minDelayMs: 20, maxDelayMs: 20, jitter: 0 },
        });
        await window.waitFor(() => window.sc.role === (i === 0 ? "leader" : "follower"), "the role");
        await window.sc.dial(url);
      });
      pages.push(page);
    }
    const follower = pages[1]!;
    await inPage(follower, null, () => {
      void (async () => {
        try {
          for await (const msg of window.sc.messages()) window.got.push(msg);
          window.got.push("done");
        } catch (e) {
          window.got.push((e as { code: string }).code);
        }
      })();
    });
    for (const ws of own.clients) ws.send("last");
    await inPage(follower, null, () => window.waitFor(() => window.got.includes("last"), "the message"));
    await own.close(); // the leader's reconnect finds nobody: it gives up
    await inPage(follower, null, () => window.waitFor(() => window.got.length === 2, "the end"));
    expect(await inPage(follower, null, () => [window.sc.state, ...window.got])).toEqual([
      "closed",
      "last",
      "ERR_RECONNECT_EXHAUSTED",
    ]);
    await context.close();
  });
  it("a follower's send the leader's queue failed when the connection gave up (reported as not sent) is let go of: not counted as sent, nor sent after a new dial", async () => {
    const context = await rig.browser.newContext();
    const dead = await startServer();
    const deadUrl = dead.url;
    await dead.close(); // nobody listens there: the leader's dial fails, retries once, gives up
    const pages: Page[] = [];
    for (const i of [0, 1]) {
      const [page] = (await blankTabs(context, 1)) as [Page];
      await inPage(page, i, async (i) => {
        window.errors = [];
        window.sc = window.shared.createSharedConn<string, string>("failed-at-give-up", {
          reconnect: { maxAttempts: 1, minDelayMs: 20, maxDelayMs: 20, jitter: 0 },
        });
        window.sc.on("error", (e) => window.errors.push(e.code));
        await window.waitFor(() => window.sc.role === (i === 0 ? "leader" : "follower"), "the role");
      });
      pages.push(page);
    }
    const [leader, follower] = pages as [Page, Page];
    await inPage(follower, null, () => window.sc.send("failed-at-give-up"));
    await inPage(leader, null, () =>
      window.waitFor(() => window.sc.stats.queuedMessages === 1, "the leader's queue"),
    );
    await inPage(leader, deadUrl, (url) => window.sc.dial(url).catch(() => {}));
    await inPage(follower, null, async () => {
      await window.waitFor(() => window.sc.state === "closed", "the give-up");
      await window.waitFor(() => window.sc.stats.queuedMessages === 0, "the failed send let go of");
    });
    await inPage(leader, server.url, (url) => window.sc.dial(url));
    await inPage(follower, null, () => window.sc.send("marker-give-up"));
    await until(() => server.received.includes("marker-give-up"), "the marker");
    await inPage(follower, null, () => window.waitFor(() => window.sc.stats.queuedMessages === 0, "the ack"));
    expect(server.received).not.toContain("failed-at-give-up");
    expect(await inPage(follower, null, () => window.sc.stats.messagesSent)).toBe(1);
    await context.close();
  });
  it("a follower's messages() iterator goes on across a handover that makes it the leader, and ends done at close()", async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "messages-handover");
    await inPage(leader, server.url, (url) => window.sc.dial(url));
    await inPage(follower, server.url, async (url) => {
      await window.sc.dial(url);
      void (async () => {
        try {
          for await (const msg of window.sc.messages()) window.got.push(msg);
          window.got.push("done");
        } catch (e) {
          window.got.push((e as { code: string }).code);
        }
      })();
      window.sc.send("before-handover");
      await window.waitFor(() => window.got.includes("before-handover"), "the echo through the leader");
    });
    await leader.close();
    await inPage(follower, null, async () => {
      await window.waitFor(() => window.sc.role === "leader" && window.sc.state === "open", "the takeover");
      window.sc.send("after-handover");
      await window.waitFor(() => window.got.includes("after-handover"), "the echo through its own socket");
      await window.sc.close();
      await window.waitFor(() => window.got.includes("done"), "the end");
    });
    expect(await inPage(follower, null, () => window.got)).toEqual([
      "before-handover",
      "after-handover",
      "done",
    ]);
    await context.close();
  });
  it('a follower\'s "drain" fires when the leader has acknowledged the sends it held, not before', async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "drain");
    await inPage(follower, null, async () => {
      window.sc.on("drain", () => void window.got.push(`drain ${window.sc.stats.queuedMessages}`));
      window.sc.send("held-1");
      window.sc.send("held-2");
    });
    // Both queued by the leader (not open): nothing acknowledged yet.
    await inPage(leader, null, () =>
      window.waitFor(() => window.sc.stats.queuedMessages === 2, "the leader's queue"),
    );
    expect(await inPage(follower, null, () => window.got)).toEqual([]);
    await inPage(leader, server.url, (url) => window.sc.dial(url));
    await inPage(follower, null, () => window.waitFor(() => window.got.length > 0, "the drain"));
    expect(await inPage(follower, null, () => window.got)).toEqual(["drain 0"]);
    await context.close();
  });
  it("a follower's drained() waits across a handover: when it becomes the leader its held sends go to its own queue, and drained() resolves once they are flushed", async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "drained-handover");
    await inPage(follower, null, () => {
      window.sc.send("handed-1");
      window.sc.drained().then(() => window.got.push("drained"));
    });
    await inPage(leader, null, () =>
      window.waitFor(() => window.sc.stats.queuedMessages === 1, "the leader's queue"),
    );
    await leader.close(); // nothing was acknowledged: the follower leads with the send in hand
    await inPage(follower, null, () => window.waitFor(() => window.sc.role === "leader", "the takeover"));
    expect(await inPage(follower, null, () => [window.got, window.sc.stats.queuedMessages])).toEqual([[], 1]);
    await inPage(follower, server.url, (url) => window.sc.dial(url));
    await inPage(follower, null, () => window.waitFor(() => window.got.includes("drained"), "drained()"));
    await until(() => server.received.includes("handed-1"), "the handed-over send");
    await context.close();
  });
  it("a follower that became the leader with held sends and closes before any open: its drained() from before rejects with ERR_CLOSED, and the sends' signals are let go of", async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "drained-takeover-close");
    await inPage(follower, null, () => {
      const w = window as unknown as { listeners: number };
      w.listeners = 0;
      const { signal } = new AbortController();
      const add = signal.addEventListener.bind(signal);
      const remove = signal.removeEventListener.bind(signal);
      signal.addEventListener = (...a: Parameters<typeof add>) => {
        w.listeners++;
        add(...a);
      };
      signal.removeEventListener = (...a: Parameters<typeof remove>) => {
        w.listeners--;
        remove(...a);
      };
      window.sc.send("held-1", { signal });
      window.sc.drained().then(
        () => window.got.push("drained"),
        (e: { code: string }) => window.got.push(`rejected ${e.code}`),
      );
    });
    await inPage(leader, null, () =>
      window.waitFor(() => window.sc.stats.queuedMessages === 1, "the leader's queue"),
    );
    await leader.close(); // nothing acknowledged: the follower leads with the send in hand
    await inPage(follower, null, () => window.waitFor(() => window.sc.role === "leader", "the takeover"));
    // It never dials: close() ends this tab's use with the send still queued.
    await inPage(follower, null, () => window.sc.close());
    await inPage(follower, null, () => window.waitFor(() => window.got.length > 0, "drained() to settle"));
    expect(await inPage(follower, null, () => window.got)).toEqual(["rejected ERR_CLOSED"]);
    expect(await inPage(follower, null, () => (window as unknown as { listeners: number }).listeners)).toBe(
      0,
    );
    await context.close();
  });
  it("a follower's signal aborted after it became the leader (the send in its own queue) drops the send: it is not sent on the next open", async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "abort-after-takeover");
    await inPage(follower, null, () => {
      const controller = new AbortController();
      (window as unknown as { controller: AbortController }).controller = controller;
      window.sc.send("aborted-after-takeover", { signal: controller.signal });
    });
    await inPage(leader, null, () =>
      window.waitFor(() => window.sc.stats.queuedMessages === 1, "the leader's queue"),
    );
    await leader.close();
    await inPage(follower, null, () => window.waitFor(() => window.sc.role === "leader", "the takeover"));
    const queued = await inPage(follower, server.url, async (url) => {
      (window as unknown as { controller: AbortController }).controller.abort();
      const queued = window.sc.stats.queuedMessages;
      window.sc.send("marker-after-abort");
      await window.sc.dial(url);
      return queued;
    });
    await until(() => server.received.includes("marker-after-abort"), "the marker sent after the open");
    expect(server.received).not.toContain("aborted-after-takeover");
    expect(queued).toBe(0);
    await inPage(follower, null, () => window.sc.close());
    await context.close();
  });
  it("a second dial() while the shared connection is up rejects with ERR_ALREADY_DIALED in a follower, as in the leader (Conn's rule)", async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "dial-twice");
    const twice = async (url: string) => {
      await window.sc.dial(url);
      return window.sc.dial(url).then(
        () => "resolved",
        (e: { code: string }) => e.code,
      );
    };
    expect(await inPage(leader, server.url, twice)).toBe("ERR_ALREADY_DIALED");
    expect(await inPage(follower, server.url, twice)).toBe("ERR_ALREADY_DIALED");
    await context.close();
  });

  it("a follower's close() with a bad code or reason rejects with ERR_INVALID_OPTION, as a leader's does, and the tab stays in", async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "close-bad-code");
    const tried = async () => {
      const out: string[] = [];
      for (const [code, reason] of [
        [1234, ""],
        [1000, "x".repeat(124)],
      ] as const)
        await window.sc.close(code, reason).then(
          () => out.push("closed"),
          (e: { code: string }) => out.push(e.code),
        );
      return [...out, window.sc.send("still-in")];
    };
    expect(await inPage(leader, null, tried)).toEqual(["ERR_INVALID_OPTION", "ERR_INVALID_OPTION", "queued"]);
    expect(await inPage(follower, null, tried)).toEqual([
      "ERR_INVALID_OPTION",
      "ERR_INVALID_OPTION",
      "queued",
    ]);
    await context.close();
  });
  it("a follower's request() with a signal that is not an AbortSignal rejects with ERR_INVALID_OPTION naming it, as a leader's does, and nothing stays pending", async () => {
    // The follower posted the request, then addEventListener threw a TypeError: its entry stayed
    // waiting (no timer yet), counted in pendingRequests for good.
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "request-bad-signal", 0, true);
    const tried = () =>
      window.sc.request("x", { signal: {} as AbortSignal, timeoutMs: 0 }).then(
        () => ["resolved"],
        (e: { code: string; message: string }) => [e.code, e.message, window.sc.stats.pendingRequests],
      );
    const refused = ["ERR_INVALID_OPTION", "option signal of request() must be an AbortSignal", 0];
    expect(await inPage(leader, null, tried)).toEqual(refused);
    expect(await inPage(follower, null, tried)).toEqual(refused);
    await context.close();
  });

  it("a follower's request() refuses a retryOnReconnect that is not a boolean, a timeoutMs String() cannot show and options that are not an object, as a leader's does, and nothing stays pending", async () => {
    // The follower read retryOnReconnect "yes" as false, silently; a prototype-less timeoutMs
    // threw String()'s TypeError; request(body, 5000) waited the default timeout.
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "request-bad-options", 0, true);
    const tried = async () => {
      const out: unknown[] = [];
      for (const options of [{ retryOnReconnect: "yes" }, { timeoutMs: Object.create(null) }, 5000])
        out.push(
          await window.sc.request("x", options as never).then(
            () => "resolved",
            (e: { code: string; message: string }) => `${e.code}: ${e.message}`,
          ),
        );
      return [...out, window.sc.stats.pendingRequests];
    };
    const refused = [
      'ERR_INVALID_OPTION: option retryOnReconnect of request() must be a boolean, got "yes"',
      "ERR_INVALID_OPTION: option timeoutMs of request() must be a whole number of ms from 0 to 2147483647 or Infinity, got object",
      "ERR_INVALID_OPTION: request(): options must be an object, got 5000",
      0,
    ];
    expect(await inPage(leader, null, tried)).toEqual(refused);
    expect(await inPage(follower, null, tried)).toEqual(refused);
    await context.close();
  });

  it("a follower's send that expired in the leader's queue (reported there, to every tab) is let go of: drained() resolves, and a next leader neither gets it nor reports it again", async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "expired-in-leader");
    await inPage(follower, null, async () => {
      window.sc.send("expired-in-leader", { maxAgeMs: 20 });
      window.sc.drained().then(() => window.got.push("drained"));
      await window.waitFor(() => window.errors.includes("ERR_QUEUE_EXPIRED"), "the leader's expiry");
      await window.waitFor(() => window.got.includes("drained"), "drained() after the expiry");
    });
    expect(await inPage(follower, null, () => window.sc.stats.queuedMessages)).toBe(0);
    await leader.close();
    await inPage(follower, null, () => window.waitFor(() => window.sc.role === "leader", "the takeover"));
    await inPage(follower, server.url, (url) => window.sc.dial(url));
    await inPage(follower, null, () => window.sc.send("marker-expired"));
    await until(() => server.received.includes("marker-expired"), "the marker");
    expect(server.received).not.toContain("expired-in-leader");
    expect(await inPage(follower, null, () => [window.errors, window.sc.stats.messagesSent])).toEqual([
      ["ERR_QUEUE_EXPIRED"],
      1,
    ]);
    await inPage(follower, null, () => window.sc.close());
    await context.close();
  });
  it("a follower's request whose signal aborts after this tab became the leader (the request in its own queue) rejects with ERR_ABORTED and is not sent", async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "request-abort-takeover", 0, true);
    await inPage(follower, null, () => {
      const controller = new AbortController();
      (window as unknown as { controller: AbortController }).controller = controller;
      window.sc.request("request-aborted-after-takeover", { signal: controller.signal }).then(
        (r) => window.got.push(`resolved ${r}`),
        (e: { code: string }) => window.got.push(e.code),
      );
    });
    await inPage(leader, null, () =>
      window.waitFor(() => window.sc.stats.pendingRequests === 1, "the leader's queued request"),
    );
    await leader.close(); // never written: the request goes to this tab's own queue
    await inPage(follower, null, () => window.waitFor(() => window.sc.role === "leader", "the takeover"));
    await inPage(follower, null, async () => {
      (window as unknown as { controller: AbortController }).controller.abort();
      await window.waitFor(() => window.got.length > 0, "the request to settle");
    });
    expect(await inPage(follower, null, () => window.got)).toEqual(["ERR_ABORTED"]);
    await inPage(follower, server.url, async (url) => {
      await window.sc.dial(url);
      window.sc.send("marker-request-abort");
    });
    await until(() => server.received.includes("marker-request-abort"), "the marker");
    expect(server.received).not.toContain("request-aborted-after-takeover");
    await inPage(follower, null, () => window.sc.close());
    await context.close();
  });
  it("a follower's send that the leader's full queue dropped (drop-oldest, reported to every tab) is let go of: the next leader does not send it", async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "dropped-oldest", 0, false, {
      maxMessages: 1,
      overflow: "drop-oldest",
    });
    await inPage(follower, null, async () => {
      window.sc.send("dropped-oldest-1");
      window.sc.send("kept-2");
      await window.waitFor(() => window.errors.includes("ERR_QUEUE_FULL"), "the leader's drop");
    });
    await inPage(leader, null, () =>
      window.waitFor(() => window.sc.stats.queuedMessages === 1, "the leader's queue"),
    );
    await leader.close();
    await inPage(follower, null, () => window.waitFor(() => window.sc.role === "leader", "the takeover"));
    await inPage(follower, server.url, (url) => window.sc.dial(url));
    await until(() => server.received.includes("kept-2"), "the kept send");
    await inPage(follower, null, () => window.sc.send("marker-dropped"));
    await until(() => server.received.includes("marker-dropped"), "the marker");
    expect(server.received).not.toContain("dropped-oldest-1");
    expect(await inPage(follower, null, () => window.errors)).toEqual(["ERR_QUEUE_FULL"]);
    await inPage(follower, null, () => window.sc.close());
    await context.close();
  });
  it("a follower's drained() rejects with ERR_CLOSED when it closes holding sends, which it reports as not acknowledged", async () => {
    const context = await rig.browser.newContext();
    const [, follower] = await leaderAndFollower(context, "drained-close");
    const outcome = await inPage(follower, null, async () => {
      window.sc.send("never-acked");
      const waiting = window.sc.drained().then(
        () => "resolved",
        (e: { code: string }) => e.code,
      );
      await window.sc.close();
      const after = await window.sc.drained().then(
        () => "resolved",
        (e: { code: string }) => e.code,
      );
      return [await waiting, after, ...window.errors];
    });
    expect(outcome).toEqual(["ERR_CLOSED", "ERR_CLOSED", "ERR_CLOSED"]);
    await context.close();
  });
  it("a follower's volatile send that the next leader drops (not open yet) is not counted in messagesSent", async () => {
    // Accepts and never answers: the next leader's dial stays "connecting".
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const silentUrl = `ws://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
    const context = await rig.browser.newContext();
    const [page] = (await blankTabs(context, 1)) as [Page];
    type Three = {
      a: SharedConn<string, string>;
      n: SharedConn<string, string>;
      b: SharedConn<string, string>;
    };
    // Three shared connections of one name in one page: the leader (a), the next in the lock's
    // queue (n, which dials the silent server when it leads) and the follower that sends (b).
    await inPage(page, [server.url, silentUrl] as const, async ([url, silentUrl]) => {
      const w = window as unknown as Three;
      w.a = window.shared.createSharedConn<string, string>("volatile-dropped");
      await window.waitFor(() => w.a.role === "leader", "the leader");
      w.n = window.shared.createSharedConn<string, string>("volatile-dropped");
      w.b = window.shared.createSharedConn<string, string>("volatile-dropped");
      await w.a.dial(url);
      void w.n.dial(silentUrl).catch(() => {});
      await w.b.dial(url);
      w.a.send("pause:reading");
    });
    await until(() => paused.length > 0, "the server to stop reading");
    const result = await inPage(page, null, async () => {
      const w = window as unknown as Three;
      void w.a.close(); // waits for the server's close frame: a closing leader takes no sends
      return w.b.send("volatile-after-leader", { volatile: true });
    });
    expect(result).toBe("queued"); // b still hears the shared connection open
    paused.pop()!.resume();
    const stats = await inPage(page, null, async () => {
      const w = window as unknown as Three;
      await window.waitFor(
        () => w.n.role === "leader" && w.b.stats.queuedMessages === 0,
        "the next leader's ack",
      );
      return w.b.stats;
    });
    expect(stats.messagesSent).toBe(0);
    expect(server.received).not.toContain("volatile-after-leader");
    await inPage(page, null, async () => {
      const w = window as unknown as Three;
      await Promise.all([w.b.close(), w.n.close()]);
    });
    await context.close();
    silent.close();
  });
  it("a send a follower still holds past its maxAgeMs when the next leader takes over is dropped and reported ERR_QUEUE_EXPIRED, not sent; the others are sent", async () => {
    const context = await rig.browser.newContext();
    const [page] = (await blankTabs(context, 1)) as [Page];
    // Two shared connections of one name in one page: a leader (a) and a follower (b).
    await inPage(page, server.url, async (url) => {
      const w = window as unknown as { a: SharedConn<string, string>; b: SharedConn<string, string> };
      window.errors = [];
      w.a = window.shared.createSharedConn<string, string>("expire-held");
      await window.waitFor(() => w.a.role === "leader", "the leader");
      w.b = window.shared.createSharedConn<string, string>("expire-held");
      w.b.on("error", (e) => window.errors.push(e.code));
      await Promise.all([w.a.dial(url), w.b.dial(url)]);
      w.a.send("pause:reading");
    });
    await until(() => paused.length === 1, "the server to stop reading");
    await inPage(page, null, async () => {
      const w = window as unknown as { a: SharedConn<string, string>; b: SharedConn<string, string> };
      void w.a.close(); // waits for the server's close frame: a closing leader takes no sends
      w.b.send("stale-1", { maxAgeMs: 20 });
      w.b.send("fresh-1", { maxAgeMs: 600_000 });
      // At least 40 ms pass (a timer never fires early): "stale-1" is past its 20 ms.
      await new Promise((r) => setTimeout(r, 40));
    });
    paused[0]!.resume();
    await inPage(page, null, () => {
      const w = window as unknown as { b: SharedConn<string, string> };
      return window.waitFor(() => w.b.role === "leader" && w.b.state === "open", "the next leader open");
    });
    await until(() => server.received.includes("fresh-1"), "the fresh send");
    expect(server.received).not.toContain("stale-1");
    expect(await inPage(page, null, () => window.errors)).toEqual(["ERR_QUEUE_EXPIRED"]);
    await inPage(page, null, () => (window as unknown as { b: SharedConn<string, string> }).b.close());
    await context.close();
  });
  it("a follower's reconnect(code, reason) asks the leader: the socket closes with that code and reason and a new one opens; bad input is refused in the follower's tab", async () => {
    const context = await rig.browser.newContext();
    const [leader, follower] = await leaderAndFollower(context, "reconnect");
    await inPage(leader, server.url, (url) => window.sc.dial(url));
    await inPage(follower, server.url, (url) => window.sc.dial(url));
    const before = server.connections;
    const closes: [number, string][] = [];
    for (const ws of server.clients) ws.on("close", (code, reason) => closes.push([code, String(reason)]));
    const refused = await inPage(follower, null, () => {
      try {
        window.sc.reconnect(1001);
        return "accepted";
      } catch (e) {
        return (e as { code: string }).code;
      }
    });
    expect(refused).toBe("ERR_INVALID_OPTION");
    await inPage(follower, null, () => window.sc.reconnect(4000, "new token"));
    await until(
      () => closes.length === 1 && server.connections === before + 1,
      "the old socket closed, a new one open",
    );
    expect(closes).toEqual([[4000, "new token"]]);
    await inPage(leader, null, () => window.waitFor(() => window.sc.state === "open", "open again"));
    await inPage(follower, null, () => window.sc.send("after-reconnect"));
    await until(() => server.received.includes("after-reconnect"), "a send after the reconnect");
    await context.close();
  });
});
