/**
 * The browser build's stand-in for `channels.ts` (swapped in by tsup.config.ts): browsers have
 * no `diagnostics_channel`, so a connection is observed by its logger alone.
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
