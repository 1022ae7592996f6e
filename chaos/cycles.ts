/**
 * The chaos cycles: one client behind a fault proxy, a real server behind it, random faults
 * cycle after cycle while the client sends fire-and-forget messages and requests, and the
 * invariants checked as it goes (INV-1..7) and after every cycle.
 *
 * Each cycle: wait for the connection to be open, run traffic, inject one fault, measure what
 * the fault is meant to provoke (dead-connection detection for blackhole and stall, false
 * detections under latency), heal, wait for the client to recover, check pending requests.
 * A detection is measured from the client's last byte received (not from the fault: bytes
 * still in flight arrive after it, and the line may have been quiet for a ping interval before
 * it) and must fall within pingIntervalMs + pongTimeoutMs plus how late the heartbeat's own
 * timers behind it fired, which the client's clock records (chaos/lateness.ts).
 * Every `recycleEvery` cycles the client is closed and the process must hold nothing more
 * than before it was created (INV-4). Faults come from a seeded PRNG so a run can be replayed.
 */

import { channel } from "node:diagnostics_channel";
import type { Socket } from "node:net";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Conn, type EvtWebSocketError, json, State } from "../src/index.js";
import { canTransition } from "../src/state.js";
import { createFaultProxy, createTestServer } from "../src/testing/index.js";
import { CANARY, canaryHits } from "./canary.js";
import { type Fire, lateness, RecordingClock, verdictChain } from "./lateness.js";
import { type Detection, emptyReport, FAULTS, type Fault, type Violation } from "./report.js";
import { createRng, pick } from "./rng.js";
import { type Msg, Traffic } from "./traffic.js";
import { leakDiff, resourceCounts, sleep, waitFor } from "./util.js";

/** Client timings of the chaos run; the latency fault adds 2 x 200 ms to a round trip, below pongTimeoutMs. */
export const TIMING = {
  pingIntervalMs: 150,
  pongTimeoutMs: 800,
  connectTimeoutMs: 1500,
  requestTimeoutMs: 2000,
  latencyMs: 200,
  /** The oversize fault sends twice this. */
  maxMessageBytes: 64 * 1024,
  /** How long past its deadline a request may take to settle before INV-1 counts it as hung. */
  settleSlackMs: 1500,
  /** How long a client may take to be open again after the fault is healed. */
  recoverMs: 15_000,
} as const;

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  cycles: number;
  seed?: number;
  /** Close the client and check for leaks every this many cycles. @default 25 */
  recycleEvery?: number;
  /** Progress lines (one per violation, one per recycle). */
  log?(line: string): void;
}

/** Runs the chaos cycles and returns the figures and every violation found. */
export async function runChaos(options: ChaosOptions) {
  const seed = options.seed ?? Date.now() % 100_000;
  const random = createRng(seed);
  const recycleEvery = options.recycleEvery ?? 25;
  const report = emptyReport(seed, TIMING.pingIntervalMs + TIMING.pongTimeoutMs);
  const started = performance.now();
  let cycle = 0;
  let fault: Fault | "none" = "none";
  /** The previous cycle's fault (a latency fault leaves bytes queued in the proxy for a while). */
  let previousFault: Fault | "none" = "none";
  const violate = (inv: Violation["inv"], detail: string): void => {
    report.violations.push({ inv, cycle, fault, detail });
    options.log?.(`VIOLATION ${inv} cycle ${cycle} (${fault}): ${detail}`);
  };
  const scan = (value: unknown, where: string): void => {
    const hits = canaryHits(value);
    if (hits.length === 0) return;
    report.canaryHits += hits.length;
    violate("INV-7", `canary in ${where} at ${hits.join(", ")}`);
  };

  /** Every logger line is scanned too: the logger is something the library produces. */
  const scanLine = (line: string): void => scan(line, "logger line");
  const logger = { debug: scanLine, info: scanLine, warn: scanLine, error: scanLine };

  const onUnhandled = (reason: unknown) => violate("INV-6", `unhandled rejection: ${String(reason)}`);
  const onUncaught = (error: unknown) => violate("INV-6", `uncaught exception: ${String(error)}`);
  process.on("unhandledRejection", onUnhandled);
  process.on("uncaughtException", onUncaught);

  let serverSeq = 0;
  let rejectStatus: number | undefined;
  const server = await createTestServer({
    authorize: () => rejectStatus ?? true,
    onMessage: (data, client) => {
      let msg: Msg;
      try {
        msg = JSON.parse(String(data)) as Msg;
      } catch {
        return;
      }
      client.send(JSON.stringify({ ...msg, s: ++serverSeq }));
    },
  });
  const proxy = await createFaultProxy(server.url);

  // INV-3, measured where it happens: client sockets to the proxy, live = not destroyed.
  const sockets = new Set<Socket>();
  const onSocket = (message: unknown): void => {
    const socket = (message as { socket: Socket }).socket;
    socket.once("connect", () => {
      if (socket.remotePort !== proxy.port) return;
      for (const s of sockets) if (s.destroyed) sockets.delete(s);
      const live = sockets.size + 1;
      report.maxLiveSockets = Math.max(report.maxLiveSockets, live);
      if (live > 1) violate("INV-3", `${live} live sockets for one Conn`);
      sockets.add(socket);
      latestSocket = socket;
    });
  };
  const netChannel = channel("net.client.socket");
  netChannel.subscribe(onSocket);

  // Timer lateness, two ways: each of the client's timers against its due time (the heartbeat's
  // among them), and the event loop's delay over the whole run.
  const clock = new RecordingClock();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const baseline = resourceCounts();
  // INV-8 figure: heap after GC at the first client's close (warm) against the last one's.
  let heapAtFirstClose: number | undefined;
  let heapAtLastClose: number | undefined;

  // The detection bound runs from the last byte received (bytes in flight when a fault begins
  // still arrive after it), as the heartbeat sees it: a listener added once the connection is
  // open runs after the WebSocket's own, which hands each frame to the heartbeat.
  let latestSocket: Socket | undefined;
  let lastByteAt = Number.NaN;
  const onData = (): void => {
    lastByteAt = performance.now();
  };
  const traffic = new Traffic({ random, report, violate, scan, requestTimeoutMs: TIMING.requestTimeoutMs });
  let conn: Conn<Msg, Msg> | undefined;
  let closing = false;
  let closedDone = false;
  let pongTimeoutAt: number | undefined;
  /** The client's last byte before the pong timeout, and the timer fire that declared it. */
  let deadAfterByteAt = Number.NaN;
  let deadFire: Fire | undefined;
  let closeEvents = 0;

  const createConn = (): Conn<Msg, Msg> => {
    report.conns++;
    closing = false;
    closedDone = false;
    let previous: State = State.IDLE;
    const c = new Conn<Msg, Msg>({
      clock,
      codec: json<Msg, Msg>(),
      messageId: (m) => m.id,
      headers: { Authorization: `Bearer ${CANARY}` },
      pingIntervalMs: TIMING.pingIntervalMs,
      pongTimeoutMs: TIMING.pongTimeoutMs,
      connectTimeoutMs: TIMING.connectTimeoutMs,
      requestTimeoutMs: TIMING.requestTimeoutMs,
      maxMessageBytes: TIMING.maxMessageBytes,
      reconnect: { minDelayMs: 20, maxDelayMs: 400, factor: 2, jitter: 0.5, resetAfterMs: 300 },
      queue: { maxMessages: 4096, maxBytes: 4 * 1024 * 1024 },
      logger,
    });
    const afterClose = (event: string) => closedDone && violate("INV-5", `"${event}" event after close()`);
    c.on("state", (change) => {
      afterClose("state");
      scan(change, "state event");
      if (change.oldState !== previous)
        violate("INV-5", `state event from ${change.oldState}, was ${previous}`);
      if (!canTransition(change.oldState, change.newState))
        violate("INV-5", `illegal transition ${change.oldState} -> ${change.newState}`);
      if (change.newState === State.CLOSED && !closing) violate("INV-5", "closed without close()");
      previous = change.newState;
    });
    c.on("error", (error) => {
      afterClose("error");
      scan(error, "error event");
      report.errorEvents[error.code] = (report.errorEvents[error.code] ?? 0) + 1;
      if (error.code !== "ERR_PONG_TIMEOUT") return;
      pongTimeoutAt = performance.now();
      deadAfterByteAt = lastByteAt;
      deadFire = clock.current;
      if (fault !== "blackhole" && fault !== "stall") {
        report.falseDeadDetections++;
        violate("false-dead", `pong timeout while the fault was ${fault}`);
      }
    });
    c.on("close", () => closeEvents++);
    c.on("connected", () => {
      onData(); // the heartbeat starts counting at the open
      latestSocket?.on("data", onData);
    });
    for (const event of ["close", "reconnecting", "pong", "connected"] as const) {
      c.on(event, (payload: unknown) => {
        afterClose(event);
        if (event !== "connected") scan(payload, `${event} event`);
      });
    }
    c.on("message", (msg) => {
      afterClose("message");
      traffic.onMessage(msg);
    });
    const url = new URL(proxy.url);
    url.username = "user";
    url.password = CANARY;
    url.pathname = `/chaos/${CANARY}`;
    url.search = `?token=${CANARY}&cid=${report.conns}`;
    c.dial(url.href, `v1.${CANARY}`).catch((error: EvtWebSocketError) => {
      scan(error, "dial() rejection");
      if (!closing) violate("INV-5", `dial() rejected: ${error.code}`);
    });
    return c;
  };

  const waitOpen = async (what: string): Promise<boolean> => {
    const ok = await waitFor(() => conn?.state === State.OPEN, TIMING.recoverMs);
    if (!ok) violate("recovery", `not open ${TIMING.recoverMs} ms after ${what} (state ${conn?.state})`);
    return ok;
  };

  const retire = async (): Promise<void> => {
    const c = conn;
    if (c === undefined) return;
    traffic.stop();
    closing = true;
    let guard: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      c.close().then(() => true),
      new Promise<false>((resolve) => {
        guard = setTimeout(() => resolve(false), 10_000);
      }),
    ]);
    clearTimeout(guard);
    if (!closed) violate("INV-4", "close() did not resolve within 10 s");
    closedDone = true;
    conn = undefined;
    await sleep(0);
    traffic.check(-Number.MAX_VALUE);
    traffic.forgetDelivered();
    let diff = "";
    const clean = await waitFor(() => {
      diff = leakDiff(baseline, resourceCounts());
      return diff === "" && server.clients.size === 0 && proxy.activeConnections === 0;
    }, 5000);
    if (!clean) {
      const detail = `after close(): ${diff || "-"}; server clients ${server.clients.size}, proxy connections ${proxy.activeConnections}`;
      report.leaks.push(detail);
      violate("INV-4", detail);
    }
    // The server's own log of what it received is the harness's memory, not the library's.
    server.received.length = 0;
    server.handshakes.length = 0;
    const heap = heapUsed();
    heapAtFirstClose ??= heap;
    heapAtLastClose = heap;
    options.log?.(`cycle ${cycle}: client ${report.conns} closed, ${clean ? "nothing left" : "LEAK"}`);
  };

  const inject = async (f: Fault): Promise<void> => {
    const before = pongTimeoutAt;
    const closesBefore = closeEvents;
    const faultAt = performance.now();
    const noticed = async () => {
      if (!(await waitFor(() => closeEvents > closesBefore, 5000)))
        violate("detection", `the client did not notice ${f} within 5 s`);
    };
    switch (f) {
      case "restart":
        await server.restart(Math.floor(random() * 150));
        break;
      case "drop-1000":
      case "drop-1001":
      case "drop-1011":
        server.dropAll(Number(f.slice(5)), "chaos");
        break;
      case "drop-4xxx":
        server.dropAll(4000 + Math.floor(random() * 1000), "chaos");
        break;
      case "drop-abrupt":
        server.dropAll();
        break;
      case "reset":
        await proxy.reset();
        break;
      case "refuse":
        await proxy.refuse();
        await proxy.reset();
        await noticed();
        await sleep(100 + random() * 200);
        break;
      case "http-4xx-5xx":
        rejectStatus = pick(random, [401, 403, 502]);
        server.dropAll();
        await noticed();
        await sleep(100 + random() * 200);
        rejectStatus = undefined;
        return;
      case "handshake-hang":
        server.stall();
        await proxy.reset();
        await noticed();
        await sleep(TIMING.connectTimeoutMs + 200);
        return;
      case "oversize":
        for (const client of server.clients) client.send("x".repeat(2 * TIMING.maxMessageBytes));
        break;
      case "bad-utf8":
        server.sendRaw(Uint8Array.of(0x81, 0x02, 0xff, 0xfe));
        break;
      case "bad-close-code":
        server.sendRaw(Uint8Array.of(0x88, 0x02, 0x03, 0xed)); // 1005 must never be sent
        break;
      case "latency":
        await proxy.latency(TIMING.latencyMs);
        await sleep(1000 + random() * 1000);
        return;
      case "blackhole":
      case "stall": {
        if (f === "blackhole") await proxy.blackhole();
        else server.stall();
        const bound = report.detectionBoundMs;
        const seen = await waitFor(() => pongTimeoutAt !== before, 3 * bound);
        if (!seen) violate("detection", `dead connection not detected within ${3 * bound} ms`);
        else {
          // Allowed: how late the heartbeat's timers behind the verdict fired, from the wake that
          // sent the ping to the one that declared the peer dead, and one pongTimeoutMs more
          // when a late deadline sent a fresh ping.
          // Measured to the verdict: the wake that declared the peer dead began then; the error
          // event follows once the link is torn down (socket destroyed, requests rejected).
          const chain = deadFire && verdictChain(deadFire, TIMING.pongTimeoutMs);
          const verdictAt = deadFire?.firedAt ?? pongTimeoutAt!;
          const detection: Detection = {
            fault: f,
            previousFault,
            fromFaultMs: verdictAt - faultAt,
            fromByteMs: verdictAt - deadAfterByteAt,
            eventAfterMs: pongTimeoutAt! - verdictAt,
            boundMs: TIMING.pingIntervalMs + Math.max(1, chain?.pings ?? 1) * TIMING.pongTimeoutMs,
            timersLateMs: chain?.fires.reduce((sum, fire) => sum + lateness(fire), 0) ?? 0,
            timers: chain?.fires.length ?? 0,
          };
          report.detections.push(detection);
          const overMs = detection.fromByteMs - detection.boundMs - detection.timersLateMs;
          // The heartbeat keeps its times in whole ms (a reading floored, a timer armed for a
          // whole-ms time) and a timer's due time is rebuilt here from the last reading taken in
          // its fire (or within 5 ms): the accounting is meant to be exact to under 1 ms. A run
          // at load average 10 measured 0.1 ms over with a 27 ms lateness allowance, and a
          // .ci/run on 2026-12-07 (seed 79525, chaos beside the other test files) 1.1 ms over
          // with 5.5 ms: where that last millisecond went is not found, so 2 ms is allowed. A
          // real miss (a deadline moved on, a ping not sent) is a pongTimeoutMs or more.
          if (overMs >= 2) {
            report.overBound++;
            violate(
              "detection",
              `declared dead ${detection.fromByteMs.toFixed(1)} ms after the last byte: ${overMs.toFixed(1)} ms over the bound ${detection.boundMs} ms plus the lateness of its timers (${detection.timersLateMs.toFixed(1)} ms)`,
            );
          }
        }
        break;
      }
    }
    if (f !== "refuse") await noticed();
  };

  try {
    for (cycle = 1; cycle <= options.cycles; cycle++) {
      fault = "none";
      conn ??= createConn();
      if (!(await waitOpen("the previous cycle"))) continue;
      traffic.start(conn);
      await sleep(20 + random() * 80);
      fault = pick(random, FAULTS);
      report.faults[fault]++;
      const faultAt = performance.now();
      await inject(fault);
      await proxy.heal();
      server.resume();
      const healed = fault;
      previousFault = healed;
      const recovered = await waitOpen(`healing ${healed}`);
      fault = "none";
      if (recovered) report.recoveryMs.push(performance.now() - faultAt);
      await sleep(20 + random() * 40);
      traffic.check(TIMING.settleSlackMs);
      if (cycle % recycleEvery === 0 || cycle === options.cycles) await retire();
    }
  } finally {
    await retire();
    netChannel.unsubscribe(onSocket);
    loopDelay.disable();
    await proxy.close();
    await server.close();
    process.off("unhandledRejection", onUnhandled);
    process.off("uncaughtException", onUncaught);
  }
  report.cycles = options.cycles;
  report.durationMs = performance.now() - started;
  // The histogram holds whole sampling intervals: the delay is what exceeds the resolution.
  const delayMs = (ns: number) => Math.max(0, ns / 1e6 - 10);
  report.loopDelayMs = {
    median: delayMs(loopDelay.percentile(50)),
    p99: delayMs(loopDelay.percentile(99)),
    max: delayMs(loopDelay.max),
  };
  if (heapAtFirstClose !== undefined && heapAtLastClose !== undefined && report.conns > 1) {
    report.heapDeltaBytes = heapAtLastClose - heapAtFirstClose;
  }
  return report;
}

function heapUsed(): number | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return undefined;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}
