/**
 * The browser build's stand-in for `channels.ts` (swapped in by tsup.config.ts): browsers have
 * no `diagnostics_channel`, so a connection is observed by its logger alone, and its id needs
 * no thread (a page's workers are pages of their own here).
 */

import type { Clock } from "./clock.js";
import type { Observer } from "./observe.js";

/** Returns `inner` unchanged: nothing is published in browsers. */
export function withChannels(
  _conn: object,
  _id: string,
  _clock: Clock,
  inner: Observer | undefined,
): Observer | undefined {
  return inner;
}

/**
 * Where the last id given is kept: on `globalThis`, shared by every copy of the library in the
 * page (its ESM and CJS builds, two versions).
 */
const LAST_ID = Symbol.for("evtwebsocket.id");

/** A short id, unique in this page, across copies of the library: "c1", "c2", … */
export function nextConnId(): string {
  const g = globalThis as unknown as Record<symbol, number>;
  // biome-ignore lint/suspicious/noAssignInExpressions: one expression, 3 B fewer in the browser entry
  return `c${(g[LAST_ID] = (g[LAST_ID] ?? 0) + 1)}`;
}
