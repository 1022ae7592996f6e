/**
 * Certificates minted by the openssl CLI for one test file, so no key material lives in the
 * repository: a self-signed one for 127.0.0.1, or a private CA with server and client
 * certificates.
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

/** A private CA with a server certificate and a client certificate it signed, as PEM files. */
export interface Chain {
  /** The folder holding every file below. */
  dir: string;
  /** Paths of the PEM files. */
  files: {
    ca: string;
    serverCert: string;
    serverKey: string;
    clientCert: string;
    clientKey: string;
    /** The client key again, encrypted (AES-256) with {@link Chain.passphrase}. */
    clientKeyEncrypted: string;
  };
  /** The passphrase of `files.clientKeyEncrypted`. */
  passphrase: string;
  /** The contents of the CA, server certificate and server key. */
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Removes the temporary files. */
  remove(): void;
}

/**
 * Mints a private CA (CN "evtws test CA"), a server certificate for `serverAltNames` (openssl
 * subjectAltName syntax; 127.0.0.1 and localhost unless told), and a client certificate (CN "evtws test client"), all signed by the CA, with the openssl CLI.
 */
export function mintChain(serverAltNames = "IP:127.0.0.1,DNS:localhost"): Chain {
  const dir = mkdtempSync(join(tmpdir(), "evtws-pki-"));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore", cwd: dir });
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=evtws test CA",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
  );
  const leaf = (name: string, cn: string, ext: string) => {
    openssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      `/CN=${cn}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
    );
    writeFileSync(file(`${name}.ext`), `${ext}\n`);
    openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.pem`,
    );
  };
  leaf("server", "127.0.0.1", `subjectAltName=${serverAltNames}`);
  leaf("client", "evtws test client", "extendedKeyUsage=clientAuth");
  const passphrase = "open sesame";
  openssl(
    "pkey",
    "-in",
    "client.key",
    "-aes256",
    "-passout",
    `pass:${passphrase}`,
    "-out",
    "client-encrypted.key",
  );
  return {
    dir,
    files: {
      ca: file("ca.pem"),
      serverCert: file("server.pem"),
      serverKey: file("server.key"),
      clientCert: file("client.pem"),
      clientKey: file("client.key"),
      clientKeyEncrypted: file("client-encrypted.key"),
    },
    passphrase,
    ca: readFileSync(file("ca.pem"), "utf8"),
    serverCert: readFileSync(file("server.pem"), "utf8"),
    serverKey: readFileSync(file("server.key"), "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Mints a self-signed certificate for 127.0.0.1 that expired long ago (valid 1-2 January 2020),
 * with `openssl ca`, whose `-startdate`/`-enddate` set dates `req -x509` cannot.
 */
export function mintExpired(): SelfSigned {
  const dir = mkdtempSync(join(tmpdir(), "evtws-expired-"));
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore", cwd: dir });
  writeFileSync(
    join(dir, "ca.cnf"),
    "[ ca ]\ndefault_ca = d\n[ d ]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n" +
      "default_md = sha256\npolicy = p\ncopy_extensions = copy\n[ p ]\ncommonName = supplied\n",
  );
  writeFileSync(join(dir, "index.txt"), "");
  writeFileSync(join(dir, "serial"), "01\n");
  openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
    "-keyout",
    "key.pem",
    "-out",
    "req.csr",
  );
  openssl(
    "ca",
    "-batch",
    "-config",
    "ca.cnf",
    "-selfsign",
    "-keyfile",
    "key.pem",
    "-in",
    "req.csr",
    "-startdate",
    "20200101000000Z",
    "-enddate",
    "20200102000000Z",
    "-out",
    "cert.pem",
  );
  return {
    cert: readFileSync(join(dir, "cert.pem"), "utf8"),
    key: readFileSync(join(dir, "key.pem"), "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Mints a chain no client accepts, though every certificate in it is in date and names
 * 127.0.0.1: a root CA limited to no intermediate (`pathlen:0`) signs an intermediate CA, which
 * signs the server certificate (OpenSSL: `PATH_LENGTH_EXCEEDED`). `cert` is the server
 * certificate followed by the intermediate; `ca` is the root to trust.
 */
export function mintPathTooLong(): SelfSigned & { ca: string } {
  const dir = mkdtempSync(join(tmpdir(), "evtws-pathlen-"));
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore", cwd: dir });
  const ca = "basicConstraints=critical,CA:TRUE";
  const usage = "keyUsage=critical,keyCertSign,cRLSign";
  const sign = (name: string, cn: string, issuer: string, ext: string) => {
    openssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      `/CN=${cn}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
    );
    writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
    openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${issuer}.pem`,
      "-CAkey",
      `${issuer}.key`,
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.pem`,
    );
  };
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=evtws root",
    "-addext",
    `${ca},pathlen:0`,
    "-addext",
    usage,
    "-keyout",
    "root.key",
    "-out",
    "root.pem",
  );
  sign("int", "evtws intermediate", "root", `${ca}\n${usage}`);
  sign("server", "127.0.0.1", "int", "subjectAltName=IP:127.0.0.1");
  const read = (name: string) => readFileSync(join(dir, name), "utf8");
  return {
    ca: read("root.pem"),
    cert: read("server.pem") + read("int.pem"),
    key: read("server.key"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
