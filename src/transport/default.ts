/**
 * The transport used when the `WebSocket` option is absent, on Node: `ws`.
 * The browser build swaps this module for `default.browser.ts` (see tsup.config.ts), so the
 * browser bundle never contains `ws` or a Node built-in. It also says which failures are
 * certificate failures (Node's codes), a list the browser build has no use for.
 */

export { isCertificateError } from "./certificate.js";

import type { TransportFactory } from "./types.js";
import { wsTransport } from "./ws.js";

/** Returns the default transport factory for this runtime. */
export function defaultTransport(): TransportFactory | undefined {
  return wsTransport;
}
