/**
 * A clean close from the server that is not retried (reconnect off, or `shouldReconnect`
 * returns false) ends the connection with no error to report: what each consumer gets then, as
 * docs/concepts.md "What happens at each transition" and the README's "Backpressure" say. Real
 * ws servers on 127.0.0.1 port 0.
 */

import { expect, it } from "vitest";
import type { CloseInfo, ReconnectOptions } from "../src/index.js";
import { conn, fast, server } from "./helpers/harness.js";

const policies: [string, false | ReconnectOptions][] = [
  ["reconnect: false", false],
  ["shouldReconnect returns false", { ...fast, shouldReconnect: () => false }],
];

it.each(policies)(
  "a clean server close, not retried (%s): no onError, messages() ends done, a request in flight rejects ERR_DISCONNECTED with no cause",
  async (_name, reconnect) => {
    // The server answers the request by closing cleanly.
    const s = await server({ onMessage: (ws) => ws.close(4001, "bye") });
    const reported: unknown[] = [];
    const closes: CloseInfo[] = [];
    const c = conn<string, string>({
      reconnect,
      matchMsg: () => true,
      onError: (e) => void reported.push(e),
      onClose: (info) => void closes.push(info),
    });
    await c.dial(s.url);
    const iterated = (async () => {
      for await (const _ of c.messages()) {
        // nothing arrives
      }
      return "done";
    })();
    const failure = await c.request("x").catch((e: unknown) => e);
    expect(await iterated).toBe("done");
    expect(failure).toMatchObject({ code: "ERR_DISCONNECTED", details: { closeCode: 4001 } });
    expect((failure as Error).cause).toBeUndefined();
    expect(closes).toEqual([
      { code: 4001, reason: "bye", wasClean: true, willReconnect: false, closedBy: "server" },
    ]);
    expect(c.state).toBe("closed");
    expect(reported).toEqual([]);
    await expect(c.drained()).rejects.toMatchObject({ code: "ERR_CLOSED" });
  },
);
