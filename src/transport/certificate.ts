/**
 * Which connection failures are a server certificate that failed verification, on Node: a
 * retry cannot fix them, so the connection gives up at once. Node-only: the browser build
 * gets `default.browser.ts`'s answer instead, as a browser never tells a page why TLS failed.
 */

import type { EvtWebSocketError } from "../errors.js";

/** Node's codes for a server certificate that failed verification (a retry cannot fix these). */
const CERTIFICATE_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "HOSTNAME_MISMATCH",
]);

/** True when the error's cause is a failed certificate verification. */
export function isCertificateError(error: EvtWebSocketError | undefined): boolean {
  const code = (error?.cause as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && CERTIFICATE_CODES.has(code);
}
