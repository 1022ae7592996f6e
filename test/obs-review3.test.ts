/**
 * Third adversarial review of issue 18 (logger, diagnostics_channel, evtwebsocket/otel), as an
 * SRE wiring it into a logger, channel subscribers and the OpenTelemetry SDK would, against real
 * sockets: metrics that must not drift or go back across uninstrument() and instrument(), span
 * attributes as OpenTelemetry's semantic conventions define them, and what the earlier reviews
 * (obs-review2.test.ts, newcode-review.test.ts) did not try.
 */

import { afterEach, describe, expect, it } from "vitest";
import { instrument, uninstrument } from "../src/otel/index.js";
import { createTestServer } from "../src/testing/index.js";
import { echoServer } from "./helpers/echo-server.js";
import { conn, onCleanup } from "./helpers/harness.js";
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

describe("span and metric attributes as OpenTelemetry's semantic conventions define them", () => {
  it("server.address of an IPv6 server is the address, without the URL's brackets", async () => {
    const { spans, points } = instrumentInMemory();
    const server = await createTestServer({
      host: "::1",
      onMessage: (data, client) => client.send(String(data)),
    });
    onCleanup(() => server.close());
    expect(server.url).toMatch(/^ws:\/\/\[::1\]:/);
    const c = echoing();
    await c.dial(server.url);
    await c.request("x");
    const where = { "server.address": "::1", "server.port": server.port };
    expect(spans.getFinishedSpans()[0]?.attributes).toMatchObject(where);
    expect(await points("evtwebsocket.connections.open")).toEqual([[where, 1]]);
  });
});
