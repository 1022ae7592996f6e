/**
 * The `logger` option against real servers: one line per event with the connection's id, the
 * right level, and never a secret (the INV-7 canary in URL userinfo, path, query, Authorization
 * header and subprotocol).
 * Also a logger whose methods are async and reject: no unhandled rejection.
 * And no logger writes nothing anywhere; conn.id is unique across worker threads too; a close
 * reason with a line break or an escape stays on its line; the lines of reconnect decisions
 * (reconnect() during a wait) and of queue drops and expiries, as the channels publish them.
 */

import dc from "node:diagnostics_channel";
import { Worker } from "node:worker_threads";
import { describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import { CANARY, canaryHits } from "../chaos/canary.js";
import { CHANNELS } from "../src/channel-names.js";
import { type EvtWebSocketError, type Logger, State } from "../src/index.js";
import { createTestServer } from "../src/testing/index.js";
import { echoServer } from "./helpers/echo-server.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, fast, onCleanup, server, sleep } from "./helpers/harness.js";
import { recordLines } from "./helpers/log-recorder.js";
import { channelMessages, channelMessagesWithKind, SUBPROTOCOL, secretUrl } from "./helpers/secrets.js";
import { until } from "./helpers/server.js";
import { upgradeServer } from "./helpers/upgrade-server.js";

interface Line {
  level: keyof Logger;
  line: string;
}

/** A logger that keeps every line. */
function recorder(): { logger: Logger; lines: Line[]; events: () => string[] } {
  const lines: Line[] = [];
  const at = (level: keyof Logger) => (line: string) => void lines.push({ level, line });
  const logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { logger, lines, events: () => lines.map((l) => l.line.split(" ")[1] ?? "") };
}

async function rejection(p: Promise<unknown>): Promise<EvtWebSocketError> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: EvtWebSocketError) => e,
  );
}

describe("the logger option", () => {
  it("logs a dial, a request timeout, a server close, the reconnect and close(): one line per event, in order, each with the connection's id", async () => {
    const server = await echoServer();
    const { logger, lines, events } = recorder();
    const c = conn({
      logger,
      reconnect: fast,
      matchMsg: (req, resp) => req === resp,
      headers: { Authorization: `Bearer ${CANARY}` },
    });
    await c.dial(secretUrl(server.url), SUBPROTOCOL);
    expect((await rejection(c.request("silent", { timeoutMs: 50 }))).code).toBe("ERR_REQUEST_TIMEOUT");
    const reopened = new Promise((resolve) => c.on("connected", resolve));
    server.dropAll(1011, "restarting");
    await reopened;
    await c.close();
    expect(events()).toEqual([
      "attempt",
      "open",
      "request-timeout",
      "close",
      "reconnecting",
      "attempt",
      "open",
      "close",
    ]);
    expect(lines.every((l) => l.line.startsWith(`evtwebsocket[${c.id}] `))).toBe(true);
    expect(lines.map((l) => l.level)).toEqual([
      "debug",
      "info",
      "warn",
      "info",
      "warn",
      "debug",
      "info",
      "info",
    ]);
    const origin = new URL(server.url).host;
    expect(lines[0]?.line).toBe(`evtwebsocket[${c.id}] attempt attempt=1 url="ws://${origin}"`);
    expect(lines[1]?.line).toMatch(
      new RegExp(`^evtwebsocket\\[${c.id}\\] open protocol=1 url="ws://${origin}" durationMs=[\\d.]+$`),
    );
    expect(lines[3]?.line).toContain('close code=1011 reason="restarting" wasClean=true');
    expect(lines[4]?.line).toContain('reconnecting attempt=1 delayMs=5 reason="close-1011"');
    expect(lines[7]?.line).toContain('wasClean=true willReconnect=false closedBy="client"');
    expect(canaryHits(lines), "the canary in a logged line").toEqual([]);
    // The secrets did reach the server: a pass above means something.
    expect(JSON.stringify(server.handshakes)).toContain(CANARY);
  });

  it("logs pings, pongs, a dead peer, the policy giving up and the error, without a secret", async () => {
    const server = await echoServer();
    const { logger, lines, events } = recorder();
    const c = conn({ logger, reconnect: false, pingIntervalMs: 40, pongTimeoutMs: 80 });
    const pong = new Promise((resolve) => c.on("pong", resolve));
    await c.dial(secretUrl(server.url), SUBPROTOCOL);
    await pong;
    server.stall();
    await until(() => c.state === State.CLOSED, "declared dead");
    const seen = events();
    expect(seen.slice(0, 2)).toEqual(["attempt", "open"]);
    expect(seen).toContain("ping");
    expect(seen).toContain("pong");
    expect(seen.slice(-4)).toEqual(["dead", "close", "give-up", "error"]);
    const tail = lines.slice(-4);
    expect(tail.map((l) => l.level)).toEqual(["warn", "warn", "warn", "error"]);
    expect(tail[0]?.line).toContain("dead pongTimeoutMs=80");
    expect(tail[3]?.line).toContain('error error=ERR_PONG_TIMEOUT "no data from ws://');
    expect(lines.find((l) => l.line.includes(" pong "))?.line).toMatch(/pong rttMs=[\d.]+$/);
    expect(canaryHits(lines)).toEqual([]);
  });

  it("logs a refused dial (HTTP 401) as the attempt, the decision and the error, without a secret", async () => {
    const server = await createTestServer({ authorize: () => 401 });
    onCleanup(() => server.close());
    const { logger, lines, events } = recorder();
    const c = conn({ logger, reconnect: false, headers: { Authorization: `Bearer ${CANARY}` } });
    expect((await rejection(c.dial(secretUrl(server.url), SUBPROTOCOL))).code).toBe("ERR_DIAL_FAILED");
    expect(events()).toEqual(["attempt", "give-up", "error"]);
    expect(lines[2]?.line).toContain("HTTP 401");
    expect(canaryHits(lines)).toEqual([]);
  });

  it("logs a queue overflow", () => {
    const { logger, lines } = recorder();
    const c = conn({ logger, queue: { maxMessages: 1 } });
    c.send("first");
    expect(() => c.send("second")).toThrow(/cannot queue/);
    expect(lines).toEqual([
      { level: "warn", line: `evtwebsocket[${c.id}] queue-full messages=1 queuedBytes=5 bytes=6` },
    ]);
  });

  it("logs the options a transport refuses (headers on a WHATWG socket) and ignores (maxMessageBytes)", async () => {
    const server = await echoServer();
    const refused = recorder();
    const a = conn({
      logger: refused.logger,
      WebSocket: WebSocket as never,
      headers: { Authorization: CANARY },
    });
    expect((await rejection(a.dial(server.url))).code).toBe("ERR_INVALID_OPTION");
    expect(refused.lines).toEqual([
      {
        level: "warn",
        line: `evtwebsocket[${a.id}] option message="option headers: the WebSocket transport cannot send headers"`,
      },
    ]);
    const ignored = recorder();
    const b = conn({ logger: ignored.logger, WebSocket: WebSocket as never, maxMessageBytes: 1024 });
    await b.dial(server.url);
    expect(ignored.lines[0]?.line).toBe(
      `evtwebsocket[${b.id}] option message="maxMessageBytes ignored by WebSocket"`,
    );
  });

  it("a logger that throws does not break the connection", async () => {
    const server = await echoServer();
    const boom = () => {
      throw new Error("logger down");
    };
    const c = conn({ logger: { debug: boom, info: boom, warn: boom, error: boom }, reconnect: false });
    await c.dial(server.url);
    const echoed = new Promise((resolve) => c.on("message", resolve));
    c.send("hi");
    expect(await echoed).toBe("hi");
  });

  it("refuses a logger without the four level functions with ERR_INVALID_OPTION naming the option", () => {
    for (const bad of [null, 42, {}, { debug() {}, info() {}, warn() {} }]) {
      expect(() => conn({ logger: bad as never })).toThrow(
        expect.objectContaining({ code: "ERR_INVALID_OPTION", message: expect.stringContaining("logger") }),
      );
    }
  });

  it("conn.id is a short id unique in the process", () => {
    const ids = [conn().id, conn().id, conn().id];
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^c\d+$/);
  });

  it("a logger that calls close() on its attempt line (not allowed) still leaves no socket behind", async () => {
    const server = await echoServer();
    let closing: Promise<void> | undefined;
    const line = (l: string) => {
      if (l.includes(" attempt ") && closing === undefined) closing = c.close();
    };
    const c = conn({ logger: { debug: line, info: line, warn: line, error: line } });
    expect((await rejection(c.dial(server.url))).code).toBe("ERR_CLOSED");
    await closing;
    expect(c.state).toBe(State.CLOSED);
    // It used to start the attempt's socket after close() had ended the connection.
    await new Promise((r) => setTimeout(r, 100));
    expect(server.connections).toBe(0);
  });

  it("a logger that calls close() on the attempt line of a URL function's attempt or a retry leaves no socket behind", async () => {
    const server = await echoServer();
    // Every socket the connection makes, to see whether one outlives close().
    const made: WebSocket[] = [];
    class Recorded extends WebSocket {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args);
        made.push(this);
      }
    }
    for (const attempt of ["attempt=1", "attempt=2"]) {
      let closing: Promise<void> | undefined;
      const line = (l: string) => {
        if (l.includes(` attempt ${attempt} `) && closing === undefined) closing = c.close();
      };
      const c = conn({
        WebSocket: Recorded as never,
        reconnect: fast,
        onError: () => {},
        logger: { debug: line, info: line, warn: line, error: line },
      });
      let calls = 0;
      // A URL function's attempt starts after an await: no transition is under way to hold the line.
      const url = async () => (++calls === 1 && attempt === "attempt=2" ? "ws://127.0.0.1:1" : server.url);
      expect((await rejection(c.dial(url))).code).toBe("ERR_CLOSED");
      await closing;
      expect(c.state).toBe(State.CLOSED);
      // It started the attempt's socket after close() had ended the connection, and nothing
      // closed it: open for good, with its connect timer.
      for (const ws of made) expect(ws.readyState, attempt).toBeGreaterThanOrEqual(WebSocket.CLOSING);
    }
  });

  it("an error from a callback run after a transition is logged before onError hears it", async () => {
    const server = await echoServer();
    const order: string[] = [];
    const line = (l: string) => void order.push(l.split(" ")[1] ?? "");
    const c = conn({
      logger: { debug: line, info: line, warn: line, error: line },
      onConnected: () => {
        throw new Error("boom");
      },
      onError: (e) => void order.push(`onError ${e.code}`),
    });
    await c.dial(server.url);
    await until(() => order.includes("onError ERR_CALLBACK_THREW"), "the error");
    expect(order).toEqual(["attempt", "open", "error", "onError ERR_CALLBACK_THREW"]);
  });
});

describe("a logger whose methods are async and reject", () => {
  it("a rejected Promise per line, a thenable that rejects, a result whose catch getter throws: no unhandled rejection, the connection carries on", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    onCleanup(async () => void process.off("unhandledRejection", onUnhandled));
    let calls = 0;
    const kinds = [
      () => Promise.reject(new Error("async logger down")),
      // A thenable that is no Promise (no catch): its rejection is no unhandled rejection either.
      // biome-ignore lint/suspicious/noThenProperty: the thenable is the point
      () => ({ then: (_: unknown, reject: (e: Error) => void) => reject(new Error("thenable down")) }),
      () =>
        Object.defineProperty({}, "catch", {
          get() {
            throw new Error("catch getter");
          },
        }),
    ];
    const line = () => kinds[calls++ % kinds.length]!();
    const logger = { debug: line, info: line, warn: line, error: line };
    const s = await server();
    const c = conn({ logger: logger as never, matchMsg: (a, b) => a === b, reconnect: false });
    await c.dial(s.url);
    expect(await c.request("m", { timeoutMs: 2000 })).toBe("m");
    await c.close();
    await sleep(50);
    expect(calls).toBeGreaterThanOrEqual(kinds.length);
    expect(unhandled).toEqual([]);
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

describe("a logger whose methods are async (a log shipper)", () => {
  it("one whose promises reject is ignored as one that throws: no unhandled rejection, every line still given to it", async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => void unhandled.push(reason);
    process.prependListener("unhandledRejection", record);
    onCleanup(async () => void process.removeListener("unhandledRejection", record));
    const lines: string[] = [];
    const ship = async (line: string) => {
      lines.push(line);
      throw new Error("log shipper down");
    };
    const logger: Logger = { debug: ship, info: ship, warn: ship, error: ship };
    const server = await echoServer();
    const c = conn({ logger, matchMsg: (req, resp) => req === resp, reconnect: fast });
    await c.dial(server.url);
    await server.dropAll(1011, "restart");
    await until(() => c.state === State.OPEN && server.connections === 2, "reopened");
    expect(await c.request("still works")).toBe("still works");
    await c.close();
    // Unhandled rejections are reported once the microtasks have run: after this turn.
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((l) => l.split(" ")[1])).toEqual([
      "attempt",
      "open",
      "close",
      "reconnecting",
      "attempt",
      "open",
      "close",
    ]);
    // Each would have ended a Node process (--unhandled-rejections=throw, the default).
    expect(unhandled).toEqual([]);
  });
});

describe("log lines that held", () => {
  it("a close reason with a line break or a terminal escape stays on its line, escaped", async () => {
    const lines: string[] = [];
    const keep = (line: string) => void lines.push(line);
    const logger: Logger = { debug: keep, info: keep, warn: keep, error: keep };
    const server = await echoServer();
    const c = conn({ logger, reconnect: false, onError: () => {} });
    await c.dial(server.url);
    await server.dropAll(4000, "bye\nevtwebsocket[c1] open \u001b[2J");
    await until(() => c.state === State.CLOSED, "closed");
    const close = lines.find((l) => l.split(" ")[1] === "close");
    expect(close).toContain(String.raw`reason="bye\nevtwebsocket[c1] open \u001b[2J"`);
    expect(lines.filter((l) => l.includes("\n") || l.includes("\u001b"))).toEqual([]);
  });
});

describe("reconnect decisions in the log and on the channel", () => {
  it("reconnect() from shouldReconnect: one reconnecting line, attempt 1 (the backoff starts over), as reconnect() called elsewhere", async () => {
    const server = await echoServer();
    const { logger, lines } = recordLines();
    const published: Array<{ id: string; attempt: number }> = [];
    const onReconnecting = (m: unknown) => void published.push(m as { id: string; attempt: number });
    dc.subscribe(CHANNELS.reconnecting, onReconnecting);
    onCleanup(async () => void dc.unsubscribe(CHANNELS.reconnecting, onReconnecting));
    let redial = true;
    const c = conn({
      logger,
      reconnect: {
        ...fast,
        shouldReconnect: () => {
          if (redial) c.reconnect();
          return true;
        },
      },
    });
    await c.dial(server.url);
    server.dropAll(1011, "restart");
    await until(() => c.state === State.OPEN && server.connections === 2, "reopened");
    redial = false;
    c.reconnect();
    await until(() => c.state === State.OPEN && server.connections === 3, "reopened after reconnect()");
    const reconnecting = lines.filter((l) => l.includes(" reconnecting "));
    expect(reconnecting).toHaveLength(2);
    // It said attempt=0 (the backoff's internal count), where reconnect() called elsewhere says 1.
    expect(reconnecting[0]).toContain('reconnecting attempt=1 delayMs=0 reason="close-1011"');
    expect(reconnecting[1]).toContain('reconnecting attempt=1 delayMs=0 reason="reconnect()"');
    expect(published.filter((m) => m.id === c.id).map((m) => m.attempt)).toEqual([1, 1]);
  });
});

describe("a reconnect() during a wait the server set (1013), in the log", () => {
  it("the reconnect() line's delayMs is what is left of the jittered wait, and the attempt comes then (injected clock)", async () => {
    const s = await upgradeServer(() => undefined, {
      onAccept: (ws, n) => {
        if (n === 0) ws.close(1013);
      },
    });
    const clock = new FakeClock();
    const { logger, lines } = recordLines();
    const c = conn({ clock, logger, reconnect: { minDelayMs: 10, jitter: 0.5 } });
    await c.dial(s.url);
    await until(() => lines.some((l) => l.includes(" reconnecting ")), "the wait");
    const first = lines.find((l) => l.includes(" reconnecting "))!;
    const waitMs = Number(/delayMs=(\d+)/.exec(first)![1]);
    expect(first).toContain("serverDelayMs=5000");
    clock.advance(1000);
    c.reconnect();
    const second = lines.filter((l) => l.includes(" reconnecting "))[1]!;
    expect(second).toContain(`attempt=1 delayMs=${waitMs - 1000} reason="reconnect()"`);
    const turn = () => new Promise((r) => setImmediate(r));
    await turn();
    await turn();
    clock.advance(waitMs - 1000 - 1);
    await turn();
    expect(s.accepted).toHaveLength(1);
    clock.advance(1);
    await until(() => s.accepted.length === 2, "the attempt at the end of the wait");
  });
});

describe("a reconnect() during a backoff wait, in the log, the channel and the events", () => {
  it("two lines, one per decision (the drop's wait, then reconnect()'s: no wait), the same two channel messages, and one reconnecting event (the wait)", async () => {
    const s = await createTestServer();
    onCleanup(() => s.close());
    const seen = channelMessagesWithKind();
    const { logger, lines } = recordLines();
    const events: Array<[number, number]> = [];
    const c = conn({
      logger,
      reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 },
      onReconnecting: (i) => void events.push([i.attempt, i.delayMs]),
      onError: () => {},
    });
    await c.dial(s.url);
    await s.dropAll();
    await until(() => events.length === 1, "the backoff wait");
    c.reconnect();
    await until(() => c.isConnected(), "open again at once");
    const retries = lines
      .filter((l) => l.includes(" reconnecting "))
      .map((l) => /attempt=\d+ delayMs=\d+ .*reason="[^"]+"/.exec(l)?.[0]);
    expect(retries).toEqual([
      'attempt=1 delayMs=60000 reason="ERR_DISCONNECTED"',
      'attempt=1 delayMs=0 reason="reconnect()"',
    ]);
    expect(seen.filter(([kind]) => kind === "reconnecting").map(([, m]) => [m.delayMs, m.reason])).toEqual([
      [60_000, "ERR_DISCONNECTED"],
      [0, "reconnect()"],
    ]);
    expect(events).toEqual([[1, 60_000]]);
  });
});

describe("queue expiry and drop-oldest overflow in the log (issue 18: the logger logs queue overflow or expiry)", () => {
  it("a queued message that expires, and one that drop-oldest drops: each logged, without its body", async () => {
    const { logger, lines } = recordLines();
    const seen = channelMessages();
    const errors: string[] = [];
    const c = conn({
      logger,
      queue: { maxMessages: 1, overflow: "drop-oldest" },
      onError: (e) => void errors.push(e.code),
    });
    c.send(`first ${CANARY}`);
    c.send(`second ${CANARY}`); // drops the first
    c.send(`third ${CANARY}`, { maxAgeMs: 10 }); // drops the second, then expires
    await until(() => errors.length === 3, "two drops and an expiry");
    expect(errors).toEqual(["ERR_QUEUE_FULL", "ERR_QUEUE_FULL", "ERR_QUEUE_EXPIRED"]);
    // They went to onError with no line at all: a drop-oldest overflow and an expiry were silent.
    expect(lines.map((l) => l.slice(l.indexOf(" ") + 1))).toEqual([
      "queue-full dropped=1",
      "queue-full dropped=1",
      "queue-expired dropped=1",
    ]);
    expect(lines.every((l) => l.startsWith(`evtwebsocket[${c.id}] `))).toBe(true);
    expect(canaryHits(lines), "a body in a line").toEqual([]);
    expect(canaryHits(seen), "a body in a channel message").toEqual([]);
  });
});
