/**
 * `evtwebsocket/otel` against real servers, reported to the OpenTelemetry SDK's in-memory
 * exporters: one client span per request with the server address, connection id, outcome and
 * error code; connection events as span events; the metrics; a reconnect and a request
 * timeout; and `uninstrument()` leaving nothing subscribed.
 * Also the open gauge for a connection made before `instrument()`, and across meter providers.
 * And `instrument()` refusing a bad option before it changes the setup in place; counters that
 * never go back, semantic-convention attributes, no secret in a span or metric, a reconnect storm,
 * the open gauge back at 0 after reconnect(), a hidden page, a give-up and dispose.
 */

import dc from "node:diagnostics_channel";
import v8 from "node:v8";
import vm from "node:vm";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CANARY, canaryHits } from "../chaos/canary.js";
import { CHANNELS } from "../src/channel-names.js";
import { Conn, type EvtWebSocketError, type Logger, State } from "../src/index.js";
import { type InstrumentOptions, instrument, uninstrument } from "../src/otel/index.js";
import { createTestServer } from "../src/testing/index.js";
import { echoServer } from "./helpers/echo-server.js";
import { conn, fast, onCleanup, server } from "./helpers/harness.js";
import { instrumentInMemory } from "./helpers/otel-sdk.js";
import { stubPage } from "./helpers/page.js";
import { proxyChain } from "./helpers/proxy.js";
import { SUBPROTOCOL, secretUrl } from "./helpers/secrets.js";
import { until } from "./helpers/server.js";

afterEach(() => uninstrument());

/** The boundaries OpenTelemetry's semantic conventions advise for durations in seconds (http.client.request.duration). */
const DURATION_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** instrument() again, on the providers of an earlier instrumentInMemory(). */
function setupOn<T extends { tracerProvider: unknown; meterProvider: unknown }>(earlier: T): T {
  instrument(earlier as InstrumentOptions);
  return earlier;
}

describe("evtwebsocket/otel", () => {
  it("one client span per request with server address, port, connection id and outcome; a timeout is an error with error.type", async () => {
    const { spans, points } = instrumentInMemory();
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp, headers: { Authorization: `Bearer ${CANARY}` } });
    await c.dial(`${server.url}/socket/${CANARY}?token=${CANARY}`);
    await c.request("hello");
    const timeout = await c.request("silent", { timeoutMs: 30 }).catch((e: EvtWebSocketError) => e);
    expect((timeout as EvtWebSocketError).code).toBe("ERR_REQUEST_TIMEOUT");
    const finished = spans.getFinishedSpans();
    expect(finished).toHaveLength(2);
    const [ok, timedOut] = finished;
    const server_ = { "server.address": "127.0.0.1", "server.port": server.port };
    expect(ok?.kind).toBe(2); // SpanKind.CLIENT
    expect(ok?.attributes).toMatchObject({
      ...server_,
      "evtwebsocket.connection.id": c.id,
      "evtwebsocket.request.outcome": "ok",
    });
    expect(ok?.status.code).toBe(0); // UNSET
    expect(timedOut?.attributes).toMatchObject({
      ...server_,
      "evtwebsocket.request.outcome": "timeout",
      "error.type": "ERR_REQUEST_TIMEOUT",
    });
    expect(timedOut?.status.code).toBe(2); // ERROR
    const durations = await points("evtwebsocket.request.duration");
    expect(durations.map(([a]) => a["evtwebsocket.request.outcome"]).sort()).toEqual(["ok", "timeout"]);
    const messages = await points("evtwebsocket.messages");
    expect(messages).toContainEqual([{ "network.io.direction": "transmit" }, 2]);
    expect(messages).toContainEqual([{ "network.io.direction": "receive" }, 1]);
    const bytes = await points("evtwebsocket.io");
    expect(bytes).toContainEqual([{ "network.io.direction": "transmit" }, 11]);
    expect(await points("evtwebsocket.connections.open")).toEqual([[server_, 1]]);
    const exported = finished.map((s) => ({
      name: s.name,
      attributes: s.attributes,
      events: s.events,
      status: s.status,
    }));
    expect(canaryHits(exported)).toEqual([]);
  });

  it("the request duration and ping RTT histograms use OpenTelemetry's duration buckets, in seconds", async () => {
    const { points } = instrumentInMemory();
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp, pingIntervalMs: 30 });
    await c.dial(server.url);
    await c.request("hello");
    await new Promise((resolve) => c.on("pong", resolve));
    // The SDK's default boundaries (0, 5, 10, ... 10,000) are for milliseconds: in seconds every
    // request and ping of a healthy connection fell in the first bucket, 0 to 5 s.
    for (const name of ["evtwebsocket.request.duration", "evtwebsocket.ping.rtt"]) {
      const [[, value]] = (await points(name)) as unknown as [
        [unknown, { buckets: { boundaries: number[] } }],
      ];
      expect(value.buckets.boundaries, name).toEqual(DURATION_BUCKETS_S);
    }
  });

  it("a request made before the connection first opened has the server's address and port on its span", async () => {
    const { spans } = instrumentInMemory();
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp });
    const early = c.request("early");
    await c.dial(server.url);
    expect(await early).toBe("early");
    const [span] = spans.getFinishedSpans();
    // It used to have only the connection id: the server was not known when the span started.
    expect(span?.attributes).toEqual({
      "server.address": "127.0.0.1",
      "server.port": server.port,
      "evtwebsocket.connection.id": c.id,
      "evtwebsocket.request.outcome": "ok",
    });
    expect(span?.events.map((e) => e.name)).toEqual(["evtwebsocket.open"]);
  });

  it("a reconnect: counted by reason, the open connections go 1, 0, 1, and requests in flight hear close, reconnecting and open as span events", async () => {
    const { spans, points } = instrumentInMemory();
    const server = await echoServer();
    const c = conn({ reconnect: fast, matchMsg: (req, resp) => req === resp, pingIntervalMs: 30 });
    await c.dial(server.url);
    await new Promise((resolve) => c.on("pong", resolve));
    const lost = c.request("silent").catch((e: EvtWebSocketError) => e);
    const abort = new AbortController();
    const kept = c
      .request("silent", { retryOnReconnect: true, signal: abort.signal })
      .catch((e: EvtWebSocketError) => e);
    const reopened = new Promise((resolve) => c.on("connected", resolve));
    server.dropAll(1011, "restarting");
    expect(((await lost) as EvtWebSocketError).code).toBe("ERR_DISCONNECTED");
    await reopened;
    expect(await points("evtwebsocket.reconnects")).toEqual([
      [{ "evtwebsocket.reconnect.reason": "close-1011" }, 1],
    ]);
    const open = await points("evtwebsocket.connections.open");
    expect(open.map(([, v]) => v)).toEqual([1]);
    abort.abort();
    expect(((await kept) as EvtWebSocketError).code).toBe("ERR_ABORTED");
    const [span, retried] = spans.getFinishedSpans();
    expect(span?.attributes["evtwebsocket.request.outcome"]).toBe("error");
    expect(span?.attributes["error.type"]).toBe("ERR_DISCONNECTED");
    expect(span?.events.map((e) => e.name)).toEqual(["evtwebsocket.close", "evtwebsocket.reconnecting"]);
    expect(retried?.attributes["evtwebsocket.request.outcome"]).toBe("aborted");
    expect(retried?.events.map((e) => e.name)).toEqual([
      "evtwebsocket.close",
      "evtwebsocket.reconnecting",
      "evtwebsocket.open",
    ]);
    const rtt = await points("evtwebsocket.ping.rtt");
    expect(rtt.length).toBeGreaterThan(0);
    await c.close();
    expect((await points("evtwebsocket.connections.open")).map(([, v]) => v)).toEqual([0]);
  });

  it("a connection open before instrument() and first heard of at its close is not counted as open, and its close does not count it off", async () => {
    const server = await echoServer();
    const c = conn({ reconnect: false });
    await c.dial(server.url);
    const { points } = instrumentInMemory();
    await c.close();
    // It used to count the close alone: open connections went to -1 (with no server attributes).
    expect((await points("evtwebsocket.connections.open")).filter(([, v]) => v !== 0)).toEqual([]);
  });

  it("a connection open before instrument(), first heard of while open: counted open from then, and its request spans have the server's address and port", async () => {
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp, reconnect: false });
    await c.dial(server.url);
    const { spans, points } = instrumentInMemory();
    await c.request("hello");
    const where = { "server.address": "127.0.0.1", "server.port": server.port };
    expect(spans.getFinishedSpans()[0]?.attributes).toMatchObject({
      ...where,
      "evtwebsocket.connection.id": c.id,
    });
    expect(await points("evtwebsocket.connections.open")).toEqual([[where, 1]]);
    await c.close();
    expect(await points("evtwebsocket.connections.open")).toEqual([[where, 0]]);
  });

  it("instrument() again on the same meter counts an open connection once; on another meter it moves there; uninstrument() counts it off", async () => {
    const server = await echoServer();
    const first = instrumentInMemory();
    const c = conn({ reconnect: false });
    await c.dial(server.url);
    const open = async (p: typeof first) =>
      (await p.points("evtwebsocket.connections.open")).map(([, v]) => v);
    expect(await open(first)).toEqual([1]);
    const same = setupOn(first);
    expect(await open(same)).toEqual([1]);
    // It used to stay at 1 on the first meter for good: the setup replaced never counted the
    // connection off, and the one replacing it never heard it open, so its close counted nothing.
    const other = instrumentInMemory();
    expect(await open(first)).toEqual([0]);
    expect(await open(other)).toEqual([1]);
    await c.close();
    expect(await open(other)).toEqual([0]);
    const d = conn({ reconnect: false });
    await d.dial(server.url);
    expect(await open(other)).toEqual([1]);
    uninstrument();
    expect(await open(other)).toEqual([0]);
    await d.close();
  });

  it("instrument() again on the same meter: the message and byte counters go on from their totals", async () => {
    const server = await echoServer();
    const first = instrumentInMemory();
    const c = conn({ reconnect: false, matchMsg: (req, resp) => req === resp });
    await c.dial(server.url);
    for (const m of ["a", "bb", "ccc"]) expect(await c.request(m)).toBe(m);
    const io = async (p: typeof first) =>
      [...(await p.points("evtwebsocket.messages")), ...(await p.points("evtwebsocket.io"))].map(([a, v]) => [
        a["network.io.direction"],
        v,
      ]);
    expect(await io(first)).toEqual([
      ["transmit", 3],
      ["receive", 3],
      ["transmit", 6],
      ["receive", 6],
    ]);
    const same = setupOn(first);
    expect(await c.request("d")).toBe("d");
    // They used to start again from 0: a cumulative counter went from 3 back to 1.
    expect(await io(same)).toEqual([
      ["transmit", 4],
      ["receive", 4],
      ["transmit", 7],
      ["receive", 7],
    ]);
  });

  it("two copies of the library in one process (ESM and CJS builds, two versions) give their connections different ids, so each is counted off when it closes", async () => {
    const server = await echoServer();
    const { points } = instrumentInMemory();
    // Two fresh copies of the library, as an ESM import and a CJS require() of it are.
    const copy = async () => {
      vi.resetModules();
      return (await import("../src/index.js")) as typeof import("../src/index.js");
    };
    const [one, two] = [await copy(), await copy()];
    const a = new one.Conn<string, string>({ reconnect: false });
    const b = new two.Conn<string, string>({ reconnect: false });
    onCleanup(() => a.close());
    onCleanup(() => b.close());
    expect(b).not.toBeInstanceOf(one.Conn);
    // Each copy counted from its own "c1": both were "c1".
    expect(b.id).not.toBe(a.id);
    await a.dial(server.url);
    await b.dial(server.url);
    const open = async () => (await points("evtwebsocket.connections.open")).map(([, v]) => v);
    expect(await open()).toEqual([2]);
    await a.close();
    await b.close();
    // Under one id, one record: the second close counted nothing off, and it stayed at 1.
    expect(await open()).toEqual([0]);
  });

  it("queue depth is an observable gauge over the process's connections", async () => {
    const { points } = instrumentInMemory();
    const c = conn({ reconnect: false });
    c.send("a");
    c.send("b");
    expect(await points("evtwebsocket.queue.depth")).toEqual([[{}, 2]]);
  });

  it("forgets a connection once it is garbage-collected, also with tracing only (no metric reader ever collects)", async () => {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const settled = async () => {
      // Collected objects' finalizers run in later turns.
      for (let i = 0; i < 4; i++) {
        gc();
        await new Promise((r) => setImmediate(r));
      }
      return process.memoryUsage().heapUsed;
    };
    instrument({ tracerProvider: new BasicTracerProvider() });
    const before = await settled();
    for (let i = 0; i < 50_000; i++) new Conn();
    const growth = (await settled()) - before;
    // Each forgotten connection used to keep about 400 B (20 MB here) for the life of the process.
    expect(growth, `heap grew ${(growth / 1e6).toFixed(1)} MB`).toBeLessThan(5e6);
  });

  it("uninstrument() removes every subscription", async () => {
    instrumentInMemory();
    const names = Object.values(CHANNELS).filter((n) => n !== CHANNELS.request);
    expect(names.every((n) => dc.channel(n).hasSubscribers)).toBe(true);
    expect(dc.tracingChannel(CHANNELS.request).start.hasSubscribers).toBe(true);
    uninstrument();
    expect(names.filter((n) => dc.channel(n).hasSubscribers)).toEqual([]);
    expect(dc.tracingChannel(CHANNELS.request).start.hasSubscribers).toBe(false);
  });

  it("requests in flight are linked oldest first; one that ends forgets its neighbours, so a dead one keeps no live one alive", async () => {
    // They were in a Set per connection: its old tables, dead in the old generation, kept ended
    // spans alive until a full collection and got them promoted (src/otel/in-flight.ts).
    instrumentInMemory();
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp });
    await c.dial(server.url);
    const contexts: object[] = [];
    const tracing = dc.tracingChannel(CHANNELS.request);
    const none = () => {};
    const handlers = {
      start: (ctx: object) => void contexts.push(ctx),
      end: none,
      asyncStart: none,
      asyncEnd: none,
      error: none,
    };
    tracing.subscribe(handlers);
    onCleanup(async () => void tracing.unsubscribe(handlers));
    const abort = new AbortController();
    const outcomes = [
      c.request("silent", { timeoutMs: 0 }),
      c.request("silent", { timeoutMs: 0, signal: abort.signal }),
      c.request("silent", { timeoutMs: 0 }),
    ].map((p) => p.catch((e: EvtWebSocketError) => e.code));
    type Linked = { prev?: unknown; next?: unknown };
    const [a, b, d] = contexts.map((ctx) => {
      const key = Object.getOwnPropertySymbols(ctx).find(
        (s) => s.description === "evtwebsocket.otel.request",
      );
      return (ctx as Record<symbol, Linked>)[key!]!;
    });
    expect([a?.prev, a?.next, b?.prev, b?.next, d?.prev, d?.next]).toEqual([
      undefined,
      b,
      a,
      d,
      b,
      undefined,
    ]);
    abort.abort();
    expect(await outcomes[1]).toBe("ERR_ABORTED");
    expect([b?.prev, b?.next]).toEqual([undefined, undefined]);
    expect([a?.next, d?.prev]).toEqual([d, a]);
    await c.close();
    expect(await Promise.all(outcomes)).toEqual(["ERR_CLOSED", "ERR_ABORTED", "ERR_CLOSED"]);
    expect([a?.next, d?.prev]).toEqual([undefined, undefined]);
  });

  it("uninstrument() ends the spans of requests still in flight", async () => {
    const { spans } = instrumentInMemory();
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp });
    await c.dial(server.url);
    const pending = c.request("silent", { timeoutMs: 0 }).catch((e: EvtWebSocketError) => e);
    uninstrument();
    // It used to leave them open: never exported, whatever became of the request.
    expect(spans.getFinishedSpans()).toHaveLength(1);
    await c.close();
    await pending;
    expect(spans.getFinishedSpans()).toHaveLength(1);
  });
});

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

  it.each(["sends", "makes a request"] as const)(
    "made before instrument() and opening after it: a channel subscriber from before instrument() that %s at the open does not count it twice",
    async (what) => {
      const s = await server();
      const c = conn<string, string>({ reconnect: false, matchMsg: () => false });
      const onOpen = (msg: unknown) => {
        if ((msg as { id: string }).id !== c.id) return;
        if (what === "sends") c.send("hello at the open");
        else c.request("hello at the open").catch(() => {}); // never answered: close() settles it
      };
      dc.subscribe(CHANNELS.open, onOpen); // before instrument(): it hears the open first
      onCleanup(async () => void dc.unsubscribe(CHANNELS.open, onOpen));
      const dialled = c.dial(s.url);
      const { points } = instrumentInMemory();
      await dialled;
      await until(() => s.received.length === 1, "the message at the server");
      const where = { "server.address": "127.0.0.1", "server.port": s.port };
      expect(await points("evtwebsocket.connections.open")).toEqual([[where, 1]]);
      await c.close();
      expect(await points("evtwebsocket.connections.open")).toEqual([[where, 0]]);
    },
  );
});

describe("otel: instrument() on another meter provider, then back", () => {
  it("A, then B, then A again: each meter's message total goes on from its own, the open gauge follows the live setup", async () => {
    const a = instrumentInMemory();
    onCleanup(async () => uninstrument());
    const s = await server();
    const c = conn({ matchMsg: (x, y) => x === y });
    await c.dial(s.url);
    await c.request("1");
    await c.request("2");
    const sent = async (setup: typeof a) =>
      (await setup.points("evtwebsocket.messages")).find(
        ([at]) => at["network.io.direction"] === "transmit",
      )?.[1];
    const open = async (setup: typeof a) =>
      (await setup.points("evtwebsocket.connections.open")).map(([, v]) => v);
    expect(await sent(a)).toBe(2);
    expect(await open(a)).toEqual([1]);
    const b = instrumentInMemory(); // replaces A's setup
    await c.request("3");
    expect(await sent(b)).toBe(1);
    expect(await open(b)).toEqual([1]);
    expect(await open(a)).toEqual([0]);
    instrument({ tracerProvider: a.tracerProvider, meterProvider: a.meterProvider });
    await c.request("4");
    expect(await sent(a)).toBe(3);
    expect(await open(a)).toEqual([1]);
    expect(await open(b)).toEqual([0]);
    await c.close();
    expect(await open(a)).toEqual([0]);
  });
});

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

const echoing = () => conn({ matchMsg: (req, resp) => req === resp });

const failed = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: EvtWebSocketError) => e.code,
  );

/** Every context object the request TracingChannel publishes, with the events each had. */
function requestContexts() {
  const seen: object[] = [];
  const keep = (ctx: unknown) => void seen.push({ ...(ctx as object), conn: undefined });
  const handlers = { start: keep, end: keep, asyncStart: keep, asyncEnd: keep, error: keep };
  const tracing = dc.tracingChannel(CHANNELS.request);
  tracing.subscribe(handlers);
  onCleanup(async () => void tracing.unsubscribe(handlers));
  return seen;
}

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

describe("secrets never reach a span or a metric", () => {
  it("the canary in the URL, headers, subprotocol and proxy credentials: in no span attribute, event or status, no metric attribute, no request context", async () => {
    const { spans, points } = instrumentInMemory();
    const contexts = requestContexts();
    const secretProxy = (port: number) => `http://user:${CANARY}@127.0.0.1:${port}`;
    const headers = { Authorization: `Bearer ${CANARY}`, "X-Api-Key": CANARY };
    // A proxy that refuses the credentials: a request queued meanwhile fails with the dial.
    const refusing = await proxyChain({ user: "user", password: "other" });
    const c1 = conn({
      matchMsg: (req, resp) => req === resp,
      proxy: secretProxy(refusing.port),
      headers,
      reconnect: false,
      onError: () => {},
    });
    const queued = failed(c1.request("q"));
    expect(await failed(c1.dial(secretUrl("ws://127.0.0.1:9"), SUBPROTOCOL))).toBe("ERR_DIAL_FAILED");
    expect(await queued).toBe("ERR_DISCONNECTED");
    // One that takes them: a request answered, one timed out, one lost to a server drop.
    const server = await echoServer();
    const taking = await proxyChain({ user: "user", password: CANARY });
    const c2 = conn({
      matchMsg: (req, resp) => req === resp,
      proxy: secretProxy(taking.port),
      headers,
      reconnect: fast,
      pingIntervalMs: 20,
    });
    await c2.dial(secretUrl(server.url), SUBPROTOCOL);
    expect(await c2.request("ok")).toBe("ok");
    expect(await failed(c2.request("silent", { timeoutMs: 20 }))).toBe("ERR_REQUEST_TIMEOUT");
    const lost = failed(c2.request("silent"));
    await server.dropAll(1011, "restart");
    expect(await lost).toBe("ERR_DISCONNECTED");
    await until(() => c2.state === State.OPEN && server.connections === 2, "reopened through the proxy");
    await new Promise((resolve) => c2.on("pong", resolve));
    await c2.close();
    const finished = spans.getFinishedSpans();
    expect(finished.map((s) => s.attributes["evtwebsocket.request.outcome"])).toEqual([
      "error",
      "ok",
      "timeout",
      "error",
    ]);
    const reported = finished.map((s) => ({
      name: s.name,
      attributes: s.attributes,
      events: s.events,
      status: s.status,
    }));
    const metrics = [];
    for (const name of ["evtwebsocket.connections.open", "evtwebsocket.reconnects", "evtwebsocket.ping.rtt"])
      metrics.push(await points(name));
    expect(metrics[2]!.length, "a pong was recorded").toBe(1);
    expect(canaryHits(reported), "a span").toEqual([]);
    expect(canaryHits(metrics), "a metric").toEqual([]);
    expect(canaryHits(contexts), "a request context").toEqual([]);
  });
});

describe("a subscriber heard before evtwebsocket/otel's that calls uninstrument()", () => {
  // Node hands a message to the subscribers it had when it began publishing it: ours still ran.
  it("on an open: the connection is not counted open on the providers it left", async () => {
    const stop = () => uninstrument();
    dc.subscribe(CHANNELS.open, stop);
    onCleanup(async () => void dc.unsubscribe(CHANNELS.open, stop));
    const { points } = instrumentInMemory();
    const server = await echoServer();
    const c = conn();
    await c.dial(server.url);
    // It stayed at 1 for good: nothing was left to count it off.
    expect(await points("evtwebsocket.connections.open")).toEqual([]);
    await c.close();
  });
});

describe("a reconnect storm (held)", () => {
  it("a server that closes every connection with 1012 at once: every cycle logged and published in order, reconnects counted, none left open", async () => {
    const { points } = instrumentInMemory();
    const server = await createTestServer({ onConnection: (client) => client.close(1012, "restart") });
    onCleanup(() => server.close());
    const lines: string[] = [];
    const keep = (line: string) => void lines.push(line.split(" ")[1] ?? "");
    const logger: Logger = { debug: keep, info: keep, warn: keep, error: keep };
    const published: string[] = [];
    const names = ["open", "close", "reconnecting", "error"] as const;
    const listeners = names.map((k) => [k, () => void published.push(k)] as const);
    for (const [k, fn] of listeners) dc.subscribe(CHANNELS[k], fn);
    onCleanup(async () => {
      for (const [k, fn] of listeners) dc.unsubscribe(CHANNELS[k], fn);
    });
    const c = conn({ logger, reconnect: { minDelayMs: 1, maxDelayMs: 2, jitter: 0 } });
    await c.dial(server.url);
    await until(() => server.connections >= 12, "a dozen connections");
    await c.close();
    const cycles = lines
      .map((l) => `${l},`)
      .join("")
      .split("attempt,open,close,reconnecting,");
    // Every cycle whole; at most an attempt that close() cut short after the last.
    const rest = cycles.pop();
    expect(cycles.every((part) => part === "")).toBe(true);
    expect(["", "attempt,", "attempt,open,close,"]).toContain(rest);
    const n = cycles.length;
    expect(n).toBeGreaterThanOrEqual(11);
    const cut = rest === "attempt,open,close," ? "open,close," : "";
    expect(published.map((k) => `${k},`).join("")).toBe("open,close,reconnecting,".repeat(n) + cut);
    expect(await points("evtwebsocket.reconnects")).toEqual([
      [{ "evtwebsocket.reconnect.reason": "close-1012" }, n],
    ]);
    expect((await points("evtwebsocket.connections.open")).map(([, v]) => v)).toEqual([0]);
  });
});

describe("open connections are counted back to 0", () => {
  it("after reconnect(), a page hidden and shown, close() while hidden, a give-up, and dispose", async () => {
    const { points } = instrumentInMemory();
    const page = stubPage();
    const server = await echoServer();
    const open = async () =>
      (await points("evtwebsocket.connections.open")).reduce((n, [, v]) => n + (v as number), 0);
    const a = conn({ reconnect: fast });
    await a.dial(server.url);
    a.reconnect();
    await until(() => a.state === State.OPEN && server.connections === 2, "a back");
    expect(await open()).toBe(1);
    page.fire("pagehide");
    await until(() => server.clients.size === 0, "a's socket closed by the hide");
    expect(await open()).toBe(0);
    page.fire("pageshow");
    await until(() => a.state === State.OPEN, "a shown again");
    expect(await open()).toBe(1);
    page.fire("pagehide");
    await a.close();
    expect(await open()).toBe(0);
    const b = conn({ reconnect: false, onError: () => {} });
    await b.dial(server.url);
    await server.dropAll(1011, "bye");
    await until(() => b.state === State.CLOSED, "b gave up");
    expect(await open()).toBe(0);
    {
      await using d = conn({ reconnect: fast });
      await d.dial(server.url);
      expect(await open()).toBe(1);
    }
    expect(await open()).toBe(0);
    const reconnects = await points("evtwebsocket.reconnects");
    expect(reconnects).toEqual([[{ "evtwebsocket.reconnect.reason": "reconnect()" }, 1]]);
  });
});
