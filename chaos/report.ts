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

/** One dead-connection detection (blackhole or stall), times in ms. */
export interface Detection {
  fault: string;
  /** The previous cycle's fault. */
  previousFault: string;
  /** From the fault's injection to the verdict (the start of the wake that declared the peer dead). */
  fromFaultMs: number;
  /** From the client's last byte received to the verdict: what the bound is about. */
  fromByteMs: number;
  /** From the verdict to the ERR_PONG_TIMEOUT event (the link's teardown). */
  eventAfterMs: number;
  /** pingIntervalMs + pongTimeoutMs, or + 2 x pongTimeoutMs when a late deadline sent a fresh ping. */
  boundMs: number;
  /** How late the heartbeat's timers behind the verdict fired, summed (see chaos/lateness.ts). */
  timersLateMs: number;
  /** How many timers that chain had (0: the verdict came from no timer of the client's clock). */
  timers: number;
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
    detections: [] as Detection[],
    detectionBoundMs,
    /** Detections later than the bound plus the lateness of their own timers, from the last byte. */
    overBound: 0,
    /** Event-loop delay over the run (perf_hooks.monitorEventLoopDelay), in ms. */
    loopDelayMs: { median: Number.NaN, p99: Number.NaN, max: Number.NaN },
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
  const byte = quantiles(r.detections.map((x) => x.fromByteMs));
  const fromFault = quantiles(r.detections.map((x) => x.fromFaultMs));
  const late = quantiles(r.detections.map((x) => x.timersLateMs));
  const bound = r.detectionBoundMs;
  const overRaw = r.detections.filter((x) => x.fromByteMs > x.boundMs).length;
  const overFromFault = r.detections.filter((x) => x.fromFaultMs > bound).length;
  const repinged = r.detections.filter((x) => x.boundMs > bound).length;
  const ld = r.loopDelayMs;
  const ms1 = (v: number) => (Number.isNaN(v) ? "-" : `${v.toFixed(1)} ms`);
  const teardown = quantiles(r.detections.map((x) => x.eventAfterMs));
  const margin = quantiles(r.detections.map((x) => x.boundMs + x.timersLateMs - x.fromByteMs));
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
      "dead-connection detection (blackhole, stall), from the last byte received to the verdict",
      `min ${ms(byte.min)}, median ${ms(byte.median)}, max ${ms(byte.max)}; bound pingIntervalMs + pongTimeoutMs = ${bound} ms plus the measured lateness of the detection's own timers; over bound ${r.overBound} of ${r.detections.length}${repinged > 0 ? ` (for ${repinged} a late deadline sent a fresh ping: bound pingIntervalMs + 2 x pongTimeoutMs)` : ""}`,
    ],
    [
      "lateness of the heartbeat timers behind each detection (ping wake to verdict)",
      `min ${ms1(late.min)}, median ${ms1(late.median)}, max ${ms1(late.max)}; over the bound without this allowance: ${overRaw}; smallest margin with it: ${ms1(margin.min)}`,
    ],
    ["verdict to ERR_PONG_TIMEOUT event", `median ${ms1(teardown.median)}, max ${ms1(teardown.max)}`],
    [
      "detection measured from the fault instead",
      `min ${ms(fromFault.min)}, median ${ms(fromFault.median)}, max ${ms(fromFault.max)}; over ${bound} ms: ${overFromFault}`,
    ],
    ["event-loop delay over the run", `median ${ms1(ld.median)}, p99 ${ms1(ld.p99)}, max ${ms1(ld.max)}`],
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

/** One line per detection: the fault, ms from the fault and from the last byte, timer lateness. */
export function formatDetections(r: ChaosReport): string {
  const bound = r.detectionBoundMs;
  return r.detections
    .map((d, i) => {
      const over = d.fromByteMs - d.boundMs - d.timersLateMs;
      const verdict = over > 0 ? `OVER by ${over.toFixed(1)} ms` : "within";
      const fresh = d.boundMs > bound ? ", fresh ping after a late deadline" : "";
      return `${i + 1}. ${d.fault} (after ${d.previousFault}): ${d.fromFaultMs.toFixed(1)} ms from the fault, ${d.fromByteMs.toFixed(1)} from the last byte; ${d.timers} timers ${d.timersLateMs.toFixed(1)} ms late in all${fresh}: ${verdict}`;
    })
    .join("\n");
}
