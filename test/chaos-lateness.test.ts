/**
 * The chaos run's timer accounting (chaos/lateness.ts), which its dead-peer detection bound
 * allows for: a timer counts from the heartbeat's own reading of the clock, not from when it
 * was set, so time the process spent between the two (a GC pause while a ping was sent) is
 * lateness, not a detection over its bound.
 */

import { describe, expect, it } from "vitest";
import { type Fire, lateness, RecordingClock } from "../chaos/lateness.js";

/** Burns the CPU for `ms` (a stand-in for a pause between reading the clock and arming). */
const busy = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

describe("RecordingClock", () => {
  it("a timer set in a fire counts from that fire's last reading, however long ago it was taken", async () => {
    const clock = new RecordingClock();
    const fired = await new Promise<Fire>((resolve) => {
      clock.setTimeout(() => {
        clock.now(); // the heartbeat's reading, then a pause before it arms
        busy(10);
        clock.setTimeout(() => resolve(clock.current!), 1);
      }, 0);
    });
    expect(fired.parent, "armed by the first fire").toBeDefined();
    // At least the pause, less the 1 ms asked for and the reading's fraction (the due time is a
    // whole ms), and less what libuv's cached loop time lets the timer fire early.
    expect(lateness(fired), "the pause counts as lateness").toBeGreaterThanOrEqual(7);
  });

  it("a timer set outside any fire, long after the last reading, counts from when it was set", async () => {
    const clock = new RecordingClock();
    clock.now();
    busy(8);
    const set = performance.now();
    const fired = await new Promise<Fire>((resolve) => clock.setTimeout(() => resolve(clock.current!), 20));
    expect(fired.due, "20 ms after it was set, not after the old reading").toBeGreaterThanOrEqual(
      Math.floor(set) + 20,
    );
    expect(fired.parent).toBeUndefined();
  });
});
