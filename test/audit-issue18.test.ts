/**
 * Conformance audit of issue 18 ("See inside a connection"): promises of the issue that no test
 * pinned, or pinned loosely, checked against real sockets as a user of the logger,
 * `diagnostics_channel` and `evtwebsocket/otel` meets them.
 *
 * - `instrument()` given a bad option threw a TypeError (`….getMeter is not a function`) after
 *   it had already removed the setup in place: one typo stopped all reporting. It now refuses
 *   with `ERR_INVALID_OPTION` naming the option, before it changes anything.
 */

import { afterEach, describe, expect, it } from "vitest";
import { instrument, uninstrument } from "../src/otel/index.js";
import { echoServer } from "./helpers/echo-server.js";
import { conn } from "./helpers/harness.js";
import { instrumentInMemory } from "./helpers/otel-sdk.js";

afterEach(() => uninstrument());

describe("instrument() with a bad option", () => {
  it.each([
    ["options null", null, "options"],
    ["options a number", 42, "options"],
    ["tracerProvider without getTracer", { tracerProvider: {} }, "tracerProvider"],
    ["tracerProvider a number", { tracerProvider: 42 }, "tracerProvider"],
    ["meterProvider without getMeter", { meterProvider: {} }, "meterProvider"],
    ["meterProvider null", { meterProvider: null }, "meterProvider"],
  ])("%s: ERR_INVALID_OPTION naming it, and the setup in place keeps reporting", async (_what, bad, name) => {
    const { spans } = instrumentInMemory();
    expect(() => instrument(bad as never)).toThrow(
      expect.objectContaining({
        name: "EvtWebSocketError",
        code: "ERR_INVALID_OPTION",
        message: expect.stringContaining(name),
      }),
    );
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp });
    await c.dial(server.url);
    expect(await c.request("still traced")).toBe("still traced");
    // It used to have removed the setup before throwing: nothing was reported any more.
    expect(spans.getFinishedSpans()).toHaveLength(1);
  });
});
