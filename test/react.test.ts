/**
 * `evtwebsocket/react` in Node: server rendering with react-dom/server makes no socket and
 * renders "idle"; the hook entry's weight. Its behaviour in a browser (sharing, StrictMode, the
 * latest handler) is tested in Chromium (test/browser/react.test.ts).
 */

import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { createElement } from "react";
import { renderToString } from "react-dom/server";
import { describe, expect, it, vi } from "vitest";
import { Conn } from "../src/index.js";
import { useConn, useConnEvent } from "../src/react/index.js";
import { server } from "./helpers/harness.js";

const root = fileURLToPath(new URL("../", import.meta.url));
/** The limit for what the hook entry adds to an app that has the main entry. */
const HOOK_BUDGET_GZIP_BYTES = 1024;

function Status({ url }: { url: string }) {
  const { conn, state, error } = useConn(url, { share: "ssr" });
  useConnEvent(conn, "message", () => {});
  return createElement("p", null, `${state} ${conn === null} ${error === undefined}`);
}

describe("evtwebsocket/react", () => {
  it('renders on the server with no socket and the state "idle"', async () => {
    const s = await server();
    const dial = vi.spyOn(Conn.prototype, "dial");
    const html = renderToString(createElement(Status, { url: s.url }));
    expect(html).toBe("<p>idle true true</p>");
    expect(dial).not.toHaveBeenCalled();
    dial.mockRestore();
    expect(s.connections).toBe(0);
  });

  it(`adds at most ${HOOK_BUDGET_GZIP_BYTES} B minified and gzipped to an app that has the main entry`, async () => {
    const result = await build({
      entryPoints: [`${root}src/react/index.ts`],
      absWorkingDir: root,
      bundle: true,
      write: false,
      minify: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      logLevel: "silent",
      // The main entry and React are the app's already, as in the published build.
      plugins: [
        {
          name: "main-entry-external",
          setup(b) {
            b.onResolve({ filter: /^\.\.\/index(\.js)?$/ }, (args) =>
              resolve(args.resolveDir, args.path).replace(/\.js$/, ".ts") === resolve(root, "src/index.ts")
                ? { path: "evtwebsocket", external: true }
                : undefined,
            );
          },
        },
      ],
      external: ["react", "evtwebsocket"],
    });
    const code = result.outputFiles[0]!.contents;
    const gzipped = gzipSync(code, { level: 9 }).byteLength;
    console.log(`evtwebsocket/react: ${code.byteLength} B minified, ${gzipped} B gzipped`);
    expect(new TextDecoder().decode(code)).not.toMatch(/class \w+\{#/); // no copy of Conn inside
    expect(gzipped).toBeLessThanOrEqual(HOOK_BUDGET_GZIP_BYTES);
  });
});
