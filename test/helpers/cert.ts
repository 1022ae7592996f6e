/**
 * Certificates minted with Node's own crypto for one test file, so no key material lives in the
 * repository and no outside tool is needed (the suites that use them run wherever Node does; they
 * used the openssl CLI, and failed where it was missing): a self-signed one for 127.0.0.1, a
 * private CA with server and client certificates, one long expired, and a chain too long for its
 * root's `pathlen`.
 *
 * The X.509 v3 certificates are built here in DER (RFC 5280) with the extensions openssl gave them:
 * P-256 keys (generated in about a millisecond, where an RSA key took up to seconds on a loaded
 * machine), ECDSA SHA-256 signatures, PKCS#8 PEM keys. What it does not do: anything a test does
 * not need (no CRLs, no other key types).
 */

import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** One DER element: its tag, its length, its contents. */
function der(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

const seq = (...parts: Buffer[]) => der(0x30, ...parts);
const set = (...parts: Buffer[]) => der(0x31, ...parts);
const bool = (v: boolean) => der(0x01, Buffer.from([v ? 0xff : 0]));
const octets = (b: Buffer) => der(0x04, b);
const bits = (b: Buffer, unused = 0) => der(0x03, Buffer.from([unused]), b);

/** A non-negative INTEGER from its big-endian bytes, or from a small number. */
function int(v: number | Buffer): Buffer {
  let b = typeof v === "number" ? Buffer.from([v]) : v;
  while (b.length > 1 && b[0] === 0 && b[1]! < 0x80) b = b.subarray(1);
  return der(0x02, b[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const out = [a! * 40 + b!];
  for (const n of rest) {
    const septets = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) septets.unshift(0x80 | (v & 0x7f));
    out.push(...septets);
  }
  return der(0x06, Buffer.from(out));
}

/** UTCTime (RFC 5280: years 1950 to 2049), else GeneralizedTime. */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14); // YYYYMMDDHHMMSS
  const year = d.getUTCFullYear();
  return year < 2050 ? der(0x17, Buffer.from(`${iso.slice(2)}Z`)) : der(0x18, Buffer.from(`${iso}Z`));
}

/** A Name with one common name. */
const name = (cn: string) => seq(set(seq(oid("2.5.4.3"), der(0x0c, Buffer.from(cn)))));

/** ecdsa-with-SHA256 (RFC 5758: no parameters). */
const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));

/** An extension: its OID, whether it is critical, its DER value. */
const extension = (id: string, critical: boolean, value: Buffer) =>
  critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));

/** subjectAltName from openssl's syntax: "IP:127.0.0.1,DNS:localhost". */
function altNames(spec: string): Buffer {
  const names = spec.split(",").map((entry) => {
    const [kind, value] = entry.trim().split(/:(.*)/s) as [string, string];
    if (kind === "DNS") return der(0x82, Buffer.from(value));
    if (kind === "IP") return der(0x87, Buffer.from(value.split(".").map(Number)));
    throw new Error(`unsupported subjectAltName entry ${entry}`);
  });
  return extension("2.5.29.17", false, seq(...names));
}

/** basicConstraints CA:TRUE, critical, with a path length when given. */
const caConstraints = (pathLen?: number) =>
  extension("2.5.29.19", true, seq(bool(true), ...(pathLen === undefined ? [] : [int(pathLen)])));
/** keyUsage keyCertSign and cRLSign, critical. */
const caUsage = extension("2.5.29.15", true, bits(Buffer.from([0x06]), 1));
/** extendedKeyUsage clientAuth. */
const clientAuth = extension("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.2")));

interface Party {
  cn: string;
  key: KeyObject;
  publicKey: KeyObject;
}

function party(cn: string): Party {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { cn, key: privateKey, publicKey };
}

/** Where the contents of the DER element at `at` start, and where the element ends. */
function element(b: Buffer, at: number): { start: number; end: number } {
  const first = b[at + 1]!;
  if (first < 0x80) return { start: at + 2, end: at + 2 + first };
  let n = 0;
  for (let i = 0; i < (first & 0x7f); i++) n = n * 256 + b[at + 2 + i]!;
  const start = at + 2 + (first & 0x7f);
  return { start, end: start + n };
}

/** The key identifier openssl uses: SHA-1 of the subjectPublicKey bits (RFC 5280, 4.2.1.2). */
function keyId(p: Party): Buffer {
  const spki = p.publicKey.export({ type: "spki", format: "der" });
  const algorithm = element(spki, element(spki, 0).start); // SEQUENCE { algorithm, BIT STRING }
  const key = element(spki, algorithm.end);
  return createHash("sha1")
    .update(spki.subarray(key.start + 1, key.end)) // past the unused-bits byte
    .digest();
}

const DAY = 24 * 3600 * 1000;

/** A certificate for `subject` signed by `issuer` (itself when the same), as PEM. */
function certificate(
  subject: Party,
  issuer: Party,
  extensions: Buffer[],
  validity: { from: Date; to: Date } = {
    from: new Date(Date.now() - 60_000),
    to: new Date(Date.now() + DAY),
  },
): string {
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const all = [
    extension("2.5.29.14", false, octets(keyId(subject))),
    ...(subject === issuer ? [] : [extension("2.5.29.35", false, seq(der(0x80, keyId(issuer))))]),
    ...extensions,
  ];
  const tbs = seq(
    der(0xa0, int(2)),
    int(serial),
    ECDSA_SHA256,
    name(issuer.cn),
    seq(time(validity.from), time(validity.to)),
    name(subject.cn),
    subject.publicKey.export({ type: "spki", format: "der" }),
    der(0xa3, seq(...all)),
  );
  const signature = sign("sha256", tbs, issuer.key);
  const body = seq(tbs, ECDSA_SHA256, bits(signature)).toString("base64");
  return `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
}

const pem = (p: Party) => p.key.export({ type: "pkcs8", format: "pem" }) as string;

export interface SelfSigned {
  /** PEM certificate (CN and SAN 127.0.0.1). */
  cert: string;
  /** PEM private key. */
  key: string;
  /** Removes the temporary files. */
  remove(): void;
}

export function mintSelfSigned(): SelfSigned {
  const me = party("127.0.0.1");
  return {
    cert: certificate(me, me, [caConstraints(), altNames("IP:127.0.0.1")]),
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
export function mintChain(serverAltNames = "IP:127.0.0.1,DNS:localhost"): Chain {
  const dir = mkdtempSync(join(tmpdir(), "evtws-pki-"));
  const file = (name: string) => join(dir, name);
  const ca = party("evtws test CA");
  const server = party("127.0.0.1");
  const client = party("evtws test client");
  const passphrase = "open sesame";
  const contents = {
    "ca.pem": certificate(ca, ca, [caConstraints()]),
    "server.pem": certificate(server, ca, [altNames(serverAltNames)]),
    "server.key": pem(server),
    "client.pem": certificate(client, ca, [clientAuth]),
    "client.key": pem(client),
    "client-encrypted.key": client.key.export({
      type: "pkcs8",
      format: "pem",
      cipher: "aes-256-cbc",
      passphrase,
    }) as string,
  };
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
export function mintExpired(): SelfSigned {
  const me = party("127.0.0.1");
  const validity = { from: new Date("2020-01-01T00:00:00Z"), to: new Date("2020-01-02T00:00:00Z") };
  return {
    cert: certificate(me, me, [altNames("IP:127.0.0.1")], validity),
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
export function mintPathTooLong(): SelfSigned & { ca: string } {
  const root = party("evtws root");
  const intermediate = party("evtws intermediate");
  const server = party("127.0.0.1");
  return {
    ca: certificate(root, root, [caConstraints(0), caUsage]),
    cert:
      certificate(server, intermediate, [altNames("IP:127.0.0.1")]) +
      certificate(intermediate, root, [caConstraints(), caUsage]),
    key: pem(server),
    remove: () => {},
  };
}
