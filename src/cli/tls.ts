/**
 * TLS for `evtws`: reads the `--ca`, `--cert` and `--key` files into the library's `tls`
 * option, and adds a hint to certificate errors (`--ca <file>` or `--insecure`).
 *
 * Files are read once, before any connection, so a wrong path is a usage mistake (exit 2)
 * rather than a failed dial. What it does not do: check that a key matches its certificate,
 * or that a file is PEM; Node's TLS does, at the first dial, and its message is shown.
 */

import { readFileSync } from "node:fs";
import type { TlsOptions } from "../index.js";
import type { ClientOptions } from "./args.js";
import { UsageError } from "./parse.js";

function readOption(option: string, file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UsageError(`${option} ${file}: cannot read the file (${reason})`);
  }
}

/**
 * The `tls` option for the command line's TLS flags, or undefined when none is given.
 *
 * @throws UsageError when a file cannot be read, or `--cert` and `--key` come alone.
 */
export function readTlsOptions(
  o: Pick<ClientOptions, "ca" | "cert" | "key" | "passphrase" | "insecure">,
): TlsOptions | undefined {
  if ((o.cert === undefined) !== (o.key === undefined)) {
    throw new UsageError("--cert and --key go together: give both, or neither");
  }
  if (o.passphrase !== undefined && o.key === undefined) {
    throw new UsageError("--passphrase unlocks --key: give --cert and --key too");
  }
  const tls: TlsOptions = {};
  if (o.ca !== undefined) tls.ca = readOption("--ca", o.ca);
  if (o.cert !== undefined) tls.cert = readOption("--cert", o.cert);
  if (o.key !== undefined) tls.key = readOption("--key", o.key);
  if (o.passphrase !== undefined) tls.passphrase = o.passphrase;
  if (o.insecure) tls.rejectUnauthorized = false;
  return Object.keys(tls).length === 0 ? undefined : tls;
}

/** Node's codes for a server certificate that does not verify. */
const CERT_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** Whether `error`, or an error in its `cause` chain, is a certificate verification failure. */
export function isCertificateError(error: unknown): boolean {
  for (let e = error, depth = 0; typeof e === "object" && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && CERT_CODES.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The hint appended to a certificate error's message. */
export const CERT_HINT =
  "; if the server uses a private CA, pass it with --ca <file>, or skip verification with --insecure";

/** `error`'s message, with {@link CERT_HINT} when it is a certificate error. */
export function withCertHint<E extends { code?: unknown; message: string }>(
  error: E,
): { code?: unknown; message: string } {
  return isCertificateError(error) ? { code: error.code, message: `${error.message}${CERT_HINT}` } : error;
}
