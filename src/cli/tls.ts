/**
 * TLS for `evtws`: reads the `--ca`, `--cert` and `--key` files into the library's `tls`
 * option, and adds a hint to certificate errors (`--ca <file>` or `--insecure`; for a certificate
 * that names other hosts, a name it lists or `--insecure`).
 *
 * Files are read once, before any connection, and checked as Node's TLS will use them: a wrong
 * path, a `--ca` file without a PEM certificate, a key that a wrong `--passphrase` cannot
 * unlock or that does not match `--cert` is a usage mistake (exit 2), rather than a failed dial
 * that every retry repeats. What it does not do: verify the certificates themselves (dates,
 * chains); the server's handshake does.
 */

import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
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
  const files = {
    ca: o.ca === undefined ? undefined : readOption("--ca", o.ca),
    cert: o.cert === undefined ? undefined : readOption("--cert", o.cert),
    key: o.key === undefined ? undefined : readOption("--key", o.key),
  };
  checkTlsFiles({ ...files, passphrase: o.passphrase }, o);
  const tls: TlsOptions = {};
  if (files.ca !== undefined) tls.ca = files.ca;
  if (files.cert !== undefined) tls.cert = files.cert;
  if (files.key !== undefined) tls.key = files.key;
  if (o.passphrase !== undefined) tls.passphrase = o.passphrase;
  if (o.insecure) tls.rejectUnauthorized = false;
  return Object.keys(tls).length === 0 ? undefined : tls;
}

/**
 * Checks what was read as Node's TLS will take it. Node skips a `ca` without a PEM certificate
 * silently (the dial then failed with a hint to pass `--ca`), and refuses a key it cannot
 * decrypt or that does not match its certificate at every dial.
 *
 * @throws UsageError naming the option and the file.
 */
function checkTlsFiles(
  tls: { ca?: string; cert?: string; key?: string; passphrase?: string },
  o: Pick<ClientOptions, "ca" | "cert" | "key">,
): void {
  if (tls.ca !== undefined && !tls.ca.includes("-----BEGIN CERTIFICATE-----")) {
    throw new UsageError(`--ca ${o.ca}: no PEM certificate in the file (-----BEGIN CERTIFICATE-----)`);
  }
  if (tls.key === undefined) return;
  try {
    createSecureContext({ cert: tls.cert, key: tls.key, passphrase: tls.passphrase });
  } catch (error) {
    // OpenSSL's "error:1C800064:Provider routines::bad decrypt" says the last part best.
    const reason = (error as Error).message.replace(/^error:[0-9A-F]+:[^:]*::?/, "");
    const hint = /bad decrypt/.test(reason)
      ? " (a wrong or missing --passphrase?)"
      : /unsupported|no start line/.test(reason)
        ? " (is --key a PEM private key?)"
        : "";
    throw new UsageError(`--cert ${o.cert} --key ${o.key}: cannot use them: ${reason}${hint}`);
  }
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

/** The certificate error's code in `error` or its `cause` chain, if any. */
function certificateCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; typeof e === "object" && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && CERT_CODES.has(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Whether `error`, or an error in its `cause` chain, is a certificate verification failure. */
export function isCertificateError(error: unknown): boolean {
  return certificateCode(error) !== undefined;
}

/** The hint appended to a certificate error's message. */
export const CERT_HINT =
  "; if the server uses a private CA, pass it with --ca <file>, or skip verification with --insecure";

/**
 * The hint appended to an error for a certificate that does not name the URL's host: no CA
 * makes it verify (the CA may well be trusted already), another name in the URL might.
 */
export const CERT_NAME_HINT =
  "; the certificate does not name this host: put a name it lists in the URL, or skip verification with --insecure";

/**
 * The hint appended to an error for a TLS handshake answered in plain text (`wss://` to a
 * `ws://` server): OpenSSL says only "wrong version number".
 */
export const PLAIN_HINT = "; the server does not speak TLS on this port: for a plain server use ws://";

/** Whether `error`, or an error in its `cause` chain, is OpenSSL's "wrong version number". */
function isPlainTextAnswer(error: unknown): boolean {
  for (let e = error, depth = 0; typeof e === "object" && e !== null && depth < 5; depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (code === "EPROTO" && typeof message === "string" && message.includes("wrong version number"))
      return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * `error`'s message, with {@link CERT_NAME_HINT} when the certificate names other hosts,
 * {@link CERT_HINT} for any other certificate error, or {@link PLAIN_HINT} when the server
 * answered TLS in plain text.
 */
export function withCertHint<E extends { code?: unknown; message: string }>(
  error: E,
): { code?: unknown; message: string } {
  const code = certificateCode(error);
  if (code === undefined) {
    if (!isPlainTextAnswer(error)) return error;
    return { code: error.code, message: `${error.message.trimEnd()}${PLAIN_HINT}` };
  }
  const hint = code === "ERR_TLS_CERT_ALTNAME_INVALID" ? CERT_NAME_HINT : CERT_HINT;
  return { code: error.code, message: `${error.message}${hint}` };
}
