/**
 * Adversarial review of the ninth pass's new core code, against real servers on 127.0.0.1:
 * the otel open gauge for a connection open before `instrument()` (counted from the first
 * message it publishes while open, a message sent or received included, as
 * docs/observability.md says).
 */

import { afterEach, describe, expect, it } from "vitest";
import { uninstrument } from "../src/otel/index.js";
import { conn, server } from "./helpers/harness.js";
import { instrumentInMemory } from "./helpers/otel-sdk.js";
import { until } from "./helpers/server.js";

afterEach(() => uninstrument());

describe("otel: a connection open before instrument()", () => {
  it.each(["sent", "received"] as const)(
    "is counted open from the first message %s while open (no request, no pong), and counted off at its close",
    async (which) => {
      const s = await server();
      const c = conn<string, string>({ reconnect: false });
      const got: string[] = [];
      c.on("message", (m) => void got.push(m));
      await c.dial(s.url);
      await until(() => s.clients.size === 1, "the server's side of the socket");
      const { points } = instrumentInMemory();
      if (which === "sent") {
        c.send("hello");
        await until(() => s.received.length === 1, "the message at the server");
      } else {
        for (const client of s.clients) client.send("push");
        await until(() => got.length === 1, "the pushed message");
      }
      const where = { "server.address": "127.0.0.1", "server.port": s.port };
      expect(await points("evtwebsocket.connections.open")).toEqual([[where, 1]]);
      await c.close();
      expect(await points("evtwebsocket.connections.open")).toEqual([[where, 0]]);
    },
  );
});
