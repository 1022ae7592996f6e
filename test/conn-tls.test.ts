/**
 * TLS on Node against real wss: servers: certificates verified by default and by the given CA,
 * and the `tls` option's keys: what reaches TLS, and the keys of ws and of Node's http.request
 * (which ws would honour if handed on) refused with ERR_INVALID_OPTION naming them.
 */

import * as tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EvtWebSocketError } from "../src/index.js";
import { createTestServer } from "../src/testing/index.js";
import { mintChain, mintSelfSigned, type SelfSigned } from "./helpers/cert.js";
import { conn, onCleanup, server, sleep } from "./helpers/harness.js";
import { tlsEchoServer } from "./helpers/tls-server.js";
import { upgradeServer } from "./helpers/upgrade-server.js";

let cert: string;
let tlsFiles: SelfSigned;

beforeAll(async () => {
  tlsFiles = await mintSelfSigned();
  cert = tlsFiles.cert;
});
afterAll(() => tlsFiles.remove());

/** A wss: echo server with the test certificate (SAN 127.0.0.1), closed after the test. */
const tlsServer = () => tlsEchoServer({ cert, key: tlsFiles.key });

describe("TLS", () => {
  it("verifies certificates by default: a self-signed one fails with ERR_DIAL_FAILED and is not retried", async () => {
    const s = await tlsServer();
    const attempts: number[] = [];
    const c = conn({
      reconnect: { minDelayMs: 5, jitter: 0 },
      onReconnecting: (i) => void attempts.push(i.attempt),
    });
    const e = await c.dial(s.url).catch((x) => x);
    expect(e).toMatchObject({ code: "ERR_DIAL_FAILED", cause: { code: "DEPTH_ZERO_SELF_SIGNED_CERT" } });
    expect(attempts).toEqual([]);
    expect(c.state).toBe("closed");
    expect(s.connections()).toBe(0);
  });

  it("trusts a certificate given through tls.ca", async () => {
    const s = await tlsServer();
    const c = conn({ tls: { ca: cert } });
    await c.dial(s.url);
    const echoed = new Promise<string>((r) => c.on("message", (m) => r(m)));
    c.send("hello");
    expect(await echoed).toBe("hello");
    expect(s.connections()).toBe(1);
  });

  it("tls.rejectUnauthorized false connects and warns once per process", async () => {
    const s = await tlsServer();
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => void warnings.push(w.code ?? "");
    process.on("warning", onWarning);
    try {
      const a = conn({ tls: { rejectUnauthorized: false } });
      await a.dial(s.url);
      const b = conn({ tls: { rejectUnauthorized: false } });
      await b.dial(s.url);
      await sleep(10);
      expect(warnings.filter((w) => w === "EVTWEBSOCKET_INSECURE_TLS")).toHaveLength(1);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("tls with a WHATWG WebSocket (no TLS settings) rejects ERR_INVALID_OPTION at dial()", async () => {
    const { WebSocket } = await import("ws");
    const c = conn({ WebSocket: WebSocket as never, tls: { rejectUnauthorized: false } });
    await expect(c.dial("wss://127.0.0.1:1")).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });
});

describe("S-4, S-7, F-5: ws's own options smuggled in through the tls object are refused, not honoured", () => {
  // tls was spread whole into ws's options: { followRedirects: true } there (a JavaScript caller,
  // or a settings object read from a file) made the client follow a redirect to another server.
  it("tls.followRedirects: ERR_INVALID_OPTION naming it, before any socket; the redirect target never sees the client", async () => {
    const target = await server();
    const redirecting = await upgradeServer(() => `HTTP/1.1 302 Found\r\nLocation: ${target.url}/`);
    const c = conn({ reconnect: false, tls: { followRedirects: true } as never });
    const error = (await c.dial(redirecting.url).catch((e: unknown) => e)) as EvtWebSocketError;
    expect(error.code).toBe("ERR_INVALID_OPTION");
    expect(error.message).toMatch(/option tls\.followRedirects /);
    expect(redirecting.arrivals).toEqual([]);
    expect(target.connections).toBe(0);
  });

  it.each([
    ["maxRedirects", 5],
    ["generateMask", () => {}],
    ["perMessageDeflate", true],
    ["skipUTF8Validation", true],
    ["maxPayload", 0],
    ["autoPong", false],
    ["finishRequest", () => {}],
    ["headers", { Origin: "x" }],
    ["origin", "http://localhost/"],
    ["handshakeTimeout", 1],
    ["createConnection", () => {}],
    // ws 8.23's own options reached ws: with maxFragments 1, a message in two fragments failed
    // the connection with 1008.
    ["maxFragments", 1],
    ["maxBufferedChunks", 1],
    ["maxPendingAutoPongs", 1],
  ])("tls.%s: ERR_INVALID_OPTION naming it", async (key, value) => {
    const c = conn({ reconnect: false, tls: { [key]: value } as never });
    const error = (await c.dial("ws://127.0.0.1:9/").catch((e: unknown) => e)) as EvtWebSocketError;
    expect(error.code).toBe("ERR_INVALID_OPTION");
    expect(error.message).toContain(`option tls.${key} `);
  });

  it("TLS settings beyond the typed ones still reach TLS: checkServerIdentity accepts a certificate for another name", async () => {
    const pki = await mintChain("DNS:localhost"); // dialled by IP below: the name check fails by default
    onCleanup(async () => pki.remove());
    const s = await createTestServer({ tls: { cert: pki.serverCert, key: pki.serverKey } });
    onCleanup(() => s.close());
    const strict = conn({ reconnect: false, tls: { ca: pki.ca } });
    const refused = (await strict.dial(s.url).catch((e: unknown) => e)) as EvtWebSocketError;
    expect((refused.cause as NodeJS.ErrnoException).code).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
    const pinned = conn({
      reconnect: false,
      tls: { ca: pki.ca, minVersion: "TLSv1.2", checkServerIdentity: () => undefined } as never,
    });
    await pinned.dial(s.url);
    expect(s.connections).toBe(1);
  });
});

describe("tls: keys of Node's http.request, which ws hands on with its own, are refused too", () => {
  // Each changed the handshake before: auth sent a Basic Authorization header made from it,
  // setHost: false sent no Host, maxHeaderSize: 10 failed the server's 101 as a header overflow.
  it.each([
    ["auth", "user:secret"],
    ["setHost", false],
    ["maxHeaderSize", 10],
  ])("tls.%s: ERR_INVALID_OPTION naming it, before any handshake reaches the server", async (key, value) => {
    const s = await server();
    const c = conn({ reconnect: false, tls: { [key]: value } as never });
    const error = (await c.dial(s.url).catch((e: unknown) => e)) as EvtWebSocketError | undefined;
    expect(s.handshakes.map((h) => [h.headers.host, h.headers.authorization])).toEqual([]);
    expect(error?.code).toBe("ERR_INVALID_OPTION");
    expect(error?.message).toContain(`option tls.${key} `);
  });

  it.each([
    ["insecureHTTPParser", true],
    ["joinDuplicateHeaders", true],
    ["uniqueHeaders", ["x-a"]],
    ["setDefaultHeaders", false],
    ["method", "POST"],
    ["hostname", "localhost"],
    ["socketPath", "/tmp/none.sock"],
    ["protocol", "http:"],
    ["defaultPort", 1],
  ])("tls.%s: ERR_INVALID_OPTION naming it", async (key, value) => {
    const c = conn({ reconnect: false, tls: { [key]: value } as never });
    const error = (await c.dial("ws://127.0.0.1:9/").catch((e: unknown) => e)) as EvtWebSocketError;
    expect(error.code).toBe("ERR_INVALID_OPTION");
    expect(error.message).toContain(`option tls.${key} `);
  });

  it("tls.connect's own keys all still pass: a wss: dial with each of them opens", async () => {
    const pki = await mintChain("IP:127.0.0.1");
    onCleanup(async () => pki.remove());
    const s = await createTestServer({ tls: { cert: pki.serverCert, key: pki.serverKey } });
    onCleanup(() => s.close());
    const all: Record<string, unknown> = {
      ca: pki.ca,
      servername: "",
      ALPNProtocols: ["http/1.1"],
      ciphers: tls.DEFAULT_CIPHERS,
      ecdhCurve: "auto",
      minVersion: "TLSv1.2",
      maxVersion: "TLSv1.3",
      honorCipherOrder: false,
      sessionTimeout: 300,
      minDHSize: 1024,
      highWaterMark: 16384,
      checkServerIdentity: tls.checkServerIdentity,
      rejectUnauthorized: true,
      family: 4,
      hints: 0,
      localAddress: "127.0.0.1",
      noDelay: true,
      keepAlive: false,
      timeout: 0,
      host: "ignored.invalid",
      port: 9,
      path: "/ignored",
    };
    for (const [key, value] of Object.entries(all)) {
      const c = conn({ reconnect: false, tls: { ca: pki.ca, [key]: value } as never });
      await c.dial(s.url);
      await c.close();
    }
    const c = conn({
      reconnect: false,
      tls: { secureContext: tls.createSecureContext({ ca: pki.ca }) } as never,
    });
    await c.dial(s.url);
    await c.close();
    expect(s.connections).toBe(Object.keys(all).length + 1);
  });
});
