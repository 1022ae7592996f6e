/**
 * Proxy credentials on real sockets (proxy-chain, tinyproxy, a hand-made SOCKS5 server): where
 * they go (to the proxy only, percent-decoded, an empty password as one) and where they never
 * appear, in any form (plain, percent-encoded, base64): errors and their causes, events, logger
 * lines and channel payloads, through refusals (407), retries and reconnects. Also the secrets
 * of the request itself (path, query, Authorization) in bytes a peer sends back.
 */

import dc from "node:diagnostics_channel";
import type { Socket } from "node:net";
import { inspect } from "node:util";
import { SocksProxyAgent } from "socks-proxy-agent";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CANARY, canaryHits } from "../chaos/canary.js";
import { CHANNELS } from "../src/channel-names.js";
import { type EvtWebSocketError, State } from "../src/index.js";
import { echoServer } from "./helpers/echo-server.js";
import { conn, fast, onCleanup, server } from "./helpers/harness.js";
import { recordLines } from "./helpers/log-recorder.js";
import { handProxy, proxyChain, tinyproxy, tunnel } from "./helpers/proxy.js";
import { tcpServer } from "./helpers/raw-server.js";
import { channelMessages, SUBPROTOCOL, secretUrl } from "./helpers/secrets.js";
import { until } from "./helpers/server.js";
import { requireTools } from "./helpers/tools.js";
import { upgradeServer } from "./helpers/upgrade-server.js";

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

const failed = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: EvtWebSocketError) => e.code,
  );

describe("secrets: proxy credentials", () => {
  const BASIC = Buffer.from(`user:${CANARY}`).toString("base64");
  const secretProxy = (port: number) => `http://user:${CANARY}@127.0.0.1:${port}`;
  const hits = (v: unknown) => [...canaryHits(v), ...(JSON.stringify(v).includes(BASIC) ? ["base64"] : [])];

  it("a proxy that refuses the credentials (407), then one that takes them: no line or channel message holds them", async () => {
    const seen = channelMessages();
    const { logger, lines, events } = recordLines();
    const refusing = await proxyChain({ user: "user", password: "other" });
    const c1 = conn({ logger, proxy: secretProxy(refusing.port), reconnect: false, onError: () => {} });
    expect(await failed(c1.dial(secretUrl("ws://127.0.0.1:9"), SUBPROTOCOL))).toBe("ERR_DIAL_FAILED");
    const server = await echoServer();
    const taking = await proxyChain({ user: "user", password: CANARY });
    const c2 = conn({ logger, proxy: secretProxy(taking.port), reconnect: fast, pingIntervalMs: 20 });
    await c2.dial(secretUrl(server.url), SUBPROTOCOL);
    await new Promise((resolve) => c2.on("pong", resolve));
    await server.dropAll(1011, "restart");
    await until(() => c2.state === State.OPEN && server.connections === 2, "reopened through the proxy");
    await c2.close();
    expect(events()).toContain("give-up");
    expect(events()).toContain("reconnecting");
    expect(taking.connects.length).toBe(2);
    expect(hits(lines), "a logged line").toEqual([]);
    expect(hits(seen), "a channel message").toEqual([]);
  });
});

describe("secrets through a proxy: credentials, a headers function's token, the URL's path and query", () => {
  it("never in an error (message, details, cause chain, stack), an event, a logger line or a channel payload", async () => {
    const BASIC = Buffer.from(`user:${CANARY}`).toString("base64");
    const hits = (v: unknown) => [
      ...canaryHits(v),
      ...(inspect(v, { depth: 12, showHidden: true }).includes(BASIC) ? ["base64 credentials"] : []),
    ];
    const produced = channelMessages();
    const lines: string[] = [];
    const log = (line: string) => void lines.push(line);
    // Upgrade 0: 503 Retry-After 0; 1: accepted, then closed 1011; 2: accepted.
    const s = await upgradeServer((n) => (n === 0 ? "HTTP/1.1 503 Busy\r\nRetry-After: 0" : undefined), {
      onAccept: (ws, n) => {
        if (n === 1) ws.close(1011, "restarting");
      },
    });
    const proxy = await proxyChain({ user: "user", password: CANARY });
    let attempt = 0;
    const c = conn({
      proxy: `http://user:${CANARY}@127.0.0.1:${proxy.port}`,
      reconnect: fast,
      pingIntervalMs: 30,
      logger: { debug: log, info: log, warn: log, error: log },
      headers: () => {
        attempt++;
        if (attempt === 1) throw new Error("token service down");
        return { Authorization: `Bearer ${CANARY}` };
      },
    });
    for (const event of ["error", "close", "reconnecting", "state", "pong"] as const)
      c.on(event, (payload: unknown) => void produced.push(payload));
    await c.dial(secretUrl(s.url), SUBPROTOCOL);
    await until(() => s.accepted.length === 2 && c.state === "open", "open again after the 1011");
    // The subprotocol is the server's choice to report (it is the canary here): not scanned.
    produced.push({ ...c.handshake, protocol: undefined });
    await new Promise((resolve) => c.on("pong", resolve));
    await c.close();
    // A refused proxy, and a proxy that refuses the credentials, with reconnect off.
    const refusing = await proxyChain({ user: "user", password: "other" });
    const c2 = conn({
      proxy: `http://user:${CANARY}@127.0.0.1:${refusing.port}`,
      reconnect: false,
      logger: { debug: log, info: log, warn: log, error: log },
      headers: async () => ({ Authorization: `Bearer ${CANARY}` }),
    });
    produced.push(await failure(c2.dial(secretUrl(s.url), SUBPROTOCOL)));
    expect(s.arrivals.map((a) => a.headers.authorization)).toEqual([
      `Bearer ${CANARY}`,
      `Bearer ${CANARY}`,
      `Bearer ${CANARY}`,
    ]);
    expect(lines.length).toBeGreaterThan(5);
    expect(produced.length).toBeGreaterThan(10);
    expect(hits(lines)).toEqual([]);
    expect(hits(produced)).toEqual([]);
  });
});

describe("secrets in bytes a peer sends back", () => {
  it.each(["direct", "through a proxy"] as const)(
    "%s: a peer that echoes the upgrade request (not HTTP back): ERR_DIAL_FAILED whose cause chain holds no byte of the request (path, query, Authorization)",
    async (route) => {
      const { port } = await tcpServer((socket) => {
        socket.on("error", () => {});
        socket.pipe(socket);
      });
      const proxy = await handProxy(tunnel);
      const c = conn({
        reconnect: false,
        headers: { Authorization: `Bearer ${CANARY}` },
        ...(route === "direct" ? {} : { proxy: proxy.url }),
      });
      const error = await failure(c.dial(secretUrl(`ws://127.0.0.1:${port}`)));
      expect(error.code).toBe("ERR_DIAL_FAILED");
      // The parser's complaint is kept: it says what went wrong.
      expect((error.cause as { code?: string }).code).toBe("HPE_INVALID_CONSTANT");
      expect(canaryHits(error)).toEqual([]);
    },
  );

  it.each([
    [
      "refuses every authentication method",
      (socket: Socket): void => void socket.end(Buffer.from([5, 0xff])),
    ],
    [
      "refuses the user name and password",
      (socket: Socket): void => {
        socket.write(Buffer.from([5, 2])); // user name and password, please
        socket.once("data", () => void socket.end(Buffer.from([1, 1]))); // wrong
      },
    ],
  ] as const)(
    "the agent option: a SOCKS5 server that %s: socks-proxy-agent's error (which keeps the options it was called with) carries no password in our error, events or channel payloads",
    async (_what, answer) => {
      const { port } = await tcpServer((socket) => {
        socket.on("error", () => {});
        socket.once("data", () => answer(socket));
      });
      const produced: unknown[] = [];
      const fn = (m: unknown) => {
        const { conn: _, ...rest } = m as Record<string, unknown>;
        produced.push(rest);
      };
      dc.subscribe(CHANNELS.error, fn);
      onCleanup(async () => void dc.unsubscribe(CHANNELS.error, fn));
      const c = conn({
        agent: new SocksProxyAgent(`socks5://user:${CANARY}@127.0.0.1:${port}`),
        reconnect: { ...fast, maxAttempts: 1 },
        onError: (e) => void produced.push(e),
        onReconnecting: (info) => void produced.push(info),
      });
      const error = await failure(c.dial("ws://127.0.0.1:9/"));
      produced.push(error);
      expect(error.code).toBe("ERR_RECONNECT_EXHAUSTED");
      expect(((error.cause as EvtWebSocketError).cause as Error).constructor.name).toBe("SocksClientError");
      expect(canaryHits(produced)).toEqual([]);
    },
  );
});

describe("tinyproxy's own BasicAuth, an independent 407", requireTools("tinyproxy"), () => {
  // tinyproxy's config takes letters, digits and a few marks only; %2D is a needless encoding of "-".
  const user = "ops";
  const password = "s3cr3t-Pass";

  it("percent-encoded credentials open the tunnel; none get its 407 (with a body): proxyStatus 407, not retried; wrong ones get its 401", async () => {
    const s = await server();
    const proxy = await tinyproxy([Number(new URL(s.url).port)], { user, password });
    const c = conn({ proxy: `http://${user}:s3cr3t%2DPass@127.0.0.1:${proxy.port}`, reconnect: false });
    await c.dial(s.url);
    expect(c.state).toBe("open");
    await c.close();
    const none = conn({ proxy: proxy.url, reconnect: fast });
    const error = await failure(none.dial(s.url));
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect(error.details).toEqual({ proxyStatus: 407 });
    // tinyproxy 1.11 answers wrong credentials with 401 and WWW-Authenticate, not 407.
    const wrong = conn({ proxy: `http://${user}:nope@127.0.0.1:${proxy.port}`, reconnect: false });
    expect((await failure(wrong.dial(s.url))).details).toEqual({ proxyStatus: 401 });
    expect(proxy.connects).toHaveLength(3);
    expect(s.connections).toBe(1);
  });
});

describe("credentials in the proxy URL", () => {
  it("go to the proxy only: the server's upgrade request has no Proxy-Authorization", async () => {
    const s = await upgradeServer(() => undefined);
    const proxy = await proxyChain({ user: "user", password: CANARY });
    const c = conn({ proxy: `http://user:${CANARY}@127.0.0.1:${proxy.port}`, reconnect: false });
    await c.dial(s.url);
    expect(s.arrivals).toHaveLength(1);
    expect(s.arrivals[0]!.headers["proxy-authorization"]).toBeUndefined();
    expect(canaryHits(s.arrivals[0]!.headers)).toEqual([]);
    await c.close();
  });

  it("a user name and password with @ : / # % percent-encoded reach the proxy decoded", async () => {
    const s = await server();
    const user = "ops@corp";
    const password = `${CANARY}:p@ss/#%`;
    const proxy = await proxyChain({ user, password });
    const c = conn({
      proxy: `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${proxy.port}`,
      reconnect: false,
    });
    await c.dial(s.url);
    expect(c.state).toBe("open");
    await c.close();
  });

  it.each([
    ["user:@", "an empty password"],
    ["user@", "no password"],
  ])("%s (%s): the proxy gets the user and an empty password", async (userinfo) => {
    const s = await server();
    const proxy = await proxyChain({ user: "user", password: "" });
    const c = conn({ proxy: `http://${userinfo}127.0.0.1:${proxy.port}`, reconnect: false });
    await c.dial(s.url);
    expect(c.state).toBe("open");
    await c.close();
  });

  it("percent-encoded credentials, refused (407), or read from HTTPS_PROXY: never in an error, event, log line or channel payload, encoded, decoded or in base64", async () => {
    const user = `u${CANARY}`;
    const password = `${CANARY}@/#`;
    const encoded = `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
    const forms = [
      CANARY,
      encodeURIComponent(password),
      Buffer.from(`${user}:${password}`).toString("base64"),
      Buffer.from(`${user}:${password}`).toString("base64url"),
    ];
    const hits = (v: unknown) => {
      const text = inspect(v, { depth: 12, showHidden: true });
      return [...canaryHits(v), ...forms.filter((f) => text.includes(f))];
    };
    const produced = channelMessages();
    const lines: string[] = [];
    const log = (line: string) => void lines.push(line);
    const logger = { debug: log, info: log, warn: log, error: log };
    const s = await upgradeServer(() => undefined);
    // 1: refused credentials (407), retried once as shouldReconnect says.
    const refusing = await proxyChain({ user, password: "other" });
    const c1 = conn({
      proxy: `http://${encoded}@127.0.0.1:${refusing.port}`,
      reconnect: { ...fast, maxAttempts: 1, shouldReconnect: () => true },
      logger,
    });
    for (const event of ["error", "close", "reconnecting", "state"] as const)
      c1.on(event, (payload: unknown) => void produced.push(payload));
    produced.push(await failure(c1.dial(s.url)));
    expect(refusing.connects).toHaveLength(2);
    // 2: the same credentials from HTTPS_PROXY for wss:, to a proxy port that refuses TCP.
    const gone = await proxyChain();
    const gonePort = gone.port;
    await gone.close();
    vi.stubEnv("https_proxy", "");
    vi.stubEnv("no_proxy", "");
    vi.stubEnv("NO_PROXY", "");
    vi.stubEnv("HTTPS_PROXY", `http://${encoded}@127.0.0.1:${gonePort}`);
    const c2 = conn({ proxy: "env", reconnect: false, logger });
    for (const event of ["error", "close", "state"] as const)
      c2.on(event, (payload: unknown) => void produced.push(payload));
    produced.push(await failure(c2.dial("wss://127.0.0.1:9/")));
    expect(lines.length).toBeGreaterThan(2);
    expect(produced.length).toBeGreaterThan(5);
    expect(hits(lines)).toEqual([]);
    expect(hits(produced)).toEqual([]);
  });
});
