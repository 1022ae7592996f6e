/**
 * A user's own test, written with `evtwebsocket/testing`: a real server, a fault proxy between
 * it and the client, and the faults an app must survive: a network that goes silent (the
 * heartbeat must notice) and a server that restarts (the client must come back and subscribe
 * again). Nothing is mocked; every port is a free one; nothing asserts how fast things are.
 *
 * In your project it is one more file among your tests. Here vitest.config.ts collects test/ only,
 * so test/examples-testing-kit.test.ts imports this file: `npx vitest run examples-testing-kit`.
 */

import { type CloseInfo, Conn, State } from "evtwebsocket";
import { createFaultProxy, createTestServer } from "evtwebsocket/testing";
import { afterEach, describe, expect, it, vi } from "vitest";

/** Teardown steps, run newest first after each test: the client closes before its server. */
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** Test timings: a ping after 100 ms of silence, dead 200 ms later, retries after 10–100 ms. */
const fast = {
  pingIntervalMs: 100,
  pongTimeoutMs: 200,
  connectTimeoutMs: 500,
  reconnect: { minDelayMs: 10, maxDelayMs: 100 },
};

/** Polls for up to 10 s: long enough for a slow CI machine, with no claim about speed. */
const eventually = { timeout: 10_000, interval: 10 };

describe("my app's connection, against real faults", () => {
  it("declares a blackholed connection dead with ERR_PONG_TIMEOUT and reconnects when the network heals", async () => {
    const server = await createTestServer(); // echoes every message
    cleanup.push(() => server.close());
    const proxy = await createFaultProxy(server.url);
    cleanup.push(() => proxy.close());

    const errors: string[] = [];
    const closes: CloseInfo[] = [];
    const conn = new Conn({
      ...fast,
      matchMsg: (req, resp) => req === resp, // the echo answers each request
      onError: (err) => errors.push(err.code),
      onClose: (info) => closes.push(info),
    });
    cleanup.push(() => conn.close());

    await conn.dial(proxy.url);
    expect(await conn.request("before")).toBe("before");

    await proxy.blackhole(); // TCP stays open, nothing gets through: only silence tells
    await vi.waitFor(() => expect(errors).toContain("ERR_PONG_TIMEOUT"), eventually);
    expect(closes).toEqual([
      { code: 1006, reason: "", wasClean: false, willReconnect: true, closedBy: "client" },
    ]);
    expect(conn.state).toBe(State.RECONNECTING);

    await proxy.heal();
    await vi.waitFor(() => expect(conn.state).toBe(State.OPEN), eventually);
    expect(conn.stats.reconnects).toBe(1);
    expect(await conn.request("after")).toBe("after");
    expect(server.received).toEqual(["before", "after"]);
  });

  it("comes back after the server restarts and subscribes again in onConnected", async () => {
    const server = await createTestServer();
    cleanup.push(() => server.close());

    const states: string[] = [];
    const conn = new Conn({
      ...fast,
      onConnected: (c) => c.send("subscribe:prices"), // every connect and reconnect
    });
    conn.on("state", ({ newState }) => states.push(newState));
    cleanup.push(() => conn.close());

    await conn.dial(server.url);
    await vi.waitFor(() => expect(server.received).toEqual(["subscribe:prices"]), eventually);

    await server.restart(50); // same port; the client sees 1006 and retries while it is down
    await vi.waitFor(
      () => expect(server.received).toEqual(["subscribe:prices", "subscribe:prices"]),
      eventually,
    );
    expect(states).toEqual([State.CONNECTING, State.OPEN, State.RECONNECTING, State.OPEN]);
    expect(conn.stats.reconnects).toBe(1);
    expect(server.connections).toBe(2);
  });
});
