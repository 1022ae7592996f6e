/**
 * Issue 16's promises that had no real-socket test of their own (conformance audit): the
 * default is no proxy whatever the environment says; a proxy that never answers `CONNECT` is a
 * failed attempt under the same retry rules as a direct dial to a server that never answers;
 * a URL function that throws or rejects fails only that attempt; and a proxy's 5xx from an
 * independent implementation (tinyproxy, target unreachable) is retried under the normal rules.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { EvtWebSocketError, ReconnectingInfo } from "../src/index.js";
import { mintSelfSigned, type SelfSigned } from "./helpers/cert.js";
import { conn, fast, server } from "./helpers/harness.js";
import { handProxy, tinyproxy, tunnel } from "./helpers/proxy.js";
import { tcpServer } from "./helpers/raw-server.js";
import { freePort, until } from "./helpers/server.js";
import { tlsEchoServer } from "./helpers/tls-server.js";
import { requireTools } from "./helpers/tools.js";

let tlsFiles: SelfSigned;
beforeAll(async () => {
  tlsFiles = await mintSelfSigned();
});
afterAll(() => tlsFiles.remove());
afterEach(() => {
  vi.unstubAllEnvs();
});

async function failure(p: Promise<unknown>): Promise<EvtWebSocketError> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: EvtWebSocketError) => e,
  );
}

/** A TCP listener that reads and never answers: its sockets and how many closed. */
async function silent(): Promise<{ port: number; accepted(): number; closed(): number }> {
  let closed = 0;
  const { port, sockets } = await tcpServer((sock) => {
    sock.on("error", () => {});
    sock.on("close", () => void closed++);
    sock.resume();
  });
  return { port, accepted: () => sockets.length, closed: () => closed };
}

describe("the default is no proxy (as in ws and Node's fetch)", () => {
  it("with every proxy variable set, a connection without the proxy option goes direct, ws: and wss:; the proxy sees nothing", async () => {
    const plain = await server();
    const secure = await tlsEchoServer(tlsFiles);
    const proxy = await handProxy(tunnel);
    for (const name of ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"])
      vi.stubEnv(name, proxy.url);
    vi.stubEnv("no_proxy", "");
    vi.stubEnv("NO_PROXY", "");
    await conn({ reconnect: false }).dial(plain.url);
    await conn({ reconnect: false, tls: { ca: tlsFiles.cert } }).dial(secure.url);
    expect(plain.connections).toBe(1);
    expect(secure.connections()).toBe(1);
    expect(proxy.connects).toEqual([]);
    expect(proxy.clients).toHaveLength(0);
  });
});

describe("a proxy that never answers CONNECT: a failed attempt under the same retry rules as a direct dial", () => {
  it("each attempt fails ERR_CONNECT_TIMEOUT and is retried as a silent server's would be; every proxy socket is closed", async () => {
    const run = async (port: number, options: { proxy?: string }) => {
      const waits: ReconnectingInfo[] = [];
      const c = conn({
        ...options,
        connectTimeoutMs: 100,
        reconnect: { ...fast, maxAttempts: 2 },
        onReconnecting: (i) => void waits.push(i),
      });
      const error = await failure(c.dial(`ws://127.0.0.1:${port}`));
      return {
        code: error.code,
        cause: (error.cause as EvtWebSocketError).code,
        waits: waits.map((w) => [w.attempt, w.error?.code]),
      };
    };
    const directServer = await silent();
    const direct = await run(directServer.port, {});
    const proxy = await silent();
    const tunnelled = await run(await freePort(), { proxy: `http://127.0.0.1:${proxy.port}` });
    expect(direct).toEqual({
      code: "ERR_RECONNECT_EXHAUSTED",
      cause: "ERR_CONNECT_TIMEOUT",
      waits: [
        [1, "ERR_CONNECT_TIMEOUT"],
        [2, "ERR_CONNECT_TIMEOUT"],
      ],
    });
    expect(tunnelled).toEqual(direct);
    expect(proxy.accepted()).toBe(3);
    await until(() => proxy.closed() === 3, "every CONNECT's socket closed by the client");
  });
});

describe("a URL function that throws or rejects (real server)", () => {
  it.each([
    ["rejects", () => Promise.reject(new Error("discovery down"))],
    [
      "throws",
      () => {
        throw new Error("discovery down");
      },
    ],
  ])(
    "that %s fails that attempt with ERR_DIAL_FAILED (the throw as cause); the policy retries and the next attempt connects",
    async (_how, fail) => {
      const s = await server();
      const errors: EvtWebSocketError[] = [];
      const waits: ReconnectingInfo[] = [];
      let calls = 0;
      const c = conn({
        reconnect: fast,
        onError: (e) => void errors.push(e),
        onReconnecting: (i) => void waits.push(i),
      });
      await c.dial((() => (++calls === 1 ? fail() : s.url)) as () => string);
      expect(calls).toBe(2);
      expect(errors.map((e) => [e.code, e.message, (e.cause as Error).message])).toEqual([
        ["ERR_DIAL_FAILED", "the URL function failed", "discovery down"],
      ]);
      expect(waits.map((w) => [w.attempt, w.error])).toEqual([[1, errors[0]]]);
      expect(s.connections).toBe(1);
    },
  );
});

describe("a proxy's 5xx from tinyproxy (an independent implementation)", requireTools("tinyproxy"), () => {
  it("the target unreachable: tinyproxy's 500 is ERR_DIAL_FAILED with proxyStatus 500, retried under the normal rules", async () => {
    const port = await freePort(); // allowed by tinyproxy, nothing listening
    const proxy = await tinyproxy([port]);
    const waits: ReconnectingInfo[] = [];
    const c = conn({
      proxy: proxy.url,
      reconnect: { ...fast, maxAttempts: 1 },
      onReconnecting: (i) => void waits.push(i),
    });
    const error = await failure(c.dial(`ws://127.0.0.1:${port}`));
    expect(error.code).toBe("ERR_RECONNECT_EXHAUSTED");
    const cause = error.cause as EvtWebSocketError;
    expect(cause.code).toBe("ERR_DIAL_FAILED");
    expect(cause.details).toEqual({ proxyStatus: 500 });
    expect(cause.message).toContain("answered CONNECT with HTTP 500");
    expect(waits.map((w) => w.error?.details.proxyStatus)).toEqual([500]);
    await until(() => proxy.connects.length === 2, "tinyproxy logged both CONNECTs");
  });
});
