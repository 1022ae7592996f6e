/**
 * Review of the late-deadline changes (setDeadline, the request deadline lists): cases that
 * broke them. A real clock where Node's behaviour is the point (its timers keep whole-ms loop
 * time, so one can fire before performance.now() reaches its deadline), a hand-driven one for
 * an interleaving of late timers.
 */

import { describe, expect, it } from "vitest";
import { setDeadline, systemClock } from "../src/clock.js";
import { PendingRequests, type Transitions } from "../src/pending.js";
import { FakeClock } from "./helpers/fake-clock.js";

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
