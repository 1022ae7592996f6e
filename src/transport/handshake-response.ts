/**
 * The server's answer to a handshake that succeeded (the 101 response), as the `ws` transport
 * reports it: the server's own headers, without the handshake's.
 *
 * Pure: it reads a response and keeps nothing. It does not look at a refused handshake (its
 * status and `Retry-After` are read where ws reports it, in ws-socket.ts).
 */

import type { HandshakeResponse } from "./types.js";

/** The handshake's own response headers: the protocol's, not the server's news (the subprotocol is `protocol`). */
const PROTOCOL_HEADER = /^(?:upgrade|connection|sec-websocket-.*)$/;
/** A 101 with nothing but the handshake's own headers, shared: nothing kept per connection. */
const PLAIN_101: HandshakeResponse = Object.freeze({ status: 101, headers: Object.freeze({}) });

/**
 * The 101 response as the connection reports it, kept for the connection's life: the server's
 * headers but the handshake's own (about 250 B per connection if they were kept too), names
 * lower-cased (as Node gives them), repeats joined with ", ".
 */
export function handshakeResponse(res: {
  statusCode?: number;
  headers: Record<string, string | string[] | undefined>;
}): HandshakeResponse {
  let headers: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined || PROTOCOL_HEADER.test(name)) continue;
    headers ??= {};
    headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  const status = res.statusCode ?? 101;
  return headers === undefined && status === 101 ? PLAIN_101 : { status, headers: headers ?? {} };
}
