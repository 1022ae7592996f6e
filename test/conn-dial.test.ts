import { describe, expect, it } from "vitest";
import { createTestServer } from "../src/testing/index.js";
import { conn, fast, onCleanup, server } from "./helpers/harness.js";
import { freePort, until } from "./helpers/server.js";

describe("dial()", () => {
  it("resolves when the connection opens and the state is open", async () => {
    const s = await server();
    const c = conn();
    const states: string[] = [];
    c.on("state", ({ newState }) => states.push(newState));
    await c.dial(s.url);
    expect(c.state).toBe("open");
    expect(c.isConnected()).toBe(true);
    expect(states).toEqual(["connecting", "open"]);
    expect(s.connections).toBe(1);
  });

  it("accepts http: and https: URLs as ws: and wss: (the Go seed's example used http:)", async () => {
    const s = await server();
    const c = conn();
    await c.dial(s.url.replace("ws:", "http:"));
    expect(c.isConnected()).toBe(true);
  });

  it.each([["ftp://127.0.0.1/"], ["nonsense"], [""]])("rejects %j with ERR_INVALID_URL", async (url) => {
    const c = conn();
    await expect(c.dial(url)).rejects.toMatchObject({ code: "ERR_INVALID_URL" });
    expect(c.state).toBe("idle");
  });

  it("with reconnect off, a refused first attempt rejects at once with ERR_DIAL_FAILED", async () => {
    const port = await freePort();
    const c = conn({ reconnect: false });
    await expect(c.dial(`ws://127.0.0.1:${port}`)).rejects.toMatchObject({ code: "ERR_DIAL_FAILED" });
    expect(c.state).toBe("closed");
  });

  it("with reconnect off, an unanswered handshake rejects with ERR_CONNECT_TIMEOUT", async () => {
    const silent = await createTestServer();
    onCleanup(() => silent.close());
    silent.stall(); // TCP accepted, handshake held unanswered
    const c = conn({ reconnect: false, connectTimeoutMs: 100 });
    await expect(c.dial(silent.url)).rejects.toMatchObject({ code: "ERR_CONNECT_TIMEOUT" });
  });

  it("a refused handshake reports its HTTP status", async () => {
    const s = await server({ verifyClient: (_i, cb) => cb(false, 401) });
    const c = conn({ reconnect: false });
    const e = await c.dial(s.url).catch((x) => x);
    expect(e).toMatchObject({ code: "ERR_DIAL_FAILED", details: { status: 401 } });
  });

  it("with reconnect on, a failed first attempt is retried and dial() resolves once the server is up", async () => {
    const port = await freePort();
    const c = conn({ reconnect: fast });
    const reconnecting: number[] = [];
    c.on("reconnecting", ({ attempt }) => reconnecting.push(attempt));
    const dialing = c.dial(`ws://127.0.0.1:${port}`);
    await until(() => reconnecting.length >= 2, "two retries");
    expect(c.state).toBe("connecting");
    await server({}, port);
    await dialing;
    expect(c.state).toBe("open");
  });

  it("gives up with ERR_RECONNECT_EXHAUSTED after 1 + maxAttempts handshakes", async () => {
    const port = await freePort();
    let calls = 0;
    const c = conn({ reconnect: { ...fast, maxAttempts: 3 } });
    const attempts: number[] = [];
    c.on("reconnecting", ({ attempt }) => attempts.push(attempt));
    await expect(
      c.dial(() => {
        calls++;
        return `ws://127.0.0.1:${port}`;
      }),
    ).rejects.toMatchObject({ code: "ERR_RECONNECT_EXHAUSTED" });
    expect(calls).toBe(4);
    expect(attempts).toEqual([1, 2, 3]);
    expect(c.state).toBe("closed");
  });

  it("close() before the open rejects the pending dial() with ERR_CLOSED", async () => {
    const port = await freePort();
    const c = conn({ reconnect: fast });
    const dialing = c.dial(`ws://127.0.0.1:${port}`);
    await c.close();
    await expect(dialing).rejects.toMatchObject({ code: "ERR_CLOSED" });
    expect(c.state).toBe("closed");
  });

  it("close() during the handshake rejects dial(), fires no onConnected and no onClose", async () => {
    const s = await server();
    const events: string[] = [];
    const c = conn({
      onConnected: () => void events.push("connected"),
      onClose: () => void events.push("close"),
    });
    const dialing = c.dial(s.url);
    const closing = c.close();
    await expect(dialing).rejects.toMatchObject({ code: "ERR_CLOSED" });
    await closing;
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toEqual([]);
    await until(() => s.clients.size === 0, "server sees no live client");
  });

  it.each(["connecting", "open", "reconnecting"])(
    "dial() while %s rejects ERR_ALREADY_DIALED",
    async (state) => {
      const s = await server();
      const c = conn({ reconnect: { minDelayMs: 10_000, jitter: 0 } });
      const first = c.dial(s.url);
      if (state !== "connecting") await first;
      if (state === "reconnecting") {
        s.dropAll();
        await until(() => c.state === "reconnecting", "reconnecting");
      }
      expect(c.state).toBe(state);
      await expect(c.dial(s.url)).rejects.toMatchObject({ code: "ERR_ALREADY_DIALED" });
      await first.catch(() => {});
    },
  );

  it("after close() it may dial again", async () => {
    const s = await server();
    const c = conn();
    await c.dial(s.url);
    await c.close();
    await c.dial(s.url);
    expect(c.isConnected()).toBe(true);
    expect(s.connections).toBe(2);
  });

  it("calls a URL function again on every attempt (fresh tokens)", async () => {
    let n = 0;
    const s = await server();
    const c = conn({ reconnect: fast });
    await c.dial(() => `${s.url}/?token=t${++n}`);
    s.dropAll();
    await until(() => s.connections === 2 && c.isConnected(), "reconnected");
    expect(s.handshakes.map((r) => r.url)).toEqual(["/?token=t1", "/?token=t2"]);
  });

  it("an async URL function is awaited", async () => {
    const s = await server();
    const c = conn();
    await c.dial(async () => {
      await new Promise((r) => setTimeout(r, 5));
      return new URL(s.url);
    });
    expect(c.isConnected()).toBe(true);
  });

  it("offers the given subprotocol", async () => {
    const s = await server();
    const c = conn();
    await c.dial(s.url, ["chat", "superchat"]);
    expect(s.handshakes[0]?.headers["sec-websocket-protocol"]).toBe("chat,superchat");
  });

  it('dial(url, "") offers no subprotocol, as Go\'s Dial(url, "") did', async () => {
    const s = await server();
    const c = conn();
    await c.dial(s.url, "");
    expect(s.handshakes[0]?.headers["sec-websocket-protocol"]).toBeUndefined();
  });

  it("conn.protocol is the subprotocol the server chose", async () => {
    const s = await server();
    const c = conn();
    expect(c.protocol).toBe("");
    await c.dial(s.url, ["chat", "superchat"]);
    expect(c.protocol).toBe("chat");
  });

  it.each([["bad proto"], [["a", "a"]], [["ok", "no,comma"]]])(
    "subprotocol %j rejects ERR_INVALID_OPTION at dial() instead of retrying forever",
    async (sub) => {
      const c = conn();
      await expect(c.dial("ws://127.0.0.1:1", sub as string | string[])).rejects.toMatchObject({
        code: "ERR_INVALID_OPTION",
      });
      expect(c.state).toBe("idle");
    },
  );

  it("sends the given headers and invents no Origin", async () => {
    const s = await server();
    const c = conn({ headers: { authorization: "Bearer abc" } });
    await c.dial(s.url);
    expect(s.handshakes[0]?.headers.authorization).toBe("Bearer abc");
    expect(s.handshakes[0]?.headers.origin).toBeUndefined();
  });

  it("headers with a WHATWG WebSocket (no header support) reject ERR_INVALID_OPTION at dial()", async () => {
    const { WebSocket } = await import("ws");
    const c = conn({ WebSocket: WebSocket as never, headers: { a: "b" } });
    await expect(c.dial("ws://127.0.0.1:1")).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("a WHATWG WebSocket without pingMsg cannot ping: dial() rejects ERR_INVALID_OPTION", async () => {
    const { WebSocket } = await import("ws");
    const c = conn({ WebSocket: WebSocket as never, pingIntervalMs: 1000 });
    await expect(c.dial("ws://127.0.0.1:1")).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("works through an injected WHATWG WebSocket constructor", async () => {
    const { WebSocket } = await import("ws");
    const s = await server();
    const c = conn<string | Uint8Array, string | Uint8Array>({ WebSocket: WebSocket as never });
    const got: Array<string | Uint8Array> = [];
    c.on("message", (m) => got.push(m));
    await c.dial(s.url);
    c.send("text");
    c.send(new Uint8Array([1, 2, 3]));
    await until(() => got.length === 2, "two echoes");
    expect(got[0]).toBe("text");
    expect(got[1]).toBeInstanceOf(Uint8Array);
    expect([...(got[1] as Uint8Array)]).toEqual([1, 2, 3]);
  });
});
