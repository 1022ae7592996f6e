/**
 * Review of the late-deadline changes (setDeadline, the request deadline lists): cases that
 * broke them. A real clock where Node's behaviour is the point (its timers keep whole-ms loop
 * time, so one can fire before performance.now() reaches its deadline), a hand-driven one for
 * an interleaving of late timers.
 */

import { createHash } from "node:crypto";
import * as net from "node:net";
import { describe, expect, it } from "vitest";
import { setDeadline, systemClock } from "../src/clock.js";
import { PendingRequests, type Transitions } from "../src/pending.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, onCleanup } from "./helpers/harness.js";
import { until } from "./helpers/server.js";

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

describe("request deadlines when every timer fires late", () => {
  const now: Transitions = { run: (self, step, ...args) => step.apply(self, args) };

  it("a request whose deadline passes during another's extra turn gets an extra turn of its own: its answer, read after the timers, counts", () => {
    const clock = new FakeClock();
    clock.lateByMs = 50;
    const p = new PendingRequests<string, string, string>(clock, { cancel: () => {} }, now);
    const outcomes: string[] = [];
    const add = (name: string) =>
      p.add({
        body: name,
        id: name,
        timeoutMs: 100,
        signal: undefined,
        retryOnReconnect: false,
        data: name,
        done: (e, r) =>
          void outcomes.push(`${name} ${e ? (e as { code?: string }).code : r} @${clock.now()}`),
      });
    add("a"); // deadline 100; its timer fires at 150
    clock.advance(60);
    const b = add("b"); // deadline 160
    clock.advance(90); // t=150: a's timer, late: one more turn (fires at 200)
    expect(outcomes).toEqual([]);
    clock.advance(50); // t=200: a is judged; b's deadline (160) passed after a's timer ran
    expect(outcomes).toEqual(["a ERR_REQUEST_TIMEOUT @200"]);
    p.resolve(b, "b's answer"); // it came at 155, in time, and is read after the timers
    expect(outcomes).toEqual(["a ERR_REQUEST_TIMEOUT @200", "b b's answer @200"]);
    // Unanswered, it is still judged one turn later, within two timers' lateness of its deadline.
    add("c"); // t=200, deadline 300; its timer fires at 350
    clock.advance(70);
    add("d"); // t=270, deadline 370
    clock.advance(130); // 350: c's late timer; 400: c judged, d's deadline passed after 350
    expect(outcomes.slice(2)).toEqual(["c ERR_REQUEST_TIMEOUT @400"]);
    clock.advance(50); // 450: d's extra turn
    expect(outcomes.slice(2)).toEqual(["c ERR_REQUEST_TIMEOUT @400", "d ERR_REQUEST_TIMEOUT @450"]);
    expect(clock.pending).toBe(0);
    expect(p.size).toBe(0);
  });
});

/**
 * A WebSocket peer on raw TCP that answers our close frame with 4000 "ok" and keeps its side of
 * TCP open; `ended()` is true once the client has ended its side (it read the answer).
 */
async function answeringHolder(): Promise<{ url: string; ended: () => boolean }> {
  let ended = false;
  const sockets: net.Socket[] = [];
  const srv = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    let head = Buffer.alloc(0);
    let upgraded = false;
    socket.on("error", () => {});
    socket.on("end", () => {
      ended = true;
    });
    socket.on("data", (chunk: Buffer) => {
      if (upgraded) {
        // Our close frame (opcode 8; a masked client frame): answer it, keep TCP open.
        if ((chunk[0]! & 0x0f) === 8) socket.write(Buffer.of(0x88, 4, 0x0f, 0xa0, 0x6f, 0x6b));
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      const key = /sec-websocket-key: *(\S+)/i.exec(head.subarray(0, end).toString())![1]!;
      const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      upgraded = true;
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  onCleanup(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => srv.close(r));
  });
  return { url: `ws://127.0.0.1:${(srv.address() as net.AddressInfo).port}/`, ended: () => ended };
}

describe("close() against a peer that answers and then holds TCP open", () => {
  it("is cut off at the close timeout, and reports the closing handshake it completed: its code, clean", async () => {
    const peer = await answeringHolder();
    const clock = new FakeClock();
    const closes: unknown[] = [];
    const c = conn({ clock, reconnect: false, onClose: (i) => void closes.push(i) });
    await c.dial(peer.url);
    const closed = c.close(4000, "bye");
    await until(peer.ended, "the client to read the answer and end its side");
    expect(closes).toEqual([]);
    clock.advance(3000); // the close timeout
    await closed;
    expect(closes).toEqual([
      { code: 4000, reason: "ok", wasClean: true, willReconnect: false, closedBy: "client" },
    ]);
    expect(clock.pending).toBe(0);
  });
});
