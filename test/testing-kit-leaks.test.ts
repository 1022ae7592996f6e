/**
 * Nothing of the testing kit outlives close(): with bytes held by each fault, a stalled server,
 * a restart waiting out its downtime and waitFor() timeouts, closing the clients, the proxy and
 * the server leaves no socket, listener or timer behind (the process's active resources).
 */

import { describe, expect, it } from "vitest";
import { Conn } from "../src/index.js";
import { createFaultProxy, createTestServer, WaitForTimeoutError, waitFor } from "../src/testing/index.js";
import { conn } from "./helpers/harness.js";

describe("nothing outlives close()", () => {
  /** Open TCP sockets, listeners and timers of this process, by kind. */
  const resources = () => {
    const count: Record<string, number> = {};
    for (const kind of process.getActiveResourcesInfo()) count[kind] = (count[kind] ?? 0) + 1;
    return { tcp: count.TCPSocketWrap ?? 0, listeners: count.TCPServerWrap ?? 0, timers: count.Timeout ?? 0 };
  };

  it.each(["latency", "bandwidth", "blackhole", "stall"] as const)(
    "closing clients, proxy and server with bytes held by %s leaves no socket, listener or timer behind",
    async (fault) => {
      const before = resources();
      const server = await createTestServer();
      const proxy = await createFaultProxy(server.url);
      const clients = [1, 2, 3].map(() =>
        conn({ reconnect: false, pingIntervalMs: 100, pongTimeoutMs: 100 }),
      );
      for (const c of clients) await c.dial(proxy.url);
      if (fault === "latency") await proxy.latency(60_000);
      if (fault === "bandwidth") await proxy.bandwidth(10);
      if (fault === "blackhole") await proxy.blackhole();
      if (fault === "stall") await server.stall();
      for (const c of clients) c.send("x".repeat(100_000));
      await proxy.close();
      await server.close();
      for (const c of clients) await c.close();
      // At most what there was before (a timer of an earlier test may have ended meanwhile).
      await waitFor(
        () => {
          const now = resources();
          return now.tcp <= before.tcp && now.listeners <= before.listeners && now.timers <= before.timers;
        },
        { message: `the resources to return to ${JSON.stringify(before)}` },
      );
    },
  );
});

describe("nothing of the kit outlives close()", () => {
  /** The process's active handles by kind (timers, TCP sockets and listeners), without stdio. */
  const handles = () => {
    const counts: Record<string, number> = {};
    for (const kind of process.getActiveResourcesInfo()) {
      if (kind === "PipeWrap" || kind === "TTYWrap") continue;
      counts[kind] = (counts[kind] ?? 0) + 1;
    }
    return counts;
  };

  it("a server stalled with a held handshake and closed during restart(downMs), a proxy holding bytes behind latency and a close behind blackhole, waitFor timeouts: every handle is gone after close()", async () => {
    const baseline = handles();
    const server = await createTestServer();
    const proxy = await createFaultProxy(server.url);
    const conns: Conn[] = [];
    const make = () => {
      const c = new Conn({ reconnect: false, connectTimeoutMs: 60_000 });
      conns.push(c);
      return c;
    };
    // Bytes held behind a long latency: the proxy's pipe holds a timer for them.
    const held = make();
    await held.dial(proxy.url);
    await proxy.latency(60_000, { direction: "upstream" });
    held.send("x".repeat(200_000));
    // A close hidden by a blackhole: the proxy keeps the server's side open until heal().
    await proxy.latency(0);
    const hidden = make();
    await hidden.dial(proxy.url);
    await waitFor(() => server.clients.size === 2);
    await proxy.blackhole();
    await hidden.close();
    await proxy.latency(60_000, { direction: "upstream" });
    held.send("y".repeat(200_000));
    // A handshake held by a stall, and a restart waiting out its downtime when close() comes.
    await server.stall();
    const stalled = make();
    void stalled.dial(server.url).catch(() => {});
    await waitFor(() => server.heldHandshakes === 1);
    await expect(waitFor(() => new Promise(() => {}), { timeoutMs: 20 })).rejects.toBeInstanceOf(
      WaitForTimeoutError,
    );
    const restarting = server.restart(60_000);
    await proxy.close();
    await server.close();
    for (const c of conns) await c.close();
    let now = "";
    await waitFor(
      () => {
        const counts = handles();
        now = JSON.stringify(counts);
        return Object.entries(counts).every(([kind, n]) => n <= (baseline[kind] ?? 0));
      },
      { message: `the handles to be back to at most ${JSON.stringify(baseline)}` },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; still active: ${now}`);
    });
    await restarting;
  });
});
