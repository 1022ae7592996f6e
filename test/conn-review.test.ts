/**
 * Findings of an adversarial review against docs/concepts.md "Rules your callbacks can rely on"
 * (each failed before its fix); real ws servers on 127.0.0.1 port 0.
 */

import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { CloseInfo, Conn } from "../src/index.js";
import { conn, fast, server, uncaughtExceptions } from "./helpers/harness.js";
import { silentServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

const settle = () => new Promise((r) => setTimeout(r, 30));

describe("in onClose, the connection is not connected", () => {
  it("close() then dial() in one tick: the old socket's onClose sees the new dial (connecting), never an open connection", async () => {
    const s = await server();
    const seen: string[] = [];
    const c = conn({
      onClose: (info: CloseInfo, cc) =>
        void seen.push(`${cc.state} ${cc.isConnected()} willReconnect=${info.willReconnect}`),
    });
    await c.dial(s.url);
    const closed = c.close();
    const redial = c.dial(s.url);
    await closed;
    await redial;
    // The new dial waits for the old socket's end, so it cannot have opened yet.
    expect(seen).toEqual(["connecting false willReconnect=false"]);
    expect(c.isConnected()).toBe(true);
  });
});

describe("a request in flight when the connection drops", () => {
  async function dropInFlight(reconnect: false | { maxAttempts: 0 }): Promise<void> {
    const s = await server({ onMessage: (ws) => ws.terminate() });
    const reported: unknown[] = [];
    const c = conn<string, string>({
      reconnect,
      matchMsg: () => true,
      onError: (e) => void reported.push(e),
    });
    await c.dial(s.url);
    const failure = await c.request("x").catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: "ERR_DISCONNECTED", details: { closeCode: 1006 } });
    const cause = (failure as Error).cause;
    expect(cause).toMatchObject({
      code: "ERR_DISCONNECTED",
      details: { closeCode: 1006, closedBy: "network" },
    });
    // With attempts allowed but none left, onError reports ERR_RECONNECT_EXHAUSTED with the drop as its cause.
    expect(reported.some((e) => e === cause || (e as Error).cause === cause)).toBe(true);
  }

  it("rejects ERR_DISCONNECTED with the drop's error as cause and its close code (reconnect off)", async () => {
    await dropInFlight(false);
  });

  it("rejects ERR_DISCONNECTED with the drop's error as cause and its close code (reconnect: { maxAttempts: 0 })", async () => {
    await dropInFlight({ maxAttempts: 0 });
  });
});

describe("the close event is always delivered", () => {
  it("a shouldReconnect that calls close() still gets the close event of the socket that dropped", async () => {
    const s = await server();
    const closes: CloseInfo[] = [];
    let c!: Conn<string, string>;
    c = conn<string, string>({
      reconnect: {
        ...fast,
        shouldReconnect: () => {
          void c.close();
          return true;
        },
      },
      onClose: (info) => void closes.push(info),
    });
    await c.dial(s.url);
    s.dropAll(4000);
    await until(() => c.state === "closed", "closed");
    await settle();
    // Seen: no close event at all (Lifecycle.#ended returns on the epoch change before #emitClose).
    expect(closes).toHaveLength(1);
    expect(closes[0]).toMatchObject({ code: 4000, closedBy: "server", willReconnect: false });
  });
});

describe("nothing outlives close()", () => {
  it("a codec whose encode calls close(): the request is not left pending, queued, timed or reported after close", async () => {
    const s = await server({ onMessage: () => {} });
    let c!: Conn<string, string>;
    let closeInEncode = false;
    const errors: string[] = [];
    c = conn<string, string>({
      requestTimeoutMs: 50,
      matchMsg: () => true,
      codec: {
        encode: (m: string) => {
          if (closeInEncode) void c.close();
          return m;
        },
        decode: (d) => String(d),
      },
      onError: (e, cc) => void errors.push(`${e.code} ${cc.state}`),
    });
    await c.dial(s.url);
    closeInEncode = true;
    let outcome = "no throw";
    try {
      c.send("req", () => {});
    } catch (e) {
      outcome = (e as { code: string }).code;
    }
    closeInEncode = false;
    await c.close();
    const after = { pending: c.stats.pendingRequests, queued: c.stats.queuedMessages };
    await new Promise((r) => setTimeout(r, 100));
    // Seen: no throw; pendingRequests 1 and queuedMessages 1 while closed; 50 ms later the
    // request's timer fires and onError gets ERR_REQUEST_TIMEOUT after close() resolved.
    // Cause: Conn.#request checks the state (#assertCanSend) before user code (codec.encode,
    // messageId) that can close; nothing checks it again before Outbox.request registers it.
    expect({ outcome, ...after, errors }).toEqual({
      outcome: "ERR_CLOSED",
      pending: 0,
      queued: 0,
      errors: [],
    });
  });
});

describe("WHATWG transport with ws's WebSocket as the constructor", () => {
  it("close() during the opening handshake throws no uncaught exception", async () => {
    const url = await silentServer();
    const uncaught = uncaughtExceptions();
    const c = conn({ WebSocket: WebSocket as never, reconnect: false });
    c.dial(url).catch(() => {});
    await new Promise((r) => setTimeout(r, 30));
    await c.close();
    await settle();
    // Seen: "WebSocket was closed before the connection was established" thrown on the next tick:
    // native.ts terminate() detaches onerror (= null) before socket.close(); ws emits 'error'
    // with no listener left, and an EventEmitter 'error' with no listener throws.
    expect(uncaught.map(String)).toEqual([]);
  });

  it("a connect timeout throws no uncaught exception", async () => {
    const url = await silentServer();
    const uncaught = uncaughtExceptions();
    const c = conn({ WebSocket: WebSocket as never, connectTimeoutMs: 30, reconnect: false });
    await expect(c.dial(url)).rejects.toMatchObject({ code: "ERR_CONNECT_TIMEOUT" });
    await settle();
    expect(uncaught.map(String)).toEqual([]);
  });
});

describe("docs", () => {
  it("every test file docs/concepts.md names exists (it promises test/model.test.ts)", () => {
    const text = readFileSync(new URL("../docs/concepts.md", import.meta.url), "utf8");
    const named = [...text.matchAll(/`(test\/[\w./-]+\.test\.ts)`/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(0);
    const missing = named.filter((p) => !existsSync(new URL(`../${p}`, import.meta.url)));
    expect(missing).toEqual([]);
  });
});
