/**
 * Second adversarial review of issue 18 (logger, diagnostics_channel, evtwebsocket/otel) against
 * real sockets, aimed at what changed since the first one: reconnect(), server waits, and the
 * request TracingChannel and otel spans for requests that end in every way (aborted while
 * queued, timed out while queued, rejected on close, retried across a reconnect, aborted as
 * their response arrives).
 */

import dc from "node:diagnostics_channel";
import { afterEach, describe, expect, it } from "vitest";
import { CANARY, canaryHits } from "../chaos/canary.js";
import { CHANNELS } from "../src/channel-names.js";
import { type EvtWebSocketError, json, type Logger, State } from "../src/index.js";
import { instrument, uninstrument } from "../src/otel/index.js";
import { createTestServer } from "../src/testing/index.js";
import { echoServer } from "./helpers/echo-server.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, fast, onCleanup } from "./helpers/harness.js";
import { instrumentInMemory } from "./helpers/otel-sdk.js";
import { stubPage } from "./helpers/page.js";
import { proxyChain } from "./helpers/proxy.js";
import { SUBPROTOCOL, secretUrl } from "./helpers/secrets.js";
import { until } from "./helpers/server.js";
import { upgradeServer } from "./helpers/upgrade-server.js";

afterEach(() => uninstrument());

/** A logger that keeps every line; `hook` runs after each line is kept. */
function recorder(hook?: (line: string) => void) {
  const lines: string[] = [];
  const at = (_level: keyof Logger) => (line: string) => {
    lines.push(line);
    hook?.(line);
  };
  const logger: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { logger, lines, events: () => lines.map((l) => l.split(" ")[1] ?? "") };
}

/** The request TracingChannel's events, per context object, in the order published. */
function traceRequests() {
  const byCtx = new Map<object, string[]>();
  const order: object[] = [];
  const record = (event: string) => (ctx: unknown) => {
    let list = byCtx.get(ctx as object);
    if (list === undefined) {
      list = [];
      byCtx.set(ctx as object, list);
      order.push(ctx as object);
    }
    list.push(event);
  };
  const handlers = {
    start: record("start"),
    end: record("end"),
    asyncStart: record("asyncStart"),
    asyncEnd: record("asyncEnd"),
    error: record("error"),
  };
  const tracing = dc.tracingChannel(CHANNELS.request);
  tracing.subscribe(handlers);
  onCleanup(async () => void tracing.unsubscribe(handlers));
  return {
    of: (id: string) =>
      order
        .filter((ctx) => (ctx as { id: string }).id === id)
        .map((ctx) => ({ ctx, events: byCtx.get(ctx)! })),
  };
}

const failed = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: EvtWebSocketError) => e.code,
  );

const ASYNC_OK = ["start", "end", "asyncStart", "asyncEnd"];
const ASYNC_ERR = ["start", "end", "error", "asyncStart", "asyncEnd"];

describe("request tracing and spans for every way a request ends", () => {
  it("aborted while queued, timed out while queued, rejected by close(): one start, end, error, asyncStart, asyncEnd each, one span each", async () => {
    const { spans } = instrumentInMemory();
    const traced = traceRequests();
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp, reconnect: fast });
    const ac = new AbortController();
    const aborted = failed(c.request("a", { signal: ac.signal }));
    const timedOut = failed(c.request("b", { timeoutMs: 20 }));
    ac.abort();
    expect(await aborted).toBe("ERR_ABORTED");
    expect(await timedOut).toBe("ERR_REQUEST_TIMEOUT");
    await c.dial(server.url);
    const closed = failed(c.request("silent"));
    await c.close();
    expect(await closed).toBe("ERR_CLOSED");
    const seen = traced.of(c.id);
    expect(seen.map((s) => s.events)).toEqual([ASYNC_ERR, ASYNC_ERR, ASYNC_ERR]);
    const outcomes = spans.getFinishedSpans().map((s) => s.attributes["evtwebsocket.request.outcome"]);
    expect(outcomes).toEqual(["aborted", "timeout", "error"]);
  });
});

describe("request tracing across reconnects and races", () => {
  it("retried across a server drop and across reconnect(), or rejected by the drop: one of each event, one span each", async () => {
    const { spans } = instrumentInMemory();
    const traced = traceRequests();
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp, reconnect: fast });
    await c.dial(server.url);
    const r1 = failed(c.request("silent", { retryOnReconnect: true }));
    const lost = failed(c.request("silent"));
    server.dropAll(1011, "restart");
    await until(() => c.state === State.OPEN && server.clients.size === 1, "reopened");
    expect(await lost).toBe("ERR_DISCONNECTED");
    c.reconnect();
    const after = failed(c.request("x"));
    await until(() => c.state === State.OPEN, "reopened after reconnect()");
    expect(await after).toBe("resolved");
    await c.close();
    expect(await r1).toBe("ERR_CLOSED");
    const seen = traced.of(c.id).map((s) => s.events);
    expect(seen).toEqual([ASYNC_ERR, ASYNC_ERR, ASYNC_OK]);
    const outcomes = spans.getFinishedSpans().map((s) => s.attributes["evtwebsocket.request.outcome"]);
    expect(outcomes).toEqual(["error", "ok", "error"]);
  });

  it("a request aborted by a message:received subscriber as its response arrives: one asyncEnd, one span, outcome aborted", async () => {
    const { spans } = instrumentInMemory();
    const traced = traceRequests();
    const server = await echoServer();
    const messages: string[] = [];
    const c = conn({ matchMsg: (req, resp) => req === resp, onMessage: (m) => void messages.push(m) });
    await c.dial(server.url);
    const ac = new AbortController();
    const abort = (m: unknown) => void ((m as { id: string }).id === c.id && ac.abort());
    dc.subscribe(CHANNELS.received, abort);
    onCleanup(async () => void dc.unsubscribe(CHANNELS.received, abort));
    expect(await failed(c.request("x", { signal: ac.signal }))).toBe("ERR_ABORTED");
    expect(traced.of(c.id).map((s) => s.events)).toEqual([ASYNC_ERR]);
    const finished = spans.getFinishedSpans();
    expect(finished.map((s) => s.attributes["evtwebsocket.request.outcome"])).toEqual(["aborted"]);
  });
});

describe("reconnect decisions in the log and on the channel", () => {
  it("reconnect() from shouldReconnect: one reconnecting line, attempt 1 (the backoff starts over), as reconnect() called elsewhere", async () => {
    const server = await echoServer();
    const { logger, lines } = recorder();
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

type Action = "close" | "reconnect" | "send" | "request";

describe("a logger that calls back into the connection (not allowed, but nothing breaks or is lost)", () => {
  const kinds = ["attempt", "open", "close", "reconnecting", "ping", "pong", "request-timeout"] as const;
  const actions: Action[] = ["close", "reconnect", "send", "request"];
  const cases = kinds.flatMap((kind) => actions.map((action) => [kind, action] as const));
  it.each(cases)("on its first %s line, calls %s()", async (kind, action) => {
    const server = await echoServer();
    let done = false;
    const settled: Array<Promise<string>> = [];
    const states: string[] = [];
    const errors: string[] = [];
    let c!: ReturnType<typeof conn>;
    const { logger, lines } = recorder((line) => {
      if (done || line.split(" ")[1] !== kind) return;
      done = true;
      if (action === "close") void c.close();
      else if (action === "reconnect") c.reconnect(4000, "from logger");
      else if (action === "send") c.send("from-logger");
      else settled.push(failed(c.request("from-logger-request")));
    });
    c = conn({
      logger,
      matchMsg: (req, resp) => req === resp,
      reconnect: fast,
      pingIntervalMs: 20,
      onError: (e) => void errors.push(e.code),
    });
    c.on("state", ({ newState }) => void states.push(newState));
    c.send("queued");
    settled.push(failed(c.request("queued-request")));
    await c.dial(server.url).catch(() => {});
    const timedOut = failed(c.request("silent", { timeoutMs: 30 }));
    settled.push(timedOut);
    await timedOut;
    await until(() => lines.some((l) => l.includes(" pong ")) || c.state === State.CLOSED, "a pong");
    if (c.state !== State.CLOSED) {
      server.dropAll(1011, "restart");
      await until(
        () => c.state === State.CLOSED || (c.state === State.OPEN && server.connections >= 2),
        "back",
      );
    }
    const outcomes = await Promise.all(settled);
    expect(done, `a ${kind} line`).toBe(true);
    if (action === "close") {
      expect(c.state).toBe(State.CLOSED);
      await until(() => server.clients.size === 0, "no socket left");
    } else {
      await until(() => c.state === State.OPEN && server.clients.size === 1, "one socket, open");
      if (action === "send") await until(() => server.received.includes("from-logger"), "the logger's send");
      expect(server.received.filter((m) => m === "from-logger")).toHaveLength(action === "send" ? 1 : 0);
      if (action === "request") expect(outcomes.at(-1)).not.toBe("ERR_CALLBACK_THREW");
    }
    const queued = server.received.filter((m) => m === "queued").length;
    if (queued === 0) {
      // Closed before the queue was sent: its message is reported unsent, its request rejected.
      expect(action).toBe("close");
      expect(errors).toContain("ERR_CLOSED");
      expect(outcomes[0]).toBe("ERR_CLOSED");
    } else {
      expect(queued).toBe(1);
      expect(server.received.indexOf("queued")).toBeLessThan(server.received.indexOf("queued-request"));
    }
    expect(errors.filter((e) => e === "ERR_CALLBACK_THREW")).toEqual([]);
  });
});

describe("a logger that calls back on the lines of a dead peer and of a give-up", () => {
  it.each(["close", "reconnect", "send"] as const)(
    "on the dead line, calls %s(): nothing is lost, one socket after",
    async (action) => {
      const server = await echoServer();
      let c!: ReturnType<typeof conn>;
      const errors: string[] = [];
      const { logger, events } = recorder((line) => {
        if (line.split(" ")[1] !== "dead") return;
        void server.resume();
        if (action === "close") void c.close();
        else if (action === "reconnect") c.reconnect();
        else sent = c.send("from-logger");
      });
      let sent: string | undefined;
      c = conn({
        logger,
        reconnect: fast,
        pingIntervalMs: 20,
        pongTimeoutMs: 40,
        onError: (e) => void errors.push(e.code),
      });
      await c.dial(server.url);
      await server.stall();
      await until(() => events().includes("dead"), "declared dead");
      if (action === "close")
        await until(() => c.state === State.CLOSED && server.clients.size === 0, "closed");
      else await until(() => c.state === State.OPEN && server.clients.size === 1, "back, one socket");
      // It went to the dead socket (send() said "sent") and was lost: the line was told before the
      // link was torn down. Now it waits in the queue for the next socket.
      if (action === "send") {
        expect(sent).toBe("queued");
        await until(() => server.received.includes("from-logger"), "the logger's send", 5000);
      }
      expect(events().filter((e) => e === "dead")).toHaveLength(1);
      expect(errors.filter((e) => e === "ERR_CALLBACK_THREW")).toEqual([]);
    },
  );

  it("on the give-up line, calls dial() again: it opens once, one socket", async () => {
    const server = await echoServer();
    let c!: ReturnType<typeof conn>;
    let redialled: Promise<void> | undefined;
    const states: string[] = [];
    const { logger, events } = recorder((line) => {
      if (line.split(" ")[1] === "give-up" && redialled === undefined) redialled = c.dial(server.url);
    });
    c = conn({ logger, reconnect: false, onError: () => {} });
    c.on("state", ({ newState }) => void states.push(newState));
    await c.dial(server.url);
    await server.dropAll(1011, "restart");
    await until(() => redialled !== undefined, "the give-up line");
    await redialled;
    await until(() => server.clients.size === 1, "one socket");
    expect(c.state).toBe(State.OPEN);
    expect(events()).toEqual(["attempt", "open", "close", "give-up", "attempt", "open"]);
    expect(states).toEqual(["connecting", "open", "closed", "connecting", "open"]);
  });
});

/** Every non-request channel's messages, without the `Conn` (which holds the URL to dial again). */
function listenAll() {
  const seen: Array<[string, Record<string, unknown>]> = [];
  for (const [kind, name] of Object.entries(CHANNELS)) {
    if (kind === "request") continue;
    const fn = (m: unknown) => {
      const { conn: _, ...rest } = m as Record<string, unknown>;
      seen.push([kind, rest]);
    };
    dc.subscribe(name, fn);
    onCleanup(async () => void dc.unsubscribe(name, fn));
  }
  return seen;
}

describe("secrets: proxy credentials", () => {
  const BASIC = Buffer.from(`user:${CANARY}`).toString("base64");
  const secretProxy = (port: number) => `http://user:${CANARY}@127.0.0.1:${port}`;
  const hits = (v: unknown) => [...canaryHits(v), ...(JSON.stringify(v).includes(BASIC) ? ["base64"] : [])];

  it("a proxy that refuses the credentials (407), then one that takes them: no line or channel message holds them", async () => {
    const seen = listenAll();
    const { logger, lines, events } = recorder();
    const refusing = await proxyChain({ user: "user", password: "other" });
    const c1 = conn({ logger, proxy: secretProxy(refusing.port), reconnect: false, onError: () => {} });
    expect(await failed(c1.dial(secretUrl("ws://127.0.0.1:9"), SUBPROTOCOL))).toBe("ERR_DIAL_FAILED");
    const server = await echoServer();
    const taking = await proxyChain({ user: "user", password: CANARY });
    const c2 = conn({ logger, proxy: secretProxy(taking.port), reconnect: fast, pingIntervalMs: 20 });
    await c2.dial(secretUrl(server.url), SUBPROTOCOL);
    await new Promise((resolve) => c2.on("pong", resolve));
    await server.dropAll(1011, "restart");
    await until(() => c2.state === State.OPEN && server.connections === 2, "reopened through the proxy");
    await c2.close();
    expect(events()).toContain("give-up");
    expect(events()).toContain("reconnecting");
    expect(taking.connects.length).toBe(2);
    expect(hits(lines), "a logged line").toEqual([]);
    expect(hits(seen), "a channel message").toEqual([]);
  });
});

describe("ping lines whose logger closes or reconnects", () => {
  it("a ping line (pingMsg) whose logger calls close() or reconnect(): no error, the connection ends or comes back", async () => {
    for (const action of ["close", "reconnect"] as const) {
      const server = await echoServer();
      let c!: ReturnType<typeof conn>;
      let done = false;
      const errors: string[] = [];
      const { logger } = recorder((line) => {
        if (done || line.split(" ")[1] !== "ping") return;
        done = true;
        if (action === "close") void c.close();
        else c.reconnect();
      });
      c = conn({
        logger,
        reconnect: fast,
        pingIntervalMs: 20,
        pingMsg: "PING",
        isPong: (m) => m === "PING",
        onError: (e) => void errors.push(e.code),
      });
      await c.dial(server.url);
      if (action === "close")
        await until(() => c.state === State.CLOSED && server.clients.size === 0, "closed");
      else
        await until(
          () => c.state === State.OPEN && server.connections === 2 && server.clients.size === 1,
          "back",
        );
      expect(errors).toEqual([]);
      await c.close();
    }
  });
});

describe("open connections are counted back to 0", () => {
  it("after reconnect(), a page hidden and shown, close() while hidden, a give-up, and dispose", async () => {
    const { points } = instrumentInMemory();
    const page = stubPage();
    const server = await echoServer();
    const open = async () =>
      (await points("evtwebsocket.connections.open")).reduce((n, [, v]) => n + (v as number), 0);
    const a = conn({ reconnect: fast });
    await a.dial(server.url);
    a.reconnect();
    await until(() => a.state === State.OPEN && server.connections === 2, "a back");
    expect(await open()).toBe(1);
    page.fire("pagehide");
    await until(() => server.clients.size === 0, "a's socket closed by the hide");
    expect(await open()).toBe(0);
    page.fire("pageshow");
    await until(() => a.state === State.OPEN, "a shown again");
    expect(await open()).toBe(1);
    page.fire("pagehide");
    await a.close();
    expect(await open()).toBe(0);
    const b = conn({ reconnect: false, onError: () => {} });
    await b.dial(server.url);
    await server.dropAll(1011, "bye");
    await until(() => b.state === State.CLOSED, "b gave up");
    expect(await open()).toBe(0);
    {
      await using d = conn({ reconnect: fast });
      await d.dial(server.url);
      expect(await open()).toBe(1);
    }
    expect(await open()).toBe(0);
    const reconnects = await points("evtwebsocket.reconnects");
    expect(reconnects).toEqual([[{ "evtwebsocket.reconnect.reason": "reconnect()" }, 1]]);
  });
});

describe("channel payloads as the docs table says", () => {
  it("reconnecting after a 1013 close, and message sizes with pingMsg/isPong", async () => {
    const seen = listenAll();
    const server = await echoServer();
    const c = conn({
      reconnect: { ...fast, maxDelayMs: 50 },
      pingIntervalMs: 20,
      pingMsg: "PING",
      isPong: (m) => m === "PING",
    });
    await c.dial(server.url);
    await new Promise((resolve) => c.on("pong", resolve));
    await server.dropAll(1013, "later");
    await until(() => c.state === State.OPEN && server.connections === 2, "back after the server's wait");
    await c.close();
    const mine = seen.filter(([, m]) => m.id === c.id);
    const reconnecting = mine.filter(([k]) => k === "reconnecting").map(([, m]) => m);
    // serverDelayMs was published (and logged) but missing from the docs' tables.
    expect(reconnecting).toEqual([
      { id: c.id, attempt: 1, delayMs: 50, serverDelayMs: 50, reason: "close-1013" },
    ]);
    // An isPong pong is a message received (as stats.messagesReceived counts it); a pingMsg ping
    // is not a message sent (as stats.messagesSent does not count it). The docs said neither was.
    const sizes = mine.filter(([k]) => k === "sent" || k === "received").map(([k, m]) => [k, m.bytes]);
    expect(sizes).toContainEqual(["received", 4]);
    expect(sizes.filter(([k]) => k === "sent")).toEqual([]);
    expect(c.stats.messagesSent).toBe(0);
  });
});

describe("a request that fails while request() is still running", () => {
  it.each(["close", "abort"] as const)(
    "a message:sent subscriber that calls %s for the request's own frame: start, end, then error, asyncStart, asyncEnd (as tracePromise)",
    async (how) => {
      const { spans } = instrumentInMemory();
      const traced = traceRequests();
      const server = await echoServer();
      const c = conn({ matchMsg: (req, resp) => req === resp });
      await c.dial(server.url);
      const ac = new AbortController();
      const onSent = (m: unknown) => {
        if ((m as { id: string }).id !== c.id) return;
        if (how === "close") void c.close();
        else ac.abort();
      };
      dc.subscribe(CHANNELS.sent, onSent);
      onCleanup(async () => void dc.unsubscribe(CHANNELS.sent, onSent));
      const outcome = failed(c.request("silent", { signal: ac.signal }));
      dc.unsubscribe(CHANNELS.sent, onSent);
      expect(await outcome).toBe(how === "close" ? "ERR_CLOSED" : "ERR_ABORTED");
      // asyncEnd came before end: a subscriber that keeps a context from end to asyncEnd kept it forever.
      expect(traced.of(c.id).map((s) => s.events)).toEqual([ASYNC_ERR]);
      expect(spans.getFinishedSpans()).toHaveLength(1);
    },
  );
});

describe("a reconnect() during a wait the server set (1013), in the log", () => {
  it("the reconnect() line's delayMs is what is left of the jittered wait, and the attempt comes then (injected clock)", async () => {
    const s = await upgradeServer(() => undefined, {
      onAccept: (ws, n) => {
        if (n === 0) ws.close(1013);
      },
    });
    const clock = new FakeClock();
    const { logger, lines } = recorder();
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
    const seen = listenAll();
    const { logger, lines } = recorder();
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
    const { logger, lines } = recorder();
    const seen = listenAll();
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

describe("a logger that calls close() on a queue line", () => {
  it.each(["drop-oldest", "expiry", "refused"] as const)(
    "%s: every message is sent or reported once, the connection closed",
    async (how) => {
      const { logger, lines } = recorder((line) => {
        if (line.includes(" queue-")) void c.close();
      });
      const errors: Array<[string, unknown]> = [];
      const c = conn({
        logger,
        queue: { maxMessages: 1, overflow: how === "drop-oldest" ? "drop-oldest" : "reject" },
        onError: (e) => void errors.push([e.code, e.details.message ?? e.details.unsent]),
      });
      c.send("a", how === "expiry" ? { maxAgeMs: 10 } : {});
      let thrown: string | undefined;
      if (how !== "expiry") {
        try {
          c.send("b");
        } catch (e) {
          thrown = (e as EvtWebSocketError).code;
        }
      }
      await until(() => c.state === State.CLOSED, "closed from the queue line");
      expect(lines.filter((l) => l.includes(" queue-"))).toHaveLength(1);
      if (how === "drop-oldest")
        expect(errors).toEqual([
          ["ERR_QUEUE_FULL", "a"],
          ["ERR_CLOSED", 1],
        ]);
      if (how === "expiry") expect(errors).toEqual([["ERR_QUEUE_EXPIRED", "a"]]);
      if (how === "refused") {
        expect(thrown).toBe("ERR_QUEUE_FULL");
        expect(errors).toEqual([["ERR_CLOSED", 1]]);
      }
      expect(c.stats.queuedMessages).toBe(0);
    },
  );
});

describe("subscribing and unsubscribing while requests are in flight", () => {
  it("uninstrument() or instrument() again mid-flight: each request's span is ended exactly once", async () => {
    const first = instrumentInMemory();
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp });
    await c.dial(server.url);
    const late = (body: string) => c.request(body, { timeoutMs: 60_000 });
    const a = failed(late("silent"));
    instrument(); // replaces the first setup (global no-op providers): a's span ends now, once
    const b = failed(late("silent"));
    uninstrument();
    const d = c.request("answered");
    expect(await d).toBe("answered");
    await c.close();
    expect(await a).toBe("ERR_CLOSED");
    expect(await b).toBe("ERR_CLOSED");
    // a's span, ended by the replacement; b's and d's went to the no-op tracer (not exported).
    const spans = first.spans.getFinishedSpans();
    expect(spans).toHaveLength(1);
    expect(spans[0]!.ended).toBe(true);
  });

  it("a tracing subscriber that comes mid-flight hears asyncStart and asyncEnd (no start); one that leaves hears nothing more", async () => {
    const server = await echoServer();
    const c = conn({ matchMsg: (req, resp) => req === resp });
    await c.dial(server.url);
    const early = traceRequests(); // makes requests traced
    const p = failed(c.request("silent", { timeoutMs: 30 }));
    const lateSeen: string[] = [];
    const tracing = dc.tracingChannel(CHANNELS.request);
    const record = (e: string) => () => void lateSeen.push(e);
    const handlers = {
      start: record("start"),
      end: record("end"),
      asyncStart: record("asyncStart"),
      asyncEnd: record("asyncEnd"),
      error: record("error"),
    };
    tracing.subscribe(handlers);
    onCleanup(async () => void tracing.unsubscribe(handlers));
    expect(await p).toBe("ERR_REQUEST_TIMEOUT");
    expect(lateSeen).toEqual(["error", "asyncStart", "asyncEnd"]);
    expect(early.of(c.id).map((s) => s.events)).toEqual([ASYNC_ERR]);
  });
});

describe("secrets: message bodies in the causes of errors", () => {
  it("an undecodable message (its JSON.parse error quotes it) and a matcher that throws with the message: no body in a line or an error channel message; onError keeps the cause", async () => {
    const server = await createTestServer({
      onMessage: (data, client) =>
        client.send(String(data) === '"bad"' ? `{"bad": ${CANARY}` : `{"id":"${CANARY}"}`),
    });
    onCleanup(() => server.close());
    const seen = listenAll();
    const { logger, lines } = recorder();
    const causes: unknown[] = [];
    const c = conn<unknown, unknown>({
      codec: json(),
      logger,
      messageId: (m) => {
        const id = (m as { id?: string }).id;
        if (id?.includes(CANARY) === true) throw new Error(`no request for ${JSON.stringify(m)}`);
        return id;
      },
      onError: (e) => void causes.push(e.cause),
    });
    await c.dial(server.url);
    c.send("bad");
    // Pending, so the inbound message goes through messageId, which throws on it.
    void c.request({ id: "r1" }, { timeoutMs: 60_000 }).catch(() => {});
    await until(() => causes.length === 2, "the decode error and the matcher's");
    const errors = seen
      .filter(([k, m]) => k === "error" && m.id === c.id)
      .map(([, m]) => m.error as EvtWebSocketError);
    expect(errors.map((e) => e.code)).toEqual(["ERR_DECODE", "ERR_CALLBACK_THREW"]);
    // The codec's SyntaxError (`Unexpected token … "{"bad": <body>" is not valid JSON`) was published as the cause.
    expect(canaryHits(seen), "a body in a channel message").toEqual([]);
    expect(canaryHits(lines), "a body in a line").toEqual([]);
    // What onError gets is unchanged: the cause is there for the application.
    expect(canaryHits(causes)).not.toEqual([]);
  });
});
