/**
 * SharedTimers (src/shared-timers.ts), the rows heartbeat.test.ts's SharedTimers tests leave
 * open: which error surfaces when several sleepers throw, and a sleeper re-armed for the time
 * being fired. On a hand-driven clock.
 */
import { describe, expect, it } from "vitest";
import { type Sleeper, sharedTimers } from "../src/shared-timers.js";
import { FakeClock } from "./helpers/fake-clock.js";

function sleeper(wake: (at: number) => void): Sleeper {
  return { wake, sleepSlot: undefined, sleepPrev: undefined, sleepNext: undefined };
}

describe("SharedTimers", () => {
  it("when several sleepers due at one time throw, all are woken and the first error surfaces", () => {
    const clock = new FakeClock();
    const timers = sharedTimers(clock);
    const woken: string[] = [];
    const thrower = (name: string) =>
      sleeper(() => {
        woken.push(name);
        throw new Error(name);
      });
    for (const s of [thrower("first"), thrower("second"), thrower("third")]) timers.add(s, 10, 0);
    expect(() => clock.advance(10)).toThrow(new Error("first"));
    expect(woken).toEqual(["first", "second", "third"]);
  });

  it("a sleeper that re-arms for the time being fired gets a new timer, which the rest of that time's list leaves armed", () => {
    const clock = new FakeClock();
    const timers = sharedTimers(clock);
    const woken: string[] = [];
    let again = true;
    const a = sleeper((at) => {
      woken.push(`a@${at}`);
      if (again) timers.add(a, at, at); // the same (now past) time
      again = false;
    });
    let armedWhenBWoke = -1;
    const b = sleeper((at) => {
      woken.push(`b@${at}`);
      armedWhenBWoke = timers.armed; // b, the last of the fired list, has left it: a's new time remains
    });
    timers.add(a, 20, 0);
    timers.add(b, 20, 0);
    clock.advance(20);
    expect(armedWhenBWoke).toBe(1);
    expect(woken).toEqual(["a@20", "b@20", "a@20"]);
    expect(timers.armed).toBe(0);
    expect(clock.pending).toBe(0);
  });
});
