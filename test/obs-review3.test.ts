/**
 * Third adversarial review of issue 18 (logger, diagnostics_channel, evtwebsocket/otel), as an
 * SRE wiring it into a logger, channel subscribers and the OpenTelemetry SDK would, against real
 * sockets: metrics that must not drift or go back across uninstrument() and instrument(), span
 * attributes as OpenTelemetry's semantic conventions define them, and what the earlier reviews
 * (obs-review2.test.ts, newcode-review.test.ts) did not try.
 */

import { afterEach, describe, expect, it } from "vitest";
import { instrument, uninstrument } from "../src/otel/index.js";
import { echoServer } from "./helpers/echo-server.js";
import { conn } from "./helpers/harness.js";
import { instrumentInMemory } from "./helpers/otel-sdk.js";

afterEach(() => uninstrument());

const echoing = () => conn({ matchMsg: (req, resp) => req === resp });

describe("the message and byte counters never go back", () => {
  it("uninstrument() then instrument() on the same providers: they go on from their totals", async () => {
    const setup = instrumentInMemory();
    const server = await echoServer();
    const c = echoing();
    await c.dial(server.url);
    await c.request("ab");
    await c.request("cd");
    const sent = async (name: string) =>
      (await setup.points(name)).find(([a]) => a["network.io.direction"] === "transmit")?.[1];
    expect(await sent("evtwebsocket.messages")).toBe(2);
    expect(await sent("evtwebsocket.io")).toBe(4);
    uninstrument();
    instrument({ tracerProvider: setup.tracerProvider, meterProvider: setup.meterProvider });
    await c.request("ef");
    // A cumulative counter that went from 2 to 1 (it counted from 0 again).
    expect(await sent("evtwebsocket.messages")).toBe(3);
    expect(await sent("evtwebsocket.io")).toBe(6);
  });
});
