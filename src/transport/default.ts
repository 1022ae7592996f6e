/**
 * The transport used when the `WebSocket` option is absent, on Node: `ws`.
 * The browser build swaps this module for `default.browser.ts` (see tsup.config.ts), so the
 * browser bundle never contains `ws` or a Node built-in. It also says which failures no retry
 * can fix (Node's certificate codes, an agent of the other scheme), which the browser build
 * cannot tell.
 */

import type { EvtWebSocketError } from "../errors.js";
import { isCertificateError } from "./certificate.js";
import { isWrongAgent } from "./create-connection.js";
import type { TransportFactory } from "./types.js";
import { wsTransport } from "./ws.js";

/**
 * True for a failure a retry cannot fix, so the connection gives up at once: a server
 * certificate that fails verification, or an `agent` for the other scheme (Node refuses it on
 * every attempt).
 */
export function isPermanentFailure(error: EvtWebSocketError | undefined): boolean {
  return isCertificateError(error) || isWrongAgent(error);
}

/** Returns the default transport factory for this runtime. */
export function defaultTransport(): TransportFactory | undefined {
  return wsTransport;
}
