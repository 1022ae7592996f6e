/**
 * A setup file, loaded only when EVTWS_WS_DIR is set (by scripts/test-ws-latest.sh): proves the
 * tests run on the ws found there. It imports "ws" the way the transport does (through vitest's
 * alias), then checks in Node's module cache which ws packages are loaded: exactly that one,
 * with the version the script installed, before and after the test file runs. It prints the
 * version once per test file.
 */

import { realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { afterAll, expect } from "vitest";
import WebSocket from "ws";

const require = createRequire(import.meta.url);
const wanted = realpathSync(process.env.EVTWS_WS_DIR!);
const version = process.env.EVTWS_WS_VERSION!;

/** The folders of every ws package whose websocket.js Node has loaded. */
function loadedWs(): string[] {
  const files = Object.keys(require.cache).filter((p) => p.endsWith(join("ws", "lib", "websocket.js")));
  return [...new Set(files.map((p) => dirname(dirname(realpathSync(p)))))];
}

function check(when: string): void {
  expect(loadedWs(), `ws packages loaded ${when}`).toEqual([wanted]);
  expect((require(join(wanted, "package.json")) as { version: string }).version).toBe(version);
}

check("by the setup file");
expect(require(join(wanted, "lib", "websocket.js"))).toBe(WebSocket);
console.log(`ws ${version} from ${wanted} (${basename(expect.getState().testPath ?? "")})`);
afterAll(() => check("after the tests"));
