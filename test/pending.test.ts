import { getEventListeners } from "node:events";
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

  it.each(["resolve", "reject", "discard", "timeout"] as const)(
    "a request that has left (%s) lets go of its body, frame and done, which runs once",
    (how) => {
      // A settled request may sit dead in the old generation until a full collection: what it
      // still points to would be promoted with it (the caller's body and promise among them).
      const clock = new FakeClock();
      const p = make(clock);
      const { outcomes, init: i } = init({ body: "the body", data: "the frame" });
      const request = p.add(i);
      if (how === "resolve") p.resolve(request, "answer");
      else if (how === "reject") p.reject(request, new Error("no"));
      else if (how === "discard") p.discard(request);
      else clock.advance(100);
      expect(outcomes).toHaveLength(how === "discard" ? 0 : 1);
      expect(request.body).toBeUndefined();
      expect(request.data).toBe("");
      expect(request.done).not.toBe(i.done);
      p.resolve(request, "again");
      p.reject(request, new Error("again"));
      expect(outcomes).toHaveLength(how === "discard" ? 0 : 1);
    },
  );

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

describe("PendingRegistry: both indexes, empty ones, and misses (mutation audit)", () => {
  it("size, hasId and has() count and see requests with and without an id, and an empty registry has none", () => {
    const reg = new PendingRegistry<string>();
    const a = { body: "a", id: 1, seq: 0 };
    const b = { body: "b", id: undefined, seq: 1 };
    expect([reg.size, reg.hasId(1), reg.has(a), reg.has(b)]).toEqual([0, false, false, false]);
    reg.add(a);
    reg.add(b);
    expect([reg.size, reg.hasId(1), reg.hasId(2), reg.has(a), reg.has(b)]).toEqual([
      2,
      true,
      false,
      true,
      true,
    ]);
    expect(reg.has({ body: "a2", id: 1, seq: 2 })).toBe(false); // another request with a's id
  });

  it("remove() takes out a request with an id, leaves another holding the same id, and ignores an empty registry", () => {
    const reg = new PendingRegistry<string>();
    reg.remove({ body: "x", id: undefined, seq: 0 });
    reg.remove({ body: "x", id: 1, seq: 0 });
    const a = { body: "a", id: 1, seq: 0 };
    reg.add(a);
    reg.remove({ body: "impostor", id: 1, seq: 1 });
    expect(reg.has(a)).toBe(true);
    reg.remove(a);
    expect([reg.size, reg.hasId(1)]).toEqual([0, false]);
  });

  it("find() returns the first request the matcher accepts, and nothing without a matcher or without requests lacking an id", () => {
    const reg = new PendingRegistry<string>();
    const a = { body: "a", id: 1, seq: 0 };
    expect(reg.find(undefined, () => true)).toBeUndefined();
    reg.add(a);
    expect(reg.find(99, () => true)).toBeUndefined(); // a has an id: only its id finds it
    const b = { body: "b", id: undefined, seq: 1 };
    const c = { body: "c", id: undefined, seq: 2 };
    reg.add(b);
    reg.add(c);
    expect(reg.find(99, undefined)).toBeUndefined();
    expect(reg.find(undefined, (body) => body === "c")).toBe(c);
  });

  it("entries() with requests without an id only", () => {
    const reg = new PendingRegistry<string>();
    reg.add({ body: "b", id: undefined, seq: 1 });
    reg.add({ body: "a", id: undefined, seq: 0 });
    expect(reg.entries().map((e) => e.body)).toEqual(["a", "b"]);
  });
});

describe("PendingRequests: messages, listeners, and deadline timers that fire late (mutation audit)", () => {
  const now: Transitions = { run: (self, step, ...args) => step.apply(self, args) };
  type Outcome = [Error | undefined, string | undefined, number];
  function setup() {
    const clock = new FakeClock();
    const left: unknown[] = [];
    const p = new PendingRequests<string, string, string>(clock, { cancel: (q) => left.push(q) }, now);
    const outcomes: Outcome[] = [];
    const add = (body: string, over: { timeoutMs?: number; signal?: AbortSignal; id?: number } = {}) =>
      p.add({
        body,
        id: over.id,
        timeoutMs: over.timeoutMs ?? 100,
        signal: over.signal,
        retryOnReconnect: false,
        data: body,
        done: (e, r) => void outcomes.push([e, r ?? body, clock.now()]),
      });
    return { clock, left, p, outcomes, add };
  }

  it("the timeout's message gives the timeout and says whether the request was ever sent", () => {
    const { clock, outcomes, add } = setup();
    add("queued");
    add("sent").sent = true;
    clock.advance(100);
    expect(outcomes.map(([e]) => e?.message)).toEqual([
      "request timed out after 100 ms (still queued, never sent)",
      "request timed out after 100 ms (no response)",
    ]);
  });

  it("an aborted request's error says so and has the signal's reason as cause; settling removes the abort listener", () => {
    const { outcomes, add, p } = setup();
    const ac = new AbortController();
    const reason = new Error("user left");
    add("a", { signal: ac.signal });
    ac.abort(reason);
    expect(outcomes[0]?.[0]).toMatchObject({
      code: "ERR_ABORTED",
      message: "request aborted by its signal",
      cause: reason,
    });
    const other = new AbortController();
    p.resolve(add("b", { signal: other.signal }), "resp");
    expect(getEventListeners(other.signal, "abort")).toHaveLength(0);
  });

  it("entries() lists requests oldest first; one without a deadline or a queue slot settles without touching either", () => {
    const { p, left, add } = setup();
    add("a");
    add("b", { id: 7 });
    const c = add("c", { timeoutMs: 0 });
    expect(p.entries().map((r) => r.body)).toEqual(["a", "b", "c"]);
    p.resolve(c, "x");
    p.stopTimers();
    expect(left).toEqual([]);
    expect(p.size).toBe(2);
  });

  it("stopTimers() with no request ever timed is fine", () => {
    const { p, clock } = setup();
    p.stopTimers();
    expect(clock.pending).toBe(0);
  });

  it("settling a request from the middle of a deadline list leaves the ones before it to time out on time", () => {
    const { clock, p, outcomes, add } = setup();
    add("a");
    clock.advance(10);
    const b = add("b");
    clock.advance(10);
    add("c");
    p.resolve(b, "x");
    clock.advance(80);
    expect(outcomes.map(([, r, at]) => `${r}@${at}`)).toEqual(["x@20", "a@100"]);
    clock.advance(20);
    expect(outcomes.map(([, r, at]) => `${r}@${at}`)).toEqual(["x@20", "a@100", "c@120"]);
  });

  it("on time, a deadline is judged at once: one timer for one request", () => {
    const { clock, outcomes, add } = setup();
    add("a");
    clock.advance(100);
    expect(outcomes.map(([e, , at]) => [(e as { code?: string })?.code, at])).toEqual([
      ["ERR_REQUEST_TIMEOUT", 100],
    ]);
    expect(clock.created).toBe(1);
  });

  it("a timer that fires late judges one turn later: a response read in between still resolves the request", () => {
    const { clock, p, outcomes, add } = setup();
    clock.lateByMs = 0.5;
    const a = add("a");
    clock.advance(100.5); // fired late: not judged yet
    expect(outcomes).toEqual([]);
    p.resolve(a, "answer");
    clock.advance(10);
    expect(outcomes).toEqual([[undefined, "answer", 100.5]]);
  });

  it("late, only the requests due when the timer fired time out in the extra turn; a later one gets its own", () => {
    const { clock, p, outcomes, add } = setup();
    clock.lateByMs = 0.5;
    add("a"); // due 100
    clock.advance(0.7);
    const b = add("b"); // due 100.7, after the late firing at 100.5
    clock.advance(100.5 - 0.7); // t = 100.5: a's timer fires late
    expect(outcomes).toEqual([]);
    clock.advance(0.5); // t = 101: the extra turn judges a only
    expect(outcomes.map(([e, r, at]) => [(e as { code?: string })?.code, r, at])).toEqual([
      ["ERR_REQUEST_TIMEOUT", "a", 101],
    ]);
    p.resolve(b, "in time"); // read before b's own extra turn
    clock.advance(10);
    expect(outcomes.map(([, r, at]) => `${r}@${at}`)).toEqual(["a@101", "in time@101"]);
    expect(clock.pending).toBe(0);
  });
});

describe("PendingRequests: more rows the mutation audit found open", () => {
  const now: Transitions = { run: (self, step, ...args) => step.apply(self, args) };
  function setup() {
    const clock = new FakeClock();
    const left: unknown[] = [];
    const p = new PendingRequests<string, string, string>(clock, { cancel: (q) => left.push(q) }, now);
    const outcomes: string[] = [];
    const add = (body: string, over: { timeoutMs?: number; id?: number; done?: () => void } = {}) =>
      p.add({
        body,
        id: over.id,
        timeoutMs: over.timeoutMs ?? 100,
        signal: undefined,
        retryOnReconnect: false,
        data: body,
        done: (e, r) => {
          outcomes.push(`${e ? (e as { code?: string }).code : r}@${clock.now()}`);
          over.done?.();
        },
      });
    return { clock, left, p, outcomes, add };
  }

  it("entries() with requests with an id only; hasId() sees them", () => {
    const { p, add } = setup();
    add("a", { id: 1 });
    add("b", { id: 2 });
    expect(p.entries().map((r) => r.body)).toEqual(["a", "b"]);
    expect([p.hasId(1), p.hasId(3)]).toEqual([true, false]);
  });

  it("discard() forgets a request without settling it, and frees its queue slot", () => {
    const { p, left, outcomes, add, clock } = setup();
    const r = add("a");
    r.queued = "slot";
    p.discard(r);
    clock.advance(1000);
    expect([p.size, outcomes, left]).toEqual([0, [], ["slot"]]);
  });

  it("on time, two deadlines in one list take one timer each, with no extra turn", () => {
    const { clock, outcomes, add } = setup();
    add("a");
    clock.advance(50);
    add("b");
    clock.advance(100);
    expect(outcomes).toEqual(["ERR_REQUEST_TIMEOUT@100", "ERR_REQUEST_TIMEOUT@150"]);
    expect(clock.created).toBe(2);
  });

  it("late, a request whose deadline passed while the extra turn waited times out in a turn of its own", () => {
    const { clock, outcomes, add } = setup();
    clock.lateByMs = 0.5;
    add("a"); // due 100: fires at 100.5, judged at 101
    clock.advance(0.7);
    add("b"); // due 100.7: past by the extra turn at 101, so judged one turn later
    clock.advance(1000);
    expect(outcomes).toEqual(["ERR_REQUEST_TIMEOUT@101", "ERR_REQUEST_TIMEOUT@101.5"]);
  });

  it("a list re-armed after a timeout keeps one timer: a request joining it adds none, and stopTimers() clears it", () => {
    const { clock, p, add, outcomes } = setup();
    add("a");
    clock.advance(50);
    add("b");
    clock.advance(50); // a times out; the list re-arms for b
    add("c");
    expect(clock.created).toBe(2);
    p.stopTimers();
    expect(clock.pending).toBe(0);
    expect(outcomes).toEqual(["ERR_REQUEST_TIMEOUT@100"]);
  });

  it("stopTimers() from a timeout's own callback leaves no timer, though requests remain", () => {
    const { clock, p, add } = setup();
    add("a", { done: () => p.stopTimers() });
    clock.advance(50);
    add("b");
    clock.advance(50);
    expect(p.size).toBe(1);
    expect(clock.pending).toBe(0);
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
