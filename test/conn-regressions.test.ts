/**
 * Regression tests for bugs an adversarial review found in the core (re-entrant close() and
 * dial() from state listeners and callbacks, close(); dial(); close(), a throwing pingMsg via
 * ping(), unsubscribe of a function registered twice, non-key messageId values). Each failed
 * before its fix.
 */
import { describe, expect, it } from "vitest";
import { json } from "../src/index.js";
import { createFaultProxy } from "../src/testing/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, fast, onCleanup, server, sleep, uncaughtExceptions } from "./helpers/harness.js";
import { until } from "./helpers/server.js";

describe("regressions found by the adversarial review", () => {
  it("B1 close() in a state listener on 'connecting': dial() rejects ERR_CLOSED, no socket, no throw", async () => {
    const s = await server();
    const uncaught = uncaughtExceptions();
    const c = conn();
    c.on("state", ({ newState }, cc) => {
      if (newState === "connecting") void cc.close();
    });
    await expect(c.dial(s.url)).rejects.toMatchObject({ code: "ERR_CLOSED" });
    await sleep(200);
    expect(uncaught).toEqual([]);
    expect(s.connections).toBe(0);
    expect(c.state).toBe("closed");
  });

  it("B2 close() in a state listener on 'open': no onConnected after closed", async () => {
    const s = await server();
    const log: string[] = [];
    const c = conn({ onConnected: () => void log.push("connected") });
    c.on("state", ({ newState }, cc) => {
      log.push(newState);
      if (newState === "open") void cc.close();
    });
    await c.dial(s.url).catch(() => {});
    await until(() => s.connections === 1 && s.clients.size === 0, "gone");
    expect(log).toEqual(["connecting", "open", "closed"]);
  });

  it("B3 close() in a state listener on 'reconnecting': no onReconnecting after closed", async () => {
    const s = await server();
    const log: string[] = [];
    const c = conn({ reconnect: fast, onReconnecting: () => void log.push("reconnecting-event") });
    c.on("state", ({ newState }, cc) => {
      log.push(newState);
      if (newState === "reconnecting") void cc.close();
    });
    await c.dial(s.url);
    s.dropAll();
    await until(() => c.state === "closed", "closed");
    await sleep(50);
    expect(log).toEqual(["connecting", "open", "reconnecting", "closed"]);
  });

  it("B4 close() in onError for a failed callback request: no error and no onReconnecting after closed", async () => {
    const s = await server({ onMessage: () => {} });
    const log: string[] = [];
    const c = conn<string, string>({
      reconnect: fast,
      matchMsg: () => true,
      onError: (e, cc) => {
        log.push(`error ${e.code} ${cc.state}`);
        if (cc.state !== "closed") void cc.close();
      },
      onReconnecting: (_i, cc) => void log.push(`reconnecting ${cc.state}`),
    });
    await c.dial(s.url);
    c.send("req", () => {});
    await until(() => s.received.length === 1, "arrived");
    s.dropAll();
    await until(() => c.state === "closed", "closed");
    await sleep(50);
    expect(log).toEqual(["error ERR_DISCONNECTED reconnecting"]);
    expect(s.connections).toBe(1);
  });

  it("B5 dial() in onError after a give-up: state events stay in order", async () => {
    const s = await server();
    const states: string[] = [];
    let redial = true;
    const c = conn({
      reconnect: { ...fast, maxAttempts: 0 },
      onError: (e, cc) => {
        if (e.code === "ERR_RECONNECT_EXHAUSTED" && redial) {
          redial = false;
          cc.dial(s.url).catch(() => {});
        }
      },
    });
    c.on("state", (ch) => void states.push(`${ch.oldState}->${ch.newState}`));
    await c.dial(s.url);
    s.dropAll();
    await until(() => s.connections === 2 && c.isConnected(), "open");
    expect(states).toEqual([
      "idle->connecting",
      "connecting->open",
      "open->closed",
      "closed->connecting",
      "connecting->open",
    ]);
  });

  it("B6 close(); dial(); close(): the second close() waits for the first socket", async () => {
    const s = await server();
    const proxy = await createFaultProxy(s.url);
    onCleanup(() => proxy.close());
    const clock = new FakeClock();
    const c = conn({ clock });
    await c.dial(proxy.url);
    await proxy.blackhole();
    void c.close();
    const again = c.dial(proxy.url).catch((e) => e.code);
    let done = false;
    const second = c.close().then(() => {
      done = true;
    });
    await sleep(50);
    expect(done).toBe(false);
    expect(clock.pending).toBe(1);
    clock.advance(3000);
    await second;
    expect(await again).toBe("ERR_CLOSED");
    expect(clock.pending).toBe(0);
  });

  it("B7 ping() whose pingMsg throws leaves no heartbeat timer", async () => {
    const s = await server();
    const clock = new FakeClock();
    const c = conn({
      clock,
      reconnect: false,
      pingIntervalMs: 1000,
      pingMsg: () => {
        throw new Error("no ping");
      },
      onError: () => {},
    });
    await c.dial(s.url);
    c.ping();
    await until(() => c.state === "closed", "closed");
    await c.close();
    expect(clock.pending).toBe(0);
  });

  it("B8 one unsubscribe removes one registration", async () => {
    const s = await server();
    const got: string[] = [];
    const f = (m: string) => void got.push(m);
    const c = conn<string, string>({ onMessage: f });
    const off = c.on("message", f);
    off();
    off();
    await c.dial(s.url);
    c.send("x");
    await until(() => got.length === 1, "the option handler still hears it");
  });

  it("B9 messageId yielding null is no id: an id-less push does not settle a request", async () => {
    type M = { id?: number; v?: string };
    const s = await server({
      onMessage(ws, data) {
        ws.send(JSON.stringify({ v: "push" }));
        ws.send(JSON.stringify({ v: `re:${(JSON.parse(data.toString()) as M).v}` }));
      },
    });
    const pushes: M[] = [];
    const c = conn<M, M>({
      codec: json<M, M>(),
      messageId: (m) => (m.id ?? null) as never,
      matchMsg: (req, resp) => resp.v === `re:${req.v}`,
      onMessage: (m) => void pushes.push(m),
    });
    await c.dial(s.url);
    await expect(c.request({ v: "a" })).resolves.toEqual({ v: "re:a" });
    await until(() => pushes.length === 1, "push");
    expect(pushes).toEqual([{ v: "push" }]);
  });
});

describe("regressions found after the first release candidate", () => {
  it("a TCP RST on an open connection reports ERR_DISCONNECTED with the socket's error as cause", async () => {
    const s = await server();
    const proxy = await createFaultProxy(s.url);
    onCleanup(() => proxy.close());
    const errors: Array<{ code: string; cause?: unknown }> = [];
    const c = conn({ reconnect: false, onError: (e) => void errors.push(e) });
    const closed = new Promise<void>((r) => c.on("state", ({ newState }) => newState === "closed" && r()));
    await c.dial(proxy.url);
    await proxy.reset();
    await closed;
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors[0]).toMatchObject({ code: "ERR_DISCONNECTED" });
    expect((errors[0]?.cause as NodeJS.ErrnoException | undefined)?.code).toBe("ECONNRESET");
  });
});
