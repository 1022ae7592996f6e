/**
 * What one `dial()` fixes for all of its attempts, checked up front.
 *
 * The transport, the subprotocols and the ping frame are settled when `dial()` is called, so a
 * combination that cannot work (headers in a browser, a ping the codec cannot encode, an empty
 * subprotocol) fails there, at once, instead of in the middle of a session. What comes back
 * is one object shared by every attempt's link (and handed to the transport as its options), so
 * a connection holds nothing per attempt beyond its socket. The retry policy and the life cycle
 * are not this module's business.
 */

import type { Data } from "./codec.js";
import { invalidOption } from "./errors.js";
import type { LinkConfig } from "./link.js";
import type { Announced } from "./observe.js";
import { HTTP_TOKEN } from "./option-checks.js";
import type { ConnOptions } from "./options.js";
import type { ResolvedOptions } from "./resolve-options.js";
import { selectTransport, TRANSPORT_OVERRIDE } from "./transport/select.js";
import type { TransportFactory } from "./transport/types.js";

/** Offering no subprotocol: one shared, frozen list. */
const NO_PROTOCOLS: string[] = Object.freeze([]) as unknown as string[];

/**
 * The subprotocols to offer; `""` means none, as in the Go original's `Dial(url, "")`. Each must
 * be a distinct HTTP token (RFC 6455 4.1): checked here, or every attempt would fail inside the
 * transport and be retried forever.
 */
function protocolList(subprotocol: string | string[] | undefined): string[] {
  if (subprotocol === undefined || subprotocol === "") return NO_PROTOCOLS;
  const list = [subprotocol].flat();
  if (!list.every((p) => typeof p === "string" && HTTP_TOKEN.test(p)) || new Set(list).size < list.length) {
    throw invalidOption(
      "subprotocol must be an HTTP token (no spaces or separators), or an array of distinct ones",
    );
  }
  return list;
}

/** The ping frame builder: encoded once for a fixed `pingMsg`, per ping for a function. */
function pingBuilder<TOut>(pingMsg: TOut | (() => TOut) | undefined, encode: (msg: TOut) => Data) {
  if (pingMsg === undefined) return undefined;
  if (typeof pingMsg === "function") {
    const build = pingMsg as () => TOut;
    return () => encode(build());
  }
  let frame: Data;
  try {
    frame = encode(pingMsg);
  } catch (cause) {
    throw invalidOption("option pingMsg: the codec cannot encode it", cause);
  }
  return () => frame;
}

/**
 * Checks what `dial()` was given against the options and the runtime.
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` when the transport, subprotocols or ping do not fit.
 */
export function planDial<TIn, TOut>(
  options: ConnOptions<TIn, TOut, unknown>,
  o: ResolvedOptions<TIn, TOut>,
  subprotocol: string | string[] | undefined,
  obs?: Announced,
): LinkConfig {
  const protocols = protocolList(subprotocol);
  const factory = selectTransport({
    WebSocket: options.WebSocket,
    headers: options.headers,
    tls: options.tls,
    proxy: options.proxy,
    agent: options.agent,
    needsProtocolPing: o.pingIntervalMs > 0 && options.pingMsg === undefined,
    factory: (options as { [TRANSPORT_OVERRIDE]?: TransportFactory })[TRANSPORT_OVERRIDE],
    obs,
  });
  // Only the ws transport enforces the limit (it closes with 1009); a WHATWG socket takes any size.
  if (options.maxMessageBytes !== undefined && !factory.canSendHeaders)
    obs?.event("option", { message: `maxMessageBytes ignored by ${factory.name}` });
  const pingData = pingBuilder(options.pingMsg, (msg) => o.codec.encode(msg));
  const heartbeat = o.pingIntervalMs > 0 ? o : undefined;
  return {
    protocols,
    // A headers function is the lifecycle's to call, once per attempt.
    headers: typeof options.headers === "function" ? undefined : options.headers,
    headersFn: typeof options.headers === "function" ? options.headers : undefined,
    tls: options.tls,
    maxMessageBytes: o.maxMessageBytes,
    proxy: options.proxy,
    agent: options.agent,
    factory,
    clock: o.clock,
    connectTimeoutMs: o.connectTimeoutMs,
    heartbeat,
    pingData,
    obs,
  };
}
