/**
 * Third adversarial review of issue 18 (logger, diagnostics_channel, evtwebsocket/otel), as an
 * SRE wiring it into a logger, channel subscribers and the OpenTelemetry SDK would, against real
 * sockets: metrics that must not drift or go back across uninstrument() and instrument(), span
 * attributes as OpenTelemetry's semantic conventions define them, and what the earlier reviews
 * (obs-review2.test.ts, and the open gauge's tests in otel.test.ts) did not try.
 */

import { AsyncLocalStorage } from "node:async_hooks";
import dc from "node:diagnostics_channel";
import {
  type Context,
  type ContextManager,
  context,
  DiagLogLevel,
  diag,
  ROOT_CONTEXT,
  trace,
} from "@opentelemetry/api";
import { BasicTracerProvider, type Span } from "@opentelemetry/sdk-trace-base";
import { afterEach, describe, expect, it } from "vitest";
import { CANARY, canaryHits } from "../chaos/canary.js";
import { CHANNELS } from "../src/channel-names.js";
import { type EvtWebSocketError, type Logger, State } from "../src/index.js";
import { instrument, uninstrument } from "../src/otel/index.js";
import { createTestServer } from "../src/testing/index.js";
import { echoServer } from "./helpers/echo-server.js";
import { conn, fast, onCleanup } from "./helpers/harness.js";
import { instrumentInMemory } from "./helpers/otel-sdk.js";
import { proxyChain } from "./helpers/proxy.js";
import { SUBPROTOCOL, secretUrl } from "./helpers/secrets.js";
import { until } from "./helpers/server.js";

afterEach(() => uninstrument());

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

describe("a logger whose methods are async (a log shipper)", () => {
  it("one whose promises reject is ignored as one that throws: no unhandled rejection, every line still given to it", async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => void unhandled.push(reason);
    process.prependListener("unhandledRejection", record);
    onCleanup(async () => void process.removeListener("unhandledRejection", record));
    const lines: string[] = [];
    const ship = async (line: string) => {
      lines.push(line);
      throw new Error("log shipper down");
    };
    const logger: Logger = { debug: ship, info: ship, warn: ship, error: ship };
    const server = await echoServer();
    const c = conn({ logger, matchMsg: (req, resp) => req === resp, reconnect: fast });
    await c.dial(server.url);
    await server.dropAll(1011, "restart");
    await until(() => c.state === State.OPEN && server.connections === 2, "reopened");
    expect(await c.request("still works")).toBe("still works");
    await c.close();
    // Unhandled rejections are reported once the microtasks have run: after this turn.
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((l) => l.split(" ")[1])).toEqual([
      "attempt",
      "open",
      "close",
      "reconnecting",
      "attempt",
      "open",
      "close",
    ]);
    // Each would have ended a Node process (--unhandled-rejections=throw, the default).
    expect(unhandled).toEqual([]);
  });
});

describe("the request TracingChannel enters the stores bound to it (bindStore), as Node's tracePromise and traceCallback do", () => {
  it("a store bound to start holds for the call (a message:sent subscriber sees it); one bound to asyncStart for send()'s callback", async () => {
    const store = new AsyncLocalStorage<string>();
    const tracing = dc.tracingChannel(CHANNELS.request);
    tracing.start.bindStore(store, (ctx) => `start of ${(ctx as { bytes: number }).bytes} B`);
    tracing.asyncStart.bindStore(store, (ctx) => `response to ${(ctx as { bytes: number }).bytes} B`);
    onCleanup(async () => {
      tracing.start.unbindStore(store);
      tracing.asyncStart.unbindStore(store);
    });
    const atSend: Array<string | undefined> = [];
    const onSent = () => void atSend.push(store.getStore());
    dc.subscribe(CHANNELS.sent, onSent);
    onCleanup(async () => void dc.unsubscribe(CHANNELS.sent, onSent));
    const server = await echoServer();
    const c = echoing();
    await c.dial(server.url);
    expect(await c.request("abc")).toBe("abc");
    const inCallback = await new Promise<string | undefined>((resolve) =>
      c.send("abcd", () => resolve(store.getStore())),
    );
    expect(atSend).toEqual(["start of 3 B", "start of 4 B"]);
    expect(inCallback).toBe("response to 4 B");
    expect(store.getStore()).toBeUndefined();
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

  it("on a request's start: no span is started that nothing would end; on its asyncEnd: the span stop() ended is not ended again", async () => {
    const warnings: string[] = [];
    const keep = (m: string) => void warnings.push(m);
    const quiet = () => {};
    diag.setLogger({ error: keep, warn: keep, info: quiet, debug: quiet, verbose: quiet }, DiagLogLevel.WARN);
    onCleanup(async () => void diag.disable());
    const started: Span[] = [];
    const ended: Span[] = [];
    const tracerProvider = new BasicTracerProvider({
      spanProcessors: [
        {
          onStart: (span) => void started.push(span),
          onEnd: (span) => void ended.push(span as unknown as Span),
          forceFlush: async () => {},
          shutdown: async () => {},
        },
      ],
    });
    let stopAt = "";
    const at = (event: string) => () => {
      if (event === stopAt) uninstrument();
    };
    const handlers = {
      start: at("start"),
      end: at("end"),
      asyncStart: at("asyncStart"),
      asyncEnd: at("asyncEnd"),
      error: at("error"),
    };
    const tracing = dc.tracingChannel(CHANNELS.request);
    tracing.subscribe(handlers);
    onCleanup(async () => void tracing.unsubscribe(handlers));
    const server = await echoServer();
    const c = echoing();
    await c.dial(server.url);
    for (const event of ["start", "asyncEnd"]) {
      stopAt = event;
      instrument({ tracerProvider });
      expect(await c.request(event)).toBe(event);
    }
    // A span started after stop() stayed open for good (started 2, ended 1); one that stop()
    // ended was ended again when its asyncEnd reached ours (the SDK warns).
    expect(started.length).toBe(ended.length);
    expect(warnings).toEqual([]);
  });
});

describe("message sizes and log lines that held", () => {
  it("message:sent and message:received carry UTF-8 byte counts: multi-byte text, a lone surrogate, a view into a larger buffer", async () => {
    const seen: Array<[string, number]> = [];
    const sent = (m: unknown) => void seen.push(["sent", (m as { bytes: number }).bytes]);
    const received = (m: unknown) => void seen.push(["received", (m as { bytes: number }).bytes]);
    dc.subscribe(CHANNELS.sent, sent);
    dc.subscribe(CHANNELS.received, received);
    onCleanup(async () => {
      dc.unsubscribe(CHANNELS.sent, sent);
      dc.unsubscribe(CHANNELS.received, received);
    });
    const server = await createTestServer({ onMessage: (data, client) => client.send(data as Uint8Array) });
    onCleanup(() => server.close());
    const c = conn<string | Uint8Array, string | Uint8Array>();
    await c.dial(server.url);
    c.send("é€😀"); // 2 + 3 + 4 bytes
    c.send("\ud800"); // sent as U+FFFD: 3 bytes
    c.send(new Uint8Array(10).subarray(2, 5));
    await until(() => seen.length === 6, "three echoes");
    expect(seen.filter(([k]) => k === "sent").map(([, n]) => n)).toEqual([9, 3, 3]);
    expect(seen.filter(([k]) => k === "received").map(([, n]) => n)).toEqual([9, 3, 3]);
  });

  it("a close reason with a line break or a terminal escape stays on its line, escaped", async () => {
    const lines: string[] = [];
    const keep = (line: string) => void lines.push(line);
    const logger: Logger = { debug: keep, info: keep, warn: keep, error: keep };
    const server = await echoServer();
    const c = conn({ logger, reconnect: false, onError: () => {} });
    await c.dial(server.url);
    await server.dropAll(4000, "bye\nevtwebsocket[c1] open \u001b[2J");
    await until(() => c.state === State.CLOSED, "closed");
    const close = lines.find((l) => l.split(" ")[1] === "close");
    expect(close).toContain(String.raw`reason="bye\nevtwebsocket[c1] open \u001b[2J"`);
    expect(lines.filter((l) => l.includes("\n") || l.includes("\u001b"))).toEqual([]);
  });
});

/**
 * The context manager `@opentelemetry/context-async-hooks` gives Node (AsyncLocalStorage), in a
 * few lines: that package is not a dependency, and without a manager no context is ever active.
 */
class AsyncLocalContextManager implements ContextManager {
  readonly #store = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.#store.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#store.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#store.disable();
    return this;
  }
}

describe("request spans and the active context (held)", () => {
  it("a request made inside an active span is its child: sent at once, queued before the dial, or made after an await", async () => {
    context.setGlobalContextManager(new AsyncLocalContextManager());
    onCleanup(async () => void context.disable());
    const { spans, tracerProvider } = instrumentInMemory();
    const server = await echoServer();
    const c = echoing();
    const parent = tracerProvider.getTracer("app").startSpan("handle order");
    const inParent = trace.setSpan(context.active(), parent);
    const queued = context.with(inParent, () => c.request("queued"));
    await c.dial(server.url);
    await context.with(inParent, async () => {
      await c.request("at once");
      await c.request("after an await");
    });
    await queued;
    await c.request("outside");
    parent.end();
    const requests = spans.getFinishedSpans().filter((s) => s.name === "evtwebsocket request");
    const { traceId, spanId } = parent.spanContext();
    const children = requests.filter((s) => s.parentSpanContext?.spanId === spanId);
    expect(children).toHaveLength(3);
    expect(children.every((s) => s.spanContext().traceId === traceId)).toBe(true);
    expect(requests.filter((s) => s.parentSpanContext === undefined)).toHaveLength(1);
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
