/**
 * A tunnel's life through an HTTP CONNECT proxy (or an agent's SOCKS5 handshake), on real
 * sockets: close() and reconnect() while CONNECT is unanswered, while the 200 is being read (in
 * the same turn), while TLS or the upgrade waits inside the tunnel, during a Retry-After wait
 * that came through it; a tunnel the proxy resets once open, and a proxy frozen with SIGSTOP
 * under the heartbeat. Each test checks the dial settles once and that nothing outlives close():
 * the proxy's socket and the target's.
 */

import dc from "node:diagnostics_channel";
import type { Socket } from "node:net";
import { SocksProxyAgent } from "socks-proxy-agent";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EvtWebSocketError, ReconnectingInfo } from "../src/index.js";
import { mintSelfSigned, type SelfSigned } from "./helpers/cert.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, fast, onCleanup, server, uncaughtExceptions } from "./helpers/harness.js";
import { handProxy, proxyChain, type Seen, tinyproxy, tunnel } from "./helpers/proxy.js";
import { tcpServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";
import { tlsEchoServer } from "./helpers/tls-server.js";
import { requireTools } from "./helpers/tools.js";
import { upgradeServer } from "./helpers/upgrade-server.js";

let tlsFiles: SelfSigned;
beforeAll(async () => {
  tlsFiles = await mintSelfSigned();
});
afterAll(() => tlsFiles.remove());

/** A TCP listener that accepts and never answers; counts what it accepted and what closed. */
async function silentTarget() {
  const seen: Seen[] = [];
  const { port } = await tcpServer((socket) => {
    const s: Seen = { socket, closed: false };
    seen.push(s);
    socket.on("error", () => {});
    socket.on("close", () => (s.closed = true));
    socket.resume();
  });
  return { port, seen, open: () => seen.filter((s) => !s.closed).length };
}

async function failure(p: Promise<unknown>): Promise<EvtWebSocketError> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: EvtWebSocketError) => e,
  );
}

/** An echo server for `scheme` (wss: with the test certificate), closed after the test. */
async function tlsOrPlain(scheme: "ws" | "wss"): Promise<{ url: string; port: number }> {
  return scheme === "wss" ? tlsEchoServer(tlsFiles) : server();
}

describe("TLS and the handshake inside a tunnel that is open", () => {
  it("wss: a target that never answers TLS: connectTimeoutMs fails the attempt, and the proxy's socket and the target's both close", async () => {
    const target = await silentTarget();
    const proxy = await handProxy(tunnel);
    const c = conn({ proxy: proxy.url, connectTimeoutMs: 300, reconnect: false });
    const error = await failure(c.dial(`wss://127.0.0.1:${target.port}/`));
    expect(error.code).toBe("ERR_CONNECT_TIMEOUT");
    expect(target.seen).toHaveLength(1);
    await until(() => proxy.openClients() === 0 && target.open() === 0, "both sockets closed");
  });

  it.each([
    ["wss", "TLS to the target waits inside the tunnel"],
    ["ws", "the target has not answered the upgrade"],
  ] as const)(
    "%s: close() while %s: dial() rejects ERR_CLOSED once, both sockets close",
    async (scheme, _while) => {
      const target = await silentTarget();
      const proxy = await handProxy(tunnel);
      const c = conn({ proxy: proxy.url, connectTimeoutMs: Infinity });
      const dialed = failure(c.dial(`${scheme}://127.0.0.1:${target.port}/`));
      await until(() => target.seen.length === 1, "the tunnel reached the target");
      await c.close();
      expect((await dialed).code).toBe("ERR_CLOSED");
      await until(() => proxy.openClients() === 0 && target.open() === 0, "both sockets closed");
    },
  );
});

describe("a tunnel the proxy resets once open", () => {
  it.each(["ws", "wss"] as const)(
    "%s: an open tunnel the proxy resets: no uncaught exception, the connection reconnects through the proxy",
    async (scheme) => {
      const uncaught = uncaughtExceptions();
      const s = await tlsOrPlain(scheme);
      const proxy = await handProxy(tunnel);
      const c = conn({
        proxy: proxy.url,
        reconnect: fast,
        ...(scheme === "wss" ? { tls: { ca: tlsFiles.cert } } : {}),
      });
      await c.dial(s.url);
      proxy.clients[0]!.socket.resetAndDestroy();
      await until(() => proxy.connects.length === 2 && c.state === "open", "reconnected");
      expect(uncaught).toEqual([]);
      await c.close();
      await until(() => proxy.openClients() === 0 && proxy.openUpstreams() === 0, "all closed");
    },
  );
});
describe("the lifecycle's interleavings with a tunnel", () => {
  it("reconnect() while CONNECT is unanswered: that tunnel's socket closes, a new CONNECT is made, and dial() resolves once on its open", async () => {
    const s = await server();
    const proxy = await handProxy((n, client, target, open) => {
      client.resume();
      if (n > 0) {
        client.pause();
        tunnel(n, client, target, open);
      }
    });
    const c = conn({ proxy: proxy.url, connectTimeoutMs: Infinity, reconnect: fast });
    let resolved = 0;
    const dialed = c.dial(s.url).then(() => void resolved++);
    await until(() => proxy.connects.length === 1, "the first CONNECT");
    c.reconnect();
    await dialed;
    expect(resolved).toBe(1);
    expect(proxy.connects).toHaveLength(2);
    await until(() => proxy.clients[0]!.closed, "the unanswered tunnel's socket closed");
    expect(s.connections).toBe(1);
    await c.close();
    await until(() => proxy.openClients() === 0 && proxy.openUpstreams() === 0, "all closed");
  });

  it("a headers function that calls close() itself: no CONNECT is made, dial() rejects ERR_CLOSED once", async () => {
    const proxy = await handProxy(tunnel);
    let calls = 0;
    const c = conn({
      proxy: proxy.url,
      headers: async () => {
        calls++;
        await c.close();
        return { Authorization: "Bearer x" };
      },
    });
    const error = await failure(c.dial("ws://127.0.0.1:9/"));
    expect(error.code).toBe("ERR_CLOSED");
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(1);
    expect(proxy.connects).toEqual([]);
    expect(c.state).toBe("closed");
  });

  it("429 with Retry-After: 1 from the target, through the tunnel: serverDelayMs 1000, the next upgrade at least 1 s later (measured on the server)", async () => {
    const s = await upgradeServer((n) =>
      n === 0 ? "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1" : undefined,
    );
    const proxy = await proxyChain();
    const waits: ReconnectingInfo[] = [];
    const c = conn({ proxy: proxy.url, reconnect: fast, onReconnecting: (i) => void waits.push(i) });
    await c.dial(s.url);
    expect(waits).toHaveLength(1);
    expect(waits[0]!.serverDelayMs).toBe(1000);
    expect(s.arrivals[1]!.at - s.arrivals[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(proxy.connects).toHaveLength(2);
  });
});

describe(
  "the heartbeat through a tunnel whose proxy freezes (tinyproxy stopped with SIGSTOP)",
  requireTools("tinyproxy"),
  () => {
    it.each(["ws", "wss"] as const)(
      "%s: the app keeps sending 64 KiB messages in a drained() loop into the frozen tunnel: ERR_PONG_TIMEOUT",
      async (scheme) => {
        const s = await tlsOrPlain(scheme);
        const proxy = await tinyproxy([s.port]);
        // After SIGSTOP and SIGCONT, tinyproxy sometimes ignores the helper's SIGTERM (seen: it
        // kept listening, with no connection left): SIGKILL works on a stopped process too.
        onCleanup(async () => void process.kill(proxy.pid!, "SIGKILL"));
        const errors: EvtWebSocketError[] = [];
        const c = conn<string, Uint8Array>({
          proxy: proxy.url,
          pingIntervalMs: 200,
          pongTimeoutMs: 200,
          reconnect: false,
          ...(scheme === "wss" ? { tls: { ca: tlsFiles.cert } } : {}),
          onError: (e) => void errors.push(e),
        });
        await c.dial(s.url);
        process.kill(proxy.pid!, "SIGSTOP");
        let sent = 0;
        const loop = (async () => {
          while (errors.length === 0 && c.state === "open") {
            c.send(new Uint8Array(64 * 1024));
            sent++;
            await c.drained().catch(() => {});
          }
        })();
        await until(() => errors.length > 0, "the verdict", 30_000);
        await loop;
        expect(errors.map((e) => e.code)).toEqual(["ERR_PONG_TIMEOUT"]);
        expect(sent).toBeGreaterThan(1);
      },
      60_000,
    );
  },
);

describe("close() or reconnect() racing the proxy's 200 (in the same turn as the answer is read)", () => {
  /**
   * The first TCP socket opened in this process from now on (Node's net.client.socket channel):
   * the client's socket to the proxy (the proxy opens its own to the target only once CONNECT
   * came), with a hook on its first `readable`.
   */
  function clientSockets(onReadable: (socket: Socket) => void, after: boolean) {
    const sockets: Socket[] = [];
    const fn = (m: unknown) => {
      const socket = (m as { socket: Socket }).socket;
      sockets.push(socket);
      if (sockets.length > 1) return;
      const hook = () => {
        socket.removeListener("readable", hook);
        onReadable(socket);
      };
      // Before openTunnel's own listener (it is added right after net.connect returns), or after it.
      if (after) process.nextTick(() => socket.on("readable", hook));
      else socket.on("readable", hook);
    };
    dc.subscribe("net.client.socket", fn);
    onCleanup(async () => void dc.unsubscribe("net.client.socket", fn));
    return sockets;
  }

  it.each([
    ["ws", false],
    ["ws", true],
    ["wss", false],
    ["wss", true],
  ] as const)(
    "%s, close() before (false) or after (true) the tunnel is handed over (%s): dial() rejects ERR_CLOSED once, every socket closed on both ends",
    async (scheme, after) => {
      const uncaught = uncaughtExceptions();
      const target = await silentTarget();
      const proxy = await handProxy(tunnel);
      const c = conn({ proxy: proxy.url, connectTimeoutMs: Infinity });
      let closing: Promise<void> | undefined;
      let tunnelListening: number | undefined;
      const sockets = clientSockets((socket) => {
        // openTunnel's own listener: still there before the hand-over, gone after it.
        tunnelListening = socket.listenerCount("readable");
        closing ??= c.close();
      }, after);
      let settled = 0;
      const dialed = failure(c.dial(`${scheme}://127.0.0.1:${target.port}/`).finally(() => void settled++));
      const error = await dialed;
      await closing;
      expect(error.code).toBe("ERR_CLOSED");
      expect(tunnelListening).toBe(after ? 0 : 1);
      expect(settled).toBe(1);
      await until(
        () => sockets[0]!.destroyed && proxy.openClients() === 0 && target.open() === 0,
        "every socket closed on both ends",
      );
      await new Promise((r) => setTimeout(r, 50));
      expect(uncaught).toEqual([]);
      expect(target.seen.length).toBeLessThanOrEqual(1);
    },
  );

  it.each([
    ["ws", false],
    ["ws", true],
    ["wss", false],
    ["wss", true],
  ] as const)(
    "%s, reconnect() before (false) or after (true) the tunnel is handed over (%s): the first tunnel closed on both ends, a second CONNECT, dial() resolves once",
    async (scheme, after) => {
      const uncaught = uncaughtExceptions();
      const s = await tlsOrPlain(scheme);
      const proxy = await handProxy(tunnel);
      const c = conn({
        proxy: proxy.url,
        connectTimeoutMs: Infinity,
        reconnect: fast,
        ...(scheme === "wss" ? { tls: { ca: tlsFiles.cert } } : {}),
      });
      let tunnelListening: number | undefined;
      const sockets = clientSockets((socket) => {
        tunnelListening = socket.listenerCount("readable");
        c.reconnect();
      }, after);
      let resolved = 0;
      await c.dial(s.url).then(() => void resolved++);
      expect(tunnelListening).toBe(after ? 0 : 1);
      expect(resolved).toBe(1);
      expect(proxy.connects).toHaveLength(2);
      await until(
        () => sockets[0]!.destroyed && proxy.clients[0]!.closed && proxy.upstreams[0]!.closed,
        "the first tunnel closed on both ends",
      );
      expect(uncaught).toEqual([]);
      await c.close();
      await until(() => proxy.openClients() === 0 && proxy.openUpstreams() === 0, "all closed after close()");
    },
  );
});

describe("close() while an agent's own proxy handshake is under way", () => {
  it("the attempt ends at once; the agent's socket is the agent's until it hands it over, and is closed then", async () => {
    // A SOCKS5 server by hand that answers the greeting and holds its answer to CONNECT.
    let release: (() => void) | undefined;
    const seen: Seen[] = [];
    const { port } = await tcpServer((socket) => {
      const s: Seen = { socket, closed: false };
      seen.push(s);
      socket.on("error", () => {});
      socket.on("close", () => (s.closed = true));
      let step = 0;
      socket.on("data", (chunk: Buffer) => {
        if (step++ === 0)
          socket.write(Buffer.from([5, 0])); // no authentication
        else release = () => void socket.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, chunk[8]!, chunk[9]!]));
      });
    });
    const c = conn({ agent: new SocksProxyAgent(`socks5://127.0.0.1:${port}`), connectTimeoutMs: Infinity });
    const dialed = failure(c.dial("ws://127.0.0.1:9/"));
    await until(() => release !== undefined, "the agent's CONNECT request arrived");
    await c.close();
    expect((await dialed).code).toBe("ERR_CLOSED");
    expect(seen[0]!.closed, "not ours to close yet: the agent holds it").toBe(false);
    release!();
    await until(() => seen[0]!.closed, "the socket handed over after close() is closed");
  });
});

describe("calls during a Retry-After wait that came through a tunnel (injected clock)", () => {
  it("dial() while CONNECT is pending throws ERR_ALREADY_DIALED and changes nothing; close() during the server's wait ends it with no timer left and no further CONNECT", async () => {
    const s = await upgradeServer(() => "HTTP/1.1 503 Busy\r\nRetry-After: 30");
    const proxy = await handProxy((n, client, target, open) => {
      // The first CONNECT is answered only once the test has tried a second dial().
      if (n === 0) held = () => tunnel(n, client, target, open);
      else tunnel(n, client, target, open);
    });
    let held: (() => void) | undefined;
    const clock = new FakeClock();
    const waits: ReconnectingInfo[] = [];
    const c = conn({ proxy: proxy.url, clock, reconnect: fast, onReconnecting: (i) => void waits.push(i) });
    let settled = 0;
    const dialed = failure(c.dial(s.url).finally(() => void settled++));
    await until(() => held !== undefined, "the first CONNECT");
    await expect(c.dial(s.url)).rejects.toMatchObject({ code: "ERR_ALREADY_DIALED" });
    held!();
    await until(() => waits.length === 1, "the server's wait announced");
    expect(waits[0]).toMatchObject({ serverDelayMs: 30_000 });
    expect(proxy.connects).toHaveLength(1);
    expect(clock.pending).toBe(1); // the wait
    await c.close();
    expect((await dialed).code).toBe("ERR_CLOSED");
    expect(settled).toBe(1);
    expect(clock.pending).toBe(0);
    clock.advance(60_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(proxy.connects).toHaveLength(1);
    await until(() => proxy.openClients() === 0 && proxy.openUpstreams() === 0, "the tunnel closed");
  });
});
