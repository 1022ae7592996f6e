/**
 * Findings of the runtime review of the WHATWG transport (src/transport/native.ts) that show in
 * the browser: the built bundle (`dist/browser.js`) in Debian's Chromium against a real `ws`
 * echo server on 127.0.0.1. The same checks in Node 24, Bun and Deno are test/runtimes/smoke.mjs's.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { distPages, distRoutes, inPage, type Rig, startRig } from "./rig.js";

let rig: Rig;
let server: TestServer;
const pages = distPages(() => rig);

beforeAll(async () => {
  rig = await startRig(distRoutes());
  // The default protocol echoes each message with its type.
  server = await startServer();
}, 60_000);

afterAll(async () => {
  await rig?.close();
  await server?.close();
});

afterEach(() => pages.close());

describe("the WHATWG transport in Chromium", requireTools("chromium"), () => {
  it("a Uint8Array over a resizable ArrayBuffer goes out as its bytes, queued or not (Chromium's send() throws on it)", async () => {
    const page = await pages.open();
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
  });
});
