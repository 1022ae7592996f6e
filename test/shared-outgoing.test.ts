/**
 * `evtwebsocket/shared`'s held sends (src/shared/outgoing.ts) across a wall-clock jump
 * (reliability plan H-5): a message's `maxAgeMs` runs on the monotonic clock, so setting the
 * system time an hour on or back neither expires it nor stretches it. Chromium tests cover the
 * held sends between tabs (test/browser/shared-api.test.ts).
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { Outgoing } from "../src/shared/outgoing.js";

afterEach(() => void vi.useRealTimers());

describe("Outgoing, held sends with maxAgeMs", () => {
  it.each([
    ["an hour on", 3_600_000],
    ["an hour back", -3_600_000],
  ])("the wall clock set %s: the message keeps what is left of its maxAgeMs", (_, jumpMs) => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const out = new Outgoing({ post() {}, expired() {} });
    const held = out.add(1, "x", { volatile: false, signal: undefined, maxAgeMs: 60_000 });
    vi.setSystemTime(Date.now() + jumpMs);
    const wire = out.wire(held);
    expect(wire).not.toBe("expired");
    expect((wire as { maxAgeMs: number }).maxAgeMs).toBeGreaterThan(59_000);
    expect((wire as { maxAgeMs: number }).maxAgeMs).toBeLessThanOrEqual(60_000);
  });
});
