/**
 * Issue 18's overhead, without network: `node bench/observe-overhead.mjs [rounds] [--base dist/index.js]`.
 *
 * The request path of `overhead.mjs` (a fake WHATWG socket that echoes on a microtask, `request()`
 * with `messageId`), 100 requests in flight, measured in CPU time (`process.cpuUsage`), which a
 * loaded machine disturbs far less than wall time. Variants, each in a fresh process, rotated
 * for `rounds` rounds (default 5): `base` (another build, with `--base`), `none` (this build, no
 * subscriber), `dc` (a no-op subscriber on every channel), `otel` (`evtwebsocket/otel` with
 * no-op exporters, every request a recorded span), `otel1pct` (the same, 1% of traces
 * sampled), `metrics` (`evtwebsocket/otel` with a meter provider only: the no-op tracer) and
 * `sdkfloor` (no evtwebsocket/otel: the SDK calls alone that a span and a duration record per
 * request need, the floor under `otel`). Prints CPU µs per request and the throughput ratio to
 * `base` (or `none`).
 */

import { execFileSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { EchoSocket } from "./echo-socket.mjs";

const COUNT = 200_000;
const INFLIGHT = 100;

const noop = () => {};

async function subscribeNoop() {
  const dc = await import("node:diagnostics_channel");
  for (const k of ["create", "open", "close", "reconnecting", "error", "pong"])
    dc.subscribe(`evtwebsocket:connection:${k}`, noop);
  for (const k of ["sent", "received"]) dc.subscribe(`evtwebsocket:message:${k}`, noop);
  const events = ["start", "end", "asyncStart", "asyncEnd", "error"];
  dc.tracingChannel("evtwebsocket:request").subscribe(Object.fromEntries(events.map((e) => [e, noop])));
}

async function instrumentOtel(ratio, metricsOnly = false) {
  const { instrument } = await import(new URL("../dist/otel.js", import.meta.url).href);
  const { BasicTracerProvider, BatchSpanProcessor, TraceIdRatioBasedSampler } = await import(
    "@opentelemetry/sdk-trace-base"
  );
  const { MeterProvider, PeriodicExportingMetricReader } = await import("@opentelemetry/sdk-metrics");
  const done = (_items, callback) => callback({ code: 0 });
  const spanExporter = { export: done, shutdown: async () => {} };
  const metricExporter = { export: done, forceFlush: async () => {}, shutdown: async () => {} };
  const tracerProvider = new BasicTracerProvider({
    ...(ratio < 1 ? { sampler: new TraceIdRatioBasedSampler(ratio) } : {}),
    spanProcessors: [new BatchSpanProcessor(spanExporter)],
  });
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 1000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  instrument(metricsOnly ? { meterProvider } : { tracerProvider, meterProvider });
}

/**
 * The floor under `otel`: what the SDK alone costs per request, with no evtwebsocket/otel: a
 * client span with the attributes ours carry, started before and ended after each request, and
 * one record in a duration histogram with an outcome attribute. No instrumentation that records
 * every request as a span can cost less.
 */
async function sdkFloor() {
  const { trace, SpanKind } = await import("@opentelemetry/api");
  const { BasicTracerProvider, BatchSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const { MeterProvider, PeriodicExportingMetricReader } = await import("@opentelemetry/sdk-metrics");
  const done = (_items, callback) => callback({ code: 0 });
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor({ export: done, shutdown: async () => {} })],
  });
  const reader = new PeriodicExportingMetricReader({
    exporter: { export: done, forceFlush: async () => {}, shutdown: async () => {} },
    exportIntervalMillis: 1000,
  });
  const meter = new MeterProvider({ readers: [reader] }).getMeter("floor");
  const tracer = tracerProvider.getTracer("floor");
  const histogram = meter.createHistogram("floor.duration", { unit: "s" });
  const attributes = {
    "server.address": "127.0.0.1",
    "server.port": 80,
    "evtwebsocket.request.outcome": "ok",
    "evtwebsocket.connection.id": "c1",
  };
  const outcome = { "evtwebsocket.request.outcome": "ok" };
  const options = { kind: SpanKind.CLIENT, attributes };
  void trace;
  return (call) => {
    const span = tracer.startSpan("evtwebsocket request", options);
    const t0 = performance.now();
    return call().then((reply) => {
      span.end();
      histogram.record((performance.now() - t0) / 1000, outcome);
      return reply;
    });
  };
}

async function measure(variant, base) {
  const wrap = variant === "sdkfloor" ? await sdkFloor() : (call) => call();
  if (variant === "dc") await subscribeNoop();
  if (variant === "otel") await instrumentOtel(1);
  if (variant === "otel1pct") await instrumentOtel(0.01);
  if (variant === "metrics") await instrumentOtel(1, true);
  const dist =
    variant === "base" ? pathToFileURL(base).href : new URL("../dist/index.js", import.meta.url).href;
  const { Conn, json } = await import(dist);
  const conn = new Conn({
    codec: json(),
    messageId: (m) => m.id,
    reconnect: false,
    WebSocket: EchoSocket,
    onError: noop,
  });
  await conn.dial("ws://127.0.0.1/");
  let next = 0;
  const run = async (count) => {
    const end = next + count;
    const worker = async () => {
      while (next < end) {
        const id = next++;
        const reply = await wrap(() => conn.request({ id, p: "0123456789abcdef" }));
        if (reply.id !== id) throw new Error(`response ${reply.id} for request ${id}`);
      }
    };
    await Promise.all(Array.from({ length: INFLIGHT }, worker));
  };
  await run(COUNT / 2);
  const before = process.cpuUsage();
  await run(COUNT);
  const used = process.cpuUsage(before);
  await conn.close();
  return (used.user + used.system) / COUNT;
}

const args = process.argv.slice(2);
const baseAt = args.indexOf("--base");
const base = baseAt >= 0 ? args[baseAt + 1] : undefined;
const VARIANTS = ["base", "none", "dc", "otel", "otel1pct", "metrics", "sdkfloor"];
if (args[0] === "--one") {
  process.stdout.write(`${await measure(args[1], args[2])}\n`);
} else {
  const rounds = Number(args.find((a, i) => /^\d+$/.test(a) && args[i - 1] !== "--base") ?? 5);
  const variants = VARIANTS.filter((v) => v !== "base" || base !== undefined);
  const results = Object.fromEntries(variants.map((v) => [v, []]));
  const self = fileURLToPath(import.meta.url);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      const out = execFileSync(process.execPath, [self, "--one", v, base ?? ""]).toString();
      results[v].push(Number(out));
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const reference = median(results[base ? "base" : "none"]);
  for (const v of variants) {
    const m = median(results[v]);
    const rounds_ = results[v].map((x) => x.toFixed(2)).join(" ");
    console.log(
      `${v.padEnd(9)} ${m.toFixed(2)} CPU µs/request, throughput ${(reference / m).toFixed(3)}× (rounds: ${rounds_})`,
    );
  }
}
