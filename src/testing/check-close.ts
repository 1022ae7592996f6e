/**
 * The test server's check of `dropAll(code, reason)`: what a close frame can carry (RFC 6455
 * section 7.4), so a bad code is refused before any client is closed.
 *
 * Pure. It does not check `sendRaw()`, which writes any frame on purpose.
 */

import { invalidOption } from "../errors.js";
import { shown } from "../option-checks.js";

/**
 * Refuses a close code or reason no close frame can carry (RFC 6455 section 7.4: 1000-1014
 * but 1004-1006, or 3000-4999; a reason of at most 123 bytes), before any client is closed.
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` naming the option.
 */
export function checkClose(code: number, reason: string): void {
  const sendable =
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1014 && (code < 1004 || code > 1006)) || (code >= 3000 && code <= 4999));
  if (!sendable) {
    throw invalidOption(
      `option code of dropAll() must be a close code a frame can carry (1000-1003, 1007-1014, 3000-4999), got ${shown(code)}; sendRaw() writes any other`,
    );
  }
  if (typeof reason !== "string" || Buffer.byteLength(reason) > 123) {
    throw invalidOption("option reason of dropAll() must be a string of at most 123 bytes (UTF-8)");
  }
}
