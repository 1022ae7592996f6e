import { describe, expect, it } from "vitest";
import { Conn, type EvtWebSocketError, type ReconnectingInfo } from "../src/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, fast, onCleanup, server, sleep } from "./helpers/harness.js";
import { freePort, until } from "./helpers/server.js";

describe("reconnect", () => {
  it("comes back after the server restarts; onClose says willReconnect, onConnected fires again", async () => {
    const s = await server();
    const events: string[] = [];
    const c = conn({
      reconnect: fast,
      onConnected: () => void events.push("connected"),
      onClose: (i) => void events.push(`close ${i.code} ${i.willReconnect}`),
      onReconnecting: (i) => void events.push(`reconnecting ${i.attempt}`),
    });
    const states: string[] = [];
    c.on("state", ({ newState }) => states.push(newState));
    await c.dial(s.url);
    await s.restart();
    await until(() => c.isConnected() && s.connections === 2, "reconnected");
    expect(events[0]).toBe("connected");
    expect(events[1]).toBe("close 1006 true");
    expect(events).toContain("reconnecting 1");
    expect(events.at(-1)).toBe("connected");
    expect(states.slice(0, 4)).toEqual(["connecting", "open", "reconnecting", "open"]);
    expect(c.stats.reconnects).toBe(1);
  });

  it("comes back after an abrupt socket destruction", async () => {
    const s = await server();
    const c = conn({ reconnect: fast });
    await c.dial(s.url);
    for (const ws of s.clients) (ws as unknown as { _socket: import("node:net").Socket })._socket.destroy();
    await until(() => c.state === "reconnecting", "noticed");
    await until(() => c.isConnected(), "reconnected");
    c.send("after");
    await until(() => s.received.includes("after"), "data after reconnect");
  });

  it("reconnects after a server close with 1000, 1001, 1011 and 4000-range codes", async () => {
    const s = await server();
    const c = conn({ reconnect: fast });
    const codes: number[] = [];
    c.on("close", (i) => void codes.push(i.code));
    await c.dial(s.url);
    for (const code of [1000, 1001, 1011, 4001]) {
      const before = s.connections;
      s.dropAll(code);
      await until(() => s.connections === before + 1 && c.isConnected(), `reconnected after ${code}`);
    }
    expect(codes).toEqual([1000, 1001, 1011, 4001]);
  });

  it("shouldReconnect returning false stops: state closed, onClose willReconnect false", async () => {
    const s = await server();
    const seen: unknown[] = [];
    const c = conn({
      reconnect: {
        ...fast,
        shouldReconnect: (info) => {
          seen.push(info);
          return info.code !== 4001;
        },
      },
    });
    const closes: boolean[] = [];
    c.on("close", (i) => void closes.push(i.willReconnect));
    await c.dial(s.url);
    s.dropAll(4001);
    await until(() => c.state === "closed", "closed");
    expect(closes).toEqual([false]);
    expect(seen).toEqual([{ code: 4001, reason: "" }]);
    await sleep(40);
    expect(s.connections).toBe(1);
  });

  it("shouldReconnect sees the HTTP status of a refused handshake", async () => {
    const s = await server({ verifyClient: (_i, cb) => cb(false, 403) });
    const seen: Array<{ status?: number }> = [];
    const c = conn({
      reconnect: {
        ...fast,
        shouldReconnect: (info) => {
          seen.push(info);
          return false;
        },
      },
    });
    await expect(c.dial(s.url)).rejects.toMatchObject({ code: "ERR_DIAL_FAILED" });
    expect(seen[0]?.status).toBe(403);
  });

  it("close() during the backoff wait stops reconnecting and leaves no timer", async () => {
    const s = await server();
    const clock = new FakeClock();
    const c = conn({ reconnect: { minDelayMs: 1000, jitter: 0 }, clock });
    await c.dial(s.url);
    s.dropAll();
    await until(() => c.state === "reconnecting", "waiting");
    expect(clock.pending).toBe(1);
    await c.close();
    expect(clock.pending).toBe(0);
    expect(c.state).toBe("closed");
    clock.advance(10_000);
    await sleep(20);
    expect(s.connections).toBe(1);
  });

  it("onReconnecting fires at the start of each wait with the policy's delays (injected clock)", async () => {
    const port = await freePort();
    const clock = new FakeClock();
    const infos: ReconnectingInfo[] = [];
    const c = conn({
      clock,
      reconnect: { minDelayMs: 100, maxDelayMs: 500, factor: 2, jitter: 0, maxAttempts: 5 },
      onReconnecting: (i) => void infos.push(i),
    });
    const dialing = c.dial(`ws://127.0.0.1:${port}`).catch((e) => e);
    for (let i = 1; i <= 5; i++) {
      await until(() => infos.length === i, `wait ${i}`);
      clock.advance(infos[i - 1]!.delayMs);
    }
    expect(infos.map((i) => [i.attempt, i.delayMs])).toEqual([
      [1, 100],
      [2, 200],
      [3, 400],
      [4, 500],
      [5, 500],
    ]);
    expect(infos.every((i) => i.error?.code === "ERR_DIAL_FAILED")).toBe(true);
    expect(await dialing).toMatchObject({ code: "ERR_RECONNECT_EXHAUSTED" });
    expect(clock.pending).toBe(0);
  });

  it("a server that accepts then closes at once does not cause a tight loop: the backoff keeps growing", async () => {
    const s = await server({ onConnection: (ws) => ws.close(1000) });
    const delays: number[] = [];
    const c = conn({
      reconnect: { minDelayMs: 5, maxDelayMs: 1000, factor: 2, jitter: 0, resetAfterMs: 5000 },
      onReconnecting: (i) => void delays.push(i.delayMs),
    });
    await c.dial(s.url);
    await until(() => delays.length >= 4, "four waits");
    expect(delays.slice(0, 4)).toEqual([5, 10, 20, 40]);
  });

  it("the backoff restarts only after a connection stayed open resetAfterMs", async () => {
    const s = await server();
    const attempts: number[] = [];
    const c = conn({
      reconnect: { minDelayMs: 5, jitter: 0, resetAfterMs: 1000 },
      onReconnecting: (i) => void attempts.push(i.attempt),
    });
    await c.dial(s.url);
    s.dropAll();
    await until(() => c.isConnected() && s.connections === 2, "second");
    s.dropAll();
    await until(() => c.isConnected() && s.connections === 3, "third");
    await sleep(1100);
    s.dropAll();
    await until(() => c.isConnected() && s.connections === 4, "fourth");
    expect(attempts).toEqual([1, 2, 1]);
  });

  it("giving up after an established connection dropped reports ERR_RECONNECT_EXHAUSTED and closes", async () => {
    const s = await server();
    const errors: EvtWebSocketError[] = [];
    const c = conn({ reconnect: { ...fast, maxAttempts: 2 }, onError: (e) => void errors.push(e) });
    await c.dial(s.url);
    await s.stop();
    await until(() => c.state === "closed", "gave up");
    expect(errors.at(-1)?.code).toBe("ERR_RECONNECT_EXHAUSTED");
  });

  it("reconnect: false closes for good after a drop", async () => {
    const s = await server();
    const c = conn({ reconnect: false });
    const closes: boolean[] = [];
    c.on("close", (i) => void closes.push(i.willReconnect));
    await c.dial(s.url);
    s.dropAll();
    await until(() => c.state === "closed", "closed");
    expect(closes).toEqual([false]);
  });

  it("never holds more than one live socket while the server flaps", async () => {
    // At every accepted connection, count the server-side sockets of this client still open.
    let maxOpen = 0;
    const s = await server({
      onConnection: () => {
        const open = [...s.clients].filter((ws) => ws.readyState === ws.OPEN).length;
        maxOpen = Math.max(maxOpen, open);
      },
    });
    const c = conn({ reconnect: { minDelayMs: 1, maxDelayMs: 5, jitter: 0.5 } });
    await c.dial(s.url);
    for (let i = 0; i < 20; i++) {
      const before = s.connections;
      s.dropAll();
      await until(() => s.connections > before && c.isConnected(), `flap ${i}`);
    }
    await until(() => s.clients.size === 1, "one socket left");
    expect(s.connections).toBe(21);
    expect(maxOpen).toBe(1);
  });
});

describe("close()", () => {
  it("fires onClose once with willReconnect false, and is idempotent", async () => {
    const s = await server();
    const closes: unknown[] = [];
    const c = new Conn({ onClose: (i) => void closes.push(i) });
    onCleanup(() => c.close());
    await c.dial(s.url);
    const a = c.close(4000, "bye");
    const b = c.close();
    expect(a).toBe(b);
    await a;
    expect(closes).toEqual([
      { code: 4000, reason: "bye", wasClean: true, willReconnect: false, closedBy: "client" },
    ]);
    expect(c.state).toBe("closed");
  });

  it("close() inside onClose does not fire a second onClose", async () => {
    const s = await server();
    let closes = 0;
    const c = conn({
      reconnect: fast,
      onClose: (_i, cc) => {
        closes++;
        void cc.close();
      },
    });
    await c.dial(s.url);
    s.dropAll();
    await until(() => c.state === "closed", "closed");
    await sleep(30);
    expect(closes).toBe(1);
    expect(s.connections).toBe(1);
  });

  it("resolves against a peer that never answers the closing handshake (terminated after 3 s)", async () => {
    const net = await import("node:net");
    const s = await server();
    // A proxy that forwards the handshake, then blackholes everything.
    let blackhole = false;
    const sockets: import("node:net").Socket[] = [];
    const proxy = net.createServer((client) => {
      const upstream = net.connect(s.port, "127.0.0.1");
      sockets.push(client, upstream);
      client.on("data", (d) => !blackhole && upstream.write(d));
      upstream.on("data", (d) => !blackhole && client.write(d));
      client.on("error", () => {});
      upstream.on("error", () => {});
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    onCleanup(async () => {
      for (const x of sockets) x.destroy();
      await new Promise((r) => proxy.close(r));
    });
    const c = conn();
    await c.dial(`ws://127.0.0.1:${(proxy.address() as import("node:net").AddressInfo).port}`);
    blackhole = true;
    const closes: unknown[] = [];
    c.on("close", (i) => void closes.push(i));
    const started = Date.now();
    await c.close();
    expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
    expect(closes).toEqual([
      { code: 1006, reason: "", wasClean: false, willReconnect: false, closedBy: "client" },
    ]);
  });

  it.each([[999], [1005], [1006], [2000], [5000], [1.5]])(
    "close(%s) rejects ERR_INVALID_OPTION",
    async (code) => {
      const c = conn();
      await expect(c.close(code)).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    },
  );

  it("a close reason over 123 bytes rejects ERR_INVALID_OPTION", async () => {
    const c = conn();
    await expect(c.close(1000, "é".repeat(62))).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("Symbol.asyncDispose closes the connection", async () => {
    const s = await server();
    const c = conn();
    await c.dial(s.url);
    await c[Symbol.asyncDispose]();
    expect(c.state).toBe("closed");
  });
});
