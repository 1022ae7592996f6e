/**
 * Audit of issue 17 ("Delivery you can reason about"): promises of the issue that no other test
 * pinned exactly, against real `ws` servers on 127.0.0.1.
 */

import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { conn, server } from "./helpers/harness.js";
import { until } from "./helpers/server.js";

/** Counts reads of `ws`'s `bufferedAmount` (the read a watched send costs) while `fn` runs. */
async function bufferedReads(fn: () => Promise<void> | void): Promise<number> {
  const proto = WebSocket.prototype as unknown as object;
  const desc = Object.getOwnPropertyDescriptor(proto, "bufferedAmount")!;
  let reads = 0;
  Object.defineProperty(proto, "bufferedAmount", {
    ...desc,
    get(this: WebSocket) {
      reads++;
      return desc.get!.call(this);
    },
  });
  try {
    await fn();
  } finally {
    Object.defineProperty(proto, "bufferedAmount", desc);
  }
  return reads;
}

describe("issue 17: an unused feature costs nothing on the hot path", () => {
  it('once the last "drain" listener is removed, sends no longer read the buffered amount', async () => {
    let got = 0;
    const s = await server({ onMessage: () => void got++ });
    const c = conn();
    await c.dial(s.url);
    const send100 = () => {
      for (let i = 0; i < 100; i++) c.send("x");
    };
    const unwatched = await bufferedReads(send100);
    const off = c.on("drain", () => {});
    const offOther = c.on("drain", () => {});
    const watched = await bufferedReads(send100);
    off();
    off(); // a second call removes nothing more
    const oneLeft = await bufferedReads(send100);
    offOther();
    // Let the flush reports asked for while watched come back.
    await until(() => got === 300, "the first 300 messages");
    const after = await bufferedReads(send100);
    await until(() => got === 400, "every message");
    expect(unwatched).toBe(0);
    expect(watched).toBeGreaterThanOrEqual(100);
    expect(oneLeft).toBeGreaterThanOrEqual(100);
    expect(after).toBe(0);
  });
});
