/**
 * A self-signed certificate for 127.0.0.1, minted by the openssl CLI for one test file, so no
 * key material lives in the repository.
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface SelfSigned {
  /** PEM certificate (CN and SAN 127.0.0.1). */
  cert: string;
  /** PEM private key. */
  key: string;
  /** Removes the temporary files. */
  remove(): void;
}

export function mintSelfSigned(): SelfSigned {
  const dir = mkdtempSync(join(tmpdir(), "evtws-tls-"));
  const keyFile = join(dir, "key.pem");
  const certFile = join(dir, "cert.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"].concat([
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ]),
    { stdio: "ignore" },
  );
  return {
    cert: readFileSync(certFile, "utf8"),
    key: readFileSync(keyFile, "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
