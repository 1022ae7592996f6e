import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintSelfSigned, type SelfSigned } from "./helpers/cert.js";
import { conn, sleep } from "./helpers/harness.js";
import { tlsEchoServer } from "./helpers/tls-server.js";

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
