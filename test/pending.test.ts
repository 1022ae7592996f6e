import { describe, expect, it } from "vitest";
import { PendingRequests, type Transitions } from "../src/pending.js";
import { PendingRegistry } from "../src/pending-registry.js";
import { FakeClock } from "./helpers/fake-clock.js";

describe("PendingRegistry", () => {
  it("finds by id in O(1) before trying the matcher", () => {
    const reg = new PendingRegistry<string>();
    const a = { body: "a", id: 1, seq: 0 };
    const b = { body: "b", id: undefined, seq: 1 };
    reg.add(a);
    reg.add(b);
    let calls = 0;
    expect(
      reg.find(1, () => {
        calls++;
        return true;
      }),
    ).toBe(a);
    expect(calls).toBe(0);
  });

  it("a response whose id matches nothing still falls through to the matcher", () => {
    const reg = new PendingRegistry<string>();
    const b = { body: "b", id: undefined, seq: 0 };
    reg.add(b);
    expect(reg.find(99, (req) => req === "b")).toBe(b);
  });

  it("tries entries without an id oldest first", () => {
    const reg = new PendingRegistry<string>();
    const first = { body: "x", id: undefined, seq: 0 };
    const second = { body: "x", id: undefined, seq: 1 };
    reg.add(first);
    reg.add(second);
    expect(reg.find(undefined, () => true)).toBe(first);
    reg.remove(first);
    expect(reg.find(undefined, () => true)).toBe(second);
  });

  it("entries() lists both indexes in creation order", () => {
    const reg = new PendingRegistry<string>();
    reg.add({ body: "a", id: undefined, seq: 2 });
    reg.add({ body: "b", id: 7, seq: 1 });
    reg.add({ body: "c", id: undefined, seq: 0 });
    expect(reg.entries().map((e) => e.body)).toEqual(["c", "b", "a"]);
  });
});

describe("PendingRequests", () => {
  /** Runs each timeout and abort at once, so `done` callbacks run inside them (the registry must cope). */
  const now: Transitions = { run: (self, step, ...args) => step.apply(self, args) };
  const make = (clock: FakeClock, left: unknown[] = []) =>
    new PendingRequests<string, string, string>(clock, { cancel: (q) => left.push(q) }, now);
  const init = (over: Partial<Parameters<PendingRequests<string, string>["add"]>[0]> = {}) => {
    const outcomes: Array<[Error | undefined, string | undefined]> = [];
    return {
      outcomes,
      init: {
        body: "req",
        id: undefined,
        timeoutMs: 100,
        signal: undefined,
        retryOnReconnect: false,
        data: "req",
        done: (e: Error | undefined, r: string | undefined) => outcomes.push([e, r]),
        ...over,
      },
    };
  };

  it("times out with ERR_REQUEST_TIMEOUT and leaves no timer", () => {
    const clock = new FakeClock();
    const p = make(clock);
    const { outcomes, init: i } = init();
    p.add(i);
    clock.advance(99);
    expect(outcomes).toHaveLength(0);
    clock.advance(1);
    expect(outcomes[0]?.[0]).toMatchObject({ code: "ERR_REQUEST_TIMEOUT" });
    expect(p.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it("requests with the same timeout share one timer, expire in order, and leave none behind", () => {
    const clock = new FakeClock();
    const p = make(clock);
    const outcomes: string[] = [];
    const requests = [];
    for (let i = 0; i < 100; i++) {
      const { init: i2 } = init({
        done: (e: Error | undefined) => void outcomes.push(`${i}:${e ? "timeout" : "ok"}`),
      });
      requests.push(p.add(i2));
      clock.advance(1);
    }
    // t=100: request 0 (created at t=0) has just timed out.
    expect(outcomes).toEqual(["0:timeout"]);
    expect(clock.pending).toBe(1);
    p.resolve(requests[1]!, "in time");
    clock.advance(10); // t=110: requests 2..10 (created at t=2..10) have timed out
    expect(outcomes).toEqual([
      "0:timeout",
      "1:ok",
      ...Array.from({ length: 9 }, (_, k) => `${k + 2}:timeout`),
    ]);
    expect(clock.pending).toBe(1);
    clock.advance(1000);
    expect(outcomes).toHaveLength(100);
    expect(clock.pending).toBe(0);
  });

  it("a request added by a callback that a timeout fires does not delay the timeouts still waiting", () => {
    const clock = new FakeClock();
    const p = make(clock);
    const outcomes: string[] = [];
    // t=0: a (deadline 100); t=50: b (deadline 150). At t=100, a's timeout fires a callback that
    // adds c (deadline 200): b must still time out at 150, not at c's 200.
    p.add(
      init({
        done: () => {
          outcomes.push(`a ${clock.now()}`);
          p.add(init({ done: () => void outcomes.push(`c ${clock.now()}`) }).init);
        },
      }).init,
    );
    clock.advance(50);
    p.add(init({ done: () => void outcomes.push(`b ${clock.now()}`) }).init);
    clock.advance(300);
    expect(outcomes).toEqual(["a 100", "b 150", "c 200"]);
    expect(clock.pending).toBe(0);
  });

  it("different timeouts get their own timer; once settled, the timers lapse without effect or stopTimers() clears them", () => {
    const clock = new FakeClock();
    const p = make(clock);
    const a = init({ timeoutMs: 100 });
    const b = init({ timeoutMs: 500 });
    p.add(a.init);
    const rb = p.add(b.init);
    expect(clock.pending).toBe(2);
    p.resolve(p.find(undefined, () => true)!, "x");
    p.reject(rb, new Error("gone"));
    // An emptied list keeps its timer (no clear/set per request); it fires once, finds nothing.
    expect(clock.pending).toBe(2);
    clock.advance(100);
    expect(clock.pending).toBe(1);
    expect(a.outcomes).toEqual([[undefined, "x"]]);
    expect(b.outcomes).toHaveLength(1);
    p.stopTimers();
    expect(clock.pending).toBe(0);
    clock.advance(1000);
    expect(a.outcomes).toHaveLength(1);
    expect(b.outcomes).toHaveLength(1);
  });

  it("a lingering timer re-arms for a request added after the list emptied, which times out on its own deadline", () => {
    const clock = new FakeClock();
    const p = make(clock);
    p.resolve(p.add(init({ timeoutMs: 100 }).init), "x"); // list empty, timer left for t=100
    clock.advance(60);
    const late = init({ timeoutMs: 100 });
    p.add(late.init); // deadline t=160
    expect(clock.pending).toBe(1); // the lingering timer serves it
    clock.advance(40); // t=100: early for it, re-arms
    expect(late.outcomes).toHaveLength(0);
    expect(clock.pending).toBe(1);
    clock.advance(59);
    expect(late.outcomes).toHaveLength(0);
    clock.advance(1); // t=160
    expect(late.outcomes[0]?.[0]).toMatchObject({ code: "ERR_REQUEST_TIMEOUT" });
    expect(clock.pending).toBe(0);
  });

  it.each([0, Number.POSITIVE_INFINITY])("timeout %d waits forever, without arming a timer", (timeoutMs) => {
    const clock = new FakeClock();
    const p = make(clock);
    const { outcomes, init: i } = init({ timeoutMs });
    p.add(i);
    expect(clock.created).toBe(0);
    clock.advance(1e9);
    expect(outcomes).toHaveLength(0);
    expect(clock.pending).toBe(0);
  });

  it("settles exactly once: a resolve after a timeout is ignored", () => {
    const clock = new FakeClock();
    const p = make(clock);
    const { outcomes, init: i } = init();
    const r = p.add(i);
    clock.advance(100);
    p.resolve(r, "late");
    p.reject(r, new Error("again"));
    expect(outcomes).toHaveLength(1);
  });

  it("abort rejects with ERR_ABORTED, removes the listener and the queue slot", () => {
    const clock = new FakeClock();
    const left: unknown[] = [];
    const p = make(clock, left);
    const ac = new AbortController();
    const { outcomes, init: i } = init({ signal: ac.signal });
    const r = p.add(i);
    r.queued = "slot";
    ac.abort();
    expect(outcomes[0]?.[0]).toMatchObject({ code: "ERR_ABORTED" });
    expect(left).toEqual(["slot"]);
    clock.advance(1e9); // its deadline timer lapses without a second outcome
    expect(outcomes).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });

  it("resolving disarms the deadline and removes the abort listener", () => {
    const clock = new FakeClock();
    const p = make(clock);
    const ac = new AbortController();
    const { outcomes, init: i } = init({ signal: ac.signal });
    const r = p.add(i);
    p.resolve(r, "resp");
    ac.abort();
    clock.advance(1e9);
    expect(outcomes).toEqual([[undefined, "resp"]]);
    expect(clock.pending).toBe(0);
  });
});
