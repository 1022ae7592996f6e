/**
 * Security and limits on real sockets: a secret canary never leaves the library (INV-7), no
 * invented Origin header, JSON responses cannot pollute Object.prototype, TLS verified by default.
 * Also a URL function whose URLs hold the canary where parsers stumble (an unencoded @, a zone id),
 * and message bodies quoted in the causes of errors, kept from log lines and channel messages.
 */

import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CANARY, canaryHits } from "../chaos/canary.js";
import {
  type AttemptContext,
  type Conn,
  type ConnOptions,
  type EvtWebSocketError,
  json,
  State,
} from "../src/index.js";
import { createTestServer, type TestServer } from "../src/testing/index.js";
import { mintSelfSigned, type SelfSigned } from "./helpers/cert.js";
import { conn, fast, onCleanup, server } from "./helpers/harness.js";
import { recordLines } from "./helpers/log-recorder.js";
import { proxyChain } from "./helpers/proxy.js";
import { tcpServer } from "./helpers/raw-server.js";
import {
  channelMessages,
  channelMessagesWithKind,
  SUBPROTOCOL,
  secretUrl as secretUrlOf,
} from "./helpers/secrets.js";
import { freePort, until } from "./helpers/server.js";

/** Every place a secret can be given: URL userinfo, path, query `token=`, Authorization, subprotocol. */
const secretUrl = (base: string) => secretUrlOf(base, "&room=1");
const secretOptions = { headers: { Authorization: `Bearer ${CANARY}` } };

/**
 * A Conn whose every error, rejection and event payload is kept for scanning, with its logger's
 * lines and the diagnostics channels' messages (issue 18: the canary is in no logged line and
 * no channel payload either).
 */
function watched(options: ConnOptions<string, string, Conn<string, string>> = {}) {
  const lines: string[] = [];
  const log = (line: string) => void lines.push(line);
  const produced: unknown[] = [lines, channelMessages()];
  const c = conn({ ...secretOptions, logger: { debug: log, info: log, warn: log, error: log }, ...options });
  for (const event of ["error", "close", "reconnecting", "state", "pong", "message"] as const) {
    c.on(event, (payload: unknown) => produced.push(payload));
  }
  return { c, produced };
}

async function settle(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe("INV-7: a secret canary in the URL, path, query, Authorization header and subprotocol never appears in what the library produces", () => {
  it("the scanner itself finds a canary deep in a cause chain (so a pass means something)", () => {
    const inner = Object.assign(new Error("x"), { url: `ws://h/?token=${CANARY}` });
    expect(canaryHits([{ error: new Error("outer", { cause: inner }) }])).not.toEqual([]);
  });

  it("refused connection", async () => {
    const { c, produced } = watched({ reconnect: { ...fast, maxAttempts: 1 } });
    const error = await settle(c.dial(secretUrl(`ws://127.0.0.1:${await freePort()}`), SUBPROTOCOL));
    expect((error as EvtWebSocketError).code).toBe("ERR_RECONNECT_EXHAUSTED");
    produced.push(error);
    expect(canaryHits(produced)).toEqual([]);
  });

  it("401 handshake", async () => {
    const server = await createTestServer({ authorize: () => 401 });
    onCleanup(() => server.close());
    const { c, produced } = watched({ reconnect: false });
    const error = await settle(c.dial(secretUrl(server.url), SUBPROTOCOL));
    expect((error as EvtWebSocketError).details.status).toBe(401);
    produced.push(error);
    expect(canaryHits(produced)).toEqual([]);
    // The server did receive the secrets: the test would be vacuous otherwise.
    expect(JSON.stringify(server.handshakes)).toContain(CANARY);
  });

  it("DNS failure (a .invalid host)", async () => {
    const { c, produced } = watched({ reconnect: false });
    const error = await settle(c.dial(secretUrl("ws://evtwebsocket-test.invalid:8080"), SUBPROTOCOL));
    expect((error as EvtWebSocketError).code).toBe("ERR_DIAL_FAILED");
    produced.push(error);
    expect(canaryHits(produced)).toEqual([]);
  });

  it("connect timeout (TCP accepted, handshake never answered)", async () => {
    const silent = await createTestServer();
    onCleanup(() => silent.close());
    silent.stall(); // TCP accepted, handshake held unanswered
    const { c, produced } = watched({ reconnect: false, connectTimeoutMs: 100 });
    const error = await settle(c.dial(secretUrl(silent.url), SUBPROTOCOL));
    expect((error as EvtWebSocketError).code).toBe("ERR_CONNECT_TIMEOUT");
    produced.push(error);
    expect(canaryHits(produced)).toEqual([]);
  });

  it("pong timeout, with requests pending", async () => {
    const server = await createTestServer();
    onCleanup(() => server.close());
    const { c, produced } = watched({
      reconnect: false,
      pingIntervalMs: 50,
      pongTimeoutMs: 100,
      matchMsg: (req, resp) => req === resp,
    });
    await c.dial(secretUrl(server.url), SUBPROTOCOL);
    server.stall();
    produced.push(await settle(c.request("pending")));
    await until(() => c.state === State.CLOSED, "closed after the pong timeout");
    expect(produced.some((p) => (p as EvtWebSocketError).code === "ERR_PONG_TIMEOUT")).toBe(true);
    expect(canaryHits(produced)).toEqual([]);
  });

  it.each([[1000], [1011], [4001], [undefined]])("server close (%s)", async (code) => {
    const server = await createTestServer();
    onCleanup(() => server.close());
    const { c, produced } = watched({ reconnect: { ...fast, maxAttempts: 0 } });
    await c.dial(secretUrl(server.url), SUBPROTOCOL);
    server.dropAll(code, `bye ${code}`);
    await until(() => c.state === State.CLOSED, "closed");
    expect(canaryHits(produced)).toEqual([]);
  });

  it.each([
    ["unparsable", `ws://user:${CANARY}@exa mple/?token=${CANARY}`],
    ["bad scheme", `ftp://user:${CANARY}@example.com/?token=${CANARY}`],
    ["bad scheme, secret in the path", `ftp://user:${CANARY}@127.0.0.1:1/${CANARY}?token=${CANARY}`],
    ["bad port", `ws://user:${CANARY}@example.com:99999/?token=${CANARY}`],
  ])("invalid URL (%s)", async (_kind, url) => {
    const { c, produced } = watched();
    const error = await settle(c.dial(url, SUBPROTOCOL));
    expect((error as EvtWebSocketError).code).toBe("ERR_INVALID_URL");
    produced.push(error);
    expect(canaryHits(produced)).toEqual([]);
  });

  it("a URL function returning a bad scheme with a secret in the path during a reconnect: onError shows only scheme, host and port", async () => {
    const server = await createTestServer();
    onCleanup(() => server.close());
    const { c, produced } = watched({ reconnect: { ...fast, maxAttempts: 2 } });
    const errors: EvtWebSocketError[] = [];
    c.on("error", (e) => errors.push(e));
    let calls = 0;
    const url = () =>
      calls++ === 0 ? server.url : `ftp://user:${CANARY}@127.0.0.1:1/${CANARY}?token=${CANARY}`;
    await c.dial(url, SUBPROTOCOL);
    server.dropAll(1011, "bye");
    await until(
      () => errors.some((e) => e.code === "ERR_INVALID_URL"),
      "the URL function's bad URL reported",
    );
    const invalid = errors.find((e) => e.code === "ERR_INVALID_URL");
    expect(invalid?.message).toContain("ftp://127.0.0.1:1:");
    expect(canaryHits(produced)).toEqual([]);
  });

  it("conn.handshake, and the attempt context a headers function gets after a drop (lastClose, lastError)", async () => {
    const server = await createTestServer();
    onCleanup(() => server.close());
    const contexts: AttemptContext[] = [];
    const { c, produced } = watched({
      reconnect: fast,
      headers: (ctx) => {
        contexts.push(ctx);
        return { Authorization: `Bearer ${CANARY}` };
      },
    });
    await c.dial(secretUrl(server.url));
    produced.push(c.handshake);
    server.dropAll(); // no close frame: the drop has an error, which the next context carries
    await until(() => contexts.length === 2 && c.state === State.OPEN, "the reconnect");
    expect(contexts[1]?.lastError?.code).toBe("ERR_DISCONNECTED");
    produced.push(c.handshake, ...contexts);
    expect(canaryHits(produced)).toEqual([]);
    expect(JSON.stringify(server.handshakes)).toContain(CANARY);
  });

  it("a URL function returning an invalid URL", async () => {
    const { c, produced } = watched();
    const error = await settle(c.dial(() => `ws://user:${CANARY}@exa mple/?token=${CANARY}`, SUBPROTOCOL));
    expect((error as EvtWebSocketError).code).toBe("ERR_INVALID_URL");
    produced.push(error);
    expect(canaryHits(produced)).toEqual([]);
  });
});

describe("INV-7 with a WHATWG WebSocket whose own errors name the whole URL", () => {
  it('a constructor that throws with the URL in its message (Bun: "Invalid url for WebSocket <url>")', async () => {
    class NamesTheUrl {
      constructor(url: string) {
        throw new SyntaxError(`Invalid url for WebSocket ${url}`);
      }
    }
    const { c, produced } = watched({
      WebSocket: NamesTheUrl as never,
      headers: undefined,
      reconnect: false,
    });
    const error = await settle(c.dial(secretUrl(`ws://127.0.0.1:${await freePort()}`), SUBPROTOCOL));
    expect((error as EvtWebSocketError).code).toBe("ERR_DIAL_FAILED");
    produced.push(error);
    expect(canaryHits(produced)).toEqual([]);
  });
});

describe("INV-7 for proxy credentials: a password in the proxy URL never appears in what the library produces", () => {
  /** The Proxy-Authorization value the proxy receives: it must not leak either. */
  const BASIC = Buffer.from(`user:${CANARY}`).toString("base64");
  const proxyHits = (v: unknown) => [
    ...canaryHits(v),
    ...(inspect(v, { depth: 10, showHidden: true }).includes(BASIC) ? ["base64 credentials"] : []),
  ];
  const secretProxy = (port: number) => `http://user:${CANARY}@127.0.0.1:${port}`;

  it("the scanner sees the base64 form (so a pass means something)", () => {
    expect(proxyHits({ header: `Basic ${BASIC}` })).not.toEqual([]);
  });

  it("407 (wrong credentials), retried by shouldReconnect, then exhausted", async () => {
    const proxy = await proxyChain({ user: "user", password: "other" });
    const { c, produced } = watched({
      proxy: secretProxy(proxy.port),
      reconnect: { ...fast, maxAttempts: 1, shouldReconnect: (info) => produced.push(info) > 0 },
    });
    const error = await settle(c.dial(secretUrl("ws://127.0.0.1:9"), SUBPROTOCOL));
    expect((error as EvtWebSocketError).code).toBe("ERR_RECONNECT_EXHAUSTED");
    produced.push(error);
    expect(proxy.connects).toHaveLength(2);
    expect(proxyHits(produced)).toEqual([]);
  });

  it("403 from the proxy", async () => {
    const proxy = await proxyChain({ forbid: true });
    const { c, produced } = watched({ proxy: secretProxy(proxy.port), reconnect: false });
    const error = await settle(c.dial(secretUrl("ws://127.0.0.1:9"), SUBPROTOCOL));
    expect((error as EvtWebSocketError).details.proxyStatus).toBe(403);
    produced.push(error);
    expect(proxyHits(produced)).toEqual([]);
  });

  it("refused proxy port", async () => {
    const { c, produced } = watched({
      proxy: secretProxy(await freePort()),
      reconnect: { ...fast, maxAttempts: 1 },
    });
    produced.push(await settle(c.dial(secretUrl("ws://127.0.0.1:9"), SUBPROTOCOL)));
    expect(proxyHits(produced)).toEqual([]);
  });

  it("a proxy that never answers CONNECT (connect timeout)", async () => {
    const { port } = await tcpServer((sock) => void sock.resume());
    const { c, produced } = watched({ proxy: secretProxy(port), connectTimeoutMs: 100, reconnect: false });
    const error = await settle(c.dial(secretUrl("ws://127.0.0.1:9"), SUBPROTOCOL));
    expect((error as EvtWebSocketError).code).toBe("ERR_CONNECT_TIMEOUT");
    produced.push(error);
    expect(proxyHits(produced)).toEqual([]);
  });

  it("open through the proxy, then the proxy goes away", async () => {
    const server = await createTestServer();
    onCleanup(() => server.close());
    const proxy = await proxyChain({ user: "user", password: CANARY });
    const { c, produced } = watched({
      proxy: secretProxy(proxy.port),
      reconnect: { ...fast, maxAttempts: 1 },
    });
    await c.dial(secretUrl(server.url), SUBPROTOCOL);
    await proxy.close();
    await until(() => c.state === State.CLOSED, "closed after the proxy went away");
    expect(proxyHits(produced)).toEqual([]);
  });

  it('credentials in HTTP_PROXY with proxy: "env", and a bad proxy URL there', async () => {
    const proxy = await proxyChain({ user: "user", password: "other" });
    vi.stubEnv("http_proxy", "");
    vi.stubEnv("no_proxy", "");
    vi.stubEnv("NO_PROXY", "");
    vi.stubEnv("HTTP_PROXY", secretProxy(proxy.port));
    onCleanup(async () => vi.unstubAllEnvs());
    const { c, produced } = watched({ proxy: "env", reconnect: false });
    produced.push(await settle(c.dial(secretUrl("ws://127.0.0.1:9"), SUBPROTOCOL)));
    vi.stubEnv("HTTP_PROXY", `socks5://user:${CANARY}@127.0.0.1:1`);
    produced.push(await settle(c.dial(secretUrl("ws://127.0.0.1:9"), SUBPROTOCOL)));
    expect(produced.map((p) => (p as EvtWebSocketError).code)).toContain("ERR_DIAL_FAILED");
    expect(proxyHits(produced)).toEqual([]);
  });

  it("an invalid proxy option", async () => {
    const { c } = watched({ proxy: `https://user:${CANARY}@exa mple:1` });
    const error = await settle(c.dial("ws://127.0.0.1:9"));
    expect((error as EvtWebSocketError).code).toBe("ERR_INVALID_OPTION");
    expect(proxyHits([error])).toEqual([]);
  });
});

describe("a URL function whose URLs hold a secret where parsers stumble (held)", () => {
  it.each([
    [
      "an unencoded @ in the password",
      (p: number) => `ws://user:pa@ss${CANARY}@127.0.0.1:${p}/s/${CANARY}?token=${CANARY}`,
    ],
    [
      "an IPv6 literal with a zone id",
      (p: number) => `ws://user:${CANARY}@[fe80::1%25eth0]:${p}/?t=${CANARY}`,
    ],
    ["a / in the password", (p: number) => `ws://user:${CANARY}/x@127.0.0.1:${p}/`],
    ["an @ in the path and query", (p: number) => `ws://127.0.0.1:${p}/p@${CANARY}?q=@${CANARY}`],
    ["an IPv6 host that refuses", () => `ws://user:${CANARY}@[::1]:9/${CANARY}?t=${CANARY}`],
    ["a port out of range", () => `ws://user:${CANARY}@127.0.0.1:99999/${CANARY}`],
    ["another scheme", (p: number) => `ftp://user:${CANARY}@127.0.0.1:${p}/${CANARY}`],
  ])("%s, returned on a reconnect: not in errors, log lines, events or channel messages", async (_, make) => {
    const s = await server({ onConnection: (ws) => setTimeout(() => ws.close(4000, "go"), 5) });
    const port = Number(new URL(s.url).port);
    const published = channelMessages();
    const lines: string[] = [];
    const log = (line: string) => void lines.push(line);
    const events: unknown[] = [];
    let calls = 0;
    const c = conn({
      logger: { debug: log, info: log, warn: log, error: log },
      reconnect: { minDelayMs: 5, maxDelayMs: 10, jitter: 0, maxAttempts: 3 },
      onError: (e) => void events.push(e),
      onReconnecting: (info) => void events.push(info),
      onClose: (info) => void events.push(info),
    });
    await c.dial(() => (calls++ === 0 ? s.url : make(port)));
    await until(() => c.state === "closed", "the end");
    expect(calls).toBeGreaterThan(1);
    // Something to scan in each: the scan below is not of empty lists.
    expect([lines.length, published.length, events.length].every((n) => n > 0)).toBe(true);
    expect(canaryHits({ published, lines, events })).toEqual([]);
  });
});

describe("Origin header on Node", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer();
  });
  afterAll(() => server.close());

  it("no Origin header is invented", async () => {
    const c = conn({ reconnect: false });
    await c.dial(server.url);
    await c.close();
    expect(server.handshakes.at(-1)!.headers.origin).toBeUndefined();
  });

  it("a user-given Origin is sent verbatim", async () => {
    const c = conn({ reconnect: false, headers: { Origin: "https://App.example:8443" } });
    await c.dial(server.url);
    await c.close();
    expect(server.handshakes.at(-1)!.headers.origin).toBe("https://App.example:8443");
  });
});

describe("prototype pollution: __proto__ in JSON responses leaves Object.prototype untouched", () => {
  type Msg = Record<string, unknown>;
  const hostile = [
    '{"__proto__":{"polluted":true},"id":1}',
    '{"id":"__proto__","__proto__":{"polluted":true}}',
    '{"id":"constructor","constructor":{"prototype":{"polluted":true}}}',
    '{"__proto__":{"polluted":true}}',
  ];

  it.each([["messageId"], ["matchMsg"]])("with %s", async (how) => {
    const server = await createTestServer({
      onMessage: (_data, client) => {
        for (const text of hostile) client.send(text);
      },
    });
    onCleanup(() => server.close());
    const seen: Msg[] = [];
    const c = conn<Msg, Msg>({
      codec: json<Msg, Msg>(),
      requestTimeoutMs: 2000,
      onMessage: (m) => seen.push(m),
      ...(how === "messageId"
        ? { messageId: (m: Msg) => m.id as string | number | undefined }
        : { matchMsg: (req: Msg, resp: Msg) => req.id === resp.id }),
    });
    await c.dial(server.url);
    const responses = await Promise.allSettled([
      c.request({ id: 1 }),
      c.request({ id: "__proto__" }),
      c.request({ id: "constructor" }),
    ]);
    await until(() => seen.length >= 1, "the unmatched message reached onMessage");
    expect(responses.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "fulfilled"]);
    expect(({} as Msg).polluted).toBeUndefined();
    expect((Object.prototype as Msg).polluted).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, "polluted")).toBe(false);
  });
});

describe("TLS is verified by default", () => {
  let cert: string;
  let key: string;
  let tlsFiles: SelfSigned;
  beforeAll(async () => {
    tlsFiles = await mintSelfSigned();
    ({ cert, key } = tlsFiles);
  });
  afterAll(() => tlsFiles.remove());

  it("a self-signed certificate fails the dial with ERR_DIAL_FAILED and the TLS code as cause", async () => {
    const server = await createTestServer({ tls: { cert, key } });
    onCleanup(() => server.close());
    expect(server.url.startsWith("wss://127.0.0.1:")).toBe(true);
    const c = conn({ reconnect: false });
    const error = (await settle(c.dial(server.url))) as EvtWebSocketError;
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect((error.cause as NodeJS.ErrnoException).code).toBe("DEPTH_ZERO_SELF_SIGNED_CERT");
    expect(server.connections).toBe(0);
  });

  it("with the default reconnect policy a certificate failure is not retried: dial() rejects once", async () => {
    const server = await createTestServer({ tls: { cert, key } });
    onCleanup(() => server.close());
    const c = conn({ reconnect: { minDelayMs: 10, maxDelayMs: 50 } });
    const retries: number[] = [];
    c.on("reconnecting", (info) => retries.push(info.attempt));
    const error = (await settle(c.dial(server.url))) as EvtWebSocketError;
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect((error.cause as NodeJS.ErrnoException).code).toBe("DEPTH_ZERO_SELF_SIGNED_CERT");
    expect(c.state).toBe(State.CLOSED);
    expect(retries).toEqual([]);
  });

  it("the same certificate given as tls.ca is accepted", async () => {
    const server = await createTestServer({ tls: { cert, key } });
    onCleanup(() => server.close());
    const c = conn({ reconnect: false, tls: { ca: cert } });
    await c.dial(server.url);
    expect(server.connections).toBe(1);
  });
});

describe("secrets: message bodies in the causes of errors", () => {
  it("an undecodable message (its JSON.parse error quotes it) and a matcher that throws with the message: no body in a line or an error channel message; onError keeps the cause", async () => {
    const server = await createTestServer({
      onMessage: (data, client) =>
        client.send(String(data) === '"bad"' ? `{"bad": ${CANARY}` : `{"id":"${CANARY}"}`),
    });
    onCleanup(() => server.close());
    const seen = channelMessagesWithKind();
    const { logger, lines } = recordLines();
    const causes: unknown[] = [];
    const c = conn<unknown, unknown>({
      codec: json(),
      logger,
      messageId: (m) => {
        const id = (m as { id?: string }).id;
        if (id?.includes(CANARY) === true) throw new Error(`no request for ${JSON.stringify(m)}`);
        return id;
      },
      onError: (e) => void causes.push(e.cause),
    });
    await c.dial(server.url);
    c.send("bad");
    // Pending, so the inbound message goes through messageId, which throws on it.
    void c.request({ id: "r1" }, { timeoutMs: 60_000 }).catch(() => {});
    await until(() => causes.length === 2, "the decode error and the matcher's");
    const errors = seen
      .filter(([k, m]) => k === "error" && m.id === c.id)
      .map(([, m]) => m.error as EvtWebSocketError);
    expect(errors.map((e) => e.code)).toEqual(["ERR_DECODE", "ERR_CALLBACK_THREW"]);
    // The codec's SyntaxError (`Unexpected token … "{"bad": <body>" is not valid JSON`) was published as the cause.
    expect(canaryHits(seen), "a body in a channel message").toEqual([]);
    expect(canaryHits(lines), "a body in a line").toEqual([]);
    // What onError gets is unchanged: the cause is there for the application.
    expect(canaryHits(causes)).not.toEqual([]);
  });
});
