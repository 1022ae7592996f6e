/**
 * The testing kit's server (`createTestServer`) through its life cycle, on real sockets: two
 * restart()s at once, restart() or close() during the other, clients once either resolves,
 * dropAll() during a stall, and handlers that throw. Each test is a way the kit broke a promise
 * of docs/testing.md or the TSDoc.
 */

import { describe, expect, it } from "vitest";
import type { CloseInfo } from "../src/index.js";
import { waitFor } from "../src/testing/index.js";
import { conn } from "./helpers/harness.js";
import { kitProxy, kitServer, listening } from "./helpers/kit.js";

describe("createTestServer: two restart()s at once", () => {
  it.each([
    [0, 0],
    [50, 0],
  ])("two restart()s at once (downMs %i and %i) both resolve and the server listens again", async (a, b) => {
    const server = await kitServer();
    const c = conn({ reconnect: { minDelayMs: 5, maxDelayMs: 20 } });
    await c.dial(server.url);
    // The second used to fail with EADDRINUSE: each listened on the port itself.
    await Promise.all([server.restart(a), server.restart(b)]);
    await waitFor(() => server.connections >= 2 && server.clients.size === 1 && c.state === "open", {
      message: "the client back",
    });
  });
});

describe("createTestServer and createFaultProxy after close()", () => {
  it("restart() after close() does not listen again (as heal() after the proxy's close())", async () => {
    const server = await kitServer();
    await server.close();
    await server.restart();
    // It used to bring the closed server back, listening until the process ended.
    expect(await listening(server.port)).toBe(false);
    const proxy = await kitProxy(server.url);
    await proxy.close();
    await proxy.heal();
    expect(await listening(proxy.port)).toBe(false);
  });
});

describe("createTestServer: clients", () => {
  it.each(["restart", "close"] as const)(
    "once %s() resolves, clients no longer lists the connections it destroyed",
    async (method) => {
      const server = await kitServer();
      const c = conn({ reconnect: false });
      await c.dial(server.url);
      await waitFor(() => server.clients.size === 1);
      await server[method]();
      // They used to stay listed (readyState CLOSING) a while longer: after restart(), a
      // waitFor(() => server.clients.size === 1) for the reconnect passed on the old one.
      expect(server.clients.size).toBe(0);
    },
  );
});

describe("createTestServer: dropAll() during a stall", () => {
  it("dropAll(code) during stall() holds the close frame like every write: it goes out, and dropAll resolves, after resume()", async () => {
    const server = await kitServer();
    const closes: CloseInfo[] = [];
    const c = conn({ reconnect: false, onClose: (info) => void closes.push(info) });
    await c.dial(server.url);
    await waitFor(() => server.clients.size === 1);
    await server.stall();
    let dropped = false;
    const dropping = server.dropAll(4001, "bye").then(() => {
      dropped = true;
    });
    // A round trip on a second connection (held, then answered by resume()): the close frame
    // has had every chance to go out by then, and has not.
    const other = conn({ reconnect: false });
    const dialing = other.dial(server.url);
    await waitFor(() => server.heldHandshakes === 1);
    expect(closes).toEqual([]);
    expect(dropped).toBe(false);
    await server.resume();
    await dialing;
    await dropping;
    await waitFor(() => closes.length === 1);
    expect(closes[0]).toMatchObject({ code: 4001, reason: "bye", wasClean: true });
  });
});

describe("createTestServer: close() while restart() destroys the connections", () => {
  it("close() called while restart() destroys the connections resolves once clients no longer lists them", async () => {
    const server = await kitServer();
    const c = conn({ reconnect: false });
    await c.dial(server.url);
    await waitFor(() => server.clients.size === 1);
    const restarting = server.restart();
    await null; // restart() has begun: it destroyed the connection and waits for it to go
    await server.close();
    // close() found nothing left to stop and resolved at once, the connection still listed.
    expect(server.clients.size).toBe(0);
    await restarting;
    expect(await listening(server.port)).toBe(false);
  });
});

describe("createTestServer: close() during restart(downMs)", () => {
  it("close() while restart(downMs) stays down ends the wait: restart() resolves at once (its timer cleared)", async () => {
    const server = await kitServer();
    let restarted = false;
    void server.restart(600_000).then(() => {
      restarted = true;
    });
    // Down: the listener is closed; restart() waits out downMs.
    await waitFor(async () => !(await listening(server.port)), { message: "the server to go down" });
    await new Promise((resolve) => setImmediate(resolve));
    await server.close();
    // Its ten-minute timer ran on after close(), holding the process (and restart()) that long.
    await waitFor(() => restarted, { message: "restart() to resolve" });
    expect(await listening(server.port)).toBe(false);
  });
});
