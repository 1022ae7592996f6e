/**
 * The browser bench: `npm run bench -- --browser` (add `--quick` for smaller counts).
 *
 * Bundles `page.mjs` (which imports the browser build, `dist/browser.js`) with esbuild, serves
 * it from 127.0.0.1, and drives Debian's Chromium (`/usr/bin/chromium`, through playwright-core)
 * against the bench's server (`bench/server.mjs`, a fresh process per scenario and repetition).
 * Every (client, scenario, repetition) runs in a fresh browser context; the clients are
 * interleaved as in the Node bench (repetition r starts the rotation at client r). Prints
 * medians, spread and the ratios the targets refer to, and writes
 * bench/results/browser-latest.{md,json}. Never asserts speed.
 */

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import * as os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const resultsDir = join(here, "..", "results");
const CHROMIUM = "/usr/bin/chromium";

/** The scenarios, their clients, and the target: `client / baseline >= ratio`. */
function scenarios(quick) {
  const q = (full, small) => (quick ? small : full);
  return [
    {
      id: "send32",
      title: `send ${q("200k", "50k")} × 32 B`,
      kind: "send",
      params: { count: q(200_000, 50_000), size: 32, burst: 1000 },
      clients: ["raw", "conn"],
      target: ["raw", 0.95],
    },
    {
      id: "echo",
      title: "echo, window 1,000",
      kind: "echo",
      params: { count: q(100_000, 30_000), window: 1000, size: 32 },
      clients: ["raw", "conn"],
      target: ["raw", 0.95],
    },
    {
      id: "req100",
      title: "request/response, 100 in flight",
      kind: "request",
      params: { count: q(100_000, 20_000), inflight: 100 },
      clients: ["raw", "map", "conn"],
      target: ["map", 1.2],
    },
  ];
}

const LABELS = { raw: "raw WebSocket", map: "WebSocket + Map id layer", conn: "evtwebsocket Conn" };

async function buildPage() {
  const esbuild = await import(join(root, "node_modules", "esbuild", "lib", "main.js")).then(
    (m) => m.default ?? m,
  );
  const result = await esbuild.build({
    entryPoints: [join(here, "page.mjs")],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0].text;
}

/** Serves the page and its bundle from 127.0.0.1; resolves with the origin and a closer. */
async function servePage(bundle) {
  const html = '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>';
  const server = createServer((req, res) => {
    if (req.url === "/") res.writeHead(200, { "content-type": "text/html" }).end(html);
    else if (req.url === "/page.js") res.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
    else res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const fmt = (x) => (!Number.isFinite(x) ? "n/a" : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0));

/**
 * Runs the browser bench.
 *
 * @param startServer - starts bench/server.mjs; resolves with `{ child, ports }` (ports as JSON).
 * @param stopServer - stops it and waits until it is gone.
 * @param only - the scenario ids to run (`--scenarios send32,echo,req100`); all when undefined.
 */
export async function browserBench({ quick, reps, only, startServer, stopServer }) {
  if (!existsSync(CHROMIUM)) throw new Error(`the browser bench needs Chromium at ${CHROMIUM}`);
  if (!existsSync(join(root, "dist", "browser.js")))
    throw new Error("dist/browser.js is missing: npm run build");
  const { chromium } = await import("playwright-core");
  const started = Date.now();
  const loadStart = os.loadavg()[0].toFixed(2);
  const page = await servePage(await buildPage());
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"],
  });
  const browserVersion = browser.version();
  const list = scenarios(quick).filter((s) => !only || only.includes(s.id));
  const raw = {};
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const scenario of list) {
        const { child, ports } = await startServer();
        try {
          const wsBase = `ws://127.0.0.1:${JSON.parse(ports).ws}`;
          const { clients } = scenario;
          for (let i = 0; i < clients.length; i++) {
            const client = clients[(i + rep) % clients.length];
            const context = await browser.newContext();
            const tab = await context.newPage();
            let pageError;
            tab.on("pageerror", (e) => {
              pageError = e;
            });
            const t0 = Date.now();
            let result;
            try {
              await tab.goto(`${page.origin}/`);
              await tab.waitForFunction(() => typeof globalThis.bench === "function");
              result = await tab.evaluate(
                ([c, k, p, b]) => globalThis.bench(c, k, p, b),
                [client, scenario.kind, scenario.params, wsBase],
              );
            } catch (error) {
              result = { error: String(pageError ?? error).split("\n")[0] };
            } finally {
              await context.close();
            }
            raw[scenario.id] ??= {};
            raw[scenario.id][client] ??= [];
            raw[scenario.id][client].push(result);
            const shown = result.error ?? `${fmt(result.value)} msg/s`;
            const took = ((Date.now() - t0) / 1000).toFixed(1);
            console.log(
              `rep ${rep + 1}/${reps}  ${scenario.id.padEnd(7)} ${client.padEnd(5)} ${shown}  ${took} s`,
            );
          }
        } finally {
          await stopServer(child);
        }
      }
    }
  } finally {
    await browser.close();
    page.close();
  }
  const rows = list.map((scenario) => {
    const cells = {};
    for (const client of scenario.clients) {
      const values = (raw[scenario.id]?.[client] ?? []).filter((r) => !r.error).map((r) => r.value);
      cells[client] = values.length
        ? { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length }
        : { median: Number.NaN, n: 0 };
    }
    const [base, want] = scenario.target;
    const ratio = cells.conn.median / cells[base].median;
    return { scenario, cells, ratio, target: `≥ ${want}× ${LABELS[base]}`, met: ratio >= want };
  });
  const meta = {
    mode: quick ? "quick" : "full",
    reps,
    chromium: browserVersion,
    cpus: os.cpus().length,
    loadStart,
    loadEnd: os.loadavg()[0].toFixed(2),
    date: new Date().toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
  };
  const cell = (c) => (c ? (c.n ? `${fmt(c.median)} (${fmt(c.min)}–${fmt(c.max)})` : "failed") : "—");
  const md = [
    `Browser bench (${meta.mode}, ${reps} reps, Chromium ${meta.chromium}, ${meta.cpus} CPUs, load ${meta.loadStart} → ${meta.loadEnd}, ${meta.date}), msg/s, median (min–max):`,
    "",
    "| scenario | raw WebSocket | WebSocket + Map id layer | **evtwebsocket Conn** | ratio | target |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map(
      (r) =>
        `| ${r.scenario.title} | ${cell(r.cells.raw)} | ${cell(r.cells.map)} | ${cell(r.cells.conn)} | ` +
        `${r.ratio.toFixed(2)}× | ${r.target}: ${r.met ? "met" : "not met"} |`,
    ),
  ].join("\n");
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, "browser-latest.md"), `${md}\n`);
  writeFileSync(
    join(resultsDir, "browser-latest.json"),
    `${JSON.stringify({ meta, rows: rows.map((r) => ({ id: r.scenario.id, cells: r.cells, ratio: r.ratio })), raw }, null, 2)}\n`,
  );
  console.log(`\n${md}\n\nwritten to bench/results/browser-latest.{md,json} in ${meta.seconds} s`);
}
