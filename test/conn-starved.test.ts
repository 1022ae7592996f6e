/**
 * A starved process: the event loop is blocked past a deadline (a request's timeout, the
 * connect timeout) while the answer comes in. Node runs due timers before it reads the sockets,
 * so when the loop wakes, the deadline's timer runs while the answer, which came in time, is
 * still unread. The server runs in a worker thread (its own event loop), so it answers while the
 * test's loop is blocked; it echoes every message except those that say "silent", and with
 * `?slow` in the URL it tells the test when the handshake request came and answers it 100 ms later.
 * Also setDeadline itself: on a hand-driven clock, and on Node's real timers (never before its deadline).
 */

import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { clearDeadline, setDeadline, systemClock } from "../src/clock.js";
import { type CloseInfo, json } from "../src/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn } from "./helpers/harness.js";

type Msg = { id?: number; silent?: boolean };

const ECHO_SERVER = `
const { parentPort } = require("node:worker_threads");
const { WebSocketServer } = require("ws");
const verifyClient = (info, done) => {
  if (!info.req.url.includes("slow")) return done(true);
  parentPort.postMessage("handshake");
  setTimeout(() => done(true), 100);
};
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, verifyClient }, () =>
  parentPort.postMessage(wss.address().port),
);
wss.on("connection", (ws) =>
  ws.on("message", (data) => {
    if (!data.toString().includes("silent")) ws.send(data.toString());
  }),
);
`;

let worker: Worker | undefined;
afterEach(async () => {
  await worker?.terminate();
  worker = undefined;
});

/** An echo server on its own thread; resolves with its URL. */
async function echoOnAnotherThread(): Promise<string> {
  worker = new Worker(ECHO_SERVER, { eval: true });
  const port = await new Promise<number>((resolve, reject) => {
    worker!.once("message", resolve);
    worker!.once("error", reject);
  });
  return `ws://127.0.0.1:${port}/`;
}

/** Blocks this thread's event loop for `ms`: no timer runs, no socket is read. */
function starve(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

/** Blocks this thread's event loop for `ms`, from its check phase (after this turn's reads). */
function starveNextTurn(ms: number): void {
  setImmediate(() => starve(ms));
}

describe("a starved process (the event loop blocked past a deadline)", () => {
  it("a request answered in time but read only after its late timeout timer ran still resolves", async () => {
    const url = await echoOnAnotherThread();
    const c = conn<Msg, Msg>({ codec: json<Msg, Msg>(), messageId: (m) => m.id });
    await c.dial(url);
    await expect(c.request({ id: 1 })).resolves.toEqual({ id: 1 }); // warm: the path works
    const answer = c.request({ id: 2 }, { timeoutMs: 50 });
    // The echo comes back within a few ms on the other thread; this thread wakes after 400 ms
    // and runs the 50 ms timer before it reads the socket.
    starveNextTurn(400);
    await expect(answer).resolves.toEqual({ id: 2 });
    expect(c.stats.pendingRequests).toBe(0);
  });

  it("a request with no answer still times out after a starved turn, one turn later", async () => {
    const url = await echoOnAnotherThread();
    const c = conn<Msg, Msg>({ codec: json<Msg, Msg>(), messageId: (m) => m.id });
    await c.dial(url);
    const unanswered = c.request({ id: 1, silent: true }, { timeoutMs: 50 }); // never answered
    starveNextTurn(200);
    await expect(unanswered).rejects.toMatchObject({ code: "ERR_REQUEST_TIMEOUT" });
    expect(c.stats.pendingRequests).toBe(0);
  });

  it("a handshake answered in time but read only after the late connect timeout timer ran still opens", async () => {
    const url = await echoOnAnotherThread();
    const c = conn({ connectTimeoutMs: 500, reconnect: false });
    // The server answers 100 ms after the request; this thread is blocked from the moment the
    // request reached it until well past the 500 ms deadline.
    worker!.once("message", () => starve(1500));
    await c.dial(`${url}?slow`);
    expect(c.state).toBe("open");
  });

  it("a close reply that came in time but is read only after the late close timeout timer ran still ends cleanly: 1000", async () => {
    const url = await echoOnAnotherThread();
    const closes: CloseInfo[] = [];
    const c = conn({ reconnect: false });
    c.on("close", (info) => void closes.push(info));
    await c.dial(url);
    const closed = c.close();
    // The server answers the close frame within a few ms; this thread wakes after the 3 s close
    // timeout and runs its timer before it reads the socket.
    starveNextTurn(3500);
    await closed;
    expect(closes).toMatchObject([{ code: 1000, wasClean: true, closedBy: "client" }]);
  });

  it("a URL function that settled in time, seen only after its late deadline timer ran, still dials", async () => {
    const url = await echoOnAnotherThread();
    const probe = new WebSocket(url);
    await new Promise((resolve, reject) => probe.once("open", resolve).once("error", reject));
    const c = conn({ connectTimeoutMs: 500, reconnect: false });
    // The URL comes with the server's echo, within a few ms; this thread is blocked until well
    // past the 500 ms deadline, and wakes to run its timer before it reads the echo.
    const urlFn = () =>
      new Promise<string>((resolve) => {
        probe.once("message", () => resolve(url));
        probe.send("the URL, please");
        starveNextTurn(1500);
      });
    try {
      await c.dial(urlFn);
      expect(c.state).toBe("open");
    } finally {
      probe.terminate();
    }
  });
});

describe("setDeadline (the connect, close and URL-function deadlines)", () => {
  it("fires on time at once; late, it waits one more turn, and clearDeadline cancels either turn", () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    setDeadline(clock, () => fired.push(clock.now()), 100);
    clock.advance(100);
    expect(fired).toEqual([100]); // on time: at once
    clock.lateByMs = 0.5;
    setDeadline(clock, () => fired.push(clock.now()), 100);
    clock.advance(100.5);
    expect(fired).toEqual([100]); // late: not yet
    clock.advance(1);
    expect(fired).toEqual([100, 201]); // one zero-delay turn later
    const first = setDeadline(clock, () => fired.push(-1), 100);
    clearDeadline(clock, first);
    const second = setDeadline(clock, () => fired.push(-2), 100);
    clock.advance(100.5); // in its second turn
    clearDeadline(clock, second);
    clock.advance(1000);
    expect(fired).toEqual([100, 201]);
    expect(clock.pending).toBe(0);
  });
});

describe("setDeadline on Node's real timers", () => {
  it("never calls back before its deadline, though a timer may fire early by a fraction of a ms", async () => {
    // Node's timers count from the loop's time in whole ms: a few in a hundred fire up to 1 ms
    // before performance.now() reaches their deadline (measured on Node 20). 200 in a row make
    // at least one such timer all but certain; each must still call back at its deadline or later.
    const early: number[] = [];
    for (let i = 0; i < 200; i++) {
      await new Promise<void>((resolve) => {
        const at = performance.now() + 2;
        setDeadline(
          systemClock,
          () => {
            const now = performance.now();
            if (now < at) early.push(at - now);
            resolve();
          },
          2,
        );
      });
    }
    expect(early).toEqual([]);
  });
});
