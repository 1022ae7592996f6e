/**
 * Builds the public description of a handshake (`conn.handshake`) from what the transport saw.
 *
 * The URL is redacted as in every message (scheme, host and port). Built once per connection,
 * on first read. When the handshake happens and what it sends is the link's and the
 * transport's business; reading the response headers is the `ws` transport's.
 */

import type { HandshakeResponse } from "./transport/types.js";
import type { Handshake } from "./types.js";
import { redactUrl } from "./url.js";

/** The handshake of a socket opened to `url`; `response` when the transport saw the server's answer. */
export function describeHandshake(
  url: string,
  protocol: string,
  response: HandshakeResponse | undefined,
): Handshake {
  return Object.freeze({
    url: redactUrl(new URL(url)),
    // A WebSocket opens only on 101 (RFC 6455 4.1): where the runtime hides the status, it was 101.
    status: response?.status ?? 101,
    protocol,
    ...(response && { headers: Object.freeze(response.headers) }),
  });
}
