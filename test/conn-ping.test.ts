import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { Clock, EvtWebSocketError } from "../src/index.js";
import { conn, fast, server, sleep } from "./helpers/harness.js";
import { rawServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

describe("ping and dead-connection detection", () => {
  it("with a protocol ping, a live peer answers and the pong gives the RTT", async () => {
    const s = await server();
    const c = conn({ pingIntervalMs: 30 });
    const rtts: number[] = [];
    c.on("pong", ({ rttMs }) => void rtts.push(rttMs));
    await c.dial(s.url);
    await until(() => rtts.length >= 3, "three pongs");
    expect(c.stats.lastRttMs).toBeGreaterThanOrEqual(0);
    expect(c.isConnected()).toBe(true);
  });

  it("a half-open peer (no pong, no data) is detected: ERR_PONG_TIMEOUT, then reconnect", async () => {
    const s = await server({ autoPong: false });
    const errors: EvtWebSocketError[] = [];
    const c = conn({
      pingIntervalMs: 40,
      pongTimeoutMs: 40,
      reconnect: fast,
      onError: (e) => void errors.push(e),
    });
    const closes: unknown[] = [];
    c.on("close", (i) => void closes.push(i));
    await c.dial(s.url);
    await until(() => errors.some((e) => e.code === "ERR_PONG_TIMEOUT"), "pong timeout");
    expect(closes[0]).toEqual({
      code: 1006,
      reason: "",
      wasClean: false,
      willReconnect: true,
      closedBy: "client",
    });
    await until(() => s.connections >= 2, "reconnect");
  });

  it("detects a stalled peer within pingIntervalMs + pongTimeoutMs of the last byte", async () => {
    const s = await server({ autoPong: false, onMessage: () => {} });
    let detectedAt = 0;
    const c = conn({
      pingIntervalMs: 100,
      pongTimeoutMs: 100,
      reconnect: false,
      onError: (e) => {
        if (e.code === "ERR_PONG_TIMEOUT") detectedAt = Date.now();
      },
    });
    await c.dial(s.url);
    const lastByte = Date.now();
    await until(() => detectedAt > 0, "detected");
    // Timers never fire early, so detection cannot precede the bound; it must not come much later.
    expect(detectedAt - lastByte).toBeGreaterThanOrEqual(195);
    expect(c.state).toBe("closed");
  });

  it("any inbound message counts as alive: a chatty peer without pongs is not declared dead", async () => {
    const s = await server({ autoPong: false });
    const errors: EvtWebSocketError[] = [];
    const c = conn({ pingIntervalMs: 100, pongTimeoutMs: 250, onError: (e) => void errors.push(e) });
    await c.dial(s.url);
    const timer = setInterval(() => {
      for (const ws of s.clients) ws.send("tick");
    }, 10);
    await sleep(800);
    clearInterval(timer);
    expect(errors).toEqual([]);
    expect(c.isConnected()).toBe(true);
  });

  it("a message still arriving proves the peer alive: the bytes of a long frame count, not only whole messages", async () => {
    // A healthy peer on a slow line: one 8,000-byte frame trickles in over more than
    // pingIntervalMs + pongTimeoutMs, and its pong (sent after the frame: TCP keeps the order) follows it.
    const peer = await rawServer();
    const errors: EvtWebSocketError[] = [];
    const sizes: number[] = [];
    const c = conn<unknown, unknown>({
      pingIntervalMs: 100,
      pongTimeoutMs: 200,
      reconnect: false,
      onError: (e) => void errors.push(e),
      onMessage: (m) => void sizes.push((m as Uint8Array).byteLength),
    });
    await c.dial(peer.url);
    const payload = Buffer.alloc(8000, 7);
    peer.write(Buffer.of(0x82, 126, payload.length >> 8, payload.length & 0xff));
    for (let at = 0; at < payload.length; at += 100) {
      peer.write(payload.subarray(at, at + 100));
      await sleep(10);
    }
    peer.write(Buffer.of(0x8a, 0)); // the pong, behind the frame
    await until(() => sizes.length === 1 || c.state !== "open", "the whole message");
    expect(errors).toEqual([]);
    expect(sizes).toEqual([8000]);
    expect(c.state).toBe("open");
  });

  it("a ping that a closing WHATWG socket refuses starts the closing: the peer's close code is reported, not ERR_PONG_TIMEOUT", async () => {
    // ws as the WHATWG constructor (the adapter every runtime but Node's ws uses): after the
    // peer's close frame its readyState is CLOSING until TCP ends, and it refuses data frames.
    // An application ping refused there was ignored: the pong deadline then declared a peer
    // that had closed cleanly dead, and its close code was lost.
    const peer = await rawServer({ allowHalfOpen: true });
    const errors: EvtWebSocketError[] = [];
    const closes: { code: number; wasClean: boolean }[] = [];
    const c = conn({
      WebSocket: WebSocket as never,
      pingIntervalMs: 30,
      pongTimeoutMs: 60,
      pingMsg: "ping",
      isPong: (m) => m === "pong",
      reconnect: false,
      onError: (e) => void errors.push(e),
      onClose: ({ code, wasClean }) => void closes.push({ code, wasClean }),
    });
    await c.dial(peer.url);
    peer.write(Buffer.of(0x88, 6, 0x0f, 0xa1, ...Buffer.from("bye!"))); // 4001 "bye!"
    await sleep(200); // pings due, and the pong deadline of the first one long past
    peer.hangUp();
    await until(() => c.state === "closed", "the end");
    expect(errors.map((e) => e.code)).toEqual([]);
    expect(closes).toEqual([{ code: 4001, wasClean: true }]);
  });

  it("pingMsg/isPong: application pings, pongs are consumed and give the RTT", async () => {
    const s = await server({ onMessage: (ws, d) => ws.send(d.toString() === "ping" ? "pong" : `echo:${d}`) });
    const messages: string[] = [];
    const rtts: number[] = [];
    const c = conn({
      pingIntervalMs: 25,
      pingMsg: "ping",
      isPong: (m) => m === "pong",
      onMessage: (m) => void messages.push(m),
    });
    c.on("pong", ({ rttMs }) => void rtts.push(rttMs));
    await c.dial(s.url);
    await until(() => rtts.length >= 2, "two pongs");
    c.send("data");
    await until(() => messages.length === 1, "echo");
    expect(messages).toEqual(["echo:data"]);
    expect(s.received.filter((m) => m === "ping").length).toBeGreaterThanOrEqual(2);
  });

  it("a pingMsg function is called for every ping", async () => {
    let n = 0;
    const s = await server({ onMessage: () => {} });
    const c = conn({ pingIntervalMs: 20, pongTimeoutMs: 1000, pingMsg: () => `ping-${++n}` });
    await c.dial(s.url);
    await until(() => s.received.length >= 1, "a ping");
    expect(s.received[0]).toBe("ping-1");
  });

  it("keeps the line busy: pings are sent while idle (the seed's keep-alive)", async () => {
    const s = await server();
    let pings = 0;
    const c = conn({ pingIntervalMs: 20 });
    await c.dial(s.url);
    for (const ws of s.clients) ws.on("ping", () => pings++);
    await until(() => pings >= 3, "three pings");
    expect(c.isConnected()).toBe(true);
  });

  it("ping() probes now and needs the heartbeat", async () => {
    const s = await server();
    const c = conn({ pingIntervalMs: 60_000 });
    const rtts: number[] = [];
    c.on("pong", ({ rttMs }) => void rtts.push(rttMs));
    await c.dial(s.url);
    c.ping();
    await until(() => rtts.length === 1, "pong");
    const plain = conn();
    expect(() => plain.ping()).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
  });
});

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
