/**
 * Adversarial tests of the observers: user code that runs inside the connection's own
 * transitions (a logger, a `diagnostics_channel` subscriber, `evtwebsocket/otel` with a tracer
 * or meter that throws) and calls back into it: close(), close() then dial(), reconnect(),
 * send(), request(). The model suite (test/model/) drives Conn's callbacks, not these, which
 * run synchronously where the connection publishes.
 *
 * Real `ws` servers on 127.0.0.1; each test asserts how every call settled, with no timing.
 */

import dc from "node:diagnostics_channel";
import { describe, expect, it } from "vitest";
import { CHANNELS } from "../src/channel-names.js";
import { json } from "../src/index.js";
import { echoServer } from "./helpers/echo-server.js";
import { conn, fast, onCleanup } from "./helpers/harness.js";

type Msg = { id: number };

/** Subscribes `fn` to the channel `name` for this test. */
function subscribe(name: string, fn: (msg: { conn: unknown }) => void): void {
  const listener = (m: unknown) => fn(m as { conn: unknown });
  dc.subscribe(name, listener);
  onCleanup(async () => void dc.unsubscribe(name, listener));
}

describe("a diagnostics_channel subscriber that calls back", () => {
  // The frame of a queued request was handed to the socket before the request was marked on
  // the wire: a reconnect() from its message:sent found it neither queued nor in flight, so it
  // was neither sent again nor rejected, and waited for its timeout.
  it.each([
    [true, "resolves on the new connection"],
    [false, "rejects with ERR_DISCONNECTED"],
  ])(
    "reconnect() on the message:sent of a queued request (retryOnReconnect %s): it %s, not by its timeout",
    async (retryOnReconnect) => {
      const server = await echoServer();
      const c = conn<Msg, Msg>({
        codec: json(),
        messageId: (m) => m.id,
        reconnect: fast,
        requestTimeoutMs: 5000,
      });
      let sent = 0;
      subscribe(CHANNELS.sent, (m) => {
        if (m.conn === c && sent++ === 0) c.reconnect(4000, "from message:sent");
      });
      const outcome = c.request({ id: 1 }, { retryOnReconnect }).then(
        (v) => ({ resolved: v }),
        (e) => ({ rejected: e.code }),
      );
      await c.dial(server.url);
      expect(await outcome).toEqual(
        retryOnReconnect ? { resolved: { id: 1 } } : { rejected: "ERR_DISCONNECTED" },
      );
      expect(c.stats.pendingRequests).toBe(0);
      expect(c.stats.queuedMessages).toBe(0);
    },
  );
});
