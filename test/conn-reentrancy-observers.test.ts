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
import type { MeterProvider, TracerProvider } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { CHANNELS } from "../src/channel-names.js";
import { type EvtWebSocketError, json, type Logger } from "../src/index.js";
import { instrument, uninstrument } from "../src/otel/index.js";
import { echoServer } from "./helpers/echo-server.js";
import { conn, fast, onCleanup, uncaughtExceptions } from "./helpers/harness.js";

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

/** A logger that records every line and runs `onLine` on each (after recording it). */
function loggerThat(onLine: (line: string) => void): { lines: string[]; logger: Logger } {
  const lines: string[] = [];
  const log = (line: string) => {
    lines.push(line);
    onLine(line);
  };
  return { lines, logger: { debug: log, info: log, warn: log, error: log } };
}

/** How a promise settled: "resolved" or the error's code. */
const settled = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: EvtWebSocketError) => e.code,
  );

describe("a logger that calls back", () => {
  // The "option" line (an option the transport ignores) was told inside dial() before the dial
  // began: a dial() from it began first, then the outer one began again over it, and the inner
  // dial()'s promise never settled; a close() from it was undone by the dial that followed.
  it("dial() on the option line of a dial: refused as already dialled; the dial opens once", async () => {
    const server = await echoServer();
    let inner: string | undefined;
    let dialled = false;
    const { lines, logger } = loggerThat((line) => {
      if (line.split(" ")[1] !== "option" || dialled) return;
      dialled = true;
      void settled(c.dial(server.url)).then((outcome) => {
        inner = outcome;
      });
    });
    // ws's WebSocket class as a WHATWG WebSocket: it cannot bound message sizes, so the dial logs it.
    const c = conn({ WebSocket: WebSocket as never, maxMessageBytes: 1000, reconnect: fast, logger });
    expect(await settled(c.dial(server.url))).toBe("resolved");
    expect(c.state).toBe("open");
    expect(server.connections).toBe(1);
    expect(lines.filter((l) => l.split(" ")[1] === "attempt")).toHaveLength(1);
    // Every call has settled once close() has (it used to stay pending for good).
    await c.close();
    await new Promise(setImmediate);
    expect(inner).toBe("ERR_ALREADY_DIALED");
  });

  it("close() on the option line of a dial: the dial rejects with ERR_CLOSED, no socket is made", async () => {
    const server = await echoServer();
    let closed: Promise<string> | undefined;
    const { lines, logger } = loggerThat((line) => {
      if (line.split(" ")[1] === "option" && closed === undefined) closed = settled(c.close());
    });
    const c = conn({ WebSocket: WebSocket as never, maxMessageBytes: 1000, reconnect: fast, logger });
    expect(await settled(c.dial(server.url))).toBe("ERR_CLOSED");
    expect(await closed).toBe("resolved");
    expect(c.state).toBe("closed");
    expect(server.connections).toBe(0);
    expect(lines.filter((l) => l.split(" ")[1] === "attempt")).toHaveLength(0);
  });
});

/** A tracer provider whose tracer throws from every method. */
const throwingTracerProvider = {
  getTracer: () => ({
    startSpan: () => {
      throw new Error("startSpan threw");
    },
    startActiveSpan: () => {
      throw new Error("startActiveSpan threw");
    },
  }),
} as unknown as TracerProvider;

/** A meter provider whose instruments throw when they count or record. */
function throwingMeterProvider(): MeterProvider {
  const boom = () => {
    throw new Error("instrument threw");
  };
  const instrument = { add: boom, record: boom, addCallback() {}, removeCallback() {} };
  const meter = {
    createUpDownCounter: () => instrument,
    createCounter: () => instrument,
    createHistogram: () => instrument,
    createObservableCounter: () => instrument,
    createObservableGauge: () => instrument,
    addBatchObservableCallback() {},
    removeBatchObservableCallback() {},
  };
  return { getMeter: () => meter } as unknown as MeterProvider;
}

describe("evtwebsocket/otel with a tracer or meter that throws", () => {
  // Its subscribers run inside the connection's publishing code; Node rethrows a subscriber's
  // throw as an uncaught exception on the next tick, which ends a process without a handler.
  it.each([
    ["a tracer", { tracerProvider: throwingTracerProvider }],
    ["a meter", { meterProvider: throwingMeterProvider() }],
  ])("%s that throws: no uncaught exception; requests, reconnects and close() work", async (_, providers) => {
    const uncaught = uncaughtExceptions();
    instrument(providers);
    onCleanup(async () => uninstrument());
    const server = await echoServer();
    const c = conn<Msg, Msg>({ codec: json(), messageId: (m) => m.id, reconnect: fast });
    await c.dial(server.url);
    expect(await c.request({ id: 1 })).toEqual({ id: 1 });
    const back = new Promise((resolve) => c.on("connected", resolve));
    c.reconnect(4000, "again");
    await back;
    expect(await c.request({ id: 2 })).toEqual({ id: 2 });
    await c.close();
    await new Promise(setImmediate);
    expect(uncaught).toEqual([]);
  });
});

describe("evtwebsocket/otel: uninstrument() with spans whose end() throws", () => {
  it("every span in flight is ended, uninstrument() does not throw, and the requests still settle", async () => {
    let ended = 0;
    const span = {
      end: () => {
        ended++;
        throw new Error("end threw");
      },
      addEvent() {},
      setStatus() {},
      setAttributes() {},
    };
    const tracerProvider = { getTracer: () => ({ startSpan: () => span }) } as unknown as TracerProvider;
    instrument({ tracerProvider });
    onCleanup(async () => uninstrument());
    const server = await echoServer();
    // "silent" is never answered: both requests are in flight at uninstrument().
    const c = conn({ matchMsg: (req, resp) => req === resp, reconnect: fast });
    await c.dial(server.url);
    const first = settled(c.request("silent"));
    const second = settled(c.request("silent"));
    expect(() => uninstrument()).not.toThrow();
    expect(ended).toBe(2);
    await c.close();
    expect([await first, await second]).toEqual(["ERR_CLOSED", "ERR_CLOSED"]);
  });
});

describe("evtwebsocket/otel: instrument() again with a meter that throws, a connection open", () => {
  // The connections the earlier setup counted open are counted again on the new meter (and
  // counted off by uninstrument()): a meter whose add() threw made instrument() throw after the
  // earlier setup was removed (no reporting at all), then uninstrument() throw.
  it("instrument() and uninstrument() do not throw, and the new setup reports", async () => {
    const server = await echoServer();
    const c = conn<Msg, Msg>({ codec: json(), messageId: (m) => m.id, reconnect: fast });
    instrument();
    onCleanup(async () => uninstrument());
    await c.dial(server.url); // counted open by the first setup
    let spans = 0;
    const span = { end() {}, addEvent() {}, setStatus() {}, setAttributes() {} };
    const tracerProvider = {
      getTracer: () => ({
        startSpan: () => {
          spans++;
          return span;
        },
      }),
    } as unknown as TracerProvider;
    expect(() => instrument({ tracerProvider, meterProvider: throwingMeterProvider() })).not.toThrow();
    expect(await c.request({ id: 1 })).toEqual({ id: 1 });
    expect(spans).toBe(1);
    expect(() => uninstrument()).not.toThrow();
    await c.close();
  });
});
