/**
 * The React pages of the browser tests: one app bundled once per React major the peer range
 * covers (19 at "/", 18 at "/18", React 18 aliased in), and a page opened on one of them that
 * must run the React it was built with.
 */

import type { Page } from "playwright-core";
import { expect } from "vitest";
import { REACT_18 } from "../helpers/react-18.js";
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
