/** The chaos run's figures, its violations, and the one Markdown summary table. */

import { quantiles } from "./util.js";

/** Every fault the cycles draw from. */
export const FAULTS = [
  "restart",
  "drop-1000",
  "drop-1001",
  "drop-1011",
  "drop-4xxx",
  "drop-abrupt",
  "blackhole",
  "reset",
  "latency",
  "stall",
  "refuse",
  "http-4xx-5xx",
  "handshake-hang",
  "oversize",
  "bad-utf8",
  "bad-close-code",
] as const;

/** One kind of fault. */
export type Fault = (typeof FAULTS)[number];

/** Counts keyed by error code or name. */
export type Counts = Record<string, number>;

/** One broken invariant, with where it happened. */
export interface Violation {
  inv:
    | "INV-1"
    | "INV-2"
    | "INV-3"
    | "INV-4"
    | "INV-5"
    | "INV-6"
    | "INV-7"
    | "false-dead"
    | "detection"
    | "recovery"
    | "storm";
  cycle: number;
  fault: string;
  detail: string;
}

/** Figures of the 50-client restart storm. */
export interface StormReport {
  clients: number;
  rounds: number;
  attempts: number;
  /** Spread of the first retry delays across clients, and the window jitter allows. */
  firstRetrySpreadMs: number;
  firstRetryWindowMs: number;
  /** Most clients whose first retry fell in one 10 ms bucket. */
  maxInOneBucket: number;
  /** Retries earlier than the policy's lower bound, or sooner than the announced delay. */
  tooFast: number;
  recovered: number;
  recoveryMs: number[];
  maxLivePerClient: number;
  leaks: string[];
}

/** Everything a chaos run measured. */
export function emptyReport(seed: number, detectionBoundMs: number) {
  return {
    seed,
    cycles: 0,
    durationMs: 0,
    conns: 0,
    faults: Object.fromEntries(FAULTS.map((f) => [f, 0])) as Record<Fault, number>,
    requests: { sent: 0, resolved: 0, retryOnReconnect: 0, rejected: {} as Counts, thrown: {} as Counts },
    messages: { sent: 0, received: 0 },
    errorEvents: {} as Counts,
    detectionMs: [] as number[],
    detectionBoundMs,
    overBound: 0,
    recoveryMs: [] as number[],
    falseDeadDetections: 0,
    maxLiveSockets: 0,
    leaks: [] as string[],
    canaryHits: 0,
    heapDeltaBytes: undefined as number | undefined,
    violations: [] as Violation[],
    storm: undefined as StormReport | undefined,
  };
}

/** What {@link emptyReport} returns, filled in. */
export type ChaosReport = ReturnType<typeof emptyReport>;

const ms = (v: number) => (Number.isNaN(v) ? "-" : `${Math.round(v)} ms`);
const counts = (c: Counts) =>
  Object.entries(c)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(", ") || "none";

/** The summary as one Markdown table. */
export function formatReport(r: ChaosReport): string {
  const d = quantiles(r.detectionMs);
  const rec = quantiles(r.recoveryMs);
  const rejected = Object.values(r.requests.rejected).reduce((a, b) => a + b, 0);
  const byInv: Counts = {};
  for (const v of r.violations) byInv[v.inv] = (byInv[v.inv] ?? 0) + 1;
  const rows: Array<[string, string]> = [
    [
      "cycles (seed)",
      `${r.cycles} (seed ${r.seed}), ${(r.durationMs / 1000).toFixed(1)} s, ${r.conns} clients in turn`,
    ],
    ["faults", counts(r.faults)],
    ["requests sent", `${r.requests.sent} (${r.requests.retryOnReconnect} with retryOnReconnect)`],
    ["requests resolved", String(r.requests.resolved)],
    ["requests rejected", `${rejected}: ${counts(r.requests.rejected)}`],
    ["send()/request() threw", counts(r.requests.thrown)],
    ["fire-and-forget sent / messages to onMessage", `${r.messages.sent} / ${r.messages.received}`],
    ["onError events", counts(r.errorEvents)],
    [
      "dead-connection detection (blackhole, stall)",
      `min ${ms(d.min)}, median ${ms(d.median)}, max ${ms(d.max)}; bound pingIntervalMs + pongTimeoutMs = ${r.detectionBoundMs} ms; over bound ${r.overBound} of ${r.detectionMs.length}`,
    ],
    ["recovery (fault to open again)", `min ${ms(rec.min)}, median ${ms(rec.median)}, max ${ms(rec.max)}`],
    ["false dead-detections (200 ms each way, RTT 400 < pongTimeoutMs)", String(r.falseDeadDetections)],
    ["max live sockets per client", String(r.maxLiveSockets)],
    ["leaks (resources after close())", r.leaks.length === 0 ? "0" : `${r.leaks.length}: ${r.leaks[0]}`],
    [
      "heap after GC, last client's close vs the first's",
      r.heapDeltaBytes === undefined
        ? "- (run with --expose-gc)"
        : `${(r.heapDeltaBytes / 1024).toFixed(0)} KiB`,
    ],
    ["canary hits", String(r.canaryHits)],
  ];
  const s = r.storm;
  if (s !== undefined) {
    const sr = quantiles(s.recoveryMs);
    rows.push(
      [
        `storm: ${s.clients} clients, server restarted ${s.rounds}x`,
        `${s.recovered}/${s.clients * s.rounds} recovered; time to all open: median ${ms(sr.median)}, max ${ms(sr.max)}`,
      ],
      [
        "storm: retry spread (jitter)",
        `${s.attempts} attempts; first retries spread over ${ms(s.firstRetrySpreadMs)} of a ${ms(s.firstRetryWindowMs)} window; at most ${s.maxInOneBucket} clients in one 10 ms bucket`,
      ],
      ["storm: retries faster than the policy", String(s.tooFast)],
      ["storm: max live sockets per client id (server side)", String(s.maxLivePerClient)],
      ["storm: leaks", String(s.leaks.length)],
    );
  }
  rows.push(["violations", r.violations.length === 0 ? "0" : `${r.violations.length}: ${counts(byInv)}`]);
  return ["| figure | value |", "| --- | --- |", ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join("\n");
}
