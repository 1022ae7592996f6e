/**
 * `evtwebsocket/react` in Node: server rendering with react-dom/server makes no socket and
 * renders "idle"; the hook entry's weight. Its behaviour in a browser (sharing, StrictMode, the
 * latest handler) is tested in Chromium (test/browser/react.test.ts).
 * Also both hooks rendered on the server by React 19 and 18 with no warning (a bundle in a child process).
 */

import { spawn, spawnSync } from "node:child_process";
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
import { REACT_18 } from "./helpers/react-18.js";

const root = fileURLToPath(new URL("../", import.meta.url));
/** The limit for what the hook entry adds to an app that has the main entry. */
const HOOK_BUDGET_GZIP_BYTES = 1024;

function Status({ url }: { url: string }) {
  const { conn, state, error } = useConn(url, { share: "ssr" });
  useConnEvent(conn, "message", () => {});
  return createElement("p", null, `${state} ${conn === null} ${error === undefined}`);
}

/** useConnEvent with an event that is not a string and no handler. */
function BadEvent() {
  useConnEvent(null, Object.create(null) as "message", undefined as never);
  return null;
}

/** The server-rendering check, for a child Node process with React 18 bundled in. */
const SSR_18 = `
import { createElement, version } from "react";
import { renderToString } from "react-dom/server";
import { Conn } from "./src/index.ts";
import { useConn, useConnEvent } from "./src/react/index.ts";
let dials = 0;
const dial = Conn.prototype.dial;
Conn.prototype.dial = function (...args) { dials++; return dial.apply(this, args); };
function Status({ url }) {
  const { conn, state, error } = useConn(url, { share: "ssr" });
  useConnEvent(conn, "message", () => {});
  return createElement("p", null, \`\${state} \${conn === null} \${error === undefined}\`);
}
const html = renderToString(createElement(Status, { url: process.argv[2] }));
process.stdout.write(JSON.stringify({ major: version.split(".")[0], html, dials }));
`;

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

  it('renders on the server with React 18 too (the workspace test/fixtures/react-18): no socket, "idle"', async () => {
    const s = await server();
    // React 18 cannot share this process with React 19: the page is bundled with React 18
    // aliased in, and run by a child Node process against the same server.
    const result = await build({
      stdin: { contents: SSR_18, resolveDir: root, loader: "ts" },
      absWorkingDir: root,
      bundle: true,
      write: false,
      format: "cjs",
      platform: "node",
      target: "node20",
      alias: REACT_18,
      external: ["ws", "bufferutil", "utf-8-validate"],
      logLevel: "silent",
    });
    const child = spawn(process.execPath, ["-", s.url], { cwd: root, stdio: ["pipe", "pipe", "inherit"] });
    child.stdin.end(result.outputFiles[0]!.contents);
    let out = "";
    for await (const chunk of child.stdout) out += chunk;
    expect(JSON.parse(out)).toEqual({ major: "18", html: "<p>idle true true</p>", dials: 0 });
    expect(s.connections).toBe(0);
  });

  it("useConnEvent with an event String() cannot show and a handler that is not a function: ERR_INVALID_OPTION, not a TypeError", () => {
    // The message quoted the event with String(), which throws for an object without a prototype.
    let caught: unknown;
    try {
      renderToString(createElement(BadEvent));
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({
      name: "EvtWebSocketError",
      code: "ERR_INVALID_OPTION",
      message: "useConnEvent(object): the handler must be a function, got undefined",
    });
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

/** Server rendering of both hooks in a child Node process, React in development mode, console.error recorded. */
const SSR = `
import { createElement, version } from "react";
import { renderToString } from "react-dom/server";
import { Conn } from "./src/index.ts";
import { useConn, useConnEvent } from "./src/react/index.ts";
let dials = 0;
const dial = Conn.prototype.dial;
Conn.prototype.dial = function (...args) { dials++; return dial.apply(this, args); };
const errors = [];
console.error = (...args) => void errors.push(args.join(" ").slice(0, 120));
function Status({ url }) {
  const { conn, state } = useConn(url, { share: "ssr" });
  useConnEvent(conn, "message", () => {});
  return createElement("p", null, state);
}
const html = renderToString(createElement(Status, { url: "ws://127.0.0.1:9/" }));
process.stdout.write(JSON.stringify({ major: version.split(".")[0], html, dials, errors }));
`;

describe("evtwebsocket/react on the server", () => {
  it.each([
    ["19", {}],
    ["18", REACT_18],
  ])("React %s renders useConn and useConnEvent with no socket and no warning", async (major, alias) => {
    const result = await build({
      stdin: { contents: SSR, resolveDir: root, loader: "ts" },
      absWorkingDir: root,
      bundle: true,
      write: false,
      format: "cjs",
      platform: "node",
      target: "node20",
      alias,
      define: { "process.env.NODE_ENV": '"development"' },
      external: ["ws", "bufferutil", "utf-8-validate"],
      logLevel: "silent",
    });
    const child = spawnSync(process.execPath, ["-"], { cwd: root, input: result.outputFiles[0]!.contents });
    // A layout effect would keep the handler up to date as well, but React 18 warns on the
    // server for each ("useLayoutEffect does nothing on the server"); the insertion effect does not.
    expect(JSON.parse(child.stdout.toString())).toEqual({ major, html: "<p>idle</p>", dials: 0, errors: [] });
  });
});
