/**
 * Conformance audit of issue 18 ("See inside a connection"): promises of the issue that no test
 * pinned, or pinned loosely, checked against real sockets as a user of the logger,
 * `diagnostics_channel` and `evtwebsocket/otel` meets them.
 *
 * - `conn.id` was unique per thread, not per process: each worker thread has its own
 *   `globalThis`, where the count is kept, so a worker's first connection was "c1" too, and its
 *   lines and channel messages were told apart from the main thread's by nothing. A worker's ids
 *   now carry its thread id ("c1-w2"); the main thread's are unchanged.
 * - `evtwebsocket:connection:reconnecting` messages had keys the docs table does not list, with
 *   no value: `retry` (the reconnect decision's own field, cut with `retry: undefined`), and
 *   `error` when there was no error (the table: "when there was one"). A subscriber that walks
 *   the message's keys (a structured logger) got both. Keys with no value are now left out, as
 *   the logger leaves them out of a line.
 * - `instrument()` given a bad option threw a TypeError (`….getMeter is not a function`) after
 *   it had already removed the setup in place: one typo stopped all reporting. It now refuses
 *   with `ERR_INVALID_OPTION` naming the option, before it changes anything.
 *
 * Pinned more tightly than before (held on main):
 * - the channel names as the issue spells them: the tests subscribed through `CHANNELS`, so a
 *   renamed channel would have passed them; and every field docs/observability.md's channel
 *   table lists, and no other, in the messages of a real run;
 * - the request TracingChannel's events in the order Node's own `tracePromise` publishes them,
 *   taken from Node rather than written down;
 * - "the default is silent": with no logger, a connection's every kind of event (attempt, open,
 *   a queue overflow, a request timeout, pings, a drop and its reconnect, close) writes nothing
 *   to the console or stderr, and raises no process warning.
 */

import dc from "node:diagnostics_channel";
import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { EvtWebSocketError } from "../src/index.js";
import { instrument, uninstrument } from "../src/otel/index.js";
import { echoServer } from "./helpers/echo-server.js";
import { conn, onCleanup } from "./helpers/harness.js";
import { instrumentInMemory } from "./helpers/otel-sdk.js";
import { until } from "./helpers/server.js";

afterEach(() => uninstrument());

describe("instrument() with a bad option", () => {
  it.each([
    ["options null", null, "options"],
    ["options a number", 42, "options"],
    ["tracerProvider without getTracer", { tracerProvider: {} }, "tracerProvider"],
    ["tracerProvider a number", { tracerProvider: 42 }, "tracerProvider"],
    ["meterProvider without getMeter", { meterProvider: {} }, "meterProvider"],
    ["meterProvider null", { meterProvider: null }, "meterProvider"],
  ])("%s: ERR_INVALID_OPTION naming it, and the setup in place keeps reporting", async (_what, bad, name) => {
    const { spans } = instrumentInMemory();
    expect(() => instrument(bad as never)).toThrow(
      expect.objectContaining({
        name: "EvtWebSocketError",
        code: "ERR_INVALID_OPTION",
        message: expect.stringContaining(name),
      }),
    );
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp });
    await c.dial(server.url);
    expect(await c.request("still traced")).toBe("still traced");
    // It used to have removed the setup before throwing: nothing was reported any more.
    expect(spans.getFinishedSpans()).toHaveLength(1);
  });
});

/** The channels of issue 18's "What to build", spelled as the issue spells them. */
const ISSUE_CHANNELS = [
  "evtwebsocket:connection:create",
  "evtwebsocket:connection:open",
  "evtwebsocket:connection:close",
  "evtwebsocket:connection:reconnecting",
  "evtwebsocket:connection:error",
  "evtwebsocket:connection:pong",
  "evtwebsocket:message:received",
  "evtwebsocket:message:sent",
];
const REQUEST = "evtwebsocket:request";
const TRACING_EVENTS = ["start", "end", "asyncStart", "asyncEnd", "error"] as const;

/** docs/observability.md's channel table: channel -> the fields it lists (outside parentheses). */
function channelTable(): Map<string, string[]> {
  const text = readFileSync(new URL("../docs/observability.md", import.meta.url), "utf8");
  const rows = new Map<string, string[]>();
  const start = text.indexOf("| channel | when | fields besides `conn` and `id` |");
  expect(start).toBeGreaterThan(0);
  for (const row of text.slice(start).split("\n").slice(2)) {
    if (!row.startsWith("| `")) break;
    const [channel, , fields] = row.slice(1, -1).split(" | ") as [string, string, string];
    const outside = fields.replace(/\([^)]*\)/g, "");
    rows.set(
      /`([^`]+)`/.exec(channel)![1]!,
      [...outside.matchAll(/`([^`]+)`/g)].map((m) => m[1]!),
    );
  }
  return rows;
}

type Message = Record<string, unknown>;

describe("the channels as the issue names them, with the fields the docs table lists", () => {
  it("a run that publishes on every channel: each message carries the Conn, its id and the table's fields, and every field is seen", async () => {
    // Filtered by connection at the end: the create message comes before `c` is assigned.
    const all = new Map<string, Message[]>();
    const keep = (name: string) => (m: unknown) =>
      void all.set(name, [...(all.get(name) ?? []), m as Message]);
    const seen = {
      get: (name: string) => all.get(name)?.filter((m) => m.conn === c),
    };
    for (const name of ISSUE_CHANNELS) {
      const fn = keep(name);
      dc.subscribe(name, fn);
      onCleanup(async () => void dc.unsubscribe(name, fn));
    }
    const tracing = dc.tracingChannel(REQUEST);
    const handlers = Object.fromEntries(
      TRACING_EVENTS.map((e) => [e, keep(`${REQUEST}:${e}`)]),
    ) as unknown as dc.TracingChannelSubscribers<object>;
    tracing.subscribe(handlers);
    onCleanup(async () => void tracing.unsubscribe(handlers));

    const server = await echoServer();
    const c = conn({
      matchMsg: (req, resp) => req === resp,
      reconnect: { minDelayMs: 5, maxDelayMs: 30, jitter: 0 },
      pingIntervalMs: 20,
      onError: () => {},
    });
    await c.dial(server.url);
    expect(await c.request("answered")).toBe("answered");
    const timedOut = await c.request("silent", { timeoutMs: 20 }).catch((e: EvtWebSocketError) => e);
    expect((timedOut as EvtWebSocketError).code).toBe("ERR_REQUEST_TIMEOUT");
    await until(() => (seen.get(ISSUE_CHANNELS[5]!) ?? []).length > 0, "a pong");
    await server.dropAll(); // no close frame: an error, and a reconnect with it
    await until(() => c.state === "open" && server.connections === 2, "back after the drop");
    await server.dropAll(1013, "later"); // a wait the server set: serverDelayMs
    await until(() => c.state === "open" && server.connections === 3, "back after the 1013");
    await c.close();

    const table = channelTable();
    expect([...table.keys()].sort()).toEqual([...ISSUE_CHANNELS, REQUEST].sort());
    for (const name of ISSUE_CHANNELS) {
      const messages = seen.get(name) ?? [];
      expect(messages.length, `${name}: no message`).toBeGreaterThan(0);
      const fields = table.get(name)!;
      const heard = new Set<string>();
      for (const m of messages) {
        expect(m.id, name).toBe(c.id);
        // No key without a value: `reconnecting` had `retry: undefined` (the reconnect decision's
        // own field, cut) and `error: undefined` when there was no error.
        const keys = Object.keys(m).filter((k) => k !== "conn" && k !== "id");
        expect(
          keys.filter((k) => m[k] === undefined),
          `${name}: keys with no value`,
        ).toEqual([]);
        expect(
          keys.filter((k) => !fields.includes(k)),
          `${name}: fields the table does not list`,
        ).toEqual([]);
        for (const k of keys) heard.add(k);
      }
      expect(
        fields.filter((f) => !heard.has(f)),
        `${name}: listed fields never published`,
      ).toEqual([]);
    }
    const contexts = new Set(TRACING_EVENTS.flatMap((e) => seen.get(`${REQUEST}:${e}`) ?? []));
    expect(contexts.size).toBe(2);
    const keys = new Set([...contexts].flatMap((m) => Object.keys(m)));
    expect([...keys].sort()).toEqual(["conn", "id", ...table.get(REQUEST)!].sort());
  });
});

describe("the request TracingChannel publishes in the order of Node's tracePromise", () => {
  /** The events `trace` publishes on a TracingChannel named `name`, in order. */
  async function events(name: string, trace: () => Promise<unknown>): Promise<string[]> {
    const order: string[] = [];
    const handlers = Object.fromEntries(
      TRACING_EVENTS.map((e) => [e, () => void order.push(e)]),
    ) as unknown as dc.TracingChannelSubscribers<object>;
    const channel = dc.tracingChannel(name);
    channel.subscribe(handlers);
    try {
      await trace().catch(() => {});
    } finally {
      channel.unsubscribe(handlers);
    }
    return order;
  }

  it("a request answered, and one that times out, publish what tracePromise publishes for a promise that resolves, or rejects", async () => {
    const node = dc.tracingChannel("audit-issue18:reference");
    const resolved = await events("audit-issue18:reference", () =>
      node.tracePromise(() => new Promise((r) => setTimeout(r, 1)), {}),
    );
    const rejected = await events("audit-issue18:reference", () =>
      node.tracePromise(() => new Promise((_, reject) => setTimeout(() => reject(new Error("x")), 1)), {}),
    );
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp });
    await c.dial(server.url);
    expect(await events(REQUEST, () => c.request("answered"))).toEqual(resolved);
    expect(await events(REQUEST, () => c.request("silent", { timeoutMs: 10 }))).toEqual(rejected);
    // What tracePromise publishes for a function that throws: start, error, end.
    const thrown = await events("audit-issue18:reference", async () =>
      node.tracePromise(() => {
        throw new Error("refused");
      }, {}),
    );
    const dup = conn<{ id: number }, { id: number }>({
      messageId: (m) => m.id,
      codec: (await import("../src/index.js")).json(),
    });
    await dup.dial(server.url);
    void dup.request({ id: 1 }, { timeoutMs: 0 }).catch(() => {});
    expect(await events(REQUEST, () => dup.request({ id: 1 }))).toEqual(thrown);
  });
});

describe("the logger's default is silent", () => {
  it("with no logger, a life with every kind of event writes nothing to the console or stderr", async () => {
    const written: unknown[][] = [];
    for (const method of ["log", "debug", "info", "warn", "error", "trace"] as const)
      vi.spyOn(console, method).mockImplementation((...args) => void written.push([method, ...args]));
    vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      written.push(["stderr", String(chunk)]);
      return true;
    });
    const warned = (w: Error) => void written.push(["warning", w.message]);
    process.on("warning", warned);
    onCleanup(async () => {
      process.off("warning", warned);
      vi.restoreAllMocks();
    });
    const server = await echoServer();
    const c = conn({
      matchMsg: (req, resp) => req === resp,
      reconnect: { minDelayMs: 5, maxDelayMs: 20, jitter: 0 },
      pingIntervalMs: 20,
      queue: { maxMessages: 1 },
      onError: () => {},
    });
    c.send("queued");
    expect(() => c.send("overflow")).toThrow(expect.objectContaining({ code: "ERR_QUEUE_FULL" }));
    await c.dial(server.url);
    const late = await c.request("silent", { timeoutMs: 10 }).catch((e: EvtWebSocketError) => e.code);
    expect(late).toBe("ERR_REQUEST_TIMEOUT");
    await new Promise((resolve) => c.on("pong", resolve));
    await server.dropAll();
    await until(() => c.state === "open" && server.connections === 2, "back after the drop");
    await c.close();
    await new Promise((resolve) => setImmediate(resolve));
    expect(written).toEqual([]);
  });
});

describe("conn.id is unique within the process", () => {
  it("connections made in worker threads have ids that none in another thread has, in their log lines too", async () => {
    const source = new URL("../src/index.ts", import.meta.url).href;
    /** The id of a Conn made in a new worker thread, and the line its logger got. */
    const inWorker = () =>
      new Promise<[string, string]>((resolve, reject) => {
        const worker = new Worker(
          // tsx's loader, registered in the worker (execArgv's --import does not reach an eval worker).
          `import("tsx/esm/api").then(({ register }) => {
            register();
            return import("${source}");
          }).then(({ Conn }) => {
            let line = "";
            const log = (l) => { line = l; };
            const c = new Conn({ logger: { debug: log, info: log, warn: log, error: log }, queue: { maxMessages: 1 } });
            c.send("a");
            try { c.send("b"); } catch {}
            require("node:worker_threads").parentPort.postMessage([c.id, line]);
          });`,
          { eval: true },
        );
        worker.once("message", (m) => {
          resolve(m as [string, string]);
          void worker.terminate();
        });
        worker.once("error", reject);
      });
    const here = [conn().id, conn().id];
    const [[a, lineA], [b, lineB]] = await Promise.all([inWorker(), inWorker()]);
    // Each worker counted from "c1" of its own: the same ids as the main thread's first connections.
    expect(new Set([...here, a, b]).size).toBe(4);
    expect(lineA.startsWith(`evtwebsocket[${a}] queue-full `)).toBe(true);
    expect(lineB.startsWith(`evtwebsocket[${b}] queue-full `)).toBe(true);
    for (const id of here) expect(id).toMatch(/^c\d+$/);
    for (const id of [a, b]) expect(id).toMatch(/^c\d+-w\d+$/);
  });
});
