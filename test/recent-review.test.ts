/**
 * Adversarial review of the tenth pass's late changes (recent-review), on real sockets: a
 * Retry-After far beyond maxDelayMs (a year, an HTTP date in year 9999) or unreadable, and
 * close() during such a wait; "drain" and drained() after a socket reset (the ws writer's flush
 * marker that ignores an errored write); and a URL function whose URLs hold a secret in every
 * place a parser may stumble on (an unencoded @ or /, an IPv6 zone id, a bad port).
 */

import { describe, expect, it } from "vitest";
import { CANARY, canaryHits } from "../chaos/canary.js";
import type { EvtWebSocketError, ReconnectingInfo } from "../src/index.js";
import { type Ending, serverWait } from "../src/reconnect.js";
import { resolveOptions } from "../src/resolve-options.js";
import { createTestServer, type TestServerOptions } from "../src/testing/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, onCleanup, server, sleep, uncaughtExceptions } from "./helpers/harness.js";
import { channelMessages } from "./helpers/secrets.js";
import { until } from "./helpers/server.js";
import { fill, stalledServer } from "./helpers/stalled-server.js";
import { upgradeServer } from "./helpers/upgrade-server.js";

/** A connection on an injected clock whose first handshake `head` refuses; resolves once the wait is announced. */
async function refusedWith(head: string) {
  const s = await upgradeServer((n) => (n === 0 ? head : undefined));
  const clock = new FakeClock();
  const waits: ReconnectingInfo[] = [];
  const c = conn({
    clock,
    reconnect: { minDelayMs: 10, maxDelayMs: 1000, jitter: 0 },
    onReconnecting: (info) => void waits.push(info),
    onError: () => {},
  });
  const dialed = c.dial(s.url).then(
    () => "open",
    (e: EvtWebSocketError) => e.code,
  );
  await until(() => waits.length === 1, "the wait");
  return { s, clock, waits, c, dialed };
}

describe("a Retry-After far beyond maxDelayMs, or unreadable (held)", () => {
  it.each([
    ["a year in seconds", "31536000"],
    ["more digits than a double holds exactly", "99999999999999999999999999"],
    ["an HTTP date in year 9999", "Fri, 31 Dec 9999 23:59:59 GMT"],
  ])(
    "%s: the wait is 10 minutes (over maxDelayMs 1 s), and close() during it leaves no timer and no attempt",
    async (_, value) => {
      const { s, clock, waits, c, dialed } = await refusedWith(`HTTP/1.1 503 Busy\r\nRetry-After: ${value}`);
      expect(waits).toMatchObject([{ attempt: 1, delayMs: 600_000, serverDelayMs: 600_000 }]);
      expect(clock.pending).toBe(1);
      await c.close();
      expect(await dialed).toBe("ERR_CLOSED");
      expect(clock.pending).toBe(0);
      clock.advance(600_000);
      await sleep(50);
      expect(s.arrivals).toHaveLength(1);
    },
  );

  it.each([
    ["negative", "-5"],
    ["a word", "soon"],
    ["a fraction", "1.5"],
    ["a date in no HTTP form", "2026-12-07T17:00:00Z"],
  ])("%s: no wait the server set, the client's own backoff", async (_, value) => {
    const { waits, c } = await refusedWith(`HTTP/1.1 429 Slow\r\nRetry-After: ${value}`);
    expect(waits.map((w) => [w.delayMs, "serverDelayMs" in w])).toEqual([[10, false]]);
    await c.close();
  });
});

const marks = { lowWaterMark: 64 * 1024, highWaterMark: 1024 * 1024 };

describe('"drain" and drained() after a reset with our sends unread (held)', () => {
  it("reconnect off: no drain; drained() rejects with ERR_DISCONNECTED once the connection has ended", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({ ...marks, reconnect: false, onError: () => {} });
    await c.dial(s.url);
    fill(c, 4 * 1024 * 1024);
    const log: string[] = [];
    c.on("drain", () => log.push("drain"));
    c.on("close", () => log.push("close"));
    const waiter = c.drained().then(
      () => log.push(`drained in ${c.state}`),
      (e: EvtWebSocketError) => log.push(`drained ${e.code} in ${c.state}`),
    );
    s.sockets[0]!.terminate();
    await waiter;
    await sleep(50);
    expect(log).toEqual(["close", "drained ERR_DISCONNECTED in closed"]);
  });

  it("reconnect on: the new socket, filled above highWaterMark in turn, drains and says so once more", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({
      ...marks,
      reconnect: { minDelayMs: 5, maxDelayMs: 20, jitter: 0 },
    });
    await c.dial(s.url);
    fill(c, 4 * 1024 * 1024);
    const log: string[] = [];
    c.on("drain", () => log.push(`drain ${c.state}`));
    c.on("connected", () => log.push("connected"));
    s.sockets[0]!.terminate();
    await until(() => log.includes("drain open"), "the drain the new socket's open tells");
    fill(c, 4 * 1024 * 1024);
    log.push("filled again");
    const waiter = c.drained();
    s.resume();
    await waiter;
    await until(() => log.length === 4, "the second drain");
    await sleep(50);
    expect(log).toEqual(["connected", "drain open", "filled again", "drain open"]);
    expect(s.sockets).toHaveLength(2);
  });
});

describe("a URL function whose URLs hold a secret where parsers stumble (held)", () => {
  it.each([
    [
      "an unencoded @ in the password",
      (p: number) => `ws://user:pa@ss${CANARY}@127.0.0.1:${p}/s/${CANARY}?token=${CANARY}`,
    ],
    [
      "an IPv6 literal with a zone id",
      (p: number) => `ws://user:${CANARY}@[fe80::1%25eth0]:${p}/?t=${CANARY}`,
    ],
    ["a / in the password", (p: number) => `ws://user:${CANARY}/x@127.0.0.1:${p}/`],
    ["an @ in the path and query", (p: number) => `ws://127.0.0.1:${p}/p@${CANARY}?q=@${CANARY}`],
    ["an IPv6 host that refuses", () => `ws://user:${CANARY}@[::1]:9/${CANARY}?t=${CANARY}`],
    ["a port out of range", () => `ws://user:${CANARY}@127.0.0.1:99999/${CANARY}`],
    ["another scheme", (p: number) => `ftp://user:${CANARY}@127.0.0.1:${p}/${CANARY}`],
  ])("%s, returned on a reconnect: not in errors, log lines, events or channel messages", async (_, make) => {
    const s = await server({ onConnection: (ws) => setTimeout(() => ws.close(4000, "go"), 5) });
    const port = Number(new URL(s.url).port);
    const published = channelMessages();
    const lines: string[] = [];
    const log = (line: string) => void lines.push(line);
    const events: unknown[] = [];
    let calls = 0;
    const c = conn({
      logger: { debug: log, info: log, warn: log, error: log },
      reconnect: { minDelayMs: 5, maxDelayMs: 10, jitter: 0, maxAttempts: 3 },
      onError: (e) => void events.push(e),
      onReconnecting: (info) => void events.push(info),
      onClose: (info) => void events.push(info),
    });
    await c.dial(() => (calls++ === 0 ? s.url : make(port)));
    await until(() => c.state === "closed", "the end");
    expect(calls).toBeGreaterThan(1);
    // Something to scan in each: the scan below is not of empty lists.
    expect([lines.length, published.length, events.length].every((n) => n > 0)).toBe(true);
    expect(canaryHits({ published, lines, events })).toEqual([]);
  });
});

describe("createTestServer: an authorize verdict no response can say", () => {
  it.each([
    ["null", () => null, "got null"],
    ["a Promise (an async authorize)", async () => true, "got a Promise (authorize is not awaited)"],
    ["an object without a status", () => ({}), "got { status: undefined }"],
    // String() threw for it: a TypeError, not this error.
    ["a status without a prototype", () => ({ status: Object.create(null) }), "got { status: object }"],
    ["a status out of range", () => 99_999, "got 99999"],
    ["a fractional status", () => 401.5, "got 401.5"],
    ["a string", () => "no", "got no"],
    [
      "a header value with a line break",
      () => ({ status: 503, headers: { "Retry-After": "1\r\nX-Injected: 1" } }),
      "a header with a line break",
    ],
  ])(
    "%s: the handshake is answered with 500 at once, the error thrown again names authorize, the server serves on",
    async (_, verdict, says) => {
      // Before: null threw a TypeError outside the guard and left the handshake unanswered (the
      // client waited for its connect timeout); the others wrote "HTTP/1.1 undefined Refused" or
      // "HTTP/1.1 99999 Refused" (a parse error in the client), or a header line of the test's
      // making; "no" was accepted.
      const uncaught = uncaughtExceptions();
      let calls = 0;
      const s = await createTestServer({
        authorize: (() => (++calls === 1 ? verdict() : true)) as unknown as TestServerOptions["authorize"],
      });
      onCleanup(() => s.close());
      // Far past the test's timeout: a handshake left unanswered would hang here.
      const c = conn({ reconnect: false, connectTimeoutMs: 60_000 });
      const first = await c.dial(s.url).then(
        () => undefined,
        (e: EvtWebSocketError) => e,
      );
      expect(first?.details.status).toBe(500);
      await until(() => uncaught.length === 1, "the error thrown again");
      expect(uncaught[0]).toMatchObject({ code: "ERR_INVALID_OPTION" });
      expect((uncaught[0] as Error).message).toMatch(/^authorize of createTestServer\(\) /);
      expect((uncaught[0] as Error).message).toContain(says);
      await c.dial(s.url);
      expect(s.connections).toBe(1);
    },
  );
});

describe("serverWait (05d7b42, pure: the drop it serves needs a refusal and reconnect() in one turn)", () => {
  const policy = resolveOptions({ reconnect: { minDelayMs: 10, maxDelayMs: 1000, jitter: 0.5 } }).reconnect;
  const ending = (over: Partial<Ending>): Ending => ({
    code: 1006,
    reason: "",
    openForMs: undefined,
    ...over,
  });
  it.each([
    [
      "a 429's Retry-After, the socket ours to close (openForMs 0)",
      { status: 429, retryAfterMs: 5000, openForMs: 0 },
      7500,
    ],
    ["a proxy's 503 Retry-After, never open", { proxyStatus: 503, retryAfterMs: 5000 }, 7500],
    ["a 1013 close on an open socket", { code: 1013, openForMs: 0 }, 1000],
    ["a 1013 code on a socket that never opened", { code: 1013 }, undefined],
    ["a 429 without Retry-After", { status: 429, openForMs: 0 }, undefined],
  ] as const)("%s", (_, over, expected) => {
    // r = 1: the whole jitter added (half the wait); only a 1013's is capped at maxDelayMs.
    expect(serverWait(policy, ending(over), 1)).toBe(expected);
  });
});
