/**
 * The differential harness of the read path (src/transport/ws-reader.ts) over real TCP: {@link same}
 * runs a scenario against a hand-written server with the path and without it
 * (`fastRead.enabled = false`) and expects the same events (messages, errors, the close, stats,
 * `message:received` sizes) and the same frames sent back (pongs: each answers the server's pings
 * in order). Each run also counts the messages ws's own receiver raised, so a test can check the
 * path, not ws, read them. A test file using it resets `fastRead.enabled` after each test.
 */

import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { expect, vi } from "vitest";
import * as ws from "ws";
import type { Conn, ConnOptions } from "../../src/index.js";
import { fastRead } from "../../src/transport/ws-reader.js";
import { conn } from "./harness.js";
import { serverFrame as frame, parseAll, rawServer } from "./raw-server.js";
import { until } from "./server.js";

export const text = (s: string, o?: { fin?: boolean; wide?: number }) => frame(1, s, o);
export const close = (code: number, reason = "") => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return frame(8, Buffer.concat([b, Buffer.from(reason)]));
};

export const RECEIVED = "evtwebsocket:message:received";

/** What one run saw: events in order, then what the client wrote back. */
export interface Seen {
  log: string[];
  sent: string[];
  wsMessages: number;
}

export type Raw = Awaited<ReturnType<typeof rawServer>>;

export interface Scenario<A = string, B = string> {
  /** The server (default: a plain rawServer). */
  server?: () => Promise<Raw>;
  /** Connection options that need the server's URL (`proxy`). */
  more?: () => Promise<ConnOptions<A, B, Conn<A, B>>>;
  options?: ConnOptions<A, B, Conn<A, B>>;
  /** Called once connected, with a log to write to; returns what the server writes, chunk by chunk. */
  chunks: Buffer[];
  /** Set up handlers (runs before dial); may return what to add to the log at the end. */
  setup?: (c: Conn<A, B>, log: string[]) => (() => Promise<string[]>) | undefined | void;
  /** After each chunk is written (and read): may add more. */
  after?: (c: Conn<A, B>, log: string[], srv: Raw) => Promise<void> | void;
  /** The run is over. */
  done: (c: Conn<A, B>, log: string[], srv: Raw) => boolean;
}

const show = (m: unknown) =>
  typeof m === "string"
    ? `text ${m.length > 40 ? `${m.slice(0, 20)}…(${m.length})` : m}`
    : m instanceof Uint8Array
      ? `binary ${Buffer.from(m).toString("hex").slice(0, 40)}(${m.byteLength})`
      : `json ${JSON.stringify(m)}`;

/** `p`, or a failure naming `what` if it has not settled within 10 s (a hang, not a timing). */
async function bounded<T>(p: Promise<T>, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung: ${what()}`)), 10_000);
  });
  try {
    return await Promise.race([p, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** The server of the run under way. */
export let currentUrl = "";

async function run<A = string, B = string>(fast: boolean, s: Scenario<A, B>): Promise<Seen> {
  fastRead.enabled = fast;
  const wsEmit = vi.spyOn(
    (ws as unknown as { Receiver: { prototype: { emit: () => boolean } } }).Receiver.prototype,
    "emit",
  );
  const srv = await (s.server ?? rawServer)();
  currentUrl = srv.url;
  const log: string[] = [];
  const sizes = (m: unknown) => void log.push(`received ${(m as { bytes: number }).bytes}`);
  subscribe(RECEIVED, sizes);
  try {
    const c = conn<A, B>({
      reconnect: false,
      ...s.options,
      ...(await s.more?.()),
      onMessage: (m, cc) => {
        log.push(`message ${show(m)}`);
        s.options?.onMessage?.(m, cc);
      },
      onError: (e, cc) => {
        log.push(
          `error ${(e as { code?: string }).code} ${e.message.replace(/127\.0\.0\.1:\d+/g, "server")}`,
        );
        s.options?.onError?.(e, cc);
      },
      onClose: (e) => {
        log.push(`close ${e.code} ${e.reason} ${e.wasClean} ${e.closedBy ?? ""}`);
      },
    });
    const report = s.setup?.(c, log);
    await bounded(c.dial(srv.url), () => "dial()");
    for (const chunk of s.chunks) {
      srv.write(chunk);
      await new Promise((r) => setTimeout(r, 5));
      await s.after?.(c, log, srv);
    }
    await until(() => s.done(c, log, srv), "the scenario's end");
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    const st = c.stats;
    log.push(`stats ${st.messagesReceived} ${st.bytesReceived} state ${c.state}`);
    const sent = parseAll(srv.bytes()).map((f) => `${f.opcode} ${f.payload.toString("hex")}`);
    const snapshot = [...log];
    srv.hangUp();
    await bounded(
      c.close().catch(() => {}),
      () => `close() settles (state ${c.state}, log ${log.join(" | ")})`,
    );
    // What the scenario reports once the connection is closed (an iterator ends there).
    if (report)
      snapshot.push(
        ...(await bounded(report(), () => `the report (state ${c.state}, log ${log.join(" | ")})`)),
      );
    const wsMessages = wsEmit.mock.calls.filter((a) => (a as unknown[])[0] === "message").length;
    return { log: snapshot, sent, wsMessages };
  } finally {
    unsubscribe(RECEIVED, sizes);
    wsEmit.mockRestore();
  }
}

/** The payloads (hex) of the pings in a server's byte stream, in order. */
function pings(stream: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at + 2 <= stream.length; ) {
    let len = stream[at + 1]! & 0x7f;
    let head = 2;
    if (len === 126 && at + 4 <= stream.length) [len, head] = [stream.readUInt16BE(at + 2), 4];
    else if (len === 127 && at + 10 <= stream.length) [len, head] = [stream.readUInt32BE(at + 6), 10];
    else if (len >= 126) break;
    if ((stream[at]! & 0x0f) === 9) out.push(stream.subarray(at + head, at + head + len).toString("hex"));
    at += head + len;
  }
  return out;
}

/** True when `part` is `whole` with some items left out, in order. */
function inOrder(part: string[], whole: string[]): boolean {
  let i = 0;
  for (const p of part) {
    while (i < whole.length && whole[i] !== p) i++;
    if (i++ >= whole.length) return false;
  }
  return true;
}

/**
 * Runs `s` with the path and without it: the same events, the same frames sent back; returns the
 * run with the path. Pongs are the exception: pings read in one tick get one pong, for the latest
 * (ws-socket.ts), and none after a close frame, so which pings get their own pong depends on how
 * TCP and TLS cut the stream, with or without the path. Each run's pongs must answer the
 * server's pings in order.
 */
export async function same<A = string, B = string>(s: Scenario<A, B>): Promise<Seen> {
  const fast = await run(true, s);
  const plain = await run(false, s);
  expect(fast.log).toEqual(plain.log);
  const notPong = (sent: string[]) => sent.filter((f) => !f.startsWith("10 "));
  expect(notPong(fast.sent)).toEqual(notPong(plain.sent));
  const theirs = pings(Buffer.concat(s.chunks));
  for (const { sent } of [fast, plain]) {
    const pongs = sent.filter((f) => f.startsWith("10 ")).map((f) => f.slice(3));
    if (s.after === undefined)
      expect(inOrder(pongs, theirs), `pongs ${pongs} for pings ${theirs}`).toBe(true);
  }
  return fast;
}

export const messages = (log: string[]) => log.filter((l) => l.startsWith("message")).length;
export const closed = (c: Conn<unknown, unknown>) => c.state === "closed";

export const ended = (c: Conn<string, string>) => c.state === "closed";
