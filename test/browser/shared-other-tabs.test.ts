/**
 * `evtwebsocket/shared` in Debian's Chromium: what one tab meets from the others. What other
 * tabs post on the channel: wire data another version of the library might post, a leader
 * announcement without its id, a follower's handlers that throw on what the leader posted (each
 * reaches its own onError as ERR_CALLBACK_THREW, as in Conn), two tabs' requests with the same
 * number. Tabs that come and go: a lock held by a tab that runs no shared connection, a leader
 * and a follower closing in the same turn, a leader reloaded, a leader closing in the turn it
 * posts an answer, a tab made while the only leader is frozen, a follower's send aborted once
 * forwarded, the leader's page crashed (CDP `Page.crash`). Pages without Web Locks or
 * BroadcastChannel: each holds a private connection and says so (role "alone"). Real Web Locks and BroadcastChannel, a real `ws` server on 127.0.0.1 that echoes
 * ("slow:" messages are answered after the next one); the pages are built from src/ by esbuild
 * (test/browser/rig.ts). Every page's uncaught errors are collected: a test fails if a page threw.
 */

import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SharedConn } from "../../src/shared/index.js";
import { startServer, type TestServer, until } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { inPage, newTabs, openPages, type Rig, sharedPage, startRig } from "./rig.js";

type W = Window & { a: SharedConn<string, string>; log: string[]; roles: string[] };

let rig: Rig;
let server: TestServer;
/** The pages' uncaught errors. */
const errors: string[] = [];

beforeAll(async () => {
  rig = await startRig(await sharedPage());
  /** A "slow:" message, answered after the next message's answer. */
  let held: (() => void) | undefined;
  server = await startServer({
    onMessage: (ws, data) => {
      const text = data.toString();
      if (text.startsWith("slow:")) held = () => ws.send(`echo:${text}`);
      else {
        ws.send(`echo:${text}`);
        held?.();
        held = undefined;
      }
    },
  });
}, 60_000);

afterAll(async () => {
  await rig?.close();
  await server?.close();
});

/** `count` pages of the shared page in a new context (their errors not collected). */
const tabs = (count: number) => newTabs(rig, count);

/** A page of the shared page, its uncaught errors collected in `errors`. */
async function blankTab(context: BrowserContext): Promise<Page> {
  const [page] = (await openPages(context, `${rig.origin}/`, 1, () => window.shared !== undefined)) as [Page];
  page.on("pageerror", (error) => errors.push(String(error)));
  return page;
}

/** A page whose shared connection `name` is made, its events logged in `log`, and dialled. */
async function openTab(context: BrowserContext, name: string): Promise<Page> {
  const page = await blankTab(context);
  await inPage(page, [server.url, name] as const, async ([url, shared]) => {
    const w = window as unknown as W;
    w.log = [];
    w.a = window.shared.createSharedConn<string, string>(shared, {
      matchMsg: (req, resp) => resp === `echo:${req}`,
    });
    for (const event of ["role", "state", "error", "connected", "message"] as const)
      w.a.on(event, (arg: unknown) =>
        w.log.push(`${event} ${typeof arg === "object" ? JSON.stringify(arg) : String(arg)}`),
      );
    await w.a.dial(url);
  });
  return page;
}

/** A page whose shared connection `name` is made with handlers that throw, and dialled. */
async function openThrowingTab(context: BrowserContext, name: string): Promise<Page> {
  const page = await blankTab(context);
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

describe("evtwebsocket/shared: what other tabs post (Chromium)", requireTools("chromium"), () => {
  it("wire data another version of the library might post (null, a number, an event without its argument) throws nowhere and leaves the tabs working", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const name = "malformed";
    const leader = await openTab(context, name);
    const follower = await openTab(context, name);
    expect(await inPage(leader, null, () => (window as unknown as W).a.role)).toBe("leader");
    expect(await inPage(follower, null, () => (window as unknown as W).a.role)).toBe("follower");
    // A third page of the origin posts on the channel directly.
    const [other] = (await openPages(context, `${rig.origin}/`, 1, () => window.shared !== undefined)) as [
      Page,
    ];
    await inPage(other, `evtwebsocket:${name}`, async (channel) => {
      const bc = new BroadcastChannel(channel);
      for (const m of [
        null,
        undefined,
        42,
        "hello",
        [],
        {},
        { t: "ev", name: "error" },
        { t: "ev", name: "error", arg: null },
        { t: "ev", name: "error", arg: "boom" },
        { t: "ev", name: "reconnecting" },
        { t: "ev", name: "close", arg: null },
        { t: "req", from: "x", seq: 1, body: "stray", l: null },
        { t: "send", from: "x", seq: 1, body: "stray" },
        { t: "ack" },
        { t: "res" },
        { t: "leader" },
      ])
        bc.postMessage(m);
      // Posted after the rest: when it is heard, so was every other.
      bc.postMessage({ t: "ping" });
      await new Promise((resolve) => setTimeout(resolve, 200));
      bc.close();
    });
    // Both tabs still work: a follower's request is answered through the leader.
    for (const page of [leader, follower])
      expect(
        await inPage(page, null, () =>
          (window as unknown as W).a.request("still there", { timeoutMs: 5000 }),
        ),
      ).toBe("echo:still there");
    expect(errors).toEqual([]);
    await context.close();
  });

  it("a follower's throwing onMessage and state listener reach its onError as ERR_CALLBACK_THREW, as in the leader's tab and in Conn; nothing is thrown in the page", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const leader = await openThrowingTab(context, "throwing");
    const follower = await openThrowingTab(context, "throwing");
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
    await openThrowingTab(context, name);
    const follower = await openThrowingTab(context, name);
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

  it("two followers' requests with the same number (each tab's first) are each answered in the tab that made them, also when the answers come in the other order", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const name = "same-seq";
    await openTab(context, name);
    const [one, two] = (await openPages(context, `${rig.origin}/`, 2, () => window.shared !== undefined)) as [
      Page,
      Page,
    ];
    for (const page of [one, two]) {
      page.on("pageerror", (error) => errors.push(String(error)));
      // Fresh tabs: nothing sent before, so each one's request is its number 1.
      await inPage(page, [server.url, name] as const, async ([url, shared]) => {
        const w = window as unknown as W;
        w.a = window.shared.createSharedConn<string, string>(shared, {
          matchMsg: (req, resp) => resp === `echo:${req}`,
        });
        await w.a.dial(url);
      });
    }
    // "slow:one" is answered after "two" (the server holds it until the next message).
    const first = inPage(one, null, () =>
      (window as unknown as W).a.request("slow:one", { timeoutMs: 5000 }),
    );
    await until(() => server.received.includes("slow:one"), "the first request");
    const answers = await Promise.all([
      first,
      inPage(two, null, () => (window as unknown as W).a.request("two", { timeoutMs: 5000 })),
    ]);
    expect(answers).toEqual(["echo:slow:one", "echo:two"]);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe("evtwebsocket/shared: tabs that come and go (Chromium)", requireTools("chromium"), () => {
  it("a follower made while a tab that runs no shared connection holds the lock (as a frozen one would): its dial, send and request wait, and reach the server once the lock comes", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const name = "held-lock";
    const [holder] = (await openPages(context, `${rig.origin}/`, 1, () => window.shared !== undefined)) as [
      Page,
    ];
    await inPage(holder, `evtwebsocket:${name}`, async (lock) => {
      const w = window as unknown as { let: () => void };
      await new Promise<void>((granted) => {
        void navigator.locks.request(lock, () => {
          granted();
          return new Promise<void>((resolve) => {
            w.let = resolve;
          });
        });
      });
    });
    const [page] = (await openPages(context, `${rig.origin}/`, 1, () => window.shared !== undefined)) as [
      Page,
    ];
    page.on("pageerror", (error) => errors.push(String(error)));
    await inPage(page, [server.url, name] as const, ([url, shared]) => {
      const w = window as unknown as W & { dialed: string; answer: string };
      w.log = [];
      w.a = window.shared.createSharedConn<string, string>(shared, {
        matchMsg: (req, resp) => resp === `echo:${req}`,
      });
      for (const event of ["role", "state"] as const)
        w.a.on(event, (arg: unknown) => w.log.push(`${event} ${JSON.stringify(arg)}`));
      w.a.dial(url).then(
        () => {
          w.dialed = "yes";
        },
        (e) => {
          w.dialed = String(e);
        },
      );
      w.a.send("early send");
      w.a.request("early request").then(
        (v) => {
          w.answer = v;
        },
        (e) => {
          w.answer = String(e);
        },
      );
    });
    expect(await inPage(page, null, () => (window as unknown as W).a.role)).toBe("follower");
    await inPage(holder, null, () => (window as unknown as { let: () => void }).let());
    await inPage(page, null, () =>
      window.waitFor(
        () =>
          (window as unknown as { answer?: string }).answer !== undefined &&
          (window as unknown as { dialed?: string }).dialed !== undefined,
        "the answer",
      ),
    );
    expect(
      await inPage(page, null, () => [
        (window as unknown as { dialed: string }).dialed,
        (window as unknown as { answer: string }).answer,
        (window as unknown as W).a.role,
        (window as unknown as W).log,
      ]),
    ).toEqual([
      "yes",
      "echo:early request",
      "leader",
      [
        'role "leader"',
        'state {"oldState":"idle","newState":"connecting"}',
        'state {"oldState":"connecting","newState":"open"}',
      ],
    ]);
    expect(server.received.filter((m) => m.startsWith("early"))).toEqual(["early send", "early request"]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it("a leader and a follower that call close() in the same turn: both resolve, and a third tab leads and serves", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const name = "two-closes";
    const first = await openTab(context, name);
    const second = await openTab(context, name);
    const third = await openTab(context, name);
    await Promise.all([first, second].map((p) => inPage(p, null, () => (window as unknown as W).a.close())));
    await inPage(third, null, () =>
      window.waitFor(
        () => (window as unknown as W).a.role === "leader" && (window as unknown as W).a.state === "open",
        "the third leads",
      ),
    );
    expect(
      await inPage(third, null, () => (window as unknown as W).a.request("third", { timeoutMs: 5000 })),
    ).toBe("echo:third");
    expect(await inPage(third, null, () => (window as unknown as W).log)).toEqual([
      'state {"oldState":"idle","newState":"open"}',
      "connected {}",
      "role leader",
      'state {"oldState":"open","newState":"reconnecting"}',
      'state {"oldState":"reconnecting","newState":"open"}',
      "connected {}",
    ]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it("a leader whose page is reloaded: the follower leads, the reloaded page follows, both are served", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const name = "reload";
    const first = await openTab(context, name);
    const second = await openTab(context, name);
    await inPage(second, null, () => {
      (window as unknown as W).log.length = 0;
    });
    await first.reload();
    await first.waitForFunction(() => window.shared !== undefined);
    await inPage(first, [server.url, name] as const, async ([url, shared]) => {
      const w = window as unknown as W;
      w.log = [];
      w.a = window.shared.createSharedConn<string, string>(shared, {
        matchMsg: (req, resp) => resp === `echo:${req}`,
      });
      for (const event of ["role", "state", "error", "connected"] as const)
        w.a.on(event, (arg: unknown) => w.log.push(`${event} ${JSON.stringify(arg)}`));
      await w.a.dial(url);
    });
    await inPage(second, null, () =>
      window.waitFor(
        () => (window as unknown as W).a.role === "leader" && (window as unknown as W).a.state === "open",
        "the second leads",
      ),
    );
    for (const page of [first, second])
      expect(
        await inPage(page, null, () => (window as unknown as W).a.request("again", { timeoutMs: 5000 })),
      ).toBe("echo:again");
    expect(
      await inPage(first, null, () => [(window as unknown as W).a.role, (window as unknown as W).log]),
    ).toEqual(["follower", ['state {"oldState":"idle","newState":"open"}', "connected {}"]]);
    expect(await inPage(second, null, () => (window as unknown as W).log)).toEqual([
      "role leader",
      'state {"oldState":"open","newState":"reconnecting"}',
      'state {"oldState":"reconnecting","newState":"open"}',
      "connected {}",
    ]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it("a leader that closes in the same turn it posts a follower's answer: the follower's request resolves with it (with and without retryOnReconnect), and is written once", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const name = "same-turn";
    /** Makes the shared connection of `page` close right after it posts an answer, in the same turn. */
    const closeOnAnswer = (page: Page) =>
      inPage(page, null, () => {
        const w = window as unknown as W;
        const post = BroadcastChannel.prototype.postMessage;
        BroadcastChannel.prototype.postMessage = function (this: BroadcastChannel, m: unknown) {
          post.call(this, m);
          if ((m as { t?: string }).t === "res") void w.a.close();
        };
      });
    const ask = (page: Page, body: string, retryOnReconnect: boolean) =>
      inPage(page, [body, retryOnReconnect] as const, ([b, retry]) =>
        (window as unknown as W).a.request(b, { timeoutMs: 5000, retryOnReconnect: retry }),
      );
    const first = await openTab(context, name);
    const second = await openTab(context, name);
    await closeOnAnswer(first);
    expect(await ask(second, "same turn 1", false)).toBe("echo:same turn 1");
    await inPage(second, null, () =>
      window.waitFor(() => (window as unknown as W).a.role === "leader", "the second leads"),
    );
    const third = await openTab(context, name);
    await closeOnAnswer(second);
    expect(await ask(third, "same turn 2", true)).toBe("echo:same turn 2");
    await inPage(third, null, () =>
      window.waitFor(() => (window as unknown as W).a.role === "leader", "the third leads"),
    );
    expect(server.received.filter((m) => m.startsWith("same turn"))).toEqual(["same turn 1", "same turn 2"]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it("a tab made while the only leader is frozen leads and dials; the frozen tab, resumed, follows and is served; its role and state events come in order (freeze and resume DISPATCHED by the test)", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const name = "frozen-leader";
    const frozen = await openTab(context, name);
    await inPage(frozen, null, () => {
      (window as unknown as W).log.length = 0;
      document.dispatchEvent(new Event("freeze"));
    });
    const fresh = await openTab(context, name);
    expect(await inPage(fresh, null, () => (window as unknown as W).a.role)).toBe("leader");
    await inPage(frozen, null, () => document.dispatchEvent(new Event("resume")));
    expect(
      await inPage(frozen, null, () => (window as unknown as W).a.request("thawed", { timeoutMs: 5000 })),
    ).toBe("echo:thawed");
    expect(
      await inPage(frozen, null, () => [(window as unknown as W).a.role, (window as unknown as W).log]),
    ).toEqual([
      "follower",
      [
        "role follower",
        'state {"oldState":"open","newState":"reconnecting"}',
        'state {"oldState":"reconnecting","newState":"open"}',
        "connected {}",
      ],
    ]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it("a follower's send whose signal is aborted once it was forwarded: drained() resolves, it is not reported at close(), and the leader wrote it once", async () => {
    errors.length = 0;
    const context = await rig.browser.newContext();
    const name = "abort-after";
    await openTab(context, name);
    const follower = await openTab(context, name);
    const result = await inPage(follower, null, async () => {
      const w = window as unknown as W;
      const abort = new AbortController();
      w.a.send("aborted after forwarding", { signal: abort.signal });
      const queued = w.a.stats.queuedMessages;
      abort.abort();
      await w.a.drained();
      const after = w.a.stats.queuedMessages;
      await w.a.close();
      return [queued, after, w.log.filter((l) => l.startsWith("error"))];
    });
    expect(result).toEqual([1, 0, []]);
    await until(() => server.received.includes("aborted after forwarding"), "the send");
    expect(server.received.filter((m) => m === "aborted after forwarding")).toHaveLength(1);
    expect(errors).toEqual([]);
    await context.close();
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
});

describe("evtwebsocket/shared: no Web Locks or BroadcastChannel (Chromium)", requireTools("chromium"), () => {
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
});
