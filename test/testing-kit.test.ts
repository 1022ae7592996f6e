import { describe, expect, it } from "vitest";
import { type Conn, type EvtWebSocketError, type ReconnectingInfo, State } from "../src/index.js";
import { createFaultProxy, createTestServer } from "../src/testing/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, fast, onCleanup } from "./helpers/harness.js";
import { until } from "./helpers/server.js";

async function kitServer(options?: Parameters<typeof createTestServer>[0]) {
  const server = await createTestServer(options);
  onCleanup(() => server.close());
  return server;
}

async function kitProxy(url: string) {
  const proxy = await createFaultProxy(url);
  onCleanup(() => proxy.close());
  return proxy;
}

function collect(c: Conn<string, string>) {
  const errors: EvtWebSocketError[] = [];
  const closes: number[] = [];
  c.on("error", (e) => errors.push(e));
  c.on("close", (info) => closes.push(info.code));
  return { errors, closes };
}

describe("createTestServer", () => {
  it("listens on 127.0.0.1 with a free port, echoes and records messages and handshakes", async () => {
    const server = await kitServer();
    expect(server.url).toBe(`ws://127.0.0.1:${server.port}`);
    const c = conn<string, string | Uint8Array>({
      matchMsg: (req, resp) => req === resp,
      headers: { "x-test": "1" },
    });
    await c.dial(`${server.url}/path?q=1`);
    expect(await c.request("hello")).toBe("hello");
    c.send(new Uint8Array([1, 2]));
    await until(() => server.received.length === 2, "two messages received");
    expect(server.received[0]).toBe("hello");
    expect(Buffer.isBuffer(server.received[1])).toBe(true);
    expect(server.handshakes[0]!.url).toBe("/path?q=1");
    expect(server.handshakes[0]!.headers["x-test"]).toBe("1");
    expect(server.clients.size).toBe(1);
    expect(server.connections).toBe(1);
  });

  it("restart() comes back on the same port and the client reconnects", async () => {
    const server = await kitServer();
    const c = conn({ reconnect: fast });
    await c.dial(server.url);
    await server.restart(50);
    await until(() => server.connections === 2 && c.state === State.OPEN, "reconnected after restart");
    expect(server.url).toBe(`ws://127.0.0.1:${server.port}`);
  });

  it("dropAll(code) closes every client with that code; dropAll() destroys them (1006)", async () => {
    const server = await kitServer();
    const c = conn({ reconnect: fast });
    const { closes } = collect(c);
    await c.dial(server.url);
    server.dropAll(4000, "go away");
    await until(() => closes.length === 1 && server.clients.size === 1, "closed with 4000 and back");
    server.dropAll();
    await until(() => closes.length === 2, "destroyed");
    expect(closes).toEqual([4000, 1006]);
  });

  it("stall() keeps TCP open but answers nothing, so the heartbeat declares the connection dead; resume() answers held handshakes", async () => {
    const server = await kitServer();
    const c = conn({ reconnect: fast, pingIntervalMs: 50, pongTimeoutMs: 100, connectTimeoutMs: 5000 });
    const { errors } = collect(c);
    await c.dial(server.url);
    server.stall();
    expect(server.stalled).toBe(true);
    await until(() => errors.some((e) => e.code === "ERR_PONG_TIMEOUT"), "pong timeout");
    // The reconnect's handshake is held, not answered, while stalled.
    await until(() => c.state === State.RECONNECTING, "reconnecting");
    expect(server.connections).toBe(1);
    server.resume();
    await until(() => c.state === State.OPEN, "open after resume");
    expect(server.connections).toBe(2);
  });

  it("authorize() refuses a handshake with an HTTP status", async () => {
    const server = await kitServer({
      authorize: ({ headers }) => headers.authorization === "Bearer ok" || 403,
    });
    const bad = conn({ reconnect: false });
    const error = (await bad.dial(server.url).catch((e) => e)) as EvtWebSocketError;
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect(error.details.status).toBe(403);
    const good = conn({ reconnect: false, headers: { authorization: "Bearer ok" } });
    await good.dial(server.url);
    expect(server.handshakes).toHaveLength(2);
  });

  it("authorize() can answer with response headers: 503 and a Retry-After the client waits for", async () => {
    const clock = new FakeClock();
    let refused = 0;
    const server = await kitServer({
      authorize: () => (refused++ === 0 ? { status: 503, headers: { "Retry-After": "120" } } : true),
    });
    const waits: ReconnectingInfo[] = [];
    const c = conn({ clock, reconnect: { minDelayMs: 10 }, onReconnecting: (i) => void waits.push(i) });
    const dialed = c.dial(server.url);
    await until(() => waits.length === 1, "the wait");
    expect(waits[0]).toMatchObject({ serverDelayMs: 120_000, error: { details: { status: 503 } } });
    clock.advance(waits[0]!.delayMs);
    await dialed;
    expect(server.handshakes).toHaveLength(2);
  });

  it("onConnection and onMessage replace the echo", async () => {
    const server = await kitServer({
      onConnection: (client) => client.send("welcome"),
      onMessage: (data, client) => client.send(`got ${String(data)}`),
    });
    const seen: string[] = [];
    const c = conn({ onMessage: (m) => seen.push(m) });
    await c.dial(server.url);
    c.send("x");
    await until(() => seen.length === 2, "two messages");
    expect(seen).toEqual(["welcome", "got x"]);
  });

  it("sendRaw() writes crafted frames: invalid UTF-8 fails the connection with 1007", async () => {
    const server = await kitServer();
    const c = conn({ reconnect: false });
    const { closes } = collect(c);
    await c.dial(server.url);
    server.sendRaw(Uint8Array.of(0x81, 0x02, 0xff, 0xfe));
    await until(() => c.state === State.CLOSED, "closed");
    expect(closes).toEqual([1007]);
  });

  it("close() twice is safe", async () => {
    const server = await createTestServer();
    await server.close();
    await server.close();
  });
});

describe("createFaultProxy", () => {
  it("forwards traffic and keeps the target's path and query in its url", async () => {
    const server = await kitServer();
    const proxy = await kitProxy(`${server.url}/room?x=1`);
    expect(proxy.url).toBe(`ws://127.0.0.1:${proxy.port}/room?x=1`);
    const c = conn({ matchMsg: (req, resp) => req === resp });
    await c.dial(proxy.url);
    expect(await c.request("via proxy")).toBe("via proxy");
    expect(server.handshakes[0]!.url).toBe("/room?x=1");
    expect(proxy.activeConnections).toBe(1);
    expect(proxy.totalConnections).toBe(1);
  });

  it("latency(ms) adds at least 2 x ms to a round trip", async () => {
    const server = await kitServer();
    const proxy = await kitProxy(server.url);
    const c = conn({ matchMsg: (req, resp) => req === resp });
    await c.dial(proxy.url);
    await proxy.latency(100);
    const started = performance.now();
    expect(await c.request("slow")).toBe("slow");
    expect(performance.now() - started).toBeGreaterThanOrEqual(199);
    await proxy.latency(0);
    expect(await c.request("order kept")).toBe("order kept");
  });

  it("bandwidth(bytesPerSecond) limits each direction; heal() lifts the limit", async () => {
    const server = await kitServer();
    const proxy = await kitProxy(server.url);
    const c = conn({ matchMsg: (req, resp) => req === resp });
    await c.dial(proxy.url);
    await proxy.bandwidth(30_000);
    const big = "x".repeat(30_000);
    const started = performance.now();
    expect(await c.request(big)).toBe(big);
    // 30 kB up and 30 kB down at 30 kB/s each: at least ~2 s, whatever the machine.
    expect(performance.now() - started).toBeGreaterThanOrEqual(1800);
    await proxy.heal();
    expect(await c.request("fast again")).toBe("fast again");
  });

  it("blackhole() keeps TCP open and forwards nothing: the heartbeat detects it; heal() lets the client back", async () => {
    const server = await kitServer();
    const proxy = await kitProxy(server.url);
    const c = conn({ reconnect: fast, pingIntervalMs: 50, pongTimeoutMs: 100, connectTimeoutMs: 300 });
    const { errors } = collect(c);
    await c.dial(proxy.url);
    await proxy.blackhole();
    await until(() => errors.some((e) => e.code === "ERR_PONG_TIMEOUT"), "pong timeout");
    await until(
      () => errors.some((e) => e.code === "ERR_CONNECT_TIMEOUT"),
      "handshake through a blackhole times out",
    );
    await proxy.heal();
    await until(() => c.state === State.OPEN, "open after heal");
  });

  it("reset() sends a TCP RST: the connection drops (1006) and the client reconnects", async () => {
    const server = await kitServer();
    const proxy = await kitProxy(server.url);
    const c = conn({ reconnect: fast });
    const { errors, closes } = collect(c);
    await c.dial(proxy.url);
    await proxy.reset();
    await until(() => closes.length === 1, "closed");
    expect(closes[0]).toBe(1006);
    expect(errors.map((e) => e.code)).toContain("ERR_DISCONNECTED");
    await until(() => c.state === State.OPEN && server.connections === 2, "reconnected");
  });

  it("refuse() refuses new connections and leaves open ones alone; heal() listens again", async () => {
    const server = await kitServer();
    const proxy = await kitProxy(server.url);
    const open = conn({ matchMsg: (req, resp) => req === resp });
    await open.dial(proxy.url);
    await proxy.refuse();
    const refused = conn({ reconnect: false });
    const error = (await refused.dial(proxy.url).catch((e) => e)) as EvtWebSocketError;
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
    expect(await open.request("still here")).toBe("still here");
    await proxy.heal();
    const again = conn({ reconnect: false });
    await again.dial(proxy.url);
  });

  it("close() destroys every connection and is safe to call twice", async () => {
    const server = await kitServer();
    const proxy = await createFaultProxy(server.url);
    const c = conn({ reconnect: false });
    const { closes } = collect(c);
    await c.dial(proxy.url);
    await proxy.close();
    await proxy.close();
    await until(() => closes.length === 1 && c.state === State.CLOSED, "closed");
    expect(proxy.activeConnections).toBe(0);
  });
});
