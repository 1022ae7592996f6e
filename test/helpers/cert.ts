/**
 * Certificates minted for one test file, so no key material lives in the repository and no
 * outside tool is needed (the suites that use them run wherever Node does; they used the openssl
 * CLI, and failed where it was missing): a self-signed one for 127.0.0.1, a private CA with server
 * and client certificates, one long expired, and a chain too long for its root's `pathlen`.
 *
 * P-256 keys from WebCrypto (about a millisecond each, where an RSA key took up to seconds on a
 * loaded machine), ECDSA SHA-256 signatures, PKCS#8 PEM keys, and the extensions openssl gave them.
 *
 * The certificates are built by @peculiar/x509 (a devDependency), not by hand: it is maintained
 * (PeculiarVentures, also behind PKI.js and webcrypto; releases through 2026), typed, signs with
 * WebCrypto so it takes the P-256 keys Node makes, and has every extension these tests need
 * (basicConstraints with pathLen, keyUsage, extendedKeyUsage, subjectAltName, key identifiers).
 * `selfsigned` 5 is a wrapper over @peculiar/x509 1.x that adds PKI.js and node-forge-style
 * options: more packages for the same calls. node-forge signs with RSA only. @peculiar/x509 needs
 * the Reflect metadata API (its dependency container, tsyringe, checks for it at import), hence
 * `reflect-metadata` (no dependencies) imported first. Its API is async, so every mint* is.
 */

import "reflect-metadata";
import { KeyObject, webcrypto } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  type Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
} from "@peculiar/x509";

const ECDSA_P256_SHA256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

/** subjectAltName from openssl's syntax: "IP:127.0.0.1,DNS:localhost". */
function altNames(spec: string): SubjectAlternativeNameExtension {
  const names = spec.split(",").map((entry) => {
    const [kind, value] = entry.trim().split(/:(.*)/s) as [string, string];
    if (kind === "DNS") return { type: "dns" as const, value };
    if (kind === "IP") return { type: "ip" as const, value };
    throw new Error(`unsupported subjectAltName entry ${entry}`);
  });
  return new SubjectAlternativeNameExtension(names);
}

/** basicConstraints CA:TRUE, critical, with a path length when given. */
const caConstraints = (pathLen?: number) => new BasicConstraintsExtension(true, pathLen, true);
/** keyUsage keyCertSign and cRLSign, critical. */
const caUsage = () => new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true);
/** extendedKeyUsage clientAuth. */
const clientAuth = () => new ExtendedKeyUsageExtension([ExtendedKeyUsage.clientAuth]);

interface Party {
  cn: string;
  keys: CryptoKeyPair;
}

async function party(cn: string): Promise<Party> {
  const keys = await webcrypto.subtle.generateKey(ECDSA_P256_SHA256, true, ["sign", "verify"]);
  return { cn, keys: keys as CryptoKeyPair };
}

const DAY = 24 * 3600 * 1000;

/** A certificate for `subject` signed by `issuer` (itself when the same), as PEM. */
async function certificate(
  subject: Party,
  issuer: Party,
  extensions: Extension[],
  validity: { from: Date; to: Date } = {
    from: new Date(Date.now() - 60_000),
    to: new Date(Date.now() + DAY),
  },
): Promise<string> {
  const cert = await X509CertificateGenerator.create({
    subject: `CN=${subject.cn}`,
    issuer: `CN=${issuer.cn}`,
    notBefore: validity.from,
    notAfter: validity.to,
    signingAlgorithm: ECDSA_P256_SHA256,
    publicKey: subject.keys.publicKey,
    signingKey: issuer.keys.privateKey,
    extensions: [
      await SubjectKeyIdentifierExtension.create(subject.keys.publicKey),
      ...(subject === issuer ? [] : [await AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey)]),
      ...extensions,
    ],
  });
  return `${cert.toString("pem")}\n`; // the library ends it without one; a chain is concatenated PEM
}

/** The private key as PKCS#8 PEM, encrypted (AES-256) when given a passphrase. */
const pem = (p: Party, passphrase?: string) =>
  KeyObject.from(p.keys.privateKey).export(
    passphrase === undefined
      ? { type: "pkcs8", format: "pem" }
      : { type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase },
  ) as string;

export interface SelfSigned {
  /** PEM certificate (CN and SAN 127.0.0.1). */
  cert: string;
  /** PEM private key. */
  key: string;
  /** Removes the temporary files. */
  remove(): void;
}

export async function mintSelfSigned(): Promise<SelfSigned> {
  const me = await party("127.0.0.1");
  return {
    cert: await certificate(me, me, [caConstraints(), altNames("IP:127.0.0.1")]),
    key: pem(me),
    remove: () => {},
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
 * subjectAltName syntax, `IP:` and `DNS:` entries; 127.0.0.1 and localhost unless told), and a
 * client certificate (CN "evtws test client"), all signed by the CA.
 */
export async function mintChain(serverAltNames = "IP:127.0.0.1,DNS:localhost"): Promise<Chain> {
  const [ca, server, client] = await Promise.all([
    party("evtws test CA"),
    party("127.0.0.1"),
    party("evtws test client"),
  ]);
  const passphrase = "open sesame";
  const contents = {
    "ca.pem": await certificate(ca, ca, [caConstraints()]),
    "server.pem": await certificate(server, ca, [altNames(serverAltNames)]),
    "server.key": pem(server),
    "client.pem": await certificate(client, ca, [clientAuth()]),
    "client.key": pem(client),
    "client-encrypted.key": pem(client, passphrase),
  };
  const dir = mkdtempSync(join(tmpdir(), "evtws-pki-"));
  const file = (name: string) => join(dir, name);
  for (const [name, text] of Object.entries(contents)) writeFileSync(file(name), text);
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
    ca: contents["ca.pem"],
    serverCert: contents["server.pem"],
    serverKey: contents["server.key"],
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Mints a self-signed certificate for 127.0.0.1 that expired long ago (valid 1-2 January 2020). */
export async function mintExpired(): Promise<SelfSigned> {
  const me = await party("127.0.0.1");
  const validity = { from: new Date("2020-01-01T00:00:00Z"), to: new Date("2020-01-02T00:00:00Z") };
  return {
    cert: await certificate(me, me, [altNames("IP:127.0.0.1")], validity),
    key: pem(me),
    remove: () => {},
  };
}

/**
 * Mints a chain no client accepts, though every certificate in it is in date and names
 * 127.0.0.1: a root CA limited to no intermediate (`pathlen:0`) signs an intermediate CA, which
 * signs the server certificate (OpenSSL: `PATH_LENGTH_EXCEEDED`). `cert` is the server
 * certificate followed by the intermediate; `ca` is the root to trust.
 */
export async function mintPathTooLong(): Promise<SelfSigned & { ca: string }> {
  const [root, intermediate, server] = await Promise.all([
    party("evtws root"),
    party("evtws intermediate"),
    party("127.0.0.1"),
  ]);
  return {
    ca: await certificate(root, root, [caConstraints(0), caUsage()]),
    cert:
      (await certificate(server, intermediate, [altNames("IP:127.0.0.1")])) +
      (await certificate(intermediate, root, [caConstraints(), caUsage()])),
    key: pem(server),
    remove: () => {},
  };
}
