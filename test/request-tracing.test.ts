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
import { instrument, uninstrument } from "../src/otel/index.js";
import { echoServer } from "./helpers/echo-server.js";
import { conn, onCleanup } from "./helpers/harness.js";
import { instrumentInMemory } from "./helpers/otel-sdk.js";

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
