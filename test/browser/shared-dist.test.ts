/**
 * `evtwebsocket/shared` as published: `dist/shared.js` importing `evtwebsocket`
 * (`dist/browser.js`, through an import map) in Debian's Chromium. Every error a shared method
 * throws, rejects with, hands to the `error` event or ends an iterator with is the public
 * `EvtWebSocketError` (`instanceof`, `isEvtWebSocketError`), in a leader and in a follower.
 * Needs `npm run build` first.
 */

import { existsSync } from "node:fs";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { file, html, inPage, type Rig, startRig } from "./rig.js";

type Probe = { what: string; code: string; instance: boolean; is: boolean };

declare global {
  interface Window {
    probe(what: string, error: unknown): void;
    probes: Probe[];
  }
}

let rig: Rig;
let server: TestServer;
const root = new URL("../../", import.meta.url).pathname;

beforeAll(async () => {
  for (const f of ["dist/shared.js", "dist/browser.js"])
    if (!existsSync(`${root}${f}`)) throw new Error(`${f} is missing: run npm run build first`);
  const app = `import * as shared from "/dist/shared.js";
import * as main from "evtwebsocket";
window.shared = shared;
window.probes = [];
window.probe = (what, e) => window.probes.push({
  what, code: String(e && e.code), instance: e instanceof main.EvtWebSocketError, is: main.isEvtWebSocketError(e),
});`;
  rig = await startRig({
    "/": html("/app.js", `<script type="importmap">{"imports":{"evtwebsocket":"/dist/browser.js"}}</script>`),
    "/app.js": { type: "text/javascript", body: () => app },
    "/dist/shared.js": file("dist/shared.js"),
    "/dist/browser.js": file("dist/browser.js"),
  });
  server = await startServer({ onMessage: (ws, data) => ws.send(data.toString()) });
}, 60_000);

afterAll(async () => {
  await rig?.close();
  await server?.close();
});

/** Every way a shared method reports an error, tried in this page's `window.sc` (role `role`). */
async function tryAll(page: Page, role: string): Promise<Probe[]> {
  return inPage(page, role, async (role) => {
    // biome-ignore lint/suspicious/noExplicitAny: the page's untyped build.
    const w = window as any;
    const sc = w.sc;
    const p = (what: string, fn: () => unknown) => {
      try {
        const r = fn();
        if (r instanceof Promise) return r.catch((e) => window.probe(`${role} ${what}`, e));
      } catch (e) {
        window.probe(`${role} ${what}`, e);
      }
    };
    await p("send volatile:1", () => sc.send("x", { volatile: 1 }));
    await p("send maxAgeMs:-1", () => sc.send("x", { maxAgeMs: -1 }));
    await p("send aborted signal", () => sc.send("x", { signal: AbortSignal.abort() }));
    await p("request timeoutMs:-1", () => sc.request("x", { timeoutMs: -1 }));
    await p("request aborted signal", () => sc.request("x", { signal: AbortSignal.abort() }));
    await p("messages bufferSize:0", () => sc.messages({ bufferSize: 0 }));
    await p("messages overflow:x", () => sc.messages({ overflow: "x" }));
    await p("close code 1234", () => sc.close(1234));
    // A full buffer: drop-oldest reports on "error"; "error" ends the iterator.
    const errors: unknown[] = [];
    const off = sc.on("error", (e: unknown) => errors.push(e));
    const dropping = sc.messages({ bufferSize: 1, overflow: "drop-oldest" });
    const failing = sc.messages({ bufferSize: 1, overflow: "error" });
    sc.send("m1");
    sc.send("m2");
    sc.send("m3");
    await w.waitFor(() => errors.length > 0, "the drop-oldest report");
    await failing.next(); // m1, buffered; then the overflow
    await failing.next().catch((e: unknown) => window.probe(`${role} messages overflow error`, e));
    off();
    window.probe(`${role} messages drop-oldest report`, errors[0]);
    void dropping.return();
    const pending = sc.request("never", { timeoutMs: 60_000 });
    const drained = sc.drained();
    await sc.close();
    await pending.catch((e: unknown) => window.probe(`${role} request pending at close`, e));
    await drained.then(
      () => {},
      (e: unknown) => window.probe(`${role} drained at close`, e),
    );
    await p("send after close", () => sc.send("x"));
    await p("request after close", () => sc.request("x"));
    await p("dial after close", () => sc.dial("ws://127.0.0.1:1/"));
    await p("drained after close", () => sc.drained());
    return window.probes.filter((x) => x.what.startsWith(role));
  });
}

describe(
  "evtwebsocket/shared from dist: every error is the public EvtWebSocketError (Chromium)",
  requireTools("chromium"),
  () => {
    it("in a follower and in a leader, thrown, rejected, reported and ending an iterator", async () => {
      const context = await rig.browser.newContext();
      const pages: Page[] = [];
      for (const role of ["leader", "follower"]) {
        const page = await context.newPage();
        await page.goto(`${rig.origin}/`);
        await page.waitForFunction(() => (window as { shared?: unknown }).shared !== undefined, undefined, {
          timeout: 10_000,
        });
        await inPage(page, [role, server.url] as const, async ([role, url]) => {
          // biome-ignore lint/suspicious/noExplicitAny: the page's untyped build.
          const w = window as any;
          try {
            w.shared.createSharedConn("");
          } catch (e) {
            window.probe(`${role} createSharedConn("")`, e);
          }
          w.sc = w.shared.createSharedConn("dist-errors", { requestTimeoutMs: 60_000 });
          await w.waitFor(() => w.sc.role === role, "the role");
          await w.sc.dial(url);
        });
        pages.push(page);
      }
      const follower = await tryAll(pages[1]!, "follower");
      const leader = await tryAll(pages[0]!, "leader");
      const all = [...follower, ...leader];
      const wrong = all.filter((x) => !x.instance || !x.is);
      expect(wrong).toEqual([]);
      // Every way was tried, in both roles (a request to a Conn without messageId is refused).
      for (const role of ["follower", "leader"])
        expect(all.filter((x) => x.what.startsWith(role)).map((x) => x.what.slice(role.length + 1))).toEqual([
          'createSharedConn("")',
          "send volatile:1",
          "send maxAgeMs:-1",
          "send aborted signal",
          "request timeoutMs:-1",
          "request aborted signal",
          "messages bufferSize:0",
          "messages overflow:x",
          "close code 1234",
          "messages overflow error",
          "messages drop-oldest report",
          "request pending at close",
          "send after close",
          "request after close",
          "dial after close",
          "drained after close",
        ]);
      await context.close();
    });
  },
);
