/**
 * The heap audit's variants of the hot paths, evtwebsocket only, one per fresh process:
 * `BENCH_PORTS='<server.mjs line>' node --trace-gc-nvp --expose-gc bench/heap-paths.mjs <variant> '<params json>'`,
 * then sum `promoted=` over the `--trace-gc-nvp` lines (bench/README.md, "The heap audit").
 *
 * Variants the side-by-side rows (client.mjs) do not cover, because only evtwebsocket has them:
 * - `send`, `send-signal`, `send-maxage`, `send-volatile`: 32 B sends to `/sink` in bursts of
 *   1,000, plain or with that per-message option, on an open connection;
 * - `queued`, `queued-signal`, `queued-maxage`: `count` messages sent while connecting, then
 *   flushed when it opens; `rounds` fresh connections measured after as many of warm-up;
 * - `messages-slow`: `count` 32 B pushes read with `for await (… of conn.messages())` by a
 *   consumer that yields a turn every `every` messages (1,024), so the buffer fills and reading
 *   pauses; a fresh iterator per phase;
 * - `request`, `request-match` (`matchMsg` instead of `messageId`), `request-callback`
 *   (`send(body, callback)`), `request-signal` (a fresh `AbortController` per request),
 *   `request-shared-signal` (one for all), `request-own-signal` (the control: no signal given
 *   to evtwebsocket, the caller adds and removes its own listener on a fresh one, so what
 *   Node's `AbortSignal` costs by itself), `request-otel-noop` and `request-otel-batch`
 *   (`evtwebsocket/otel` with a span processor that drops every span, or the SDK's batch
 *   processor with a no-op exporter; no metric reader): `inflight` in flight, JSON codec.
 * Params: `count`, `inflight` (100), `rounds` (5), `size` (32), `every` (1,024), `heapObjects` (0; as
 * client.mjs: that many small objects held and collected into the old generation first).
 * Prints `RESULT {"value": operations per second}`; warm-up as long as the measured phase.
 * Never asserts speed.
 */

import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

const [variant, paramsJson] = process.argv.slice(2);
const p = JSON.parse(paramsJson ?? "{}");
const ports = JSON.parse(process.env.BENCH_PORTS ?? "{}");
const dist = process.env.BENCH_EVT_DIST;
const { Conn, json } = await import(dist ? pathToFileURL(dist).href : "../dist/index.js");
const count = p.count ?? 100_000;
const inflight = p.inflight ?? 100;
const payload = "x".repeat(p.size ?? 32);

globalThis.benchHeap = Array.from({ length: p.heapObjects ?? 0 }, (_, i) => ({ a: i, b: `s${i}` }));
if (p.heapObjects > 0) {
  globalThis.gc?.();
  globalThis.gc?.();
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const url = (path) => `ws://127.0.0.1:${ports.ws}${path}`;

/** A connection to `/sink` whose `flush()` resolves with the server's count. */
function sinkConn(options = {}) {
  const waiting = [];
  const conn = new Conn({
    reconnect: false,
    onError: () => {},
    onMessage: (text) => waiting.shift()?.(Number(text)),
    ...options,
  });
  const flush = () =>
    new Promise((resolve) => {
      waiting.push(resolve);
      conn.send("done");
    });
  return { conn, flush };
}

async function sends() {
  const { conn, flush } = sinkConn();
  await conn.dial(url("/sink"));
  const ac = new AbortController();
  const options = {
    "send-signal": () => ({ signal: ac.signal }),
    "send-maxage": () => ({ maxAgeMs: 5000 }),
    "send-volatile": () => ({ volatile: true }),
  }[variant];
  const phase = async (n) => {
    for (let sent = 0; sent < n; ) {
      const end = Math.min(n, sent + 1000);
      for (; sent < end; sent++) {
        if (options === undefined) conn.send(payload);
        else conn.send(payload, options());
      }
      await tick();
    }
    return flush();
  };
  await phase(count);
  const t0 = performance.now();
  const received = await phase(count);
  const seconds = (performance.now() - t0) / 1000;
  await conn.close();
  if (received !== count) throw new Error(`server received ${received} of ${count}`);
  return { value: count / seconds };
}

async function queued() {
  const ac = new AbortController();
  const options = {
    "queued-signal": () => ({ signal: ac.signal }),
    "queued-maxage": () => ({ maxAgeMs: 60_000 }),
  }[variant];
  const round = async () => {
    const { conn, flush } = sinkConn({ queue: { maxMessages: Infinity, maxBytes: Infinity } });
    const dialing = conn.dial(url("/sink"));
    for (let i = 0; i < count; i++) {
      if (options === undefined) conn.send(payload);
      else conn.send(payload, options());
    }
    await dialing;
    const received = await flush();
    await conn.close();
    if (received !== count) throw new Error(`server received ${received} of ${count}`);
  };
  const rounds = p.rounds ?? 5;
  for (let i = 0; i < rounds; i++) await round();
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) await round();
  return { value: (rounds * count) / ((performance.now() - t0) / 1000) };
}

async function slowMessages() {
  const conn = new Conn({ reconnect: false, onError: () => {} });
  await conn.dial(url("/push"));
  const every = p.every ?? 1024;
  const phase = async (n) => {
    const messages = conn.messages();
    conn.send(`push:${n}:${p.size ?? 32}`);
    let read = 0;
    for await (const _ of messages) {
      if (++read === n) break;
      if (read % every === 0) await tick();
    }
  };
  return warmThenMeasure(conn, phase);
}

/** Runs `phase(count)` once to warm up, then once measured; closes `conn`; operations per second. */
async function warmThenMeasure(conn, phase) {
  await phase(count);
  const t0 = performance.now();
  await phase(count);
  const seconds = (performance.now() - t0) / 1000;
  await conn.close();
  return { value: count / seconds };
}

async function instrumentOtel(processorKind) {
  const otelUrl = dist ? pathToFileURL(dist.replace(/index\.js$/, "otel.js")).href : "../dist/otel.js";
  const { instrument } = await import(otelUrl);
  const { BasicTracerProvider, BatchSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const { MeterProvider } = await import("@opentelemetry/sdk-metrics");
  const exporter = { export: (_spans, callback) => callback({ code: 0 }), shutdown: async () => {} };
  const dropAll = { onStart() {}, onEnd() {}, forceFlush: async () => {}, shutdown: async () => {} };
  const processor = processorKind === "batch" ? new BatchSpanProcessor(exporter) : dropAll;
  instrument({
    tracerProvider: new BasicTracerProvider({ spanProcessors: [processor] }),
    meterProvider: new MeterProvider({ readers: [] }),
  });
}

async function requests() {
  if (variant === "request-otel-noop") await instrumentOtel("noop");
  if (variant === "request-otel-batch") await instrumentOtel("batch");
  const options = { reconnect: false, onError: () => {}, codec: json(), maxPendingRequests: Infinity };
  if (variant === "request-match") options.matchMsg = (req, resp) => req.id === resp.id;
  else options.messageId = (m) => m.id;
  const conn = new Conn(options);
  await conn.dial(url("/echo"));
  const shared = new AbortController();
  const request =
    {
      "request-callback": (body) => new Promise((resolve) => conn.send(body, resolve)),
      "request-signal": (body) => conn.request(body, { signal: new AbortController().signal }),
      "request-shared-signal": (body) => conn.request(body, { signal: shared.signal }),
      "request-own-signal": async (body) => {
        const { signal } = new AbortController();
        const onAbort = () => {};
        signal.addEventListener("abort", onAbort, { once: true });
        try {
          return await conn.request(body);
        } finally {
          signal.removeEventListener("abort", onAbort);
        }
      },
    }[variant] ?? ((body) => conn.request(body));
  const phase = async (n) => {
    let issued = 0;
    const worker = async () => {
      while (issued < n) {
        const id = issued++;
        const reply = await request({ id, p: "0123456789abcdef" });
        if (reply.id !== id) throw new Error(`response ${reply.id} for request ${id}`);
      }
    };
    await Promise.all(Array.from({ length: inflight }, worker));
  };
  return warmThenMeasure(conn, phase);
}

const run = variant.startsWith("request")
  ? requests
  : variant.startsWith("queued")
    ? queued
    : variant.startsWith("send")
      ? sends
      : variant === "messages-slow"
        ? slowMessages
        : undefined;
if (run === undefined) throw new Error(`unknown variant ${variant}`);
const result = await run();
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
process.exit(0);
