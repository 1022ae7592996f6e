/**
 * A request's life as tracing sees it, against real servers: the request TracingChannel's
 * events and the evtwebsocket/otel span of each request, for every way a request ends, with
 * subscribers (or instrument() and uninstrument()) coming and going while requests are in
 * flight, and a request's span made the child of the span active where request() was called.
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
import { CHANNELS } from "../src/channel-names.js";
import { type EvtWebSocketError, State } from "../src/index.js";
import { instrument, uninstrument } from "../src/otel/index.js";
import { echoServer } from "./helpers/echo-server.js";
import { conn, fast, onCleanup } from "./helpers/harness.js";
import { instrumentInMemory } from "./helpers/otel-sdk.js";
import { until } from "./helpers/server.js";

afterEach(() => uninstrument());

const echoing = () => conn({ matchMsg: (req, resp) => req === resp });

describe("a subscriber heard before evtwebsocket/otel's that calls uninstrument()", () => {
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

/** The request TracingChannel's events, per context object, in the order published. */
function traceRequests() {
  const byCtx = new Map<object, string[]>();
  const order: object[] = [];
  const record = (event: string) => (ctx: unknown) => {
    let list = byCtx.get(ctx as object);
    if (list === undefined) {
      list = [];
      byCtx.set(ctx as object, list);
      order.push(ctx as object);
    }
    list.push(event);
  };
  const handlers = {
    start: record("start"),
    end: record("end"),
    asyncStart: record("asyncStart"),
    asyncEnd: record("asyncEnd"),
    error: record("error"),
  };
  const tracing = dc.tracingChannel(CHANNELS.request);
  tracing.subscribe(handlers);
  onCleanup(async () => void tracing.unsubscribe(handlers));
  return {
    of: (id: string) =>
      order
        .filter((ctx) => (ctx as { id: string }).id === id)
        .map((ctx) => ({ ctx, events: byCtx.get(ctx)! })),
  };
}

const failed = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: EvtWebSocketError) => e.code,
  );

const ASYNC_OK = ["start", "end", "asyncStart", "asyncEnd"];
const ASYNC_ERR = ["start", "end", "error", "asyncStart", "asyncEnd"];

describe("request tracing and spans for every way a request ends", () => {
  it("aborted while queued, timed out while queued, rejected by close(): one start, end, error, asyncStart, asyncEnd each, one span each", async () => {
    const { spans } = instrumentInMemory();
    const traced = traceRequests();
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp, reconnect: fast });
    const ac = new AbortController();
    const aborted = failed(c.request("a", { signal: ac.signal }));
    const timedOut = failed(c.request("b", { timeoutMs: 20 }));
    ac.abort();
    expect(await aborted).toBe("ERR_ABORTED");
    expect(await timedOut).toBe("ERR_REQUEST_TIMEOUT");
    await c.dial(server.url);
    const closed = failed(c.request("silent"));
    await c.close();
    expect(await closed).toBe("ERR_CLOSED");
    const seen = traced.of(c.id);
    expect(seen.map((s) => s.events)).toEqual([ASYNC_ERR, ASYNC_ERR, ASYNC_ERR]);
    const outcomes = spans.getFinishedSpans().map((s) => s.attributes["evtwebsocket.request.outcome"]);
    expect(outcomes).toEqual(["aborted", "timeout", "error"]);
  });
});

describe("request tracing across reconnects and races", () => {
  it("retried across a server drop and across reconnect(), or rejected by the drop: one of each event, one span each", async () => {
    const { spans } = instrumentInMemory();
    const traced = traceRequests();
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp, reconnect: fast });
    await c.dial(server.url);
    const r1 = failed(c.request("silent", { retryOnReconnect: true }));
    const lost = failed(c.request("silent"));
    server.dropAll(1011, "restart");
    await until(() => c.state === State.OPEN && server.clients.size === 1, "reopened");
    expect(await lost).toBe("ERR_DISCONNECTED");
    c.reconnect();
    const after = failed(c.request("x"));
    await until(() => c.state === State.OPEN, "reopened after reconnect()");
    expect(await after).toBe("resolved");
    await c.close();
    expect(await r1).toBe("ERR_CLOSED");
    const seen = traced.of(c.id).map((s) => s.events);
    expect(seen).toEqual([ASYNC_ERR, ASYNC_ERR, ASYNC_OK]);
    const outcomes = spans.getFinishedSpans().map((s) => s.attributes["evtwebsocket.request.outcome"]);
    expect(outcomes).toEqual(["error", "ok", "error"]);
  });

  it("a request aborted by a message:received subscriber as its response arrives: one asyncEnd, one span, outcome aborted", async () => {
    const { spans } = instrumentInMemory();
    const traced = traceRequests();
    const server = await echoServer();
    const messages: string[] = [];
    const c = conn({ matchMsg: (req, resp) => req === resp, onMessage: (m) => void messages.push(m) });
    await c.dial(server.url);
    const ac = new AbortController();
    const abort = (m: unknown) => void ((m as { id: string }).id === c.id && ac.abort());
    dc.subscribe(CHANNELS.received, abort);
    onCleanup(async () => void dc.unsubscribe(CHANNELS.received, abort));
    expect(await failed(c.request("x", { signal: ac.signal }))).toBe("ERR_ABORTED");
    expect(traced.of(c.id).map((s) => s.events)).toEqual([ASYNC_ERR]);
    const finished = spans.getFinishedSpans();
    expect(finished.map((s) => s.attributes["evtwebsocket.request.outcome"])).toEqual(["aborted"]);
  });
});

describe("a request that fails while request() is still running", () => {
  it.each(["close", "abort"] as const)(
    "a message:sent subscriber that calls %s for the request's own frame: start, end, then error, asyncStart, asyncEnd (as tracePromise)",
    async (how) => {
      const { spans } = instrumentInMemory();
      const traced = traceRequests();
      const server = await echoServer();
      const c = conn({ matchMsg: (req, resp) => req === resp });
      await c.dial(server.url);
      const ac = new AbortController();
      const onSent = (m: unknown) => {
        if ((m as { id: string }).id !== c.id) return;
        if (how === "close") void c.close();
        else ac.abort();
      };
      dc.subscribe(CHANNELS.sent, onSent);
      onCleanup(async () => void dc.unsubscribe(CHANNELS.sent, onSent));
      const outcome = failed(c.request("silent", { signal: ac.signal }));
      dc.unsubscribe(CHANNELS.sent, onSent);
      expect(await outcome).toBe(how === "close" ? "ERR_CLOSED" : "ERR_ABORTED");
      // asyncEnd came before end: a subscriber that keeps a context from end to asyncEnd kept it forever.
      expect(traced.of(c.id).map((s) => s.events)).toEqual([ASYNC_ERR]);
      expect(spans.getFinishedSpans()).toHaveLength(1);
    },
  );
});

describe("subscribing and unsubscribing while requests are in flight", () => {
  it("uninstrument() or instrument() again mid-flight: each request's span is ended exactly once", async () => {
    const first = instrumentInMemory();
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp });
    await c.dial(server.url);
    const late = (body: string) => c.request(body, { timeoutMs: 60_000 });
    const a = failed(late("silent"));
    instrument(); // replaces the first setup (global no-op providers): a's span ends now, once
    const b = failed(late("silent"));
    uninstrument();
    const d = c.request("answered");
    expect(await d).toBe("answered");
    await c.close();
    expect(await a).toBe("ERR_CLOSED");
    expect(await b).toBe("ERR_CLOSED");
    // a's span, ended by the replacement; b's and d's went to the no-op tracer (not exported).
    const spans = first.spans.getFinishedSpans();
    expect(spans).toHaveLength(1);
    expect(spans[0]!.ended).toBe(true);
  });

  it("a tracing subscriber that comes mid-flight hears asyncStart and asyncEnd (no start); one that leaves hears nothing more", async () => {
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp });
    await c.dial(server.url);
    const early = traceRequests(); // makes requests traced
    const p = failed(c.request("silent", { timeoutMs: 30 }));
    const lateSeen: string[] = [];
    const tracing = dc.tracingChannel(CHANNELS.request);
    const record = (e: string) => () => void lateSeen.push(e);
    const handlers = {
      start: record("start"),
      end: record("end"),
      asyncStart: record("asyncStart"),
      asyncEnd: record("asyncEnd"),
      error: record("error"),
    };
    tracing.subscribe(handlers);
    onCleanup(async () => void tracing.unsubscribe(handlers));
    expect(await p).toBe("ERR_REQUEST_TIMEOUT");
    expect(lateSeen).toEqual(["error", "asyncStart", "asyncEnd"]);
    expect(early.of(c.id).map((s) => s.events)).toEqual([ASYNC_ERR]);
  });
});
