/**
 * `evtws`'s TLS and handshake options (issue 20, part 5), each against a real server on
 * 127.0.0.1 port 0: `--ca`, `--cert`/`--key`/`--passphrase` against an HTTPS server that
 * requires a client certificate from a private CA minted for this file (test/helpers/cert.ts),
 * `--origin`, `-H` (values kept whole, a name given twice joined, any token name sent),
 * `--connect-timeout`, `--max-message-size`, `--reset-after`, the hint on certificate errors
 * (against a second server whose certificate names `localhost` only, the hint names the host,
 * not `--ca`) and the subprotocol on the connected line.
 */

import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { type Chain, mintChain } from "../helpers/cert.js";
import { silentServer } from "../helpers/raw-server.js";
import { runCli, startCli, startWsServerForTest, useSourceBundle } from "./helpers.js";

useSourceBundle();

let pki: Chain;
let https: Server;
let wss: WebSocketServer;
let url: string;
/** The CN of the client certificate of each accepted connection. */
const clientNames: string[] = [];

beforeAll(async () => {
  pki = await mintChain();
  // The server asks for a client certificate and refuses a TLS handshake without one.
  https = createServer({
    key: pki.serverKey,
    cert: pki.serverCert,
    ca: pki.ca,
    requestCert: true,
    rejectUnauthorized: true,
  });
  wss = new WebSocketServer({ server: https });
  wss.on("connection", (ws, req) => {
    clientNames.push(String((req.socket as TLSSocket).getPeerCertificate().subject?.CN));
    ws.on("message", (data) => ws.send(String(data)));
  });
  await new Promise<void>((resolve) => https.listen(0, "127.0.0.1", resolve));
  url = `wss://127.0.0.1:${(https.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  await new Promise((resolve) => https.close(resolve));
  pki.remove();
});

const ECHO = ["--match", "echo", "-x", "hi"];

describe("evtws --ca --cert --key --passphrase", () => {
  it("without --ca, the private CA's certificate fails with a hint to use --ca or --insecure", async () => {
    const run = await runCli([...ECHO, url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^evtws: ERR_DIAL_FAILED: .*certificate/m);
    expect(run.stderr).toMatch(/pass it with --ca <file>, or skip verification with --insecure/);
  });

  it("with --ca and without a client certificate, the server refuses the connection", async () => {
    const run = await runCli(["--ca", pki.files.ca, ...ECHO, url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^evtws: ERR_DIAL_FAILED/m);
    expect(run.stderr).not.toMatch(/--insecure/);
  });

  it("with --ca, --cert and --key, the server sees the client certificate and the echo comes back", async () => {
    clientNames.length = 0;
    const run = await runCli([
      "-q",
      "--ca",
      pki.files.ca,
      "--cert",
      pki.files.clientCert,
      "--key",
      pki.files.clientKey,
      ...ECHO,
      url,
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("hi\n");
    expect(clientNames).toEqual(["evtws test client"]);
  });

  it("--passphrase unlocks an encrypted --key; a wrong one is a usage mistake, never dialled", async () => {
    clientNames.length = 0;
    const tls = ["--ca", pki.files.ca, "--cert", pki.files.clientCert, "--key", pki.files.clientKeyEncrypted];
    const good = await runCli(["-q", ...tls, "--passphrase", pki.passphrase, ...ECHO, url]);
    expect(good.stderr).toBe("");
    expect(good.stdout).toBe("hi\n");
    expect(good.code).toBe(0);
    expect(clientNames).toEqual(["evtws test client"]);
    // Before: ERR_DIAL_FAILED (exit 1) at every dial, retried forever in a session.
    const bad = await runCli([...tls, "--passphrase", "wrong", ...ECHO, url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      `evtws: --cert ${pki.files.clientCert} --key ${pki.files.clientKeyEncrypted}: cannot use them: bad decrypt (a wrong or missing --passphrase?)\n`,
    );
    expect(clientNames).toHaveLength(1);
  });

  it("a --ca without a PEM certificate, or a --key that is not a key, is a usage mistake: exit 2, no connection", async () => {
    // Before: Node skipped such a --ca silently, and the dial failed advising to pass --ca;
    // a certificate given as --key failed every dial with "unsupported".
    let connections = 0;
    const count = () => connections++;
    https.on("secureConnection", count);
    try {
      const noCa = await runCli(["--ca", pki.files.clientKey, ...ECHO, url]);
      expect(noCa.code).toBe(2);
      expect(noCa.stderr).toBe(
        `evtws: --ca ${pki.files.clientKey}: no PEM certificate in the file (-----BEGIN CERTIFICATE-----)\n`,
      );
      const args = ["--ca", pki.files.ca, "--cert", pki.files.clientCert, "--key", pki.files.clientCert];
      const notKey = await runCli([...args, ...ECHO, url]);
      expect(notKey.code).toBe(2);
      expect(notKey.stderr).toMatch(
        /^evtws: --cert \S+ --key \S+: cannot use them: .*\(is --key a PEM private key\?\)\n$/,
      );
      expect(connections).toBe(0);
    } finally {
      https.off("secureConnection", count);
    }
  });

  it("a file that cannot be read is a usage mistake naming the option: exit 2, no connection", async () => {
    const before = https.listenerCount("secureConnection");
    let connections = 0;
    const count = () => connections++;
    https.on("secureConnection", count);
    try {
      const run = await runCli(["--ca", "/nonexistent/ca.pem", ...ECHO, url]);
      expect(run.code).toBe(2);
      expect(run.stderr).toBe("evtws: --ca /nonexistent/ca.pem: cannot read the file (ENOENT)\n");
      const half = await runCli(["--ca", pki.files.ca, "--cert", pki.files.clientCert, ...ECHO, url]);
      expect(half.code).toBe(2);
      expect(half.stderr).toMatch(/--cert and --key go together/);
      expect(connections).toBe(0);
    } finally {
      https.off("secureConnection", count);
      expect(https.listenerCount("secureConnection")).toBe(before);
    }
  });
});

describe("evtws handshake options", () => {
  it("--origin sends the Origin header; a value that is not an origin exits 2", async () => {
    const server = await startWsServerForTest();
    const run = await runCli(["--origin", "https://app.example.com/some/page", ...ECHO, server.url]);
    expect(run.code).toBe(0);
    expect(server.handshakes.map((h) => h.headers.origin)).toEqual(["https://app.example.com"]);
    const bad = await runCli(["--origin", "not an origin", ...ECHO, server.url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/"not an origin" is not an origin/);
    expect(server.handshakes).toHaveLength(1);
  });

  it("-H keeps values with spaces and colons, as a shell-expanded bearer token gives", async () => {
    const server = await startWsServerForTest();
    const token = "abc:def ghi==";
    const run = await runCli([
      "-H",
      `Authorization: Bearer ${token}`,
      "-H",
      "X-Time: 12:00:01",
      ...ECHO,
      server.url,
    ]);
    expect(run.code).toBe(0);
    expect(server.handshakes[0]?.headers.authorization).toBe(`Bearer ${token}`);
    expect(server.handshakes[0]?.headers["x-time"]).toBe("12:00:01");
  });

  it("-H given twice for one name (in any case) sends both values, joined, as curl's two lines read", async () => {
    // Before: the last -H of a name won (an object's key), and names differing in case went
    // out as two lines.
    const server = await startWsServerForTest();
    const run = await runCli([
      ...["-H", "X-Trace: a", "-H", "x-trace: b", "-H", "Cookie: s=1", "-H", "cookie: t=2"],
      ...ECHO,
      server.url,
    ]);
    expect(run.code).toBe(0);
    const raw = server.handshakes[0]?.rawHeaders ?? [];
    const lines = raw.flatMap((v, i) => (i % 2 === 0 ? [`${v}: ${raw[i + 1]}`] : []));
    expect(lines.filter((l) => /^(x-trace|cookie):/i.test(l))).toEqual(["X-Trace: a, b", "Cookie: s=1; t=2"]);
  });

  it("--connect-timeout gives up a handshake that never completes with ERR_CONNECT_TIMEOUT", async () => {
    const silent = await silentServer();
    const run = await runCli(["--connect-timeout", "0.3", ...ECHO, silent]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^evtws: ERR_CONNECT_TIMEOUT: .*within 300 ms/m);
  });

  it("--max-message-size refuses a larger incoming message and accepts one that fits", async () => {
    const server = await startWsServerForTest(() => "x".repeat(2000));
    const small = await runCli(["--max-message-size", "1k", ...ECHO.slice(2), server.url]);
    expect(small.code).toBe(1);
    expect(small.stderr).toMatch(/ERR_MESSAGE_TOO_BIG|1009/);
    expect(small.stdout).toBe("");
    const fits = await runCli(["--max-message-size", "4k", ...ECHO.slice(2), server.url]);
    expect(fits.code).toBe(0);
    expect(fits.stdout).toBe(`${"x".repeat(2000)}\n`);
  });

  it("the connected line names the subprotocol the server chose", async () => {
    const server = await startWsServerForTest();
    const run = await runCli(["-s", "chat.v2", "-s", "chat.v1", ...ECHO, server.url]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/\* connected to ws:\/\/127\.0\.0\.1:\d+\/ \(subprotocol chat\.v2\)$/m);
  });

  it("--reset-after: a connection older than the window resets the backoff to attempt 1", async () => {
    // Every connection is cut 300 ms after it opens, so it lived longer than 0.1 s, never 5 s.
    const server = await startWsServerForTest(undefined, (ws) => setTimeout(() => ws.terminate(), 300));
    const args = ["-n", "--max-attempts", "10", "--min-delay", "10", "--max-delay", "20"];
    const reset = startCli([...args, "--reset-after", "0.1", server.url]);
    const kept = startCli([...args, "--reset-after", "5", server.url]);
    try {
      reset.child.stdin.end();
      kept.child.stdin.end();
      const attempts = (text: string) => [...text.matchAll(/attempt (\d+)/g)].map((m) => Number(m[1]));
      await reset.waitFor("stderr", /reconnecting in/, 3, 20_000);
      await kept.waitFor("stderr", /reconnecting in/, 3, 20_000);
      expect(attempts(reset.stderr()).slice(0, 3)).toEqual([1, 1, 1]);
      expect(attempts(kept.stderr()).slice(0, 3)).toEqual([1, 2, 3]);
    } finally {
      reset.kill();
      kept.kill();
    }
  });
});

describe("-H, joined by name", () => {
  it('-H "__proto__: x" is sent, as any token-named header (joining into an object dropped it)', async () => {
    const server = await startWsServerForTest();
    const run = await runCli([...["-H", "__proto__: x", "-H", "X-A: 1"], ...ECHO, server.url]);
    expect(run.code).toBe(0);
    const raw = server.handshakes[0]?.rawHeaders ?? [];
    const lines = raw.flatMap((v, i) => (i % 2 === 0 ? [`${v}: ${raw[i + 1]}`] : []));
    expect(lines.filter((l) => /^(__proto__|x-a):/i.test(l))).toEqual(["__proto__: x", "X-A: 1"]);
  });
});

describe("-H given more than once", () => {
  // Quiet, and a line's echo is its answer.
  const ECHO = ["-q", "--match", "echo"];

  it("Cookie and cookie joined with '; ' under the first spelling, X-A and x-a with ', ', __proto__ and __PROTO__ joined", async () => {
    const server = await startWsServerForTest();
    const headers = [
      "Cookie: a=1",
      "cookie: b=2",
      "X-A: 1",
      "x-a: 2",
      "__proto__: p",
      "__PROTO__: q",
      "constructor: c",
    ];
    const run = await runCli([...headers.flatMap((h) => ["-H", h]), ...ECHO, server.url]);
    expect(run.code).toBe(0);
    const raw = server.handshakes[0]?.rawHeaders ?? [];
    const lines = raw.flatMap((v, i) => (i % 2 === 0 ? [`${v}: ${raw[i + 1]}`] : []));
    expect(lines.filter((l) => /^(cookie|x-a|__proto__|constructor):/i.test(l))).toEqual([
      "Cookie: a=1; b=2",
      "X-A: 1, 2",
      "__proto__: p, q",
      "constructor: c",
    ]);
  });
});

describe("the certificate hint", () => {
  // A server of its own: its certificate, from another private CA, names `localhost` only, and
  // it asks for no client certificate.
  let pki: Chain;
  let localhostOnly: Server;
  let localhostWss: WebSocketServer;
  let port: number;

  beforeAll(async () => {
    pki = await mintChain("DNS:localhost");
    localhostOnly = createServer({ key: pki.serverKey, cert: pki.serverCert });
    localhostWss = new WebSocketServer({ server: localhostOnly });
    localhostWss.on("connection", (ws) => ws.on("message", (data) => ws.send(String(data))));
    await new Promise<void>((resolve) => localhostOnly.listen(0, "127.0.0.1", resolve));
    port = (localhostOnly.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const ws of localhostWss.clients) ws.terminate();
    localhostWss.close();
    await new Promise((resolve) => localhostOnly.close(resolve));
    pki.remove();
  });

  it("a certificate for another host name, with --ca given, hints at the name, not at --ca", async () => {
    // Before: "...altnames...; if the server uses a private CA, pass it with --ca <file>": the
    // CA was passed, and trusted; what fails is the name in the URL.
    const run = await runCli(["-q", "--ca", pki.files.ca, "-x", "hi", `wss://127.0.0.1:${port}/`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^evtws: ERR_DIAL_FAILED: .*altnames/);
    expect(run.stderr).toMatch(
      /the certificate does not name this host: put a name it lists in the URL, or skip verification with --insecure\n$/,
    );
    expect(run.stderr).not.toMatch(/--ca/);
    expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  it("the same server by the name its certificate lists, with --ca: the echo comes back", async () => {
    const run = await runCli(["-q", "--ca", pki.files.ca, "-x", "hi", `wss://localhost:${port}/`]);
    expect(run).toEqual({ code: 0, stdout: "hi\n", stderr: "" });
  });
});

describe("wss:// to a server that does not speak TLS", () => {
  it("wss:// to a plain server says so, on one line, instead of OpenSSL's bare 'wrong version number'", async () => {
    const server = await startWsServerForTest();
    const run = await runCli(["-q", "-x", "hi", server.url.replace("ws://", "wss://")]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^evtws: ERR_DIAL_FAILED: .*wrong version number.*; the server does not speak TLS on this port: for a plain server use ws:\/\/\n$/,
    );
  });
});
