/**
 * Connections through real proxies: proxy-chain (in process, with authentication) and Debian's
 * tinyproxy over HTTP CONNECT for ws: and wss:, a SOCKS5 server through the `agent` option, and
 * the failures a proxy adds (407, 403, a refused or silent proxy, a restart mid-connection).
 * Also interim 1xx answers to CONNECT (split or oversized), and that only a proxy's 401 stops the retries.
 * And no proxy by default, a silent proxy retried as a silent server is, tinyproxy's 500 retried,
 * and proxy: "env" picking the variable for each scheme on real sockets.
 */

import * as http from "node:http";
import * as https from "node:https";
import {
  type AddressInfo,
  createServer as createTcpServer,
  Socket as NetSocket,
  type Socket,
} from "node:net";
import { checkServerIdentity as checkIdentity, type PeerCertificate } from "node:tls";
import { SocksProxyAgent } from "socks-proxy-agent";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  Conn,
  type ConnOptions,
  type EvtWebSocketError,
  type ReconnectingInfo,
  State,
} from "../src/index.js";
import { createTestServer } from "../src/testing/index.js";
import { wsTransport } from "../src/transport/ws.js";
import { mintSelfSigned, type SelfSigned } from "./helpers/cert.js";
import { conn, fast, onCleanup, server, sleep, uncaughtExceptions } from "./helpers/harness.js";
import { type Behaviour, handProxy, proxyChain, socks5, tinyproxy, tunnel } from "./helpers/proxy.js";
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

/** A wss: echo server with the test certificate (SAN 127.0.0.1), closed after the test. */
const tlsServer = () => tlsEchoServer(tlsFiles);

const withCreds = (url: string, user: string, password: string) => {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.href;
};

/**
 * A "proxy" that accepts TCP connections and never answers (it reads, so the client's FIN is
 * seen): its sockets, how many of them closed, and its URL. Closed after the test.
 */
async function silentProxy(): Promise<{ url: string; sockets: Socket[]; closed(): number }> {
  let closed = 0;
  const { port, sockets } = await tcpServer((sock) => {
    sock.on("close", () => closed++);
    sock.resume();
  });
  return { url: `http://127.0.0.1:${port}`, sockets, closed: () => closed };
}

async function failure(p: Promise<unknown>): Promise<EvtWebSocketError> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: EvtWebSocketError) => e,
  );
}

/**
 * Dials `url` (an echo server) with `route` (the proxy, agent or TLS options) and checks that
 * requests, protocol pings and a burst of messages in one tick all work; returns the connection.
 */
async function exercise(url: string, route: ConnOptions<string, string>): Promise<Conn<string, string>> {
  const received: string[] = [];
  const c = conn({
    ...route,
    pingIntervalMs: 30,
    pongTimeoutMs: 5000,
    matchMsg: (req, resp) => req === resp,
    onMessage: (m) => void received.push(m),
  });
  await c.dial(url);
  expect(await c.request("hello", { timeoutMs: 10_000 })).toBe("hello");
  const pongs: number[] = [];
  c.on("pong", ({ rttMs }) => void pongs.push(rttMs));
  await until(() => pongs.length >= 2, "two protocol pongs through the tunnel");
  // 500 sends in one tick: corked, batched and flushed every 64 frames, through the tunnel.
  const burst = Array.from({ length: 500 }, (_, i) => `m${i}`);
  for (const m of burst) c.send(m);
  await until(() => burst.every((m) => received.includes(m)), "the whole burst echoed back");
  expect(received.filter((m) => m.startsWith("m"))).toEqual(burst);
  return c;
}

describe("proxy-chain (HTTP CONNECT with authentication)", () => {
  it("ws: through the proxy with credentials: requests, pings and a 500-message burst arrive in order", async () => {
    const s = await server();
    const proxy = await proxyChain({ user: "alice", password: "s3cret" });
    const c = await exercise(s.url, { proxy: withCreds(proxy.url, "alice", "s3cret") });
    expect(proxy.connects).toEqual([`127.0.0.1:${s.port}`]);
    expect(s.connections).toBe(1);
    expect(s.received.filter((m) => m.startsWith("m"))).toHaveLength(500);
    // close() leaves nothing behind: the tunnel's socket is gone on the proxy's side too.
    await c.close();
    await until(() => proxy.openConnections!() === 0, "the proxy holds no connection after close()");
  });

  it("write coalescing through the tunnel: 200 small messages sent in one tick leave in 4 writes to the proxy, in order", async () => {
    const s = await server({ onMessage: () => {} });
    const proxy = await proxyChain();
    const c = conn({ proxy: proxy.url });
    await c.dial(s.url);
    // Counts the writes that reach the client's socket to the proxy (they still run).
    type Proto = { _write: (...a: unknown[]) => unknown; _writev: (...a: unknown[]) => unknown };
    const proto = NetSocket.prototype as unknown as Proto;
    const original = { _write: proto._write, _writev: proto._writev };
    let writes = 0;
    for (const name of ["_write", "_writev"] as const) {
      proto[name] = function (this: Socket, ...args: unknown[]) {
        if (this.remotePort === proxy.port) writes++;
        return original[name].apply(this, args);
      };
    }
    onCleanup(async () => Object.assign(proto, original));
    for (let i = 0; i < 200; i++) c.send(`m${i}`);
    await until(() => s.received.length === 200, "200 messages through the proxy");
    expect(writes).toBe(4);
    expect(s.received).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
  });

  it("wss: TLS runs to the server inside the tunnel, verified against the server's name (not the proxy's)", async () => {
    const s = await tlsServer();
    const proxy = await proxyChain();
    // The proxy is named "localhost": a certificate check against the proxy's name would fail
    // (the certificate is for 127.0.0.1 only), so success means TLS is end to end with the target.
    await exercise(s.url, { proxy: `http://localhost:${proxy.port}`, tls: { ca: tlsFiles.cert } });
    expect(proxy.connects).toEqual([`127.0.0.1:${s.port}`]);
    expect(s.connections()).toBe(1);
  });

  it("wss: a certificate that fails verification through the tunnel is not retried", async () => {
    const s = await tlsServer();
    const proxy = await proxyChain();
    const c = conn({ proxy: proxy.url, reconnect: fast });
    const error = await failure(c.dial(s.url));
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect((error.cause as { code?: string }).code).toBe("DEPTH_ZERO_SELF_SIGNED_CERT");
    expect(proxy.connects).toHaveLength(1);
  });

  it("wss: a TLS option Node refuses (a key that is not PEM) fails the attempt through the tunnel as it does direct, with no uncaught exception", async () => {
    const uncaught = uncaughtExceptions();
    const s = await tlsServer();
    const proxy = await proxyChain();
    const tls = { ca: tlsFiles.cert, cert: tlsFiles.cert, key: "not a PEM key" };
    const direct = await failure(conn({ tls, reconnect: false }).dial(s.url));
    const tunnelled = await failure(conn({ proxy: proxy.url, tls, reconnect: false }).dial(s.url));
    expect(direct.code).toBe("ERR_DIAL_FAILED");
    expect(tunnelled.code).toBe("ERR_DIAL_FAILED");
    expect(tunnelled.message).toBe(direct.message);
    expect(uncaught).toEqual([]);
    expect(s.connections()).toBe(0);
  });

  it("407 without credentials: ERR_DIAL_FAILED with details.proxyStatus, not retried", async () => {
    const s = await server();
    const proxy = await proxyChain({ user: "alice", password: "s3cret" });
    const reconnecting: number[] = [];
    const c = conn({
      proxy: proxy.url,
      reconnect: fast,
      onReconnecting: (i) => void reconnecting.push(i.attempt),
    });
    const error = await failure(c.dial(s.url));
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect(error.details).toEqual({ proxyStatus: 407 });
    expect(error.message).toContain("proxy");
    expect(error.message).toContain("407");
    expect(c.state).toBe(State.CLOSED);
    expect(reconnecting).toEqual([]);
    expect(proxy.connects).toHaveLength(1);
    expect(s.connections).toBe(0);
  });

  it("407 with wrong credentials is retried when shouldReconnect says so (and it sees proxyStatus)", async () => {
    const s = await server();
    const proxy = await proxyChain({ user: "alice", password: "s3cret" });
    const seen: Array<number | undefined> = [];
    const c = conn({
      proxy: withCreds(proxy.url, "alice", "wrong"),
      reconnect: {
        ...fast,
        maxAttempts: 2,
        shouldReconnect: (info) => {
          seen.push(info.proxyStatus);
          return true;
        },
      },
    });
    const error = await failure(c.dial(s.url));
    expect(error.code).toBe("ERR_RECONNECT_EXHAUSTED");
    expect((error.cause as EvtWebSocketError).details.proxyStatus).toBe(407);
    expect(seen).toEqual([407, 407, 407]);
    expect(proxy.connects).toHaveLength(3);
  });

  it("401 from a proxy (tinyproxy's answer to wrong credentials) is treated as 407: not retried", async () => {
    const s = await server();
    const proxy = await handProxy((_n, client) => {
      client.end(
        'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="p"\r\nContent-Length: 0\r\n\r\n',
      );
    });
    const reconnecting: number[] = [];
    const c = conn({
      proxy: withCreds(proxy.url, "alice", "wrong"),
      reconnect: fast,
      onReconnecting: (i) => void reconnecting.push(i.attempt),
    });
    const error = await failure(c.dial(s.url));
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect(error.details).toEqual({ proxyStatus: 401 });
    expect(c.state).toBe(State.CLOSED);
    expect(reconnecting).toEqual([]);
    expect(proxy.connects).toHaveLength(1);
  });

  it("403: ERR_DIAL_FAILED with details.proxyStatus 403, retried under the normal rules", async () => {
    const s = await server();
    const proxy = await proxyChain({ forbid: true });
    const c = conn({ proxy: proxy.url, reconnect: { ...fast, maxAttempts: 2 } });
    const errors: EvtWebSocketError[] = [];
    c.on("reconnecting", (i) => void (i.error && errors.push(i.error)));
    const error = await failure(c.dial(s.url));
    expect(error.code).toBe("ERR_RECONNECT_EXHAUSTED");
    expect((error.cause as EvtWebSocketError).details).toEqual({ proxyStatus: 403 });
    expect(errors.map((e) => e.details.proxyStatus)).toEqual([403, 403]);
    expect(proxy.connects).toHaveLength(3);
    expect(s.connections).toBe(0);
  });

  it("a proxy answering 502 (it could not reach the server): proxyStatus 502, retried under the normal rules", async () => {
    let asked = 0;
    const { port } = await tcpServer((sock) => {
      asked++;
      sock.once("data", () => sock.end("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"));
    });
    const c = conn({
      proxy: `http://127.0.0.1:${port}`,
      reconnect: { ...fast, maxAttempts: 1 },
    });
    const error = await failure(c.dial("ws://127.0.0.1:9"));
    expect(error.code).toBe("ERR_RECONNECT_EXHAUSTED");
    expect((error.cause as EvtWebSocketError).details).toEqual({ proxyStatus: 502 });
    expect(asked).toBe(2);
  });

  it("a refused proxy port is a failed attempt under the normal retry rules", async () => {
    const s = await server();
    const reconnecting: number[] = [];
    const c = conn({
      proxy: `http://127.0.0.1:${await freePort()}`,
      reconnect: { ...fast, maxAttempts: 2 },
      onReconnecting: (i) => void reconnecting.push(i.attempt),
    });
    const error = await failure(c.dial(s.url));
    expect(error.code).toBe("ERR_RECONNECT_EXHAUSTED");
    const cause = error.cause as EvtWebSocketError;
    expect(cause.code).toBe("ERR_DIAL_FAILED");
    expect(cause.message).toContain("proxy");
    expect(cause.details).toEqual({});
    expect(reconnecting).toEqual([1, 2]);
    expect(s.connections).toBe(0);
  });

  it("a proxy whose answer to CONNECT ends its lines with a bare LF (as curl accepts): the tunnel opens", async () => {
    const s = await server();
    const sockets: Socket[] = [];
    const lf = createTcpServer((sock) => {
      sockets.push(sock);
      sock.once("data", (head) => {
        const [host, port] = /^CONNECT (\S+):(\d+) /.exec(head.toString("latin1"))!.slice(1);
        const upstream = new NetSocket();
        sockets.push(upstream);
        upstream.connect(Number(port), host!, () => {
          sock.write("HTTP/1.0 200 Connection established\nProxy-Agent: lf\n\n");
          sock.pipe(upstream).pipe(sock);
        });
      });
    });
    await new Promise<void>((r) => lf.listen(0, "127.0.0.1", r));
    onCleanup(async () => {
      for (const sock of sockets) sock.destroy();
      await new Promise((r) => lf.close(r));
    });
    const c = conn({
      proxy: `http://127.0.0.1:${(lf.address() as AddressInfo).port}`,
      reconnect: false,
      matchMsg: (req, resp) => req === resp,
    });
    await c.dial(s.url);
    expect(await c.request("through", { timeoutMs: 10_000 })).toBe("through");
  });

  it("a proxy that never answers CONNECT: connectTimeoutMs covers it, and the proxy's socket is closed", async () => {
    const silent = await silentProxy();
    const c = conn({
      proxy: silent.url,
      connectTimeoutMs: 200,
      reconnect: false,
    });
    const error = await failure(c.dial("ws://127.0.0.1:9"));
    expect(error.code).toBe("ERR_CONNECT_TIMEOUT");
    await until(
      () => silent.sockets.length === 1 && silent.closed() === 1,
      "the proxy's socket closed by the client",
    );
  });

  it("close() while the proxy has not answered CONNECT: dial() rejects ERR_CLOSED and the proxy's socket is closed", async () => {
    const silent = await silentProxy();
    const c = conn({
      proxy: silent.url,
      connectTimeoutMs: Infinity,
    });
    const dialed = failure(c.dial("ws://127.0.0.1:9"));
    await until(() => silent.sockets.length === 1, "the proxy accepted the tunnel's TCP connection");
    await c.close();
    expect((await dialed).code).toBe("ERR_CLOSED");
    await until(() => silent.closed() === 1, "the proxy's socket closed by the client");
  });

  it("the ws transport's close() during CONNECT ends the socket (one onClose) and closes the proxy's socket", async () => {
    const silent = await silentProxy();
    const ends: unknown[] = [];
    const noop = () => {};
    const transport = wsTransport.open(
      "ws://127.0.0.1:9",
      {
        protocols: [],
        headers: undefined,
        tls: undefined,
        maxMessageBytes: 1024,
        proxy: silent.url,
      },
      {
        onOpen: noop,
        onMessage: noop,
        onPong: noop,
        onPing: noop,
        onClosing: noop,
        onClose: (i) => ends.push(i),
      },
    );
    await until(() => silent.sockets.length === 1, "the proxy accepted the tunnel's TCP connection");
    transport.close(1000, "");
    await until(
      () => ends.length === 1 && silent.closed() === 1,
      "the socket ended and the proxy's socket closed",
    );
    expect(ends).toHaveLength(1);
  });

  it("NO_PROXY sends the connection direct: the proxy sees nothing", async () => {
    const s = await server();
    const proxy = await proxyChain();
    vi.stubEnv("HTTP_PROXY", proxy.url);
    vi.stubEnv("http_proxy", "");
    vi.stubEnv("NO_PROXY", "example.test, 127.0.0.1");
    vi.stubEnv("no_proxy", "");
    const c = conn({ proxy: "env" });
    await c.dial(s.url);
    expect(s.connections).toBe(1);
    expect(proxy.connects).toEqual([]);
  });

  it('proxy: "env" reads the environment on each attempt', async () => {
    const s = await server();
    const first = await proxyChain();
    const second = await proxyChain();
    vi.stubEnv("http_proxy", "");
    vi.stubEnv("no_proxy", "");
    vi.stubEnv("NO_PROXY", "");
    vi.stubEnv("HTTP_PROXY", first.url);
    const c = conn({ proxy: "env", reconnect: fast });
    await c.dial(s.url);
    expect(first.connects).toHaveLength(1);
    vi.stubEnv("HTTP_PROXY", second.url);
    s.dropAll();
    await until(() => s.connections === 2 && c.state === State.OPEN, "reconnected");
    expect(first.connects).toHaveLength(1);
    expect(second.connects).toEqual([`127.0.0.1:${s.port}`]);
  });

  it("the proxy restarted mid-connection: the connection reconnects through the new proxy", async () => {
    const s = await server();
    const old = await proxyChain();
    const c = conn({ proxy: old.url, reconnect: fast, matchMsg: (req, resp) => req === resp });
    await c.dial(s.url);
    await old.close();
    await until(() => c.state !== State.OPEN, "the connection noticed the proxy went away");
    const fresh = await proxyChain({}, old.port);
    await until(() => c.state === State.OPEN, "reconnected through the new proxy", 20_000);
    expect(await c.request("after", { timeoutMs: 10_000 })).toBe("after");
    expect(fresh.connects.length).toBeGreaterThanOrEqual(1);
    expect(s.connections).toBe(2);
  });
});

describe("reconnect after 401 (1413884): only a proxy's 401 stops the retries", () => {
  const proxy401 = () =>
    handProxy((_n, client) => {
      client.end(
        'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="p"\r\nContent-Length: 0\r\n\r\n',
      );
    });

  it("a target server's 401 behind a working proxy is retried as before (details.status, no proxyStatus)", async () => {
    let calls = 0;
    const s = await createTestServer({ authorize: () => ++calls > 2 || 401 });
    onCleanup(() => s.close());
    const proxy = await handProxy(tunnel);
    const reconnecting: number[] = [];
    const c = conn({
      proxy: proxy.url,
      reconnect: fast,
      onReconnecting: (i) => void reconnecting.push(i.attempt),
    });
    await c.dial(s.url);
    expect(reconnecting).toEqual([1, 2]);
    expect(proxy.connects).toHaveLength(3);
    expect(s.connections).toBe(1);
  });

  it("a target server's 401 on a direct handshake is retried as before", async () => {
    let calls = 0;
    const s = await createTestServer({ authorize: () => ++calls > 1 || 401 });
    onCleanup(() => s.close());
    const c = conn({ reconnect: fast });
    await c.dial(s.url);
    expect(s.handshakes).toHaveLength(2);
  });

  it("a proxy's 401 is retried when shouldReconnect says true (and only then)", async () => {
    const s = await server();
    const proxy = await proxy401();
    const seen: (number | undefined)[] = [];
    const c = conn({
      proxy: proxy.url,
      reconnect: {
        ...fast,
        maxAttempts: 2,
        shouldReconnect: (i) => {
          seen.push(i.proxyStatus);
          return true;
        },
      },
    });
    const error = (await c.dial(s.url).catch((e: unknown) => e)) as EvtWebSocketError;
    expect(error.code).toBe("ERR_RECONNECT_EXHAUSTED");
    expect(seen).toEqual([401, 401, 401]);
    expect(proxy.connects).toHaveLength(3);
  });
});

describe("the agent option", () => {
  it("SOCKS5 through socks-proxy-agent: the SOCKS server carries the connection", async () => {
    const s = await server();
    const socks = await socks5();
    await exercise(s.url, { agent: new SocksProxyAgent(socks.url) });
    expect(socks.connects).toEqual([`127.0.0.1:${s.port}`]);
    expect(s.connections).toBe(1);
  });

  it("an agent wins over proxy", async () => {
    const s = await server();
    const socks = await socks5();
    const proxy = await proxyChain();
    const c = conn({ agent: new SocksProxyAgent(socks.url), proxy: proxy.url });
    await c.dial(s.url);
    expect(socks.connects).toHaveLength(1);
    expect(proxy.connects).toEqual([]);
  });
});

describe("an agent for the other scheme (Node refuses it on every attempt)", () => {
  it.each([
    ["an http.Agent", "wss:"],
    ["an https.Agent", "ws:"],
  ] as const)(
    "%s for a %s URL: dial() rejects ERR_INVALID_OPTION naming agent at once, no retry, no socket",
    async (kind, scheme) => {
      const s = scheme === "wss:" ? await tlsServer() : await server();
      const agent = kind === "an http.Agent" ? new http.Agent() : new https.Agent();
      const errors: EvtWebSocketError[] = [];
      const reconnecting: unknown[] = [];
      // Retries on and fast: before the fix, every attempt failed and was retried for ever.
      const c = conn({
        agent,
        tls: { ca: tlsFiles.cert },
        reconnect: fast,
        onError: (e) => void errors.push(e),
        onReconnecting: (i) => void reconnecting.push(i),
      });
      const error = await failure(c.dial(s.url));
      expect(error.code).toBe("ERR_INVALID_OPTION");
      expect(error.message).toContain("option agent");
      expect(error.message).toContain(scheme);
      expect((error.cause as NodeJS.ErrnoException).code).toBe("ERR_INVALID_PROTOCOL");
      expect(c.state).toBe(State.CLOSED);
      expect(reconnecting).toEqual([]);
      expect(errors, "dial()'s rejection is the report, as for an invalid URL").toEqual([]);
      const connections = typeof s.connections === "function" ? s.connections() : s.connections;
      expect(connections).toBe(0);
    },
  );

  it("a URL function that turns to wss: on a reconnect with an http.Agent: onError told once with ERR_INVALID_OPTION, no further attempt", async () => {
    const s = await server();
    const secure = await tlsServer();
    const urls: string[] = [];
    const errors: EvtWebSocketError[] = [];
    const reconnecting: unknown[] = [];
    const c = conn({
      agent: new http.Agent(),
      reconnect: fast,
      onError: (e) => void errors.push(e),
      onReconnecting: (i) => void reconnecting.push(i),
    });
    await c.dial(({ attempt }) => {
      const url = attempt === 0 ? s.url : secure.url;
      urls.push(url);
      return url;
    });
    s.dropAll(1012);
    await until(() => c.state === State.CLOSED, "the connection ends for good");
    expect(urls).toEqual([s.url, secure.url]);
    expect(reconnecting).toHaveLength(1); // the drop's retry; the wrong agent's failure is not retried
    expect(errors.map((e) => e.code)).toEqual(["ERR_INVALID_OPTION"]);
    expect(errors[0]!.message).toContain("option agent");
    expect(secure.connections()).toBe(0);
  });

  it("agents that take both schemes keep working: socks-proxy-agent (agent-base) for ws: and wss:", async () => {
    const s = await server();
    const secure = await tlsServer();
    const socks = await socks5();
    const agent = new SocksProxyAgent(socks.url);
    await exercise(s.url, { agent });
    // socks-proxy-agent leaves out the host when it starts TLS to an IP address, so Node checks
    // the name "localhost": checked against the address dialled instead (still verified).
    const checkServerIdentity = (_host: string, cert: PeerCertificate) => checkIdentity("127.0.0.1", cert);
    await exercise(secure.url, { agent, tls: { ca: tlsFiles.cert, checkServerIdentity } as never });
    expect(socks.connects).toEqual([`127.0.0.1:${s.port}`, `127.0.0.1:${secure.port}`]);
    expect(secure.connections()).toBe(1);
  });
});

describe("where proxy and agent cannot work", () => {
  it.each(["proxy", "agent"] as const)(
    "%s with a WHATWG WebSocket transport: ERR_INVALID_OPTION at dial()",
    async (name) => {
      const { WebSocket } = await import("ws");
      const options = name === "proxy" ? { proxy: "http://127.0.0.1:1" } : { agent: {} };
      const c = new Conn({ WebSocket: WebSocket as never, ...options });
      const error = await failure(c.dial("ws://127.0.0.1:1"));
      expect(error.code).toBe("ERR_INVALID_OPTION");
      expect(error.message).toContain(`option ${name}`);
    },
  );

  it.each([["https://p:1"], ["socks5://p:1"], [42], ["not a url"], [""]])(
    "proxy %j is refused at dial() with ERR_INVALID_OPTION, before any attempt",
    async (value) => {
      const reconnecting: unknown[] = [];
      const c = conn({ proxy: value as string, onReconnecting: (i) => void reconnecting.push(i) });
      const error = await failure(c.dial("ws://127.0.0.1:9"));
      expect(error.code).toBe("ERR_INVALID_OPTION");
      expect(error.message).toContain("option proxy");
      expect(reconnecting).toEqual([]);
    },
  );

  it("an agent that is not an object is refused at dial()", async () => {
    const c = conn({ agent: "socks5://x" as never });
    const error = await failure(c.dial("ws://127.0.0.1:9"));
    expect(error.code).toBe("ERR_INVALID_OPTION");
    expect(error.message).toContain("option agent");
  });

  it.each([
    ["an object without addRequest", {}],
    ["a plain object with a protocol", { protocol: "http:" }],
  ])(
    "%s as agent is refused at dial(), before any attempt (Node would refuse it on every one)",
    async (_, agent) => {
      const s = await server();
      const reconnecting: unknown[] = [];
      const c = conn({
        agent: agent as never,
        reconnect: fast,
        onReconnecting: (i) => void reconnecting.push(i),
      });
      const error = await failure(c.dial(s.url));
      expect(error.code).toBe("ERR_INVALID_OPTION");
      expect(error.message).toContain("option agent");
      expect(reconnecting).toEqual([]);
      expect(s.connections).toBe(0);
    },
  );

  it("a bad proxy in the environment fails the attempt (ERR_DIAL_FAILED naming the variable, not its value)", async () => {
    vi.stubEnv("http_proxy", "");
    vi.stubEnv("HTTP_PROXY", "socks5://user:pw@127.0.0.1:1");
    const c = conn({ proxy: "env", reconnect: false });
    const error = await failure(c.dial("ws://127.0.0.1:9"));
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect(error.message).toContain("HTTP_PROXY");
    expect(error.message).not.toContain("pw");
  });
});

describe("tinyproxy (Debian), an independent CONNECT proxy", requireTools("tinyproxy"), () => {
  it("ws: through tinyproxy", async () => {
    const s = await server();
    const proxy = await tinyproxy([s.port]);
    await exercise(s.url, { proxy: proxy.url });
    await until(() => proxy.connects.length > 0, "tinyproxy logged the CONNECT");
    expect(proxy.connects).toEqual([`127.0.0.1:${s.port}`]);
    expect(s.connections).toBe(1);
  });

  it("wss: through tinyproxy, certificate verified end to end", async () => {
    const s = await tlsServer();
    const proxy = await tinyproxy([s.port]);
    const c = conn({ proxy: proxy.url, tls: { ca: tlsFiles.cert }, matchMsg: (req, resp) => req === resp });
    await c.dial(s.url);
    expect(await c.request("over tls", { timeoutMs: 10_000 })).toBe("over tls");
    await until(() => proxy.connects.length > 0, "tinyproxy logged the CONNECT");
    expect(proxy.connects).toEqual([`127.0.0.1:${s.port}`]);
    expect(s.connections()).toBe(1);
  });

  it("wrong credentials: tinyproxy answers 401, which fails the dial once, not retried", async () => {
    const s = await server();
    const proxy = await tinyproxy([s.port], { user: "alice", password: "s3cret" });
    const reconnecting: number[] = [];
    const c = conn({
      proxy: withCreds(proxy.url, "alice", "wrong"),
      reconnect: fast,
      onReconnecting: (i) => void reconnecting.push(i.attempt),
    });
    const error = await failure(c.dial(s.url));
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect(error.details.proxyStatus).toBe(401);
    expect(reconnecting).toEqual([]);
    expect(s.connections).toBe(0);
  });

  it("a port tinyproxy does not allow: its 403 fails the attempt with proxyStatus 403", async () => {
    const s = await server();
    const proxy = await tinyproxy([1]);
    const c = conn({ proxy: proxy.url, reconnect: false });
    const error = await failure(c.dial(s.url));
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect(error.details.proxyStatus).toBe(403);
    expect(s.connections).toBe(0);
  });
});

/** The normal tunnel, its answer written in `parts`, each in its own TCP write some ms apart. */
const slowTunnel =
  (...parts: string[]): Behaviour =>
  (_n, client, _target, open) => {
    const up = open();
    up.once("connect", async () => {
      for (const part of parts) {
        client.write(part);
        await sleep(15);
      }
      client.pipe(up);
      up.pipe(client);
      client.resume();
    });
    up.on("close", () => client.destroy());
    client.on("close", () => up.destroy());
  };

describe("interim answers to CONNECT", () => {
  it("a 103 with headers split across packets mid-line, then 'HTTP/1.1 200' with bare LFs and no reason: the tunnel opens", async () => {
    const s = await server();
    const proxy = await handProxy(
      slowTunnel("HTTP/1.1 10", "3 Early Hints\r\nLink: </a>\r\n", "\r", "\nHTTP/1.1 200\n", "\n"),
    );
    const c = conn({ proxy: proxy.url, reconnect: false, matchMsg: (a, b) => a === b });
    await c.dial(s.url);
    expect(await c.request("through", { timeoutMs: 5000 })).toBe("through");
    await c.close();
  });

  it("interim answers of 20 KiB in all, in separate packets: oversized (16 KiB counts across them)", async () => {
    const s = await server();
    const one = `HTTP/1.1 102 Processing\r\nX-Pad: ${"p".repeat(1000)}\r\n\r\n`;
    const proxy = await handProxy(slowTunnel(...Array.from({ length: 20 }, () => one)));
    const c = conn({ proxy: proxy.url, reconnect: false });
    const error = await failure(c.dial(s.url));
    expect(error.message + String((error.cause as Error | undefined)?.message)).toContain("oversized");
  });
});

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

describe('proxy: "env" on real sockets, read on each attempt', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("ws: takes http_proxy over HTTP_PROXY, wss: takes HTTPS_PROXY and neither http one; NO_PROXY set between attempts sends the next one direct", async () => {
    const plain = await server();
    const secure = await tlsEchoServer(tlsFiles);
    const lower = await handProxy(tunnel);
    const upper = await handProxy(tunnel);
    const https = await handProxy(tunnel);
    vi.stubEnv("http_proxy", lower.url);
    vi.stubEnv("HTTP_PROXY", upper.url);
    vi.stubEnv("https_proxy", "");
    vi.stubEnv("HTTPS_PROXY", https.url);
    vi.stubEnv("no_proxy", "");
    vi.stubEnv("NO_PROXY", "");
    const c = conn({ proxy: "env", reconnect: fast });
    await c.dial(plain.url);
    const s = conn({ proxy: "env", tls: { ca: tlsFiles.cert }, reconnect: fast });
    await s.dial(secure.url);
    expect(lower.connects).toEqual([`127.0.0.1:${plain.port}`]);
    expect(upper.connects).toEqual([]);
    expect(https.connects).toEqual([`127.0.0.1:${secure.port}`]);
    // The next attempt of each reads the environment again.
    vi.stubEnv("NO_PROXY", "example.test, 127.0.0.0/8");
    const reopened = new Promise((resolve) => c.on("connected", resolve));
    plain.dropAll();
    await reopened;
    expect(plain.connections).toBe(2);
    expect(lower.connects).toHaveLength(1);
    await until(() => lower.openClients() === 0, "the old tunnel's socket closed");
  });
});
