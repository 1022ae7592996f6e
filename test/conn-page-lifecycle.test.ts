/**
 * The back/forward cache and frozen pages, in Node against a real `ws` server: the page's
 * events (`pagehide`/`pageshow` with `persisted` on the global object, `freeze`/`resume` on
 * `document`) are dispatched on EventTargets stubbed in as the globals, the way a browser
 * would fire them. test/browser/page-lifecycle.test.ts does the same in Chromium with a real
 * back/forward navigation.
 */

import { describe, expect, it } from "vitest";
import type { CloseInfo, EvtWebSocketError, ReconnectingInfo } from "../src/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, fast, server } from "./helpers/harness.js";
import { stubPage } from "./helpers/page.js";
import { switchingProtocols, tcpServer } from "./helpers/raw-server.js";
import { freePort, until } from "./helpers/server.js";

/** A server that never answers "hold:" messages, echoes the rest, and records each close. */
async function holdingServer() {
  const closes: string[] = [];
  const s = await server({
    onMessage: (ws, data) => {
      const text = data.toString();
      if (!text.startsWith("hold:")) ws.send(`echo:${text}`);
    },
    onConnection: (ws) => ws.on("close", (code, reason) => closes.push(`${code} ${reason.toString()}`)),
  });
  return { s, closes };
}

describe("the back/forward cache and frozen pages", () => {
  it("pagehide with persisted closes with 1000 'page hidden'; pageshow dials at once; requests follow the drop rules", async () => {
    const page = stubPage();
    const { s, closes } = await holdingServer();
    const closed: CloseInfo[] = [];
    // A minute of backoff: only pageshow can explain a prompt reconnect.
    const c = conn({
      reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 },
      matchMsg: (req, resp) => resp === `echo:${req}`,
      onClose: (info) => void closed.push(info),
    });
    await c.dial(s.url);
    const plain = c.request("hold:plain").catch((e: EvtWebSocketError) => e.code);
    const retried = c.request("hold:again", { retryOnReconnect: true, timeoutMs: 0 });
    void retried.catch(() => {});
    await until(() => s.received.includes("hold:again"), "both requests on the wire");

    page.fire("pagehide", false); // a normal navigation away: not the cache, nothing to do
    expect(c.state).toBe("open");
    page.fire("pagehide", true);
    expect(c.state).toBe("reconnecting");
    expect(await plain).toBe("ERR_DISCONNECTED");
    // The close event comes with the socket's end (a show before then waits for it).
    await until(() => closed.length === 1, "the close event");
    expect(closed.map((i) => `${i.code} ${i.reason} ${i.closedBy} ${i.willReconnect}`)).toEqual([
      "1000 page hidden client true",
    ]);
    await until(() => closes.length === 1, "the server to see the close");
    expect(closes).toEqual(["1000 page hidden"]);
    expect(s.connections).toBe(1);

    page.fire("pageshow", true);
    await until(() => c.state === "open", "the reconnect on pageshow");
    expect(s.connections).toBe(2);
    await until(
      () => s.received.filter((m) => m === "hold:again").length === 2,
      "the retried request re-sent",
    );
    expect(c.stats.pendingRequests).toBe(1);
  });

  it("freeze and resume on document do the same, and resume resets the backoff", async () => {
    const page = stubPage();
    const { s, closes } = await holdingServer();
    const waits: ReconnectingInfo[] = [];
    const c = conn({ reconnect: fast, onReconnecting: (info) => void waits.push(info) });
    await c.dial(s.url);
    page.document.dispatchEvent(new Event("freeze"));
    await until(() => closes.length === 1, "the server to see the close");
    expect(closes).toEqual(["1000 page hidden"]);
    page.document.dispatchEvent(new Event("resume"));
    await until(() => c.state === "open" && s.connections === 2, "the reconnect on resume");

    // Let the retries climb, then freeze and resume: the next wait starts from attempt 1 again.
    await s.stop();
    await until(() => waits.length >= 3, "three failed attempts");
    page.document.dispatchEvent(new Event("freeze"));
    const before = waits.length;
    expect(waits.at(-1)!.attempt).toBeGreaterThanOrEqual(3);
    page.document.dispatchEvent(new Event("resume"));
    await until(() => waits.length > before, "the attempt made on resume to fail");
    expect(waits[before]!.attempt).toBe(1);
  });

  it("a closed connection ignores the events", async () => {
    const page = stubPage();
    const { s } = await holdingServer();
    const c = conn({ reconnect: fast });
    await c.dial(s.url);
    await c.close();
    page.fire("pagehide", true);
    page.fire("pageshow", true);
    expect(c.state).toBe("closed");
    expect(s.connections).toBe(1);
  });

  it("a show before the hidden socket ended waits for it: one socket at a time", async () => {
    const page = stubPage();
    // A peer that never answers a closing handshake, so our hidden socket ends only by its close
    // timeout (3 s). One list, in order: each TCP connection the peer accepts, and our events.
    const order: string[] = [];
    let accepted = 0;
    const { port } = await tcpServer((socket) => {
      order.push(`connect ${++accepted}`);
      socket.on("error", () => {});
      socket.once("data", (head: Buffer) => socket.write(switchingProtocols(head.toString())));
    });
    const c = conn({ reconnect: fast, onClose: (info) => void order.push(`close ${info.code}`) });
    await c.dial(`ws://127.0.0.1:${port}`);
    page.fire("pagehide", true);
    page.fire("pageshow", true);
    order.push("shown");
    await until(() => c.state === "open", "the dial after the hidden socket ended", 10_000);
    // The new socket is dialled only once the hidden one ended (its close event), not at "shown".
    expect(order).toEqual(["connect 1", "shown", expect.stringMatching(/^close /), "connect 2"]);
  });

  it("online, pageshow or resume while an attempt's URL function is still running start no second attempt: the function is called once", async () => {
    const page = stubPage();
    const { s } = await holdingServer();
    const releases: Array<(url: string) => void> = [];
    const c = conn({ reconnect: fast });
    const dialed = c.dial(() => new Promise<string>((resolve) => void releases.push(resolve)));
    expect(releases).toHaveLength(1);
    page.window.dispatchEvent(new Event("online"));
    page.fire("pageshow", true);
    page.document.dispatchEvent(new Event("resume"));
    expect(releases).toHaveLength(1);
    // The attempt under way goes on with its URL: the dial opens on it.
    releases[0]!(s.url);
    await dialed;
    expect(c.state).toBe("open");
    expect(s.connections).toBe(1);
  });

  it("pageshow while the connection is open leaves the backoff as it is: a flapping connection's next retry is not attempt 1 again", async () => {
    const page = stubPage();
    const { s } = await holdingServer();
    const clock = new FakeClock();
    const attempts: number[] = [];
    // A connection counts as stable only after a minute: every drop here continues the backoff.
    const c = conn({
      clock,
      reconnect: { minDelayMs: 100, maxDelayMs: 10_000, jitter: 0, resetAfterMs: 60_000 },
      onReconnecting: (info) => void attempts.push(info.attempt),
    });
    await c.dial(s.url);
    s.dropAll(1011);
    await until(() => attempts.length === 1, "the first retry announced");
    clock.advance(100);
    await until(() => c.state === "open", "open again");
    page.fire("pageshow", true);
    s.dropAll(1011);
    await until(() => attempts.length === 2, "the second retry announced");
    expect(attempts).toEqual([1, 2]);
  });

  it("an attempt under way when the page hid that fails while hidden is retried only once the page is shown", async () => {
    const page = stubPage();
    const { s } = await holdingServer();
    const clock = new FakeClock();
    const nowhere = `ws://127.0.0.1:${await freePort()}/`; // nothing listens: refused at once
    const held: Array<(url: string) => void> = [];
    let calls = 0;
    let waits = 0;
    const c = conn({
      clock,
      reconnect: { minDelayMs: 100, maxDelayMs: 100, jitter: 0 },
      onReconnecting: () => void waits++,
    });
    await c.dial(() => {
      calls++;
      return calls === 2 ? new Promise<string>((resolve) => void held.push(resolve)) : s.url;
    });
    s.dropAll(1011);
    await until(() => c.state === "reconnecting", "the drop");
    clock.advance(100);
    await until(() => held.length === 1, "the retry's URL function running");
    page.fire("pagehide", true);
    held[0]!(nowhere);
    await until(() => waits === 2, "the refused attempt's retry wait announced");
    clock.advance(10_000);
    await new Promise((r) => setImmediate(r));
    expect(calls).toBe(2);
    page.fire("pageshow", true);
    await until(() => c.state === "open", "open once shown");
    expect(calls).toBe(3);
  });

  it("hidden, shown and hidden again before the first hidden socket ended: the attempt the show set off waits for the next show", async () => {
    const page = stubPage();
    const { s } = await holdingServer();
    const clock = new FakeClock();
    const closed: CloseInfo[] = [];
    let calls = 0;
    const c = conn({
      clock,
      reconnect: { minDelayMs: 100, maxDelayMs: 100, jitter: 0 },
      onClose: (info) => void closed.push(info),
    });
    await c.dial(() => {
      calls++;
      return s.url;
    });
    page.fire("pagehide", true);
    page.fire("pageshow", true); // its attempt waits for the hidden socket's end: one socket at a time
    page.fire("pagehide", true);
    await until(() => closed.length === 1, "the hidden socket's end");
    const turn = () => new Promise((r) => setImmediate(r));
    await turn();
    await turn();
    clock.advance(10_000);
    await turn();
    expect(calls).toBe(1); // the URL function of an attempt made while hidden was not called
    expect(c.state).toBe("reconnecting");
    page.fire("pageshow", true);
    await until(() => c.state === "open", "open once shown");
    expect(calls).toBe(2);
    expect(s.connections).toBe(2);
  });
});
