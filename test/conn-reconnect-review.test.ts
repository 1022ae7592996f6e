/**
 * Adversarial review of `reconnect()`: called from every callback, twice, after close(), with
 * paused iterators, drained() waiters and signals, against real `ws` servers on 127.0.0.1.
 */

import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { describe, expect, it, vi } from "vitest";
import type { Conn, ConnOptions } from "../src/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, onCleanup, server } from "./helpers/harness.js";
import { stubPage } from "./helpers/page.js";
import { parseAll, switchingProtocols, tcpServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";
import { upgradeServer } from "./helpers/upgrade-server.js";

/** A server that records how many of its sockets were ever live at once. */
async function counted(opts: Parameters<typeof server>[0] = {}) {
  let live = 0;
  const stats = { maxLive: 0 };
  const s = await server({
    ...opts,
    onConnection: (ws, req) => {
      live++;
      stats.maxLive = Math.max(stats.maxLive, live);
      ws.on("close", () => live--);
      opts.onConnection?.(ws, req);
    },
  });
  return Object.assign(s, { stats, live: () => live });
}

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

describe("reconnect() review", () => {
  it("twice in a row: one new socket, never two live", async () => {
    const s = await counted();
    const c = conn();
    await c.dial(s.url);
    c.reconnect(4000, "a");
    c.reconnect(4001, "b");
    await until(() => c.isConnected(), "open again");
    await until(() => s.live() === 1, "old gone");
    expect(s.connections).toBe(2);
    expect(s.stats.maxLive).toBe(1);
    expect(c.stats.reconnects).toBe(1);
  });

  for (const where of [
    "onMessage",
    "onClose",
    "onError",
    "onReconnecting",
    "state",
    "logger",
    "channel",
  ] as const) {
    it(`from ${where}: reconnects once, one socket at a time`, async () => {
      const s = await counted({ onMessage: (ws, d) => ws.send(d) });
      let done = false;
      const errors: unknown[] = [];
      const me = (c: Conn<string, string>) => {
        if (done) return;
        done = true;
        c.reconnect(4002, where);
      };
      let c!: Conn<string, string>;
      const opts: ConnOptions<string, string, Conn<string, string>> = {
        reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 },
        onError: (e) => {
          errors.push(e);
          if (where === "onError") me(c);
        },
      };
      if (where === "onMessage") opts.onMessage = (_m, self) => me(self);
      if (where === "onClose") opts.onClose = () => me(c);
      if (where === "onReconnecting") opts.onReconnecting = () => me(c);
      if (where === "logger")
        opts.logger = {
          debug: () => {},
          info: (line: string) => void (String(line).includes("open") && c?.isConnected() && me(c)),
          warn: () => {},
          error: () => {},
        } as never;
      c = conn(opts);
      if (where === "state") c.on("state", ({ newState }) => newState === "open" && me(c));
      const onOpen = () => me(c);
      if (where === "channel") subscribe("evtwebsocket:connection:open", onOpen);
      onCleanup(
        async () => void (where === "channel" && unsubscribe("evtwebsocket:connection:open", onOpen)),
      );
      await c.dial(s.url);
      if (where === "onMessage") c.send("hi");
      if (where === "onClose" || where === "onError" || where === "onReconnecting") {
        // an unclean drop: the first socket terminated by the server
        for (const ws of s.clients) ws.terminate();
      }
      await until(() => done, "reconnect called");
      await until(() => c.isConnected() && s.connections === 2, "open again");
      await until(() => s.live() === 1, "old gone");
      expect(s.stats.maxLive).toBe(1);
      expect(c.stats.reconnects).toBe(1);
      c.send("after");
      await until(() => s.received.includes("after"), "sent on the new socket");
    });
  }

  it("after close(), during its closing handshake: ERR_CLOSED, state closed", async () => {
    const s = await counted();
    const c = conn();
    await c.dial(s.url);
    const closing = c.close();
    expect(c.state).toBe("closed");
    expect(() => c.reconnect()).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
    await closing;
    expect(s.connections).toBe(1);
  });

  it("with a messages() iterator paused: the new socket's messages arrive once it reads", async () => {
    let n = 0;
    const s = await counted({
      onConnection: (ws) => {
        const k = ++n;
        for (let i = 0; i < 5; i++) ws.send(`${k}:${i}`);
      },
    });
    const c = conn();
    const it = c.messages({ bufferSize: 2 });
    await c.dial(s.url);
    const first = await it.next();
    expect(first.value).toBe("1:0");
    c.reconnect();
    const got: string[] = [];
    for await (const m of it) {
      got.push(m);
      if (m === "2:4") break;
    }
    expect(got.filter((m) => m.startsWith("2:"))).toEqual(["2:0", "2:1", "2:2", "2:3", "2:4"]);
  });

  it("drained() waiting through it resolves once the queue is sent on the new socket", async () => {
    const s = await counted({ onMessage: () => {} });
    const c = conn();
    await c.dial(s.url);
    c.reconnect();
    c.send("queued");
    const d = c.drained();
    await d;
    await until(() => s.received.includes("queued"), "sent");
  });

  it("a request with a signal aborted after reconnect() rejects ERR_ABORTED and is not sent", async () => {
    const s = await counted({ onMessage: () => {} });
    const c = conn({ matchMsg: () => true });
    await c.dial(s.url);
    c.reconnect();
    const ac = new AbortController();
    const r = c.request("q", { signal: ac.signal });
    ac.abort();
    await expect(r).rejects.toMatchObject({ code: "ERR_ABORTED" });
    await until(() => c.isConnected(), "open");
    c.send("marker");
    await until(() => s.received.includes("marker"), "marker");
    expect(s.received).toEqual(["marker"]);
  });

  it("from matchMsg with a retryOnReconnect request: it resolves once and is not sent again", async () => {
    const s = await counted({ onMessage: (ws, d) => ws.send(`re:${d}`) });
    let did = false;
    let c!: Conn<string, string>;
    c = conn({
      matchMsg: (req, resp) => {
        if (!did) {
          did = true;
          c.reconnect();
        }
        return resp === `re:${req}`;
      },
    });
    await c.dial(s.url);
    await expect(c.request("a", { retryOnReconnect: true })).resolves.toBe("re:a");
    await until(() => c.isConnected() && s.connections === 2, "open again");
    c.send("marker");
    await until(() => s.received.includes("marker"), "marker");
    expect(s.received).toEqual(["a", "marker"]);
  });

  it("with reconnect: false: a new socket opens all the same; close says willReconnect", async () => {
    const s = await counted();
    const closes: boolean[] = [];
    const c = conn({ reconnect: false, onClose: (i) => void closes.push(i.willReconnect) });
    await c.dial(s.url);
    c.reconnect();
    await until(() => c.isConnected() && s.connections === 2, "open again");
    expect(closes).toEqual([true]);
  });

  it("with maxAttempts 0 from shouldReconnect after a server drop", async () => {
    const s = await counted();
    const c = conn({ reconnect: { maxAttempts: 0 } as never });
    await c.dial(s.url);
    c.reconnect();
    await until(() => c.isConnected() && s.connections === 2, "open again");
  });

  it("dial() pending through a reconnect() during a failing attempt's backoff", async () => {
    const s = await counted();
    const port = s.port;
    await s.stop();
    const c = conn({ reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 } });
    const errs: string[] = [];
    c.on("error", (e) => void errs.push(e.code));
    const dialed = c.dial(`ws://127.0.0.1:${port}`);
    await until(() => errs.length === 1, "first attempt failed");
    await s.start();
    c.reconnect();
    await dialed;
    expect(c.state).toBe("open");
  });
});

describe("reconnect() review: more", () => {
  it("close() while the dropped socket is in its closing handshake: closed at once, the close event says willReconnect false, no new socket", async () => {
    const s = await counted();
    const closes: string[] = [];
    const c = conn({ onClose: (i) => void closes.push(`${i.code} ${i.willReconnect}`) });
    await c.dial(s.url);
    c.reconnect(4000, "x");
    const closed = c.close();
    expect(c.state).toBe("closed");
    await closed;
    expect(s.connections).toBe(1);
    expect(closes).toEqual(["4000 false"]);
    await until(() => s.live() === 0, "socket gone at the server");
  });

  it("a retryOnReconnect request with a signal aborted while it waits for the new socket: ERR_ABORTED, not sent again", async () => {
    let n = 0;
    let letIn: (() => void) | undefined;
    const s = await counted({
      onMessage: () => {},
      verifyClient: (_i, cb) => {
        if (n++ === 0) cb(true);
        else letIn = () => cb(true);
      },
    });
    const c = conn({ matchMsg: () => true });
    await c.dial(s.url);
    const ac = new AbortController();
    const r = c.request("q", { signal: ac.signal, retryOnReconnect: true });
    await until(() => s.received.length === 1, "sent once");
    c.reconnect();
    await until(() => letIn !== undefined, "second handshake held");
    ac.abort();
    await expect(r).rejects.toMatchObject({ code: "ERR_ABORTED" });
    letIn!();
    await until(() => c.isConnected(), "open again");
    c.send("marker");
    await until(() => s.received.includes("marker"), "marker");
    expect(s.received).toEqual(["q", "marker"]);
  });

  it("from a send callback and from messageId of a request body", async () => {
    const s = await counted();
    let calls = 0;
    let c!: Conn<string, string>;
    c = conn({
      messageId: (m) => {
        if (m === "req" && calls++ === 0) c.reconnect();
        return m;
      },
    });
    await c.dial(s.url);
    const r = c.request("req");
    await expect(r).resolves.toBe("req");
    await until(() => s.connections === 2 && s.live() === 1, "second socket only");
    expect(s.stats.maxLive).toBe(1);
    let fromCb = false;
    c.send("cb", () => {
      if (fromCb) return;
      fromCb = true;
      c.reconnect();
    });
    await until(() => fromCb && s.connections === 3 && c.isConnected(), "third socket");
    await until(() => s.live() === 1, "one live");
    expect(s.stats.maxLive).toBe(1);
  });

  it("with its URL function running: the attempt goes on, the function called once", async () => {
    const s = await counted();
    const c = conn({ reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 } });
    let calls = 0;
    let release: (() => void) | undefined;
    await c.dial(() => {
      calls++;
      if (calls === 1) return s.url;
      return new Promise<string>((r) => {
        release = () => r(s.url);
      });
    });
    for (const ws of s.clients) ws.terminate();
    await until(() => c.state === "reconnecting", "dropped");
    c.reconnect();
    await until(() => release !== undefined, "URL function running");
    c.reconnect();
    c.reconnect(4000, "again");
    release!();
    await until(() => c.isConnected(), "open");
    expect(calls).toBe(2);
    expect(s.connections).toBe(2);
  });
});

describe("reconnect() review: the server's wait", () => {
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

describe("reconnect() review: a 1013 close heard before it", () => {
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

describe("reconnect() review: from shouldReconnect", () => {
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

describe("reconnect() review: the queue", () => {
  for (const async of [false, true]) {
    it(`from ${async ? "an async" : "a"} onConnected on the first open: the queue goes out on the second socket only, in order`, async () => {
      // Which socket (1 first) each message arrived on.
      const socketOf = new WeakMap<object, number>();
      const arrivals: string[] = [];
      const s = await counted({
        onConnection: (ws) => socketOf.set(ws, s.connections),
        onMessage: (ws, d) => void arrivals.push(`${socketOf.get(ws)}:${d}`),
      });
      let opens = 0;
      const c = conn({
        onConnected: async (self) => {
          if (++opens !== 1) return;
          if (async) await Promise.resolve();
          self.reconnect(4000, "again");
        },
      });
      for (const m of ["a", "b", "c"]) c.send(m);
      await c.dial(s.url);
      await until(() => arrivals.length === 3, "the queue sent");
      expect(arrivals).toEqual(["2:a", "2:b", "2:c"]);
      expect(s.connections).toBe(2);
      expect(opens).toBe(2);
      expect(s.stats.maxLive).toBe(1);
    });
  }
});

describe("reconnect() review: during the wait a 1013 set", () => {
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
