/**
 * The benchmark harness: `npm run bench` (full) or `npm run bench -- --quick` (under 5 minutes).
 *
 * Installs bench/'s own dependencies when missing, builds the library when `dist/` is missing,
 * snapshots `dist/index.js` (so a rebuild during the run cannot change what is measured),
 * starts the server in its own process, then runs every (library, scenario, repetition) in a
 * fresh client process. Libraries are interleaved: repetition r starts the rotation at library
 * r (A B C, B C A, …), so slow drift of the machine spreads over all of them; the latency row
 * (1 request in flight) runs every library three times per repetition. Prints medians,
 * spread (min–max) and the ratio to raw `ws` from the same run, the issue's targets, and the
 * browser-bundle sizes; writes Markdown and JSON to bench/results/. Never asserts speed.
 *
 * Flags: `--quick`, `--reps N`, `--only lib,lib`, `--scenarios id,id`, `--profile` (adds
 * `--cpu-prof` to the evtwebsocket client processes; profiles land in bench/results/profiles),
 * `--browser` (runs the browser bench of bench/browser/ instead: Conn against a raw WebSocket
 * in Chromium).
 */

import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { adapters } from "./adapters.mjs";
import { bundleSizes } from "./sizes.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const resultsDir = join(here, "results");
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = flag("--quick");
const reps = Number(value("--reps") ?? (quick ? 2 : 5));
const profile = flag("--profile");
/** `--base <dist dir>`: a build to compare evtwebsocket with in issue 18's overhead rows. */
const baseDir = value("--base");

/** Native add-ons off everywhere: the root `ws` (used by evtwebsocket) has none installed. */
const childEnv = { ...process.env, WS_NO_BUFFER_UTIL: "1", WS_NO_UTF_8_VALIDATE: "1" };

const q = (full, small) => (quick ? small : full);
const SCENARIOS = [
  {
    id: "send32",
    title: "send 200k × 32 B",
    kind: "send",
    params: { count: q(200_000, 50_000), size: 32, burst: 1000 },
    unit: "msg/s",
    higherIsBetter: true,
  },
  {
    id: "send64k",
    title: "send 5k × 64 KiB",
    kind: "send",
    params: { count: q(5000, 1000), size: 65_536, burst: 16 },
    unit: "MB/s",
    pick: (r) => r.mbps,
    higherIsBetter: true,
  },
  {
    id: "send32Cpu",
    title: "send 32 B: client CPU per message",
    derivedFrom: "send32",
    unit: "µs",
    pick: (r) => r.cpuUsPerMsg,
    higherIsBetter: false,
  },
  {
    id: "push32",
    title: `server push ${q("1M", "200k")} × 32 B`,
    kind: "push",
    params: { count: q(1_000_000, 200_000), size: 32 },
    unit: "msg/s",
    higherIsBetter: true,
    needs: "push",
  },
  {
    id: "push32Cpu",
    title: "server push 32 B: client CPU per message",
    derivedFrom: "push32",
    unit: "µs",
    pick: (r) => r.cpuUsPerMsg,
    higherIsBetter: false,
  },
  {
    id: "push64k",
    title: `server push ${q("2,000", "500")} × 64 KiB`,
    kind: "push",
    params: { count: q(2000, 500), size: 65_536 },
    unit: "MB/s",
    pick: (r) => r.mbps,
    higherIsBetter: true,
    needs: "push",
  },
  {
    id: "push32json",
    title: `server push ${q("1M", "200k")} × 32 B JSON: json() / JSON.parse`,
    kind: "push",
    params: { count: q(1_000_000, 200_000), size: 32, json: true },
    unit: "msg/s",
    higherIsBetter: true,
    needs: "push",
  },
  {
    id: "push32jsonCpu",
    title: "server push 32 B JSON: client CPU per message",
    derivedFrom: "push32json",
    unit: "µs",
    pick: (r) => r.cpuUsPerMsg,
    higherIsBetter: false,
  },
  {
    id: "echo",
    title: "echo, window 1,000",
    kind: "echo",
    params: { count: q(100_000, 30_000), window: 1000, size: 32 },
    unit: "msg/s",
    higherIsBetter: true,
  },
  {
    id: "req1",
    title: "request/response, 1 in flight",
    kind: "request",
    params: { count: q(10_000, 3000), inflight: 1 },
    // A latency row: in a 7-repetition run of this row alone one build read 8.8k-11.0k req/s
    // from one client process to the next (pinning server and client to CPUs of their own did
    // not narrow it), so it takes three runs per library and repetition (one in --quick, which
    // must finish in 5 minutes); each run is short.
    runsPerRep: q(3, 1),
    unit: "req/s",
    higherIsBetter: true,
    requests: true,
  },
  {
    id: "req100",
    title: "request/response, 100 in flight",
    kind: "request",
    params: { count: q(100_000, 20_000), inflight: 100 },
    unit: "req/s",
    higherIsBetter: true,
    requests: true,
  },
  {
    id: "req100proxy",
    title: "request/response, 100 in flight, through a CONNECT proxy",
    kind: "request",
    // The proxy (proxy-chain, bench/proxy.mjs) runs in a process of its own; evtwebsocket uses
    // its `proxy` option, raw ws (and ws + Map) an https-proxy-agent through the same proxy.
    params: { count: q(100_000, 20_000), inflight: 100, proxy: true },
    unit: "req/s",
    higherIsBetter: true,
    requests: true,
    needs: "proxy",
  },
  {
    id: "req100heap",
    title: "request/response, 100 in flight, 300,000 other objects in the client's heap",
    kind: "request",
    // A real client process holds more than the bench's: with a populated heap, what a settled
    // request still points to decides how much is promoted to the old generation (this row found
    // evtwebsocket at 1.13x the Map layer where the row above read 1.5x; bench/README.md).
    params: { count: q(100_000, 20_000), inflight: 100, heapObjects: 300_000 },
    unit: "req/s",
    higherIsBetter: true,
    requests: true,
  },
  {
    id: "req10k",
    title: "request/response, 10,000 in flight",
    kind: "request",
    params: { count: q(100_000, 30_000), inflight: 10_000 },
    unit: "req/s",
    higherIsBetter: true,
    requests: true,
  },
  {
    id: "idle",
    title: `${q("2,000", "500")} idle connections (5 s ping): RSS per connection`,
    kind: "idle",
    params: {
      conns: q(2000, 500),
      heartbeatMs: 5000,
      windowMs: q(20_000, 3000),
      cpuWindowMs: q(10_000, 3000),
      batch: 100,
    },
    unit: "KiB",
    pick: (r) => r.value / 1024,
    higherIsBetter: false,
  },
  {
    id: "idleHeap",
    title: `${q("2,000", "500")} idle connections: JS heap per connection`,
    derivedFrom: "idle",
    unit: "KiB",
    pick: (r) => r.heapPerConn / 1024,
    higherIsBetter: false,
  },
  {
    id: "idleCpu",
    title: `${q("2,000", "500")} idle connections: idle CPU`,
    derivedFrom: "idle",
    unit: "% of a core",
    pick: (r) => r.idleCpuPct,
    higherIsBetter: false,
  },
  {
    id: "reconnect",
    title: "reconnect after a server restart (down 250 ms)",
    kind: "reconnect",
    params: {},
    unit: "ms",
    higherIsBetter: false,
    needs: "reconnect",
  },
  {
    id: "dead",
    title: "dead-connection detection (ping 1 s, timeout 1 s)",
    kind: "dead",
    params: { intervalMs: 1000, timeoutMs: 1000, limitMs: 10_000 },
    unit: "ms",
    higherIsBetter: false,
    needs: "dead",
  },
];

const onlyLibs = value("--only")?.split(",");
const onlyScenarios = value("--scenarios")?.split(",");
const LIBS = Object.keys(adapters).filter((l) => !onlyLibs || onlyLibs.includes(l) || l === "ws");

function librariesFor(scenario) {
  return LIBS.filter((lib) => {
    const a = adapters[lib];
    if (a.requestsOnly && !scenario.requests) return false;
    if (a.pushOnly && scenario.kind !== "push") return false;
    if (scenario.needs && !a[scenario.needs]) return false;
    if (a.only && !a.only.includes(scenario.id)) return false;
    if (a.needsBase && !baseDir) return false;
    return true;
  });
}

function setup() {
  if (!existsSync(join(here, "node_modules"))) {
    console.log("installing bench dependencies (npm install --prefix bench)…");
    execFileSync("npm", ["install", "--prefix", here, "--no-audit", "--no-fund"], { stdio: "inherit" });
  }
  if (!existsSync(join(root, "dist", "index.js"))) {
    console.log("building the library (npx tsup)…");
    execFileSync("npx", ["tsup"], { cwd: root, stdio: "inherit" });
  }
  mkdirSync(join(resultsDir, "evtwebsocket-dist"), { recursive: true });
  const snapshot = join(resultsDir, "evtwebsocket-dist", "index.js");
  copyFileSync(join(root, "dist", "index.js"), snapshot);
  if (existsSync(join(root, "dist", "otel.js")))
    copyFileSync(join(root, "dist", "otel.js"), join(resultsDir, "evtwebsocket-dist", "otel.js"));
  if (baseDir) {
    mkdirSync(join(resultsDir, "evtwebsocket-base"), { recursive: true });
    copyFileSync(resolve(baseDir, "index.js"), join(resultsDir, "evtwebsocket-base", "index.js"));
  }
  return {
    snapshot,
    sha256: createHash("sha256").update(readFileSync(snapshot)).digest("hex").slice(0, 12),
  };
}

function startServer(script = "server.mjs") {
  return new Promise((resolveStart, reject) => {
    const child = spawn(process.execPath, [join(here, script)], {
      env: childEnv,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const nl = out.indexOf("\n");
      if (nl >= 0) resolveStart({ child, ports: out.slice(0, nl) });
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
}

/** Kills a server and waits until it is gone, so it uses no CPU during the next measurement. */
function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", resolve);
    child.kill();
  });
}

const reconnectKind = { "socket.io-client": "sioFast", "rpc-websockets": "rpc" };

function runClient(ports, lib, scenario, evtDist) {
  const params =
    scenario.kind === "reconnect" ? { kind: reconnectKind[lib] ?? "ws" } : (scenario.params ?? {});
  const nodeArgs = ["--expose-gc"];
  // A fixed young generation for the memory scenario: V8 otherwise grows it (or not) by an
  // allocation-rate heuristic, which made RSS per idle connection bimodal (about 10 or 25 KiB
  // for the same library). Throughput scenarios keep V8's defaults.
  if (scenario.kind === "idle") nodeArgs.push("--min-semi-space-size=1", "--max-semi-space-size=1");
  if (profile && lib === "evtwebsocket") {
    nodeArgs.push("--cpu-prof", "--cpu-prof-dir", join(resultsDir, "profiles"));
    nodeArgs.push("--cpu-prof-name", `${scenario.id}-${Date.now()}.cpuprofile`);
  }
  return new Promise((resolveRun) => {
    const child = spawn(
      process.execPath,
      [...nodeArgs, join(here, "client.mjs"), lib, scenario.kind, JSON.stringify(params)],
      {
        env: {
          ...childEnv,
          BENCH_PORTS: ports,
          BENCH_EVT_DIST: evtDist,
          BENCH_EVT_BASE_DIST: join(resultsDir, "evtwebsocket-base", "index.js"),
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    child.stderr.on("data", (c) => {
      err += c;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), quick ? 60_000 : 240_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      const line = out.split("\n").find((l) => l.startsWith("RESULT "));
      if (line) resolveRun(JSON.parse(line.slice(7)));
      else resolveRun({ error: `exit ${code}: ${err.trim().split("\n").slice(-3).join(" | ")}` });
    });
  });
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmt(x, unit) {
  if (!Number.isFinite(x)) return "n/a";
  if (unit === "ms" || unit === "KiB" || unit === "MB/s") return x >= 100 ? x.toFixed(0) : x.toFixed(1);
  if (unit === "µs") return x.toFixed(3);
  if (unit === "% of a core") return x.toFixed(2);
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0);
}

function summarize(raw) {
  const rows = [];
  for (const scenario of SCENARIOS) {
    const source = scenario.derivedFrom ?? scenario.id;
    const pick = scenario.pick ?? ((r) => r.value);
    const cells = {};
    for (const lib of LIBS) {
      const runs = raw[source]?.[lib];
      if (!runs) continue;
      const values = runs.filter((r) => !r.error).map(pick);
      const ok = values.filter(Number.isFinite);
      cells[lib] = {
        median: ok.length ? median(ok) : Number.NaN,
        min: ok.length ? Math.min(...ok) : Number.NaN,
        max: ok.length ? Math.max(...ok) : Number.NaN,
        n: ok.length,
        failed: runs.length - ok.length,
        p50us: scenario.id === "req1" ? median(runs.filter((r) => r.p50us).map((r) => r.p50us)) : undefined,
      };
    }
    const base = cells.ws?.median;
    for (const cell of Object.values(cells)) cell.ratio = base ? cell.median / base : undefined;
    const map = cells["ws-map"]?.median;
    if (map && cells.evtwebsocket) cells.evtwebsocket.ratioToMap = cells.evtwebsocket.median / map;
    rows.push({ scenario, cells });
  }
  return rows;
}

const TARGETS = [
  ["send32", "ws", 5, ">="],
  ["send64k", "ws", 0.95, ">="],
  ["push32", "ws", 1.0, ">="],
  ["push32", "ws", 0.9, ">=", "evtwebsocket-messages"],
  ["push32json", "ws", 0.95, ">="],
  ["echo", "ws", 2.5, ">="],
  ["req1", "ws-map", 0.95, ">="],
  ["req100", "ws-map", 1.5, ">="],
  ["req100proxy", "ws-map", 1.5, ">="],
  ["req100heap", "ws-map", 1.5, ">="],
  ["req10k", "ws-map", 1.3, ">="],
  ["idle", "ws", 1.15, "<="],
  ["idleHeap", "ws", 1.15, "<="],
  ["idleCpu", "ws", 1.5, "<="],
];

/** Issue 18's targets for the overhead rows, by variant (undefined: reported, no target). */
const OBSERVED_TARGETS_BY_LIB = {
  "evtwebsocket@base": 0.98,
  "evtwebsocket+dc": undefined,
  "evtwebsocket+otel": 0.85,
};
const OBSERVED_ROWS = ["req100", "req10k"];

function markdown(rows, meta, sizes) {
  const libs = LIBS;
  const head = `| scenario | ${libs.map((l) => adapters[l].label).join(" | ")} |`;
  const sep = `| --- | ${libs.map(() => "---").join(" | ")} |`;
  const out = [];
  out.push(`# evtwebsocket benchmark (${meta.mode}, ${meta.reps} interleaved repetitions)`, "");
  out.push(
    `Node ${meta.node}, ${meta.cpus}× ${meta.cpuModel}, load average at start ${meta.loadStart}, at end ${meta.loadEnd}; ` +
      `${meta.date}; git ${meta.git}, dist/index.js sha256 ${meta.distSha}. Loopback 127.0.0.1, server in its own ` +
      "process, each client in a fresh process. Medians; `(×r)` is the ratio to raw `ws` in the same run " +
      "(for RSS, CPU and times: lower is better). Reproduce: `" +
      meta.command +
      "`.",
    "",
    head,
    sep,
  );
  const cell = (scenario, c) => {
    if (!c) return "—";
    if (c.n === 0) return `failed (${c.failed})`;
    let s = `${fmt(c.median, scenario.unit)} ${scenario.unit}`;
    if (scenario.id === "req1" && Number.isFinite(c.p50us)) s += `, p50 ${c.p50us.toFixed(0)} µs`;
    if (c.ratio !== undefined) s += ` (×${c.ratio.toFixed(2)})`;
    if (c.failed) s += ` [${c.failed} failed]`;
    return s;
  };
  for (const { scenario, cells } of rows) {
    const shown = libs.map((l) =>
      !cells[l] && adapters[l].requestsOnly && cells.ws ? "= raw ws" : cell(scenario, cells[l]),
    );
    out.push(`| ${scenario.title} | ${shown.join(" | ")} |`);
  }
  out.push("", "Spread (min–max over every run; 1 in flight: three runs per repetition):", "", head, sep);
  for (const { scenario, cells } of rows) {
    const shown = libs.map((l) => {
      const c = cells[l];
      return c?.n ? `${fmt(c.min, scenario.unit)}–${fmt(c.max, scenario.unit)}` : "—";
    });
    out.push(`| ${scenario.title} | ${shown.join(" | ")} |`);
  }
  out.push("", "Targets from issues 6 and 17 (evtwebsocket, ratio of medians):", "");
  out.push("| scenario | baseline | target | measured | held |", "| --- | --- | --- | --- | --- |");
  for (const [id, baseline, target, op, lib = "evtwebsocket"] of TARGETS) {
    const row = rows.find((r) => r.scenario.id === id);
    const evt = row?.cells[lib]?.median;
    const base = row?.cells[baseline]?.median;
    if (!evt || !base) continue;
    const r = evt / base;
    const held = op === ">=" ? r >= target : r <= target;
    out.push(
      `| ${row.scenario.title}${lib === "evtwebsocket" ? "" : ` (${adapters[lib].label})`} | ${adapters[baseline].label} | ${op} ${target} | ${r.toFixed(2)} | ${held ? "yes" : "**no**"} |`,
    );
  }
  out.push("", "Observability overhead (issue 18; ratio to evtwebsocket's median in the same run):", "");
  out.push("| scenario | variant | target | measured |", "| --- | --- | --- | --- |");
  for (const row of rows.filter((r) => OBSERVED_ROWS.includes(r.scenario.id) && r.cells.evtwebsocket)) {
    for (const [lib, target] of Object.entries(OBSERVED_TARGETS_BY_LIB)) {
      const v = row.cells[lib]?.median;
      const evt = row.cells.evtwebsocket.median;
      if (!v || !evt) continue;
      // The base build is the reference: evtwebsocket with no subscriber over the build before.
      const r = lib === "evtwebsocket@base" ? evt / v : v / evt;
      const what =
        lib === "evtwebsocket@base" ? "no subscriber (over the --base build)" : adapters[lib].label;
      out.push(`| ${row.scenario.title} | ${what} | ${target ? `>= ${target}` : "—"} | ${r.toFixed(2)} |`);
    }
  }
  const peers = libs.filter(
    (l) => !["ws", "ws-map", "evtwebsocket", "evtwebsocket-messages"].includes(l) && !adapters[l].variantOf,
  );
  // A peer with an equal or better median is "level" when the two runs cannot be told apart:
  // each median lies inside the other's min–max spread. Otherwise evtwebsocket is behind it.
  const behind = [];
  const level = [];
  const inside = (x, c) => x >= c.min && x <= c.max;
  for (const { scenario, cells } of rows) {
    const evt = cells.evtwebsocket;
    if (!Number.isFinite(evt?.median)) continue;
    const levelPeers = [];
    const behindPeers = [];
    for (const peer of peers) {
      const p = cells[peer];
      if (!Number.isFinite(p?.median)) continue;
      if (scenario.higherIsBetter ? p.median < evt.median : p.median > evt.median) continue;
      const label = adapters[peer].label;
      if (p.median === evt.median || (inside(p.median, evt) && inside(evt.median, p))) levelPeers.push(label);
      else behindPeers.push(label);
    }
    if (levelPeers.length > 0) level.push(`${scenario.title}: ${levelPeers.join(", ")}`);
    if (behindPeers.length > 0) behind.push(`${scenario.title}: ${behindPeers.join(", ")}`);
  }
  out.push(
    "",
    behind.length === 0
      ? "evtwebsocket is not behind any peer in any scenario" +
          (level.length === 0 ? ": it is ahead in every one." : ".")
      : `evtwebsocket is behind a peer in: ${behind.join("; ")}.`,
  );
  if (level.length > 0)
    out.push(
      "",
      `Level (a peer's median is equal or better, but each median lies inside the other's spread): ${level.join("; ")}.`,
    );
  out.push("", "Browser bundles (esbuild, platform browser, bundle + minify; gzip -9):", "");
  out.push("| entry | min | min+gz | Node-only imports left external |", "| --- | --- | --- | --- |");
  for (const s of sizes) {
    out.push(
      `| ${s.name} | ${(s.minBytes / 1024).toFixed(1)} KiB | ${(s.gzipBytes / 1024).toFixed(1)} KiB | ${s.nodeOnlyImports.join(", ") || "none"} |`,
    );
  }
  out.push(
    "",
    "Notes: request/response for libraries without it goes through the same small JSON `Map` id layer; raw `ws`",
    "matches responses first-in first-out; socket.io uses acks, rpc-websockets `call()` (also for its echo row).",
    "Idle: `ws` and evtwebsocket send protocol pings, socket.io its own (server interval 5 s), the others a",
    "`setInterval` text ping per connection. Reconnect and dead-connection rows are in ms (lower is better); a",
    "library without reconnect or without dead-peer detection shows —. Native add-ons (bufferutil,",
    "utf-8-validate) are disabled for every process.",
  );
  return out.join("\n");
}

async function main() {
  const started = Date.now();
  const { snapshot, sha256 } = setup();
  const loadStart = os.loadavg()[0].toFixed(2);
  const scenarios = SCENARIOS.filter((s) => s.kind && (!onlyScenarios || onlyScenarios.includes(s.id)));
  const raw = {};
  for (let rep = 0; rep < reps; rep++) {
    for (const scenario of scenarios) {
      // A fresh server for every (scenario, repetition): one process serving the whole run
      // got slower for fast clients after the idle, reconnect and dead-peer scenarios
      // (evtwebsocket's echo: 316k msg/s before them, 191k after), so a library's figure
      // depended on what the server had served before it.
      const { child: server, ports: serverPorts } = await startServer();
      // The proxy scenarios get a CONNECT proxy in its own process; its port joins the others.
      const proxy = scenario.params?.proxy ? await startServer("proxy.mjs") : undefined;
      const ports = proxy
        ? JSON.stringify({ ...JSON.parse(serverPorts), ...JSON.parse(proxy.ports) })
        : serverPorts;
      try {
        const libs = librariesFor(scenario);
        const runs = scenario.runsPerRep ?? 1;
        const order = [];
        for (let run = 0; run < runs; run++) {
          const shift = rep * runs + run;
          order.push(...libs.map((_, i) => libs[(i + shift) % libs.length]));
        }
        for (const lib of order) {
          const t0 = Date.now();
          const result = await runClient(ports, lib, scenario, snapshot);
          const took = ((Date.now() - t0) / 1000).toFixed(1);
          raw[scenario.id] ??= {};
          raw[scenario.id][lib] ??= [];
          raw[scenario.id][lib].push(result);
          const shown = result.error ?? fmt((scenario.pick ?? ((r) => r.value))(result), scenario.unit);
          console.log(
            `rep ${rep + 1}/${reps}  ${scenario.id.padEnd(11)} ${lib.padEnd(22)} ${shown.padEnd(10)} ${took} s`,
          );
        }
      } finally {
        await stopServer(server);
        if (proxy) await stopServer(proxy.child);
      }
    }
  }
  let sizes = [];
  try {
    sizes = await bundleSizes();
  } catch (error) {
    console.error("bundle sizes failed:", error.message);
  }
  const rows = summarize(raw);
  let git = "unknown";
  try {
    git = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root }).toString().trim();
  } catch {}
  const meta = {
    mode: quick ? "quick" : "full",
    reps,
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    loadStart,
    loadEnd: os.loadavg()[0].toFixed(2),
    date: new Date().toISOString(),
    git,
    distSha: sha256,
    seconds: Math.round((Date.now() - started) / 1000),
    command: `npm run bench${args.length ? ` -- ${args.join(" ")}` : ""}`,
  };
  const md = markdown(rows, meta, sizes);
  const stamp = meta.date.replace(/[:.]/g, "-");
  writeFileSync(join(resultsDir, `bench-${stamp}.md`), `${md}\n`);
  writeFileSync(join(resultsDir, "latest.md"), `${md}\n`);
  const json = JSON.stringify(
    { meta, rows: rows.map((r) => ({ id: r.scenario.id, cells: r.cells })), raw, sizes },
    null,
    2,
  );
  writeFileSync(join(resultsDir, `bench-${stamp}.json`), `${json}\n`);
  writeFileSync(join(resultsDir, "latest.json"), `${json}\n`);
  console.log(`\n${md}\n\nwritten to bench/results/bench-${stamp}.{md,json} in ${meta.seconds} s`);
}

if (flag("--browser")) {
  // The browser bench alone: the page in Chromium against the same server (bench/browser/).
  setup();
  const { browserBench } = await import("./browser/run.mjs");
  await browserBench({ quick, reps, only: onlyScenarios, startServer, stopServer });
} else {
  await main();
}
