/**
 * Picks the transport for a connection and checks the options that depend on it.
 *
 * The `WebSocket` option always wins; otherwise the runtime default (`ws` on Node, the global
 * `WebSocket` elsewhere). Options a transport cannot honour (headers in a browser, protocol
 * pings without `pingMsg`) are refused here, at `dial()`, instead of being dropped silently.
 */

import { ErrorCode, EvtWebSocketError } from "../errors.js";
import { defaultTransport } from "./default.js";
import { createNativeTransport } from "./native.js";
import type { TransportFactory, WebSocketConstructorLike } from "./types.js";

/** What the choice depends on. */
export interface TransportNeeds {
  WebSocket: WebSocketConstructorLike | undefined;
  headers: Record<string, string> | undefined;
  tls: object | undefined;
  /** True when the heartbeat is on and has no `pingMsg`, so protocol pings are needed. */
  needsProtocolPing: boolean;
}

/**
 * Returns the transport factory to use.
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` when no transport exists or one cannot honour an option.
 */
export function selectTransport(needs: TransportNeeds): TransportFactory {
  const factory = needs.WebSocket !== undefined ? createNativeTransport(needs.WebSocket) : defaultTransport();
  const invalid = (message: string) => new EvtWebSocketError(ErrorCode.INVALID_OPTION, message);
  if (factory === undefined)
    throw invalid("no WebSocket in this runtime: pass one with the WebSocket option");
  if (needs.headers !== undefined && !factory.canSendHeaders) {
    throw invalid(`option headers: the ${factory.name} transport cannot send headers`);
  }
  if (needs.tls !== undefined && !factory.canSendHeaders) {
    throw invalid(
      `option tls: the ${factory.name} transport has no TLS settings (the runtime verifies certificates)`,
    );
  }
  if (needs.needsProtocolPing && !factory.canPing) {
    throw invalid(`option pingMsg is required: the ${factory.name} transport has no protocol ping`);
  }
  return factory;
}
