/**
 * Nothing of the testing kit outlives close(): with bytes held by each fault, a stalled server,
 * a restart waiting out its downtime and waitFor() timeouts, closing the clients, the proxy and
 * the server leaves no socket, listener or timer behind (the process's active resources).
 */

import { describe, it } from "vitest";
import { createFaultProxy, createTestServer, waitFor } from "../src/testing/index.js";
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
