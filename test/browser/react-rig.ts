/**
 * The React pages of the browser tests: one app bundled once per React major the peer range
 * covers (19 at "/", 18 at "/18", React 18 aliased in), and a page opened on one of them that
 * must run the React it was built with.
 */

import type { Page } from "playwright-core";
import { afterAll, beforeAll, expect } from "vitest";
import { REACT_18 } from "../helpers/react-18.js";
import { startServer, type TestServer } from "../helpers/server.js";
import { bundle, html, inPage, type Rig, startRig } from "./rig.js";

declare global {
  interface Window {
    /** Set by the app once it has mounted its root. */
    ready: boolean;
    reactVersion: string;
    /** Each component's connection state, by component id. */
    states: Record<string, string>;
    /** Each component's connection, by component id. */
    conns: Record<string, unknown>;
    /** Renders the app's components, one per spec (the app's own spec type). */
    mount(specs: unknown[]): void;
  }
}

/** Each React major the peer range covers: the page it is served at, and how its build resolves React. */
export const REACTS = [
  { version: "19", path: "/", alias: undefined },
  { version: "18", path: "/18", alias: REACT_18 },
] as const;

/** Serves `app` (TSX that sets `window.ready`) built for each React in {@link REACTS}. */
export async function startReactRig(app: string): Promise<Rig> {
  const routes: Parameters<typeof startRig>[0] = {};
  for (const { path, alias } of REACTS) {
    const script = `/app${path.slice(1)}.js`;
    routes[path] = html(script, `<div id="root"></div>`);
    routes[script] = await bundle({ code: app }, alias === undefined ? {} : { alias });
  }
  return startRig(routes);
}

/** A page of its own context on `path`, once the app is ready; checks it runs React `version`. */
export async function openReactPage(rig: Rig, path: string, version: string): Promise<Page> {
  const context = await rig.browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${rig.origin}${path}`);
  await page
    .waitForFunction(() => window.ready === true, undefined, { timeout: 10_000 })
    .catch(() => {
      throw new Error(`the React page did not load: ${errors.join("; ")}`);
    });
  // The page runs the React it was built with: the alias is not silently ignored.
  expect(await inPage(page, null, () => window.reactVersion.split(".")[0])).toBe(version);
  return page;
}

/** What {@link withReactRig} gives a test file. */
export interface ReactRigEnv {
  /** The `ws` server on 127.0.0.1 the pages dial (set before the first test). */
  readonly server: TestServer;
  /** The close code of each connection the server saw end, in order. */
  readonly closes: string[];
  /** {@link openReactPage} on the file's rig. */
  open(path: string, version: string): Promise<Page>;
}

/**
 * A test file's React rig serving `app`, and a `ws` server that records each connection's close
 * code: started before the file's tests, closed after them.
 */
export function withReactRig(app: string): ReactRigEnv {
  let rig: Rig | undefined;
  let server: TestServer | undefined;
  const closes: string[] = [];
  beforeAll(async () => {
    rig = await startReactRig(app);
    server = await startServer({
      onConnection: (ws) => ws.on("close", (code) => closes.push(String(code))),
    });
  }, 60_000);
  afterAll(async () => {
    await rig?.close();
    await server?.close();
  });
  return {
    get server() {
      return server!;
    },
    closes,
    open: (path, version) => openReactPage(rig!, path, version),
  };
}

/** Mounts `specs` in the page's app ({@link Window.mount}). */
export const mount = <Spec>(page: Page, specs: Spec[]) => inPage(page, specs, (s) => window.mount(s));

/** Waits until component `id`'s state in the page is `state`. */
export const waitState = (page: Page, id: string, state: string) =>
  inPage(page, [id, state] as const, ([i, s]) => window.waitFor(() => window.states[i] === s, `${i} ${s}`));
