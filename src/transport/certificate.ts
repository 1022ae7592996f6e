/**
 * Which connection failures are a server certificate that failed verification, on Node: a
 * retry cannot fix them, so the connection gives up at once. Node-only: the browser build
 * gets `default.browser.ts`'s answer instead, as a browser never tells a page why TLS failed.
 */

import type { EvtWebSocketError } from "../errors.js";

/**
 * Node's codes (OpenSSL's X509_V_ERR_ names) for a server certificate that failed verification:
 * a retry cannot fix these (and evtws hints at --ca or --insecure for each). Left out: the CRL codes and OUT_OF_MEM, which say nothing about the
 * certificate itself.
 */
export const CERTIFICATE_CODES: ReadonlySet<string> = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_CHAIN_TOO_LONG",
  "INVALID_CA",
  "INVALID_PURPOSE",
  "PATH_LENGTH_EXCEEDED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "HOSTNAME_MISMATCH",
]);

/** True when the error's cause is a failed certificate verification. */
export function isCertificateError(error: EvtWebSocketError | undefined): boolean {
  const code = (error?.cause as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && CERTIFICATE_CODES.has(code);
}
