/**
 * The connection core under attack, third round, against real sockets on 127.0.0.1: re-entrant
 * calls from the `"drain"` and `"pong"` listeners, calls in the window between the peer's close
 * frame and TCP's end, one writer per socket while pings, pongs, a close frame and coalesced
 * sends interleave, and a clock whose every timer fires late or early. Each test here held on
 * the code it was written against; it pins what held.
 */

import { describe, expect, it } from "vitest";
import type { WebSocket as ServerSocket } from "ws";
import type { Clock, CloseInfo, EvtWebSocketError } from "../src/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, fast, server, sleep } from "./helpers/harness.js";
import { parseAll, rawServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

const KiB = 1024;
const MiB = 1024 * KiB;

/** A server frame (unmasked) with a payload under 126 bytes. */
function frame(opcode: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]);
}

function closeFrame(code: number, reason = ""): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return frame(8, payload);
}

/** A server ping frame carrying `n`. */
function pingFrame(n: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(n, 0);
  return frame(9, payload);
}

/**
 * The real clock with every timer `shiftMs` late (positive) or early (negative, down to a
 * zero delay): a throttled tab or a starved container, or a runtime that fires timers early.
 */
function shiftedClock(shiftMs: number): Clock {
  return {
    setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, Math.ceil(ms) + shiftMs)),
    clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
    now: () => performance.now(),
  };
}

/** A `ws` server whose connections read nothing until `resume()`; records the most live at once. */
async function stalledServer() {
  const sockets: ServerSocket[] = [];
  let live = 0;
  let mostLive = 0;
  let resumed = false;
  const s = await server({
    onConnection: (ws) => {
      sockets.push(ws);
      mostLive = Math.max(mostLive, ++live);
      ws.on("close", () => void live--);
      if (!resumed) ws.pause();
    },
    onMessage: () => {},
  });
  return {
    url: s.url,
    get mostLive() {
      return mostLive;
    },
    /** Reads from now on, on every connection (a later one included). */
    resume: () => {
      resumed = true;
      for (const ws of sockets) ws.resume();
    },
  };
}

describe('re-entrant calls from a "drain" listener (a real socket whose buffer filled and emptied)', () => {
  it.each(["close()", "reconnect()", "send()", "close() then dial()"] as const)(
    "%s: every promise settles, the state moves along the machine, never two sockets",
    async (what) => {
      const s = await stalledServer();
      const errors: string[] = [];
      const states: string[] = [];
      const closes: CloseInfo[] = [];
      const c = conn<Uint8Array, Uint8Array>({
        lowWaterMark: 64 * KiB,
        highWaterMark: 1 * MiB,
        reconnect: fast,
        onError: (e) => void errors.push(e.code),
        onClose: (i) => void closes.push(i),
      });
      c.on("state", (change) => void states.push(change.newState));
      let drains = 0;
      let inside: Promise<unknown> | undefined;
      let sent: string | undefined;
      c.on("drain", () => {
        if (drains++ > 0) return;
        if (what === "close()") inside = c.close();
        else if (what === "reconnect()") c.reconnect();
        else if (what === "send()") sent = c.send(new Uint8Array(2 * MiB));
        else inside = Promise.all([c.close(), c.dial(s.url)]);
      });
      await c.dial(s.url);
      const piece = new Uint8Array(64 * KiB);
      while (c.bufferedAmount <= 4 * MiB) c.send(piece);
      const waiting = c.drained();
      s.resume();
      await until(() => drains > 0, "the first drain");
      await expect(waiting).resolves.toBeUndefined();
      await inside;
      if (what === "close()") {
        expect(c.state).toBe("closed");
        expect(states).toEqual(["connecting", "open", "closed"]);
        expect(closes.map((i) => [i.code, i.willReconnect])).toEqual([[1000, false]]);
      } else if (what === "reconnect()") {
        await until(() => c.state === "open" && c.stats.reconnects === 1, "the new connection");
        expect(states).toEqual(["connecting", "open", "reconnecting", "open"]);
        expect(closes.map((i) => [i.code, i.willReconnect])).toEqual([[1000, true]]);
      } else if (what === "send()") {
        expect(sent).toBe("sent");
        // The 2 MiB send rose above highWaterMark again: a second drain once it has left.
        await until(() => drains === 2, "the second drain");
        expect(states).toEqual(["connecting", "open"]);
      } else {
        expect(c.state).toBe("open");
        expect(states).toEqual(["connecting", "open", "closed", "connecting", "open"]);
        expect(closes.map((i) => [i.code, i.willReconnect])).toEqual([[1000, false]]);
      }
      expect(errors).toEqual([]);
      expect(s.mostLive, "never two sockets at once").toBe(1);
    },
    30_000,
  );
});

describe('re-entrant calls from a "pong" listener', () => {
  it.each(["close()", "reconnect()", "ping()"] as const)(
    "%s: settles, and the connection goes on as asked",
    async (what) => {
      const s = await server();
      const errors: string[] = [];
      const c = conn<string, string>({
        pingIntervalMs: 60_000,
        reconnect: fast,
        onError: (e) => void errors.push(e.code),
      });
      let pongs = 0;
      let inside: Promise<void> | undefined;
      c.on("pong", () => {
        if (pongs++ > 0) return;
        if (what === "close()") inside = c.close();
        else if (what === "reconnect()") c.reconnect();
        else c.ping(); // answered: no ping is out any more, so this one goes
      });
      await c.dial(s.url);
      c.ping();
      await until(() => pongs > 0, "the pong");
      await inside;
      if (what === "close()") expect(c.state).toBe("closed");
      if (what === "reconnect()") await until(() => c.stats.reconnects === 1, "the new connection");
      if (what === "ping()") await until(() => pongs === 2, "the second ping's pong");
      expect(errors).toEqual([]);
    },
  );
});

describe("the window between the peer's close frame and TCP's end (the peer holds TCP)", () => {
  it.each([false, true])(
    "reconnect %s: send(), send with a callback, request() and ping() in it write nothing and settle; close() there ends it at the close timeout",
    async (reconnect) => {
      const raw = await rawServer({ allowHalfOpen: true });
      const clock = new FakeClock();
      const errors: string[] = [];
      const closes: CloseInfo[] = [];
      const c = conn<string, string>({
        clock,
        reconnect: reconnect ? fast : false,
        pingIntervalMs: 100,
        matchMsg: () => false,
        onError: (e) => void errors.push(e.code),
        onClose: (i) => void closes.push(i),
      });
      await c.dial(raw.url);
      raw.write(closeFrame(1001, "going away"));
      const ours = () => parseAll(raw.connectionBytes(0));
      await until(() => ours().some((f) => f.opcode === 8), "our answer to its close frame");
      const request = c.request("q").then(
        () => "resolved",
        (e: EvtWebSocketError) => e.code,
      );
      expect(c.send("x")).toBe("queued");
      let called = false;
      expect(
        c.send("y", () => {
          called = true;
        }),
      ).toBe("queued");
      c.ping(); // the heartbeat stopped with the closing: nothing goes out
      clock.advance(1000); // pings would be due: the heartbeat is stopped
      expect(c.stats).toMatchObject({ messagesSent: 0, queuedMessages: 3, pendingRequests: 2 });
      expect(c.state).toBe("open");
      const closing = c.close();
      clock.advance(3000); // the close timeout: the peer never ends TCP
      await closing;
      expect(await request).toBe("ERR_CLOSED");
      expect(called).toBe(false);
      // The send callback's failure and the unsent message, each once.
      expect(errors).toEqual(["ERR_CLOSED", "ERR_CLOSED"]);
      expect(closes).toEqual([
        { code: 1001, reason: "going away", wasClean: true, willReconnect: false, closedBy: "server" },
      ]);
      expect(ours().map((f) => f.opcode)).toEqual([8]);
      expect(clock.pending).toBe(0);
    },
  );
});

describe("one writer per socket", () => {
  it("the server floods pings while bursts of coalesced sends, ping() and close() go out: every byte is part of a whole frame, the data in order, nothing after our close frame", async () => {
    const raw = await rawServer({ allowHalfOpen: true });
    const c = conn<string, string>({ reconnect: false, pingIntervalMs: 5, pongTimeoutMs: 60_000 });
    await c.dial(raw.url);
    let n = 0;
    const pinger = setInterval(() => raw.write(Buffer.concat([pingFrame(n++), pingFrame(n++)])), 1);
    const sent: string[] = [];
    for (let round = 0; round < 200; round++) {
      // From 1 to 70 frames a tick (a batch is written every 64), small and up to 600 bytes.
      for (let i = 0; i < 1 + (round % 70); i++) {
        const message = `${round}:${i}:${"x".repeat((round * 7 + i) % 600)}`;
        expect(c.send(message)).toBe("sent");
        sent.push(message);
      }
      if (round % 10 === 0) c.ping();
      if (round % 3 === 0) await new Promise((r) => setImmediate(r));
      if (round % 17 === 0) await sleep(2);
    }
    const closing = c.close(1000, "bye");
    clearInterval(pinger);
    await until(() => parseAll(raw.connectionBytes(0)).some((f) => f.opcode === 8), "our close frame");
    raw.write(closeFrame(1000));
    raw.hangUp();
    await closing;
    const bytes = raw.connectionBytes(0);
    const frames = parseAll(bytes);
    expect(
      frames.reduce((sum, f) => sum + f.size, 0),
      "every byte is part of a whole frame",
    ).toBe(bytes.length);
    expect(frames.every((f) => f.fin && f.masked && f.rsv === 0)).toBe(true);
    expect(frames.filter((f) => f.opcode === 1).map((f) => f.payload.toString())).toEqual(sent);
    expect(frames.findIndex((f) => f.opcode === 8)).toBe(frames.length - 1);
    // Each pong answers a ping the server sent (the latest one when several waited).
    const pongs = frames.filter((f) => f.opcode === 0xa).map((f) => f.payload.readUInt32BE(0));
    expect(pongs.length).toBeGreaterThan(0);
    expect(pongs.every((p) => p < n)).toBe(true);
    expect(pongs).toEqual([...pongs].sort((a, b) => a - b));
    expect(c.stats.messagesSent).toBe(sent.length);
  }, 30_000);
});

describe("the heartbeat on a clock whose every timer fires late or early", () => {
  // 150 ms late is later than min(pingIntervalMs, pongTimeoutMs): every pong deadline reads as a
  // freeze and grants its one fresh ping.
  it.each([30, 150])(
    "%i ms late: a healthy peer is never declared dead; a silent one is",
    async (lateMs) => {
      const healthy = await server();
      const silent = await server({ autoPong: false, onMessage: () => {} });
      const errors: EvtWebSocketError[] = [];
      const dead: EvtWebSocketError[] = [];
      const options = {
        clock: shiftedClock(lateMs),
        pingIntervalMs: 100,
        pongTimeoutMs: 100,
        reconnect: false,
      };
      const live = conn<string, string>({ ...options, onError: (e) => void errors.push(e) });
      let pongs = 0;
      live.on("pong", () => void pongs++);
      const quiet = conn<string, string>({ ...options, onError: (e) => void dead.push(e) });
      await Promise.all([live.dial(healthy.url), quiet.dial(silent.url)]);
      await until(() => dead.length > 0 && pongs >= 5, "the silent peer's verdict and five pongs", 20_000);
      expect(dead.map((e) => e.code)).toEqual(["ERR_PONG_TIMEOUT"]);
      expect(errors).toEqual([]);
      expect(live.state).toBe("open");
    },
    30_000,
  );

  it("60 ms early: no request times out before its timeoutMs, no peer is declared dead within pongTimeoutMs of a ping", async () => {
    const silent = await server({ autoPong: false, onMessage: () => {} });
    const errors: EvtWebSocketError[] = [];
    const c = conn<string, string>({
      clock: shiftedClock(-60),
      pingIntervalMs: 300,
      pongTimeoutMs: 200,
      reconnect: false,
      matchMsg: () => false,
      onError: (e) => void errors.push(e),
    });
    const pings: number[] = [];
    await c.dial(silent.url);
    const opened = performance.now();
    silent.clients.forEach((ws) => void ws.on("ping", () => void pings.push(performance.now())));
    const made = performance.now();
    const outcome = await c.request("q", { timeoutMs: 200 }).then(
      () => ({ code: "resolved", at: performance.now() }),
      (e: EvtWebSocketError) => ({ code: e.code, at: performance.now() }),
    );
    expect(outcome.code).toBe("ERR_REQUEST_TIMEOUT");
    expect(outcome.at - made).toBeGreaterThanOrEqual(200);
    await until(() => errors.length > 0, "the verdict", 10_000);
    const verdict = performance.now();
    expect(errors.map((e) => e.code)).toEqual(["ERR_PONG_TIMEOUT"]);
    expect(pings.length).toBe(1);
    // The ping left after the handshake, and the verdict waited pongTimeoutMs after it.
    expect(pings[0]! - opened).toBeGreaterThan(0);
    expect(verdict - pings[0]!).toBeGreaterThanOrEqual(200);
  });
});

describe("the order of events, as docs/concepts.md's transition table lists them", () => {
  it("reconnect(): state within the call, then the old socket's close when it is gone, then the new open", async () => {
    const s = await server();
    const events: string[] = [];
    const c = conn<string, string>({
      reconnect: fast,
      onClose: (i) => void events.push(`close ${i.code} willReconnect=${i.willReconnect} ${i.closedBy}`),
      onReconnecting: () => void events.push("reconnecting"),
      onError: (e) => void events.push(`error ${e.code}`),
      onConnected: () => void events.push("connected"),
    });
    c.on("state", (change) => void events.push(`state ${change.newState}`));
    await c.dial(s.url);
    events.length = 0;
    c.reconnect(4000, "new token");
    expect(events).toEqual(["state reconnecting"]);
    await until(() => c.stats.reconnects === 1, "the new connection");
    expect(events).toEqual([
      "state reconnecting",
      "close 4000 willReconnect=true client",
      "state open",
      "connected",
    ]);
  });
});

describe("an abort racing a response in the same turn (both in one TCP chunk)", () => {
  /** A server text frame. */
  const text = (t: string) => frame(1, Buffer.from(t));

  it.each([
    [
      "the message before the response aborts the request: it rejects ERR_ABORTED once, its response reaches onMessage",
      false,
    ],
    ["the message after the response aborts it: the request has resolved, the abort changes nothing", true],
  ] as const)("%s", async (_, responseFirst) => {
    const raw = await rawServer();
    const errors: string[] = [];
    const messages: string[] = [];
    const controller = new AbortController();
    const c = conn<string, string>({
      reconnect: false,
      matchMsg: (req, resp) => resp === `${req}:ok`,
      onError: (e) => void errors.push(e.code),
      onMessage: (m) => {
        messages.push(m);
        if (m === "news") controller.abort();
      },
    });
    await c.dial(raw.url);
    const settled: string[] = [];
    const request = c.request("q1", { signal: controller.signal }).then(
      (r) => void settled.push(`resolved ${r}`),
      (e: EvtWebSocketError) => void settled.push(e.code),
    );
    await until(() => parseAll(raw.connectionBytes(0)).length === 1, "the request at the server");
    raw.write(Buffer.concat(responseFirst ? [text("q1:ok"), text("news")] : [text("news"), text("q1:ok")]));
    await request;
    await until(() => messages.length === (responseFirst ? 1 : 2), "the messages");
    await new Promise((r) => setImmediate(r));
    expect(settled).toEqual([responseFirst ? "resolved q1:ok" : "ERR_ABORTED"]);
    expect(messages).toEqual(responseFirst ? ["news"] : ["news", "q1:ok"]);
    expect(errors).toEqual([]);
    expect(c.stats.pendingRequests).toBe(0);
    raw.hangUp();
  });
});

describe("reconnect() against a peer that never answers the close frame", () => {
  it("one socket at a time: the new attempt waits for the old socket, cut off at the close timeout", async () => {
    const raw = await rawServer({ allowHalfOpen: true });
    const clock = new FakeClock();
    const opened: number[] = [];
    const c = conn<string, string>({ clock, reconnect: fast });
    c.on("state", (change) => void (change.newState === "open" && opened.push(clock.now())));
    await c.dial(raw.url);
    c.reconnect(4000, "new token");
    expect(c.send("after")).toBe("queued");
    await until(() => parseAll(raw.connectionBytes(0)).some((f) => f.opcode === 8), "our close frame");
    clock.advance(2999);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(c.state).toBe("reconnecting");
    clock.advance(1); // the close timeout: the old socket is cut off, the new attempt starts
    await until(() => c.state === "open", "the new connection");
    expect(opened).toEqual([0, 3000]);
    await until(
      () => parseAll(raw.connectionBytes(1)).some((f) => f.payload.toString() === "after"),
      "the queued send",
    );
    raw.hangUp();
  });
});
