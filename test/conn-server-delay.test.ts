/**
 * Backoff the server sets: a handshake refused with 429/503 and a Retry-After, and a close with
 * 1013, against real servers. The gap between attempts is measured on the server's side (when
 * each upgrade request arrived); the 5 s rule is checked on an injected clock, so the test
 * does not wait 5 s. The policy's arithmetic has its table in reconnect.test.ts.
 * Also a Retry-After far beyond maxDelayMs or unreadable, and close() during such a wait.
 * Also reconnect() (from callbacks too) and a hidden page during the server's wait: it still stands.
 */

import { describe, expect, it, vi } from "vitest";
import type { Conn, EvtWebSocketError, ReconnectingInfo, ReconnectOptions } from "../src/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, onCleanup, server, sleep } from "./helpers/harness.js";
import { stubPage } from "./helpers/page.js";
import { parseAll, switchingProtocols, tcpServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";
import { upgradeServer } from "./helpers/upgrade-server.js";

/**
 * A server that closes the first connection with 1013, and a connection on an injected clock
 * dialled to it; resolves once the wait is announced.
 */
async function closedWith1013(reconnect: ReconnectOptions) {
  const s = await upgradeServer(() => undefined, {
    onAccept: (ws, n) => {
      if (n === 0) ws.close(1013);
    },
  });
  const clock = new FakeClock();
  const waits: ReconnectingInfo[] = [];
  const c = conn({ clock, reconnect, onReconnecting: (info) => void waits.push(info) });
  await c.dial(s.url);
  await until(() => waits.length === 1, "the wait");
  return { s, clock, waits };
}

describe("a wait the server sets", () => {
  it("a handshake refused with 503 and Retry-After: 2 waits at least 2 s before the next attempt (measured on the server)", async () => {
    const s = await upgradeServer((n) =>
      n === 0 ? "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2" : undefined,
    );
    const waits: ReconnectingInfo[] = [];
    // The client's own backoff would retry after at most 10 ms.
    const c = conn({ reconnect: { minDelayMs: 10 }, onReconnecting: (info) => void waits.push(info) });
    await c.dial(s.url);
    expect(s.arrivals).toHaveLength(2);
    expect(s.arrivals[1]!.at - s.arrivals[0]!.at).toBeGreaterThanOrEqual(2000);
    expect(waits).toHaveLength(1);
    expect(waits[0]?.serverDelayMs).toBe(2000);
    expect(waits[0]?.delayMs).toBeGreaterThanOrEqual(2000);
    expect(waits[0]?.delayMs).toBeLessThanOrEqual(3000); // jitter 0.5, added
    expect(waits[0]?.error?.details.status).toBe(503);
  }, 20_000);

  it("a handshake refused with 429 and Retry-After as an HTTP date waits until that date (measured on the server)", async () => {
    // A whole second at least a second ahead: an HTTP date has no milliseconds.
    const dueAt = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    const date = new Date(dueAt).toUTCString();
    const s = await upgradeServer((n) =>
      n === 0 ? `HTTP/1.1 429 Too Many Requests\r\nRetry-After: ${date}` : undefined,
    );
    const waits: ReconnectingInfo[] = [];
    // The default jitter, added: the wait is the date's, or up to half as long again.
    const c = conn({ reconnect: { minDelayMs: 10 }, onReconnecting: (info) => void waits.push(info) });
    await c.dial(s.url);
    expect(s.arrivals).toHaveLength(2);
    expect(s.arrivals[1]!.wallAt).toBeGreaterThanOrEqual(dueAt);
    const { serverDelayMs = 0, delayMs = 0 } = waits[0] ?? {};
    expect(serverDelayMs).toBeGreaterThan(0);
    expect(serverDelayMs).toBeLessThanOrEqual(2000);
    expect(delayMs).toBeGreaterThanOrEqual(serverDelayMs);
    expect(delayMs).toBeLessThanOrEqual(Math.round(serverDelayMs * 1.5));
  }, 20_000);

  it("a 503 without Retry-After keeps the client's own backoff: no serverDelayMs", async () => {
    const s = await upgradeServer((n) => (n === 0 ? "HTTP/1.1 503 Service Unavailable" : undefined));
    const waits: ReconnectingInfo[] = [];
    const c = conn({
      reconnect: { minDelayMs: 10, jitter: 0 },
      onReconnecting: (info) => void waits.push(info),
    });
    await c.dial(s.url);
    expect(waits.map((w) => [w.delayMs, "serverDelayMs" in w])).toEqual([[10, false]]);
  });

  it("shouldReconnect returning false still stops after a 503 with Retry-After", async () => {
    const s = await upgradeServer(() => "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2");
    const clock = new FakeClock();
    let waits = 0;
    const c = conn({
      clock,
      reconnect: { shouldReconnect: ({ status }) => status !== 503 },
      onReconnecting: () => void waits++,
    });
    const err = (await c.dial(s.url).catch((e) => e)) as EvtWebSocketError;
    expect(err).toMatchObject({ code: "ERR_DIAL_FAILED", details: { status: 503 } });
    expect(waits).toBe(0);
    expect(clock.pending).toBe(0);
    expect(c.state).toBe("closed");
    expect(s.arrivals).toHaveLength(1);
  });

  it("a close with 1013 waits maxDelayMs when that is below 5 s (measured on the server)", async () => {
    let closedAt = 0;
    const s = await upgradeServer(() => undefined, {
      onAccept: (ws, n) => {
        if (n !== 0) return;
        closedAt = performance.now();
        ws.close(1013, "try again later");
      },
    });
    const waits: ReconnectingInfo[] = [];
    const c = conn({
      reconnect: { minDelayMs: 5, maxDelayMs: 300 },
      onReconnecting: (info) => void waits.push(info),
    });
    await c.dial(s.url);
    await until(() => s.accepted.length === 2, "the reconnect");
    expect(s.arrivals[1]!.at - closedAt).toBeGreaterThanOrEqual(300);
    expect(waits.map((w) => [w.delayMs, w.serverDelayMs])).toEqual([[300, 300]]);
  });

  it("a close with 1013 waits 5 s with the default maxDelayMs (injected clock)", async () => {
    const { s, clock, waits } = await closedWith1013({ minDelayMs: 10, jitter: 0 });
    expect(waits[0]).toMatchObject({ attempt: 1, delayMs: 5000, serverDelayMs: 5000 });
    expect(clock.pending).toBe(1); // the wait, and nothing else
    const fired = clock.fired;
    clock.advance(4999);
    expect(clock.fired).toBe(fired);
    expect(clock.pending).toBe(1);
    clock.advance(1);
    expect(clock.fired).toBe(fired + 1);
    await until(() => s.accepted.length === 2, "the reconnect");
    expect(s.arrivals).toHaveLength(2);
  });
  it("a wait the server set stands when the network comes back or the page shows again (injected clock)", async () => {
    // The browser's hints, stubbed on the global object as a page would fire them.
    const page = stubPage();
    const { s, clock } = await closedWith1013({ minDelayMs: 10, jitter: 0 });
    clock.advance(1000);
    page.window.dispatchEvent(new Event("online"));
    page.fire("pagehide");
    page.fire("pageshow");
    // Give a wrongly early attempt every chance to reach the server.
    await new Promise((r) => setTimeout(r, 100));
    expect(s.arrivals).toHaveLength(1);
    clock.advance(3999);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.arrivals).toHaveLength(1);
    clock.advance(1);
    await until(() => s.accepted.length === 2, "the reconnect at the end of the server's wait");
  });

  it.each(["online", "pageshow", "resume"] as const)(
    "%s during a server's wait shorter than the backoff: the attempt comes at the wait's end, not the backoff's (injected clock)",
    async (event) => {
      const page = stubPage();
      // A minute of backoff, the server's 5 s wait within it.
      const { s, clock, waits } = await closedWith1013({ minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 });
      expect(waits[0]).toMatchObject({ delayMs: 60_000, serverDelayMs: 5000 });
      clock.advance(1000);
      if (event === "resume") page.document.dispatchEvent(new Event("resume"));
      else if (event === "pageshow") page.fire("pageshow");
      else page.window.dispatchEvent(new Event("online"));
      clock.advance(3999);
      await new Promise((r) => setTimeout(r, 50));
      expect(s.arrivals).toHaveLength(1);
      clock.advance(1);
      await until(() => s.accepted.length === 2, "the reconnect at the end of the server's wait");
    },
  );
});

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

/**
 * The server's 2 s wait (Retry-After: 2) stands: no second attempt (a call of the URL function,
 * counted by `urls`) until it has passed on `clock`, then one, and `dialed` resolves.
 */
async function expectServerWait(
  clock: FakeClock,
  urls: () => number,
  dialed: Promise<void>,
  waitMs = 2000,
): Promise<void> {
  const turn = () => new Promise((r) => setImmediate(r));
  // Every step set off is done: an attempt made now would have called the URL function.
  await turn();
  await turn();
  expect(urls()).toBe(1);
  clock.advance(waitMs - 1);
  await turn();
  expect(urls()).toBe(1);
  clock.advance(1);
  await dialed;
  expect(urls()).toBe(2);
}

describe("reconnect() from a callback during the server's wait", () => {
  for (const where of ["onReconnecting", "shouldReconnect", "onError"] as const) {
    it(`from ${where} after a 503 Retry-After: 2, the wait still stands`, async () => {
      const s = await upgradeServer((n) =>
        n === 0 ? "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2" : undefined,
      );
      const clock = new FakeClock();
      let done = false;
      let c!: Conn<string, string>;
      const me = () => {
        if (done) return;
        done = true;
        c.reconnect();
      };
      c = conn({
        clock,
        reconnect: {
          minDelayMs: 10,
          jitter: 0,
          shouldReconnect: () => {
            if (where === "shouldReconnect") me();
            return true;
          },
        },
        onReconnecting: () => where === "onReconnecting" && me(),
        onError: () => where === "onError" && me(),
      });
      let urls = 0;
      const dialed = c.dial(() => {
        urls++;
        return s.url;
      });
      await until(() => done, "reconnect called");
      await expectServerWait(clock, () => urls, dialed);
      expect(s.arrivals).toHaveLength(2);
    });
  }
});

describe("reconnect() or a hidden page after the server's 1013 close frame", () => {
  it.each([
    ["reconnect()", "reconnect", 0],
    ["a page hidden, shown before the socket's end", "show-before", 0],
    ["a page hidden, shown after the socket's end", "show-after", 0],
    // Hidden past the server's wait: nothing dials while hidden; shown, it dials at once.
    ["a page hidden, shown after the server's wait", "show-late", 0],
    // Math.random() answers 0.5: 5,000 ms plus a quarter (jitter 0.5 times 0.5), as after any 1013.
    ["reconnect(), with jitter 0.5", "reconnect", 0.5],
  ] as const)(
    "%s after the server's 1013 close frame, before the socket's end: the server's wait still stands (jitter added)",
    async (_name, how, jitter) => {
      vi.spyOn(Math, "random").mockReturnValue(0.5);
      onCleanup(async () => void vi.restoreAllMocks());
      const waitMs = 5000 + 5000 * jitter * 0.5;
      const { fire: page } = stubPage();
      // A server that answers the handshake, then is driven by the test.
      const got: Buffer[][] = [];
      const { port, sockets } = await tcpServer(
        (socket) => {
          const mine: Buffer[] = [];
          got.push(mine);
          let upgraded = false;
          socket.on("data", (chunk: Buffer) => {
            if (upgraded) return void mine.push(chunk);
            upgraded = true;
            socket.write(switchingProtocols(chunk.toString()));
          });
          socket.on("error", () => {});
        },
        { allowHalfOpen: true },
      );
      const clock = new FakeClock();
      const urls: number[] = [];
      const closes: string[] = [];
      const c = conn({
        clock,
        reconnect: { minDelayMs: 10, maxDelayMs: 60_000, jitter },
        onClose: (i) => void closes.push(`${i.code} ${i.closedBy} ${i.willReconnect}`),
      });
      // Before the connection's own cleanup: its close() would wait for a socket nobody closes.
      onCleanup(async () => {
        for (const s of sockets) s.destroy();
      });
      await c.dial(({ attempt }) => {
        urls.push(attempt);
        return `ws://127.0.0.1:${port}/`;
      });
      // 1013 "try again later", and the client's answer to it: it is in its closing handshake.
      sockets[0]!.write(Buffer.from([0x88, 0x02, 0x03, 0xf5]));
      await until(
        () => parseAll(Buffer.concat(got[0]!)).some((f) => f.opcode === 8),
        "the client's close frame",
      );
      if (how === "reconnect") c.reconnect(4000, "new token");
      else page("pagehide");
      if (how === "show-before") page("pageshow");
      sockets[0]!.destroy();
      await until(() => closes.length === 1, "the close event");
      expect(closes).toEqual(["1013 server true"]);
      if (how === "show-after") page("pageshow");
      // Every step the end sets off is done: an attempt made now would have called the URL function.
      await new Promise((r) => setImmediate(r));
      expect(urls).toEqual([0]);
      clock.advance(waitMs - 1);
      await new Promise((r) => setImmediate(r));
      expect(urls).toEqual([0]);
      clock.advance(1);
      if (how === "show-late") {
        clock.advance(60_000);
        await new Promise((r) => setImmediate(r));
        expect(urls).toEqual([0]);
        page("pageshow");
      }
      await until(() => c.isConnected() && sockets.length === 2, "open again after the wait");
      expect(urls).toEqual([0, 0]);
    },
  );
});

describe("reconnect() from shouldReconnect during the server's wait", () => {
  it.each([
    ["that says no", {}, false, 0],
    ["with the attempts spent (maxAttempts 0)", { maxAttempts: 0 }, true, 0],
    // Math.random() answers 0.5: the wait is 2,000 ms plus half of jitter 0.5's quarter.
    ["that says no, with jitter 0.5", {}, false, 0.5],
  ] as const)(
    "%s: after a 503 Retry-After: 2, the server's wait still stands (jitter added), and the log line is a reconnect's",
    async (_name, extra, answer, jitter) => {
      vi.spyOn(Math, "random").mockReturnValue(0.5);
      onCleanup(async () => void vi.restoreAllMocks());
      const waitMs = 2000 + 2000 * jitter * 0.5;
      const s = await upgradeServer((n) =>
        n === 0 ? "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2" : undefined,
      );
      const clock = new FakeClock();
      const lines: string[] = [];
      const log = (line: unknown, ...rest: unknown[]) =>
        void lines.push([line, ...rest].map((x) => JSON.stringify(x)).join(" "));
      let c!: Conn<string, string>;
      c = conn({
        clock,
        logger: { debug: log, info: log, warn: log, error: log },
        reconnect: {
          minDelayMs: 10,
          jitter,
          ...extra,
          shouldReconnect: () => {
            c.reconnect();
            return answer;
          },
        },
      });
      let urls = 0;
      const dialed = c.dial(() => {
        urls++;
        return s.url;
      });
      dialed.catch(() => {}); // settled at cleanup when an assertion fails first
      await until(() => s.arrivals.length >= 1, "the refused handshake");
      await expectServerWait(clock, () => urls, dialed, waitMs);
      expect(lines.join("\n")).not.toMatch(/ERR_RECONNECT_EXHAUSTED|give-up|gave up/);
      // The decision's line: a reconnect after the server's wait, not a give-up.
      expect(lines.join("\n")).toMatch(
        new RegExp(`reconnecting .*attempt=1 delayMs=${waitMs} serverDelayMs=2000`),
      );
      // One decision, one line (a reconnect() from shouldReconnect is not logged twice).
      expect(lines.filter((l) => / reconnecting /.test(l))).toHaveLength(1);
    },
  );
});

describe("reconnect() or a hidden page during the wait a 1013 set", () => {
  it.each([
    ["reconnect()", "reconnect"],
    ["a page hidden and shown", "page"],
  ] as const)("%s: the server's wait stands with its jitter, as announced", async (_name, how) => {
    // Math.random() answers 0.5: 5,000 ms plus a quarter (jitter 0.5 times 0.5) = 6,250 ms.
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    onCleanup(async () => void vi.restoreAllMocks());
    const { fire: page } = stubPage();
    const s = await server();
    const clock = new FakeClock();
    const waits: number[] = [];
    const c = conn({
      clock,
      reconnect: { minDelayMs: 10, maxDelayMs: 60_000, jitter: 0.5 },
      onReconnecting: (info) => void waits.push(info.delayMs),
    });
    await c.dial(s.url);
    s.dropAll(1013);
    await until(() => waits.length === 1, "the 1013 wait announced");
    expect(waits).toEqual([6250]);
    if (how === "reconnect") c.reconnect();
    else {
      page("pagehide");
      page("pageshow");
    }
    const turn = () => new Promise((r) => setImmediate(r));
    await turn();
    await turn();
    clock.advance(6249);
    await turn();
    await turn();
    expect(s.connections).toBe(1);
    clock.advance(1);
    await until(() => c.state === "open", "open once the jittered wait is over");
    expect(s.connections).toBe(2);
  });

  it("reconnect() from onReconnecting after a 503 Retry-After: 2: the wait stands with its jitter", async () => {
    // Math.random() answers 0.5: 2,000 ms plus a quarter (jitter 0.5 times 0.5) = 2,500 ms.
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    onCleanup(async () => void vi.restoreAllMocks());
    const s = await upgradeServer((n) =>
      n === 0 ? "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2" : undefined,
    );
    const clock = new FakeClock();
    const waits: number[] = [];
    let c!: Conn<string, string>;
    c = conn({
      clock,
      reconnect: { minDelayMs: 10, jitter: 0.5 },
      onReconnecting: (info) => {
        waits.push(info.delayMs);
        c.reconnect();
      },
    });
    let urls = 0;
    const dialed = c.dial(() => {
      urls++;
      return s.url;
    });
    await until(() => waits.length === 1, "the wait announced");
    expect(waits).toEqual([2500]);
    await expectServerWait(clock, () => urls, dialed, 2500);
  });
});
