/**
 * A small rig for the Chromium tests of the browser entries (browser bundle, page lifecycle,
 * shared connection, React hook): an HTTP server on 127.0.0.1 port 0 that serves fixed routes,
 * Debian's Chromium launched by playwright-core, `inPage()`, which rethrows a page's error without
 * its stack, and the page globals more than one test file uses. No `Cache-Control: no-store`:
 * Chromium keeps no page that used a WebSocket under it in the back/forward cache. Bundles are
 * built per test file with esbuild from src/ (only the files that serve dist/ need `npm run build`).
 */

import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { type Browser, type BrowserContext, chromium, type LaunchOptions, type Page } from "playwright-core";
import type { WebSocket as WsSocket } from "ws";
import type { Conn } from "../../src/index.js";
import type { SharedConn } from "../../src/shared/index.js";
import { CHROMIUM } from "../helpers/tools.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** What the browser tests' pages hold, for `page.evaluate()` code (a file's own globals stay in it). */
declare global {
  interface Window {
    /** Resolves when `predicate` holds; rejects after `timeoutMs` naming `what` (set by {@link html}). */
    waitFor(predicate: () => boolean, what: string, timeoutMs?: number): Promise<void>;
    /** The library (src/index.ts, or `dist/browser.js` in browser.test.ts), where a test's app puts it. */
    evt: typeof import("../../src/index.js");
    /** `evtwebsocket/shared`, where a test's app puts it. */
    shared: typeof import("../../src/shared/index.js");
    /** A connection kept across `page.evaluate()` calls. */
    conn: Conn;
    /** A shared connection kept across `page.evaluate()` calls. */
    sc: SharedConn<string, string>;
    /** What the page saw, in order. */
    seen: string[];
    /** How many of the page's WebSockets have ended (closed), once {@link countSocketEnds} ran. */
    socketEnds: number;
    /** Why `dist/browser.js` did not load, where {@link distRoutes}' loader tried. */
    loadError?: string;
  }
}

/** A served file: its content type and body (read when asked for). */
export type Route = { type: string; body: () => string | Uint8Array };

export interface Rig {
  browser: Browser;
  origin: string;
  close(): Promise<void>;
}

/** Serves `routes` and launches Chromium. */
export async function startRig(routes: Record<string, Route>, launch: LaunchOptions = {}): Promise<Rig> {
  const http: Server = createServer((req, res) => {
    const route = routes[new URL(req.url ?? "/", "http://x").pathname];
    if (route === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": route.type }).end(route.body());
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    ...launch,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-component-update",
      "--disable-sync",
      ...(launch.args ?? []),
    ],
  });
  return {
    browser,
    origin,
    async close() {
      await browser.close();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

/** An HTML page that runs `script` (an ES module URL) and the helper `window.waitFor`. */
export function html(script: string, body = ""): Route {
  return {
    type: "text/html; charset=utf-8",
    body: () => `<!doctype html>
<meta charset="utf-8">
<title>evtwebsocket</title>
<script>
  window.waitFor = (predicate, what, timeoutMs = 10000) => new Promise((resolve, reject) => {
    const deadline = performance.now() + timeoutMs;
    const tick = () => {
      if (predicate()) return resolve();
      if (performance.now() > deadline) return reject(new Error("timed out waiting for: " + what));
      setTimeout(tick, 5);
    };
    tick();
  });
</script>
${body}
<script type="module" src="${script}"></script>`,
  };
}

/** Bundles `entry` (a path from the repository root, or inline code) for the browser, as an ES module. */
export async function bundle(
  entry: { file: string } | { code: string },
  options: { alias?: Record<string, string> } = {},
): Promise<Route> {
  const result = await build({
    ...(options.alias !== undefined && { alias: options.alias }),
    ...("file" in entry
      ? { entryPoints: [`${root}${entry.file}`] }
      : { stdin: { contents: entry.code, resolveDir: root, loader: "tsx" } }),
    absWorkingDir: root,
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    jsx: "automatic",
    define: { "process.env.NODE_ENV": '"development"' },
    plugins: (await browserPlugins()) ?? [],
    logLevel: "silent",
  });
  const code = result.outputFiles[0]!.contents;
  return { type: "text/javascript", body: () => code };
}

/** The browser build's plugins (the transport swap), from tsup.config.ts. */
async function browserPlugins() {
  const { default: config } = await import("../../tsup.config.js");
  const configs = (Array.isArray(config) ? config : [config]) as { entry?: unknown; esbuildPlugins?: [] }[];
  return configs.find((c) => typeof c.entry === "object" && c.entry !== null && "browser" in c.entry)
    ?.esbuildPlugins;
}

/** The shared tests' page: `evtwebsocket/shared`, bundled from src/, as `window.shared`. */
export async function sharedPage(): Promise<Record<string, Route>> {
  const app = await bundle({
    code: `import * as shared from "./src/shared/index.ts"; window.shared = shared;`,
  });
  return { "/": html("/app.js"), "/app.js": app };
}

/** Makes the server read nothing more from `ws` (its close frame included) until the test resumes the socket returned. */
export function pauseReading(ws: WsSocket): Socket {
  return (ws as unknown as { _socket: Socket })._socket.pause();
}

/** Opens `count` pages of `url` in `context`, one after the other, each once `ready()` holds in it. */
export async function openPages(
  context: BrowserContext,
  url: string,
  count: number,
  ready: () => boolean,
): Promise<Page[]> {
  const pages: Page[] = [];
  for (let i = 0; i < count; i++) {
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForFunction(ready, undefined, { timeout: 10_000 });
    pages.push(page);
  }
  return pages;
}

/**
 * `count` pages of the rig's "/" in a new context, one after the other, each once `ready()`
 * holds in it (by default: `evtwebsocket/shared` loaded, as {@link sharedPage} puts it).
 */
export async function newTabs(
  rig: Rig,
  count: number,
  ready: () => boolean = () => window.shared !== undefined,
): Promise<Page[]> {
  return openPages(await rig.browser.newContext(), `${rig.origin}/`, count, ready);
}

/**
 * Routes for a page at "/" that loads the built browser entry (`npm run build`) as `window.evt`,
 * or says why it did not load in `window.loadError`. Throws at once when the build is missing.
 */
export function distRoutes(): Record<string, Route> {
  if (!existsSync(`${root}dist/browser.js`))
    throw new Error("dist/browser.js is missing: build it first (npm run build)");
  const loader = `import("/dist/browser.js").then(
  (evt) => { window.evt = evt; },
  (error) => { window.loadError = String(error); },
);`;
  return {
    "/": html("/load.js"),
    "/load.js": { type: "text/javascript", body: () => loader },
    "/dist/browser.js": file("dist/browser.js"),
    "/dist/browser.js.map": file("dist/browser.js.map", "application/json"),
  };
}

/**
 * Pages on a rig serving {@link distRoutes}, one fresh context each: `open()` loads "/" and
 * waits for the library (or throws its load error); `close()` closes the last context and
 * fails the test if the page threw an uncaught error. Call `close()` in `afterEach`.
 */
export function distPages(rig: () => Rig): { open(): Promise<Page>; close(): Promise<void> } {
  let context: BrowserContext | undefined;
  let errors: string[] = [];
  return {
    async open() {
      errors = [];
      context = await rig().browser.newContext();
      const page = await context.newPage();
      page.on("pageerror", (error) => errors.push(String(error)));
      await page.goto(`${rig().origin}/`);
      await page.waitForFunction(
        () => window.evt !== undefined || window.loadError !== undefined,
        undefined,
        {
          timeout: 10_000,
        },
      );
      const loadError = await page.evaluate(() => window.loadError);
      if (loadError !== undefined) throw new Error(`dist/browser.js did not load in Chromium: ${loadError}`);
      return page;
    },
    async close() {
      await context?.close();
      context = undefined;
      if (errors.length > 0) throw new Error(`uncaught errors in the page: ${errors.join("; ")}`);
    },
  };
}

/** A file of the repository, served as is. */
export function file(path: string, type = "text/javascript"): Route {
  return { type, body: () => readFileSync(`${root}${path}`) };
}

/**
 * `page.evaluate()`, with an error thrown in the page rethrown without the page's stack: its
 * frames point at `http://127.0.0.1:<port>/`, which vitest's reporter tries to read as a file.
 */
export async function inPage<R, A>(page: Page, arg: A, fn: (arg: A) => R | Promise<R>): Promise<R> {
  try {
    return (await page.evaluate(fn as (arg: unknown) => R | Promise<R>, arg)) as R;
  } catch (error) {
    throw new Error(`in the page: ${String((error as Error).message).split("\n")[0]}`);
  }
}

/**
 * Makes every WebSocket the page creates from now on count its end in `window.socketEnds`
 * (from 0). The count's listener is the socket's first, so it runs before the transport's onclose.
 */
export async function countSocketEnds(page: Page): Promise<void> {
  await inPage(page, null, () => {
    window.socketEnds = 0;
    const Native = WebSocket;
    window.WebSocket = class extends Native {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args);
        this.addEventListener("close", () => window.socketEnds++);
      }
    };
  });
}
