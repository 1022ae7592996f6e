/**
 * The chaos client's traffic and its bookkeeping: fire-and-forget messages and requests (some
 * with `retryOnReconnect`) sent in bursts with idle gaps, and the checks on what comes back.
 *
 * INV-1: every request settles once, with its own response, before its deadline plus a slack.
 * INV-2: every server message carries a unique sequence number, and each number may reach one
 * consumer only (a request's promise or onMessage); a response must not reach onMessage while
 * its request is still pending.
 */

import type { Conn, EvtWebSocketError } from "../src/index.js";
import type { ChaosReport, Counts, Violation } from "./report.js";

/** The chaos wire format: the server echoes every message with its sequence number `s`. */
export type Msg = { kind: "ff" | "req"; id?: string; n?: number; s?: number };

type Pending = { deadline: number; settled: number };

/** What the traffic needs from the run. */
export interface TrafficHooks {
  random(): number;
  report: ChaosReport;
  violate(inv: Violation["inv"], detail: string): void;
  /** INV-7: checks anything the library produced for the canary. */
  scan(value: unknown, where: string): void;
  requestTimeoutMs: number;
}

function bump(counts: Counts, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** Sends traffic on one connection at a time and checks what comes back. */
export class Traffic {
  readonly #h: TrafficHooks;
  readonly #requests = new Map<string, Pending>();
  readonly #consumed = new Set<number>();
  #reqSeq = 0;
  #ffSeq = 0;
  #timer: NodeJS.Timeout | undefined;
  #conn: Conn<Msg, Msg> | undefined;

  constructor(hooks: TrafficHooks) {
    this.#h = hooks;
  }

  /** Starts sending on `conn` (no-op when already running). */
  start(conn: Conn<Msg, Msg>): void {
    this.#conn = conn;
    this.#timer ??= setTimeout(() => this.#tick(), 0);
  }

  /** Stops sending; pending requests stay tracked. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#conn = undefined;
  }

  /** Forgets delivered sequence numbers (after a close: no old message can arrive any more). */
  forgetDelivered(): void {
    this.#consumed.clear();
  }

  /** Records one delivery of a server message to `by`. */
  consume(msg: Msg, by: string): void {
    if (typeof msg.s !== "number") {
      this.#h.violate("INV-2", `a message without a server seq reached ${by}`);
      return;
    }
    if (this.#consumed.has(msg.s)) {
      this.#h.violate("INV-2", `server message ${msg.s} reached a second consumer (${by})`);
    }
    this.#consumed.add(msg.s);
  }

  /** A message reached onMessage. */
  onMessage(msg: Msg): void {
    this.#h.report.messages.received++;
    this.consume(msg, "onMessage");
    const pending = msg.kind === "req" && msg.id !== undefined ? this.#requests.get(msg.id) : undefined;
    if (pending === undefined || pending.settled > 0) return;
    // Promise callbacks run after this tick: judge once they had their chance.
    setImmediate(() => {
      if (pending.settled === 0)
        this.#h.violate("INV-2", `response ${msg.id} reached onMessage while pending`);
    });
  }

  /** INV-1: flags requests still unsettled `slackMs` past their deadline; forgets settled ones. */
  check(slackMs: number): void {
    const now = performance.now();
    for (const [id, pending] of this.#requests) {
      if (pending.settled > 0) this.#requests.delete(id);
      else if (now > pending.deadline + slackMs) {
        const late = Math.round(now - pending.deadline);
        this.#h.violate("INV-1", `request ${id} unsettled ${late} ms past its deadline`);
        this.#requests.delete(id);
      }
    }
  }

  #tick(): void {
    this.#timer = undefined;
    const conn = this.#conn;
    if (conn === undefined) return;
    const { random } = this.#h;
    // Idle gaps let the heartbeat ping: a busy connection proves itself alive without pings.
    if (random() < 0.08) {
      this.#timer = setTimeout(() => this.#tick(), 200 + random() * 300);
      return;
    }
    const burst = 1 + Math.floor(random() * 3);
    for (let i = 0; i < burst; i++) this.#sendOne(conn);
    this.#timer = setTimeout(() => this.#tick(), 5 + random() * 20);
  }

  #sendOne(conn: Conn<Msg, Msg>): void {
    const { random, report, violate, scan } = this.#h;
    try {
      if (random() < 0.6) {
        conn.send({ kind: "ff", n: ++this.#ffSeq });
        report.messages.sent++;
        return;
      }
      const id = `r${++this.#reqSeq}`;
      const retryOnReconnect = random() < 0.3;
      const pending: Pending = { deadline: performance.now() + this.#h.requestTimeoutMs, settled: 0 };
      const promise = conn.request({ kind: "req", id }, { retryOnReconnect });
      this.#requests.set(id, pending);
      report.requests.sent++;
      if (retryOnReconnect) report.requests.retryOnReconnect++;
      promise.then(
        (resp) => {
          if (++pending.settled > 1) violate("INV-1", `request ${id} settled twice`);
          if (resp.id !== id) violate("INV-1", `request ${id} resolved with response ${resp.id}`);
          report.requests.resolved++;
          this.consume(resp, `request ${id}`);
        },
        (error: EvtWebSocketError) => {
          if (++pending.settled > 1) violate("INV-1", `request ${id} settled twice`);
          bump(report.requests.rejected, error.code ?? String(error));
          scan(error, "request rejection");
        },
      );
    } catch (error) {
      scan(error, "send()/request() throw");
      bump(report.requests.thrown, (error as EvtWebSocketError).code ?? String(error));
    }
  }
}
