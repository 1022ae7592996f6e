/**
 * Findings of the runtime review of the WHATWG transport (src/transport/native.ts) that show in
 * the browser: the built bundle (`dist/browser.js`) in Debian's Chromium against a real `ws`
 * echo server on 127.0.0.1. The same checks in Node 24, Bun and Deno are test/runtimes/smoke.mjs's.
 */

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { file, html, inPage, type Rig, startRig } from "./rig.js";

const bundlePath = fileURLToPath(new URL("../../dist/browser.js", import.meta.url));

let rig: Rig;
let server: TestServer;
let context: BrowserContext | undefined;

beforeAll(async () => {
  if (!existsSync(bundlePath)) throw new Error(`${bundlePath} is missing: build it first (npm run build)`);
  rig = await startRig({
    "/": html("/load.js"),
    "/load.js": {
      type: "text/javascript",
      body: () => `import("/dist/browser.js").then((evt) => { window.evt = evt; });`,
    },
    "/dist/browser.js": file("dist/browser.js"),
  });
  // The default protocol echoes each message with its type.
  server = await startServer();
}, 60_000);

afterAll(async () => {
  await context?.close();
  await rig?.close();
  await server?.close();
});

describe("the WHATWG transport in Chromium", requireTools("chromium"), () => {
  it("a Uint8Array over a resizable ArrayBuffer goes out as its bytes, queued or not (Chromium's send() throws on it)", async () => {
    context = await rig.browser.newContext();
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    await page.goto(`${rig.origin}/`);
    await page.waitForFunction(() => window.evt !== undefined, undefined, { timeout: 10_000 });
    const seen = await inPage(page, server.url, async (url) => {
      const got: (string | Uint8Array)[] = [];
      const conn = new window.evt.Conn<string | Uint8Array, string | Uint8Array>({
        reconnect: false,
        onMessage: (msg) => void got.push(msg),
      });
      // ES2024's resizable ArrayBuffer, missing from the TypeScript lib this project targets.
      const Resizable = ArrayBuffer as unknown as new (bytes: number, options: object) => ArrayBuffer;
      const resizable = (byte: number) =>
        new Uint8Array(new Resizable(4, { maxByteLength: 8 }), 1, 2).fill(byte);
      conn.send(resizable(6)); // queued, then sent at the open
      conn.send("after");
      await conn.dial(url);
      conn.send(resizable(5));
      await window.waitFor(() => got.length === 3, "three echoes");
      await conn.close();
      return got.map((m) => (typeof m === "string" ? m : Array.from(m).join(",")));
    });
    expect(seen).toEqual(["6,6", "after", "5,5"]);
    expect(pageErrors).toEqual([]);
  });
});
