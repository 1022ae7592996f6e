/**
 * The transport used when the `WebSocket` option is absent, on Node: `ws`.
 * The browser build swaps this module for `default.browser.ts` (see tsup.config.ts), so the
 * browser bundle never contains `ws` or a Node built-in.
 */

import type { TransportFactory } from "./types.js";
import { wsTransport } from "./ws.js";

/** Returns the default transport factory for this runtime. */
export function defaultTransport(): TransportFactory | undefined {
  return wsTransport;
}
