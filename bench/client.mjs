/**
 * One measurement in a fresh process: `node bench/client.mjs <library> <scenario> <params-json>`.
 *
 * Reads the server ports from `BENCH_PORTS`, runs one scenario against one library through its
 * adapter, prints `RESULT {json}` on stdout and exits. The orchestrator (`run.mjs`) decides the
 * parameters, the order and the repetitions; this file only measures. Every loop is bounded by
 * a message or request count; all traffic stays on 127.0.0.1. Never asserts speed.
 */

import * as http from "node:http";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { adapters } from "./adapters.mjs";

const [library, scenario, paramsJson] = process.argv.slice(2);
const params = JSON.parse(paramsJson ?? "{}");
const ports = JSON.parse(process.env.BENCH_PORTS ?? "{}");
const adapter = adapters[library];
if (adapter === undefined) throw new Error(`unknown library ${library}`);

const tick = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Each throughput scenario first runs a warm-up as long as its measured phase, the same for
 * every library, so the figures are steady state: a tenth was too short for V8 to finish
 * optimising a longer code path (evtwebsocket measured 0.8-0.9x at 1 request in flight during
 * its first second, 1.0x once warm), and long-lived connections are what is being compared.
 */
const warmupOf = (count) => count;

function control(path) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port: ports.control, path, agent: false }, (res) => {
        res.resume();
        res.on("end", resolve);
      })
      .on("error", reject);
  });
}

function gc() {
  globalThis.gc?.();
  globalThis.gc?.();
}

/**
 * Other objects the process holds, as a real client's would (kept until the process exits),
 * settled in the old generation before the run, as a running app's are: with a populated heap,
 * what a finished message or request still points to decides how much is promoted.
 */
function populate(heapObjects = 0) {
  globalThis.benchHeap = Array.from({ length: heapObjects }, (_, i) => ({ a: i, b: `s${i}` }));
  if (heapObjects > 0) gc();
}

/** Sends `count` messages in bursts of `burst` per event-loop turn, then waits for the server's count. */
async function sendPhase(handle, payload, count, burst) {
  for (let sent = 0; sent < count; ) {
    const end = Math.min(count, sent + burst);
    for (; sent < end; sent++) handle.send(payload);
    await tick();
  }
  return handle.flush();
}

/** Client CPU (user + system) since `from`, in µs per message. */
function cpuPerMessage(from, count) {
  const cpu = process.cpuUsage(from);
  return (cpu.user + cpu.system) / count;
}

async function send({ count, size, burst, heapObjects }) {
  populate(heapObjects);
  const handle = await adapter.connect({ ports, path: "/sink" });
  const payload = "x".repeat(size);
  await sendPhase(handle, payload, warmupOf(count), burst);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const received = await sendPhase(handle, payload, count, burst);
  const seconds = (performance.now() - t0) / 1000;
  const cpuUsPerMsg = cpuPerMessage(cpu0, count);
  handle.close();
  if (received !== count) throw new Error(`server received ${received} of ${count}`);
  return { value: count / seconds, mbps: (count * size) / seconds / 1e6, seconds, cpuUsPerMsg };
}

/**
 * The server pushes `count` messages of `size` bytes (pre-built frames); the client counts them
 * with the library's message callback (or `messages()`, or `json()` / `JSON.parse` when `json`).
 */
async function push({ count, size, json, heapObjects }) {
  populate(heapObjects);
  const state = { left: 0, done: () => {} };
  const handle = await adapter.connect({
    ports,
    path: "/push",
    json,
    onMessage: () => {
      if (--state.left === 0) state.done();
    },
  });
  const phase = (n) =>
    new Promise((resolve) => {
      state.left = n;
      state.done = resolve;
      handle.send(`push:${n}:${size}`);
    });
  await phase(warmupOf(count));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await phase(count);
  const seconds = (performance.now() - t0) / 1000;
  const cpuUsPerMsg = cpuPerMessage(cpu0, count);
  handle.close();
  return { value: count / seconds, mbps: (count * size) / seconds / 1e6, seconds, cpuUsPerMsg };
}

/** Keeps `window` messages in flight until `count` came back. */
function echoPhase(state, handle, payload, count, window) {
  return new Promise((resolve) => {
    state.sent = 0;
    state.received = 0;
    state.onMessage = () => {
      state.received++;
      if (state.sent < count) {
        state.sent++;
        handle.send(payload);
      } else if (state.received === count) resolve();
    };
    for (; state.sent < Math.min(window, count); state.sent++) handle.send(payload);
  });
}

async function echo({ count, window, size, heapObjects }) {
  populate(heapObjects);
  const state = { onMessage: () => {} };
  const handle = await adapter.connect({ ports, path: "/echo", onMessage: () => state.onMessage() });
  const payload = "x".repeat(size);
  await echoPhase(state, handle, payload, warmupOf(count), window);
  const t0 = performance.now();
  await echoPhase(state, handle, payload, count, window);
  const seconds = (performance.now() - t0) / 1000;
  handle.close();
  return { value: count / seconds, seconds };
}

/** `inflight` workers issue requests until `count` were issued; returns per-request latencies for one worker. */
async function requestPhase(handle, count, inflight, latencies) {
  let issued = 0;
  const worker = async () => {
    while (issued < count) {
      const id = issued++;
      const t = latencies ? performance.now() : 0;
      const reply = await handle.request({ id, p: "0123456789abcdef" });
      if (latencies) latencies.push(performance.now() - t);
      if (reply.id !== id) throw new Error(`response ${reply.id} for request ${id}`);
    }
  };
  const workers = [];
  for (let i = 0; i < inflight; i++) workers.push(worker());
  await Promise.all(workers);
}

async function request({ count, inflight, proxy, heapObjects }) {
  populate(heapObjects);
  const handle = await adapter.connect({ ports, path: "/echo", json: true, proxy });
  await requestPhase(handle, warmupOf(count), inflight);
  const latencies = inflight === 1 ? [] : undefined;
  const t0 = performance.now();
  await requestPhase(handle, count, inflight, latencies);
  const seconds = (performance.now() - t0) / 1000;
  handle.close();
  const result = { value: count / seconds, seconds };
  if (latencies) {
    latencies.sort((a, b) => a - b);
    result.p50us = latencies[Math.floor(latencies.length / 2)] * 1000;
    result.p99us = latencies[Math.floor(latencies.length * 0.99)] * 1000;
  }
  return result;
}

async function idle({ conns, heartbeatMs, windowMs, cpuWindowMs, batch }) {
  const ctx = { ports, path: "/idle", heartbeatMs };
  const handles = [await adapter.connect(ctx)];
  await sleep(200);
  gc();
  const before = process.memoryUsage();
  for (let opened = 0; opened < conns; ) {
    const n = Math.min(batch, conns - opened);
    const opening = [];
    for (let i = 0; i < n; i++) opening.push(adapter.connect(ctx));
    handles.push(...(await Promise.all(opening)));
    opened += n;
  }
  // Memory: RSS at the end of a window long enough for V8's memory reducer to have had its
  // second chance (it checks about 8 s after the connect phase's last major GC and, when the
  // allocation rate looked high, 8 s later); the JS heap after a full GC.
  // CPU: the next window, so a one-off compaction after the connect burst (which runs for some
  // libraries and not others, see README) is not counted as idle work.
  await sleep(1000 + windowMs);
  const rss = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(cpuWindowMs);
  const cpu = process.cpuUsage(cpu0);
  const elapsed = performance.now() - t0;
  gc();
  const after = process.memoryUsage();
  for (const handle of handles) handle.close();
  return {
    value: (rss - before.rss) / conns,
    heapPerConn: (after.heapUsed - before.heapUsed) / conns,
    idleCpuPct: ((cpu.user + cpu.system) / 1000 / elapsed) * 100,
    // Diagnostics, per connection: where RSS beyond the JS heap went.
    heapTotalPerConn: (after.heapTotal - before.heapTotal) / conns,
    externalPerConn: (after.external - before.external) / conns,
  };
}

function onceFlag() {
  let fire;
  const promise = new Promise((resolve) => {
    fire = resolve;
  });
  return { promise, fire: () => fire(performance.now()) };
}

async function reconnect({ kind }) {
  let closed = onceFlag();
  let reopened;
  const handle = await adapter.connect({
    ports,
    path: "/echo",
    reconnect: true,
    onClose: () => closed.fire(),
    onOpen: () => reopened?.fire(),
  });
  await sleep(100);
  reopened = onceFlag();
  closed = onceFlag();
  await control(`/restart?kind=${kind}`);
  const tClose = await closed.promise;
  const tOpen = await Promise.race([reopened.promise, sleep(15_000).then(() => Number.NaN)]);
  handle.close();
  return { value: tOpen - tClose };
}

async function dead({ intervalMs, timeoutMs, limitMs }) {
  const closed = onceFlag();
  const handle = await adapter.connect({
    ports,
    path: "/echo",
    dead: { intervalMs, timeoutMs },
    onClose: () => closed.fire(),
  });
  await sleep(100);
  await control("/blackhole");
  const t0 = performance.now();
  const tClose = await Promise.race([closed.promise, sleep(limitMs).then(() => Number.NaN)]);
  handle.close();
  return { value: tClose - t0 };
}

const scenarios = { send, push, echo, request, idle, reconnect, dead };
const result = await scenarios[scenario](params);
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
process.exit(0);
