/**
 * The transport used when the `WebSocket` option is absent, in browsers, Deno, Bun and
 * workers: the runtime's global `WebSocket`, looked up when a connection dials (never at
 * import time, so server-side rendering can import the package).
 */

import { createNativeTransport } from "./native.js";
import type { TransportFactory, WebSocketConstructorLike } from "./types.js";

/** Returns a factory for the global `WebSocket`, or undefined when the runtime has none. */
export function defaultTransport(): TransportFactory | undefined {
  const WebSocketImpl = (globalThis as { WebSocket?: WebSocketConstructorLike }).WebSocket;
  return WebSocketImpl && createNativeTransport(WebSocketImpl);
}

/**
 * Always false: a browser (and Deno, Bun or a worker using this build) never tells a page why
 * TLS failed, so no failure here can be told apart as a certificate one, and the reconnect
 * policy decides. Node's answer is in `default.ts`.
 */
export function isPermanentFailure(_error: unknown): boolean {
  return false;
}
