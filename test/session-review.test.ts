/**
 * Review of the late-deadline changes (setDeadline, the request deadline lists): cases that
 * broke them. A real clock where Node's behaviour is the point (its timers keep whole-ms loop
 * time, so one can fire before performance.now() reaches its deadline), a hand-driven one for
 * an interleaving of late timers.
 */

import { describe, expect, it } from "vitest";
import { setDeadline, systemClock } from "../src/clock.js";

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
