/**
 * The target at the far end of a CONNECT tunnel, on real sockets: `wss:` to a name only the
 * proxy can resolve (SNI and the certificate are the target's, the client never resolves it),
 * an IPv6 target (CONNECT [::1]:port) through proxy-chain and tinyproxy, and certificates that
 * fail verification in ways a retry cannot fix (not retried, direct or through a tunnel).
 */

import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { connect as netConnect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import type { EvtWebSocketError } from "../src/index.js";
import { type Chain, mintChain, mintPathTooLong } from "./helpers/cert.js";
import { conn, fast, onCleanup } from "./helpers/harness.js";
import { handProxy, proxyChain, type TestProxy, tinyproxy } from "./helpers/proxy.js";
import { tlsEchoServer } from "./helpers/tls-server.js";
import { requireTools } from "./helpers/tools.js";

async function failure(p: Promise<unknown>): Promise<EvtWebSocketError> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: EvtWebSocketError) => e,
  );
}

/** A target name no resolver knows (RFC 6761 `.test`): only the proxy below can reach it. */
const TARGET_NAME = "wss-target.test";

let targetChain: Chain;
let ipOnlyChain: Chain;
beforeAll(async () => {
  targetChain = await mintChain(`DNS:${TARGET_NAME}`);
  ipOnlyChain = await mintChain("IP:127.0.0.1");
});
afterAll(() => {
  targetChain.remove();
  ipOnlyChain.remove();
});

describe("wss: through a tunnel to a name only the proxy resolves", () => {
  /** A CONNECT proxy that reaches every target name at 127.0.0.1 (as a proxy with its own DNS). */
  const resolvingProxy = () =>
    handProxy((_n, client, target) => {
      const up = netConnect({ host: "127.0.0.1", port: target.port });
      up.on("error", () => client.destroy());
      up.once("connect", () => {
        client.write("HTTP/1.1 200 Connection established\r\n\r\n");
        client.pipe(up);
        up.pipe(client);
        client.resume();
      });
      up.on("close", () => client.destroy());
      client.on("close", () => up.destroy());
    });

  it("SNI names the target and its certificate is verified for the target's name; the client never resolves it", async () => {
    const s = await tlsEchoServer({ cert: targetChain.serverCert, key: targetChain.serverKey });
    const proxy = await resolvingProxy();
    const c = conn({ proxy: proxy.url, reconnect: false, tls: { ca: targetChain.ca } });
    await c.dial(`wss://${TARGET_NAME}:${s.port}/`);
    expect(proxy.connects).toEqual([`${TARGET_NAME}:${s.port}`]);
    expect(s.servernames).toEqual([TARGET_NAME]);
    await c.close();
  });

  it("a certificate for the address the proxy reached (not the target's name): ERR_TLS_CERT_ALTNAME_INVALID, not retried", async () => {
    const s = await tlsEchoServer({ cert: ipOnlyChain.serverCert, key: ipOnlyChain.serverKey });
    const proxy = await resolvingProxy();
    const c = conn({ proxy: proxy.url, reconnect: fast, tls: { ca: ipOnlyChain.ca } });
    const error = await failure(c.dial(`wss://${TARGET_NAME}:${s.port}/`));
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect((error.cause as { code?: string }).code).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
    expect(proxy.connects).toHaveLength(1);
  });
});

/** A ws echo server on [::1], port 0, closed after the test; returns its port. */
async function ipv6Echo(): Promise<number> {
  const wss = new WebSocketServer({ host: "::1", port: 0 });
  await new Promise((r) => wss.once("listening", r));
  wss.on("connection", (ws) => ws.on("message", (d, binary) => ws.send(d, { binary })));
  onCleanup(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise((r) => wss.close(r));
  });
  return (wss.address() as AddressInfo).port;
}

/** Dials ws://[::1]:port through `proxy` and checks a request goes both ways and the CONNECT had brackets. */
async function throughToIpv6(port: number, proxy: TestProxy): Promise<void> {
  const c = conn({ proxy: proxy.url, reconnect: false, matchMsg: (a, b) => a === b });
  await c.dial(`ws://[::1]:${port}/`);
  expect(await c.request("v6", { timeoutMs: 5000 })).toBe("v6");
  expect(proxy.connects).toEqual([`[::1]:${port}`]);
  await c.close();
}

describe("an IPv6 target", () => {
  it("proxy-chain: CONNECT [::1]:port, the connection opens", async () => {
    const port = await ipv6Echo();
    await throughToIpv6(port, await proxyChain());
  });
});

describe("an IPv6 target through tinyproxy", requireTools("tinyproxy"), () => {
  it("tinyproxy: CONNECT [::1]:port, the connection opens", async () => {
    const port = await ipv6Echo();
    await throughToIpv6(port, await tinyproxy([port]));
  });
});

describe("certificates that fail verification in ways a retry cannot fix: not retried, direct or through a tunnel", () => {
  /** The server certificate and the CA to trust, for each way to fail. */
  const misissued = {
    // A certificate for clients only (extendedKeyUsage=clientAuth) served as a server's.
    INVALID_PURPOSE: async () => ({
      cert: readFileSync(targetChain.files.clientCert, "utf8"),
      key: readFileSync(targetChain.files.clientKey, "utf8"),
      ca: targetChain.ca,
    }),
    // Signed by an intermediate CA whose root allows none (pathlen:0).
    PATH_LENGTH_EXCEEDED: async () => {
      const minted = await mintPathTooLong();
      onCleanup(async () => minted.remove());
      return minted;
    },
  };

  it.each([
    ["INVALID_PURPOSE", "direct"],
    ["INVALID_PURPOSE", "proxy"],
    ["PATH_LENGTH_EXCEEDED", "direct"],
    ["PATH_LENGTH_EXCEEDED", "proxy"],
  ] as const)(
    "%s, %s: ERR_DIAL_FAILED with the TLS error as cause, one attempt only",
    async (code, route) => {
      const { cert, key, ca } = await misissued[code]();
      const s = await tlsEchoServer({ cert, key });
      const proxy = await proxyChain();
      const c = conn({
        reconnect: { ...fast, maxAttempts: 2 },
        tls: { ca },
        ...(route === "proxy" ? { proxy: proxy.url } : {}),
      });
      const error = await failure(c.dial(s.url));
      expect(error.code).toBe("ERR_DIAL_FAILED");
      expect((error.cause as { code?: string }).code).toBe(code);
      expect(s.servernames).toHaveLength(0); // no handshake finished
      expect(proxy.connects).toHaveLength(route === "proxy" ? 1 : 0);
    },
  );
});
