/**
 * Reliability-plan catalogue, sections H (timers, sleep and clocks) and §6 (security): the
 * scenarios no other test pinned (the map is /work/briefs/catalogue-2-map.md). Real servers on
 * 127.0.0.1, real timers, certificates minted by test/helpers/cert.ts. Each test's name starts with
 * its scenario ID.
 */

import type { Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { CANARY, canaryHits } from "../chaos/canary.js";
import { type EvtWebSocketError, State } from "../src/index.js";
import { createFaultProxy, createTestServer } from "../src/testing/index.js";
import { type Chain, mintChain, mintExpired, mintSelfSigned, type SelfSigned } from "./helpers/cert.js";
import { conn, onCleanup, server } from "./helpers/harness.js";
import { rawServer, tcpServer } from "./helpers/raw-server.js";
import { SUBPROTOCOL, secretUrl } from "./helpers/secrets.js";
import { until } from "./helpers/server.js";

/** Resolves with the value, or the error, `p` settles with. */
const settle = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    (v) => v,
    (e) => e,
  );

/** Moves `Date.now()` (the wall clock) by `offsetMs` from now on; `performance.now()` is left alone. */
function stepWallClock(offsetMs: number): void {
  const realNow = Date.now.bind(Date);
  vi.spyOn(Date, "now").mockImplementation(() => realNow() + offsetMs);
}

describe("H-5: the wall clock steps (NTP, a user's clock change); deadlines keep monotonic time", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });
  const HOUR = 3_600_000;

  it("H-5: stepped back an hour after a request was made, its timeout still fires on time, not an hour late", async () => {
    const raw = await rawServer(); // never answers
    const c = conn({ matchMsg: () => true, reconnect: false });
    onCleanup(async () => raw.hangUp());
    await c.dial(raw.url);
    const reply = settle(c.request("x", { timeoutMs: 200 }));
    stepWallClock(-HOUR);
    expect(await reply).toMatchObject({ code: "ERR_REQUEST_TIMEOUT" });
    raw.hangUp();
  });

  it("H-5: stepped back an hour, a silent peer is still found dead by the heartbeat", async () => {
    const raw = await rawServer(); // never answers a ping
    const dead = new Promise<EvtWebSocketError>((resolve) => {
      const c = conn({
        pingIntervalMs: 100,
        pongTimeoutMs: 100,
        reconnect: false,
        onError: (e) => resolve(e),
        onConnected: () => stepWallClock(-HOUR),
      });
      void c.dial(raw.url);
    });
    expect(await dead).toMatchObject({ code: "ERR_PONG_TIMEOUT" });
    raw.hangUp();
  });

  it("H-5: stepped forward an hour, a request still waits its full timeout: one that shares a deadline timer is not timed out early", async () => {
    const raw = await rawServer(); // answers only when the test writes
    const c = conn({ matchMsg: (req, resp) => resp === `re:${req}`, reconnect: false });
    onCleanup(async () => raw.hangUp());
    await c.dial(raw.url);
    // Two requests with the same timeout share one deadline timer; the second is due 700 ms later.
    const first = settle(c.request("a", { timeoutMs: 1000 }));
    await new Promise((r) => setTimeout(r, 700));
    const second = settle(c.request("b", { timeoutMs: 1000 }));
    stepWallClock(HOUR);
    expect(await first).toMatchObject({ code: "ERR_REQUEST_TIMEOUT" });
    // The first timed out; the second has about 700 ms left: its answer comes now.
    raw.write(Buffer.from([0x81, 4, ...Buffer.from("re:b")]));
    expect(await second).toBe("re:b");
    raw.hangUp();
  });
});

describe("S-1: certificates that fail verification fail the dial with their code, and are never retried", () => {
  let chain: Chain;
  let localhostOnly: Chain;
  let expired: SelfSigned;
  beforeAll(async () => {
    chain = await mintChain();
    localhostOnly = await mintChain("DNS:localhost");
    expired = await mintExpired();
  });
  afterAll(() => {
    chain.remove();
    localhostOnly.remove();
    expired.remove();
  });

  it.each([
    [
      "a certificate for another name (SAN localhost only, dialled by IP)",
      () => localhostOnly,
      "ERR_TLS_CERT_ALTNAME_INVALID",
    ],
    ["a certificate from a CA the client does not trust", () => chain, "UNABLE_TO_VERIFY_LEAF_SIGNATURE"],
    ["an expired certificate, its own CA trusted", () => expired, "CERT_HAS_EXPIRED"],
  ] as const)("S-1: %s", async (_name, pick, tlsCode) => {
    const pki = pick();
    const { cert, key } = "serverCert" in pki ? { cert: pki.serverCert, key: pki.serverKey } : pki;
    const s = await createTestServer({ tls: { cert, key } });
    onCleanup(() => s.close());
    // The name and CA rows trust the CA, so only the named failure is left; the untrusted row trusts nothing.
    const ca = pki === chain ? undefined : "ca" in pki ? pki.ca : pki.cert;
    const c = conn({
      reconnect: { minDelayMs: 10, maxDelayMs: 50 },
      headers: { Authorization: `Bearer ${CANARY}` },
      ...(ca === undefined ? {} : { tls: { ca } }),
    });
    const retries: number[] = [];
    const produced: unknown[] = [];
    c.on("reconnecting", (info) => retries.push(info.attempt));
    c.on("error", (e) => produced.push(e));
    c.on("state", (e) => produced.push(e));
    // S-3 too: the secret in the URL, the Authorization header and the subprotocol stays out of it.
    const error = (await settle(c.dial(secretUrl(s.url), SUBPROTOCOL))) as EvtWebSocketError;
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect((error.cause as NodeJS.ErrnoException).code).toBe(tlsCode);
    expect(canaryHits([error, produced])).toEqual([]);
    expect(retries).toEqual([]);
    expect(c.state).toBe(State.CLOSED);
    expect(s.connections).toBe(0);
  });

  it("S-1: the same CA given as tls.ca is accepted (so the rows above fail for their reason only)", async () => {
    const s = await createTestServer({ tls: { cert: chain.serverCert, key: chain.serverKey } });
    onCleanup(() => s.close());
    const c = conn({ reconnect: false, tls: { ca: chain.ca } });
    await c.dial(s.url);
    expect(s.connections).toBe(1);
  });
});

describe("S-4: redirects are not followed", () => {
  it("S-4: a 302 to another server fails the dial with its status; the target never sees the client or its credentials", async () => {
    const target = await server();
    const { port } = await tcpServer((socket) => {
      socket.on("error", () => {});
      socket.once("data", () =>
        socket.end(`HTTP/1.1 302 Found\r\nLocation: ${target.url}/stolen\r\nContent-Length: 0\r\n\r\n`),
      );
    });
    const c = conn({ reconnect: false, headers: { Authorization: `Bearer ${CANARY}` } });
    const error = (await settle(
      c.dial(secretUrl(`ws://127.0.0.1:${port}/`), SUBPROTOCOL),
    )) as EvtWebSocketError;
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect(error.details).toEqual({ status: 302 });
    expect(target.connections).toBe(0);
    expect(target.handshakes).toEqual([]);
    expect(canaryHits(error)).toEqual([]);
  });
});

describe("G-3/H: the heartbeat while a large send of ours waits", () => {
  it.each(["ws", "wss"] as const)(
    "G-3: a 64 MiB send the server reads at 16 MiB/s (our pings queue behind it), over %s: the peer is not declared dead, the message arrives whole",
    async (scheme) => {
      let got = 0;
      const pki = scheme === "wss" ? await mintSelfSigned() : undefined;
      onCleanup(async () => pki?.remove());
      const s = await createTestServer({
        ...(pki === undefined ? {} : { tls: { cert: pki.cert, key: pki.key } }),
        onMessage: (data) => {
          got = (data as Uint8Array).byteLength;
        },
      });
      onCleanup(() => s.close());
      const proxy = await createFaultProxy(s.url);
      onCleanup(() => proxy.close());
      await proxy.bandwidth(16 * 1024 * 1024, { direction: "upstream" });
      const errors: EvtWebSocketError[] = [];
      let opens = 0;
      // The send takes about 4 s, far more than pingIntervalMs + pongTimeoutMs; what the kernel
      // holds of it (a few MiB) leaves within pongTimeoutMs.
      const c = conn<string, Uint8Array>({
        pingIntervalMs: 500,
        pongTimeoutMs: 1000,
        ...(pki === undefined ? {} : { tls: { ca: pki.cert } }),
        onError: (e) => void errors.push(e),
        onConnected: () => void opens++,
      });
      await c.dial(proxy.url);
      c.send(new Uint8Array(64 * 1024 * 1024).fill(1));
      await until(() => got > 0 || errors.length > 0, "the message at the server, or an error", 60_000);
      expect(errors).toEqual([]);
      expect(got).toBe(64 * 1024 * 1024);
      expect(opens).toBe(1);
      // Once it left, the heartbeat goes on as before: a ping answered.
      await new Promise<void>((resolve) => {
        const off = c.on("pong", () => {
          off();
          resolve();
        });
      });
      expect(c.state).toBe(State.OPEN);
    },
    90_000,
  );

  it("G-3: a server that stops reading while our 32 MiB send waits is still found dead: ERR_PONG_TIMEOUT", async () => {
    const s = await server({
      onConnection: (ws) => void (ws as unknown as { _socket: Socket })._socket.pause(),
    });
    const errors: EvtWebSocketError[] = [];
    const c = conn<string, Uint8Array>({
      pingIntervalMs: 200,
      pongTimeoutMs: 200,
      reconnect: false,
      onError: (e) => void errors.push(e),
    });
    await c.dial(s.url);
    c.send(new Uint8Array(32 * 1024 * 1024));
    await until(() => errors.length > 0, "the verdict", 30_000);
    expect(errors.map((e) => e.code)).toEqual(["ERR_PONG_TIMEOUT"]);
  });
});
