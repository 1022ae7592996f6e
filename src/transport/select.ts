/**
 * Picks the transport for a connection and checks the options that depend on it.
 *
 * The `WebSocket` option always wins; otherwise the runtime default (`ws` on Node, the global
 * `WebSocket` elsewhere). Options a transport cannot honour (headers in a browser, protocol
 * pings without `pingMsg`, a proxy in a browser) are refused here, at `dial()`, instead of being
 * dropped silently; a transport checks the options only it understands (the `ws` transport's
 * proxy URL) through its own `check`.
 */

import { invalidOption } from "../errors.js";
import type { Observer } from "../observe.js";
import { defaultTransport } from "./default.js";
import { createNativeTransport } from "./native.js";
import type { TransportFactory, WebSocketConstructorLike } from "./types.js";

/** What the choice depends on. */
export interface TransportNeeds {
  WebSocket: WebSocketConstructorLike | undefined;
  /** The `headers` option, fixed or a function: either needs a transport that sends headers. */
  headers: object | undefined;
  tls: object | undefined;
  /** The `proxy` and `agent` options: only the `ws` transport (Node) can honour them. */
  proxy?: string | undefined;
  agent?: object | undefined;
  /** True when the heartbeat is on and has no `pingMsg`, so protocol pings are needed. */
  needsProtocolPing: boolean;
  /** A factory given under {@link TRANSPORT_OVERRIDE} (tests: the in-memory transport); wins over the rest. */
  factory?: TransportFactory | undefined;
  /** Told of every option refused here. */
  obs?: Observer | undefined;
}

/**
 * The option key under which a test hands the connection a {@link TransportFactory} of its own
 * (the model-based suite's in-memory transport). Not part of the public options: the seam exists
 * for tests, and a symbol keeps it out of `ConnOptions` and out of autocompletion.
 */
export const TRANSPORT_OVERRIDE: unique symbol = Symbol.for("evtwebsocket.transport") as never;

/**
 * Returns the transport factory to use.
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` when no transport exists or one cannot honour an option.
 */
export function selectTransport(needs: TransportNeeds): TransportFactory {
  const factory =
    needs.factory ??
    (needs.WebSocket !== undefined ? createNativeTransport(needs.WebSocket) : defaultTransport());
  const invalid = (message: string) => {
    needs.obs?.event("option", { message });
    return invalidOption(message);
  };
  if (factory === undefined)
    throw invalid("no WebSocket in this runtime: pass one with the WebSocket option");
  if (needs.headers !== undefined && !factory.canSendHeaders) {
    throw invalid(`option headers: the ${factory.name} transport cannot send headers`);
  }
  // The runtime verifies certificates and makes its own proxy decisions.
  const via =
    needs.tls !== undefined
      ? "tls"
      : needs.proxy !== undefined
        ? "proxy"
        : needs.agent !== undefined
          ? "agent"
          : undefined;
  if (via !== undefined && !factory.canSendHeaders) throw invalid(`option ${via}: Node only`);
  factory.check?.(needs);
  if (needs.needsProtocolPing && !factory.canPing) {
    throw invalid(`option pingMsg is required: the ${factory.name} transport has no protocol ping`);
  }
  return factory;
}
