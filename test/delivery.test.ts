/**
 * Delivery (src/delivery.ts) on a hand-driven clock: the rows conn-delivery.test.ts (real
 * sockets) leaves open: deadlines measured from the clock's reading, no clock read or timer
 * for a message without one, the timer re-armed for the earliest remaining deadline, a full
 * queue's exact fit, a deadline reached exactly, shared signals and their listeners, and what
 * the reports say.
 */
import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import type { Clock } from "../src/clock.js";
import { Delivery, type QueuePolicy } from "../src/delivery.js";
import { ErrorCode, type EvtWebSocketError } from "../src/errors.js";
import { OutboundQueue } from "../src/queue.js";
import type { ResolvedSend } from "../src/send-options.js";
import { FakeClock } from "./helpers/fake-clock.js";

function setup(policy: Partial<QueuePolicy> = {}, clock: Clock = new FakeClock()) {
  const full: QueuePolicy = { maxMessages: 100, maxBytes: 1000, overflow: "reject", maxAgeMs: 0, ...policy };
  const queue = new OutboundQueue(full);
  const errors: EvtWebSocketError[] = [];
  const steps = {
    run: <T, A extends unknown[]>(self: T, step: (this: T, ...args: A) => void, ...args: A) =>
      step.apply(self, args),
    emit: (event: "error", error: EvtWebSocketError) => {
      expect(event).toBe("error");
      errors.push(error);
    },
  };
  const delivery = new Delivery(queue, clock, full, steps, {});
  const send = (body: string, options?: Partial<ResolvedSend>) =>
    delivery.enqueue(
      body,
      body.length,
      body,
      options && { volatile: false, signal: undefined, maxAgeMs: 0, ...options },
    );
  const queued = () => [...queue.live()].map((i) => i.body);
  const reported = () => errors.map((e) => `${e.code} ${String(e.details?.message)}`);
  return { queue, delivery, errors, send, queued, reported };
}

describe("Delivery: deadlines", () => {
  it("a deadline counts from the clock's reading when the message is queued", () => {
    const clock = new FakeClock();
    clock.advance(1000);
    const { send, queued, reported } = setup({ maxAgeMs: 100 }, clock);
    send("a");
    clock.advance(99);
    expect(queued()).toEqual(["a"]);
    clock.advance(1);
    expect(queued()).toEqual([]);
    expect(reported()).toEqual([`${ErrorCode.QUEUE_EXPIRED} a`]);
  });

  it("a message without a deadline reads no clock and sets no timer", () => {
    const fake = new FakeClock();
    let reads = 0;
    const clock: Clock = {
      now: () => {
        reads++;
        return fake.now();
      },
      setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
      clearTimeout: (h) => fake.clearTimeout(h),
    };
    const { send } = setup({}, clock);
    send("a");
    send("b", { maxAgeMs: 0 });
    expect(reads).toBe(0);
    expect(fake.created).toBe(0);
  });

  it("after the earliest deadline, the timer is re-armed for the earliest one left, not the last queued", () => {
    const clock = new FakeClock();
    const { send, queued } = setup({}, clock);
    send("a", { maxAgeMs: 100 });
    send("b", { maxAgeMs: 200 });
    send("c", { maxAgeMs: 300 });
    clock.advance(100);
    expect(queued()).toEqual(["b", "c"]);
    clock.advance(100);
    expect(queued()).toEqual(["c"]);
  });

  it("isDue: a message taken to be sent is due at its deadline exactly, not before; one without a deadline never", () => {
    const clock = new FakeClock();
    const { send, queue, delivery } = setup({}, clock);
    send("a", { maxAgeMs: 50 });
    send("b");
    const [a, b] = [...queue.live()];
    clock.sleep(49); // no timer fires: a frozen process
    expect(delivery.isDue(a!)).toBe(false);
    expect(delivery.isDue(b!)).toBe(false);
    delivery.stop();
    clock.sleep(1);
    expect(delivery.isDue(a!)).toBe(true);
  });
});

describe("Delivery: a full queue under drop-oldest", () => {
  it("a frame that fits exactly drops nothing; one byte more drops the oldest", () => {
    const { send, delivery, queued } = setup({ maxBytes: 10, overflow: "drop-oldest" });
    send("aaaaaa");
    expect(delivery.dropOldest(4)).toEqual([]);
    const dropped = delivery.dropOldest(5);
    expect(dropped?.map((i) => i.body)).toEqual(["aaaaaa"]);
    expect(queued()).toEqual([]);
  });

  it("the reports say why each message was dropped, with the message", () => {
    const clock = new FakeClock();
    const { send, delivery, errors } = setup({ maxMessages: 1, overflow: "drop-oldest", maxAgeMs: 0 }, clock);
    send("old");
    delivery.report(delivery.dropOldest(3)!, ErrorCode.QUEUE_FULL);
    send("new", { maxAgeMs: 10 });
    clock.advance(10);
    expect(errors.map((e) => [e.code, e.message, e.details])).toEqual([
      [
        ErrorCode.QUEUE_FULL,
        'the queue was full: its oldest message was dropped (overflow: "drop-oldest")',
        { message: "old" },
      ],
      [ErrorCode.QUEUE_EXPIRED, "a queued message expired (maxAgeMs) and was dropped", { message: "new" }],
    ]);
  });
});

/** Counts reads of the `signal` of each queue item it watches: what an abort looks at. */
function countSignalReads() {
  const reads = {
    count: 0,
    watch(item: { signal: AbortSignal | undefined }) {
      let signal = item.signal;
      Object.defineProperty(item, "signal", {
        get: () => {
          reads.count++;
          return signal;
        },
        set: (v) => {
          signal = v;
        },
      });
    },
  };
  return reads;
}

describe("Delivery: signals", () => {
  it("one listener per signal, removed when it aborts or when its last message leaves the queue", () => {
    const { send, queue, queued, delivery } = setup();
    const ac = new AbortController();
    send("a", { signal: ac.signal });
    send("b", { signal: ac.signal });
    expect(getEventListeners(ac.signal, "abort")).toHaveLength(1);
    ac.abort();
    expect(queued()).toEqual([]);
    expect(getEventListeners(ac.signal, "abort")).toHaveLength(0);

    const sent = new AbortController();
    send("c", { signal: sent.signal });
    const c = queue.shift()!;
    delivery.release(c); // sent: it forgets its signal
    expect(getEventListeners(sent.signal, "abort")).toHaveLength(0);
  });

  it("a message sent from a shared signal's group leaves the others to be taken out by its abort", () => {
    const { send, queue, queued, delivery } = setup();
    const ac = new AbortController();
    send("a", { signal: ac.signal });
    send("b", { signal: ac.signal });
    delivery.release(queue.shift()!); // a was sent
    expect(getEventListeners(ac.signal, "abort")).toHaveLength(1);
    ac.abort();
    expect(queued()).toEqual([]);
  });

  it("a message queued with a signal holds the signal, no function of its own, and lets go of it when it leaves", () => {
    // A closure per queued message lived as long as the message waited and was promoted with
    // it (bench/README.md, "Messages queued with a signal").
    const { send, queue, delivery } = setup();
    const ac = new AbortController();
    send("a", { signal: ac.signal });
    send("b", { signal: ac.signal });
    const [a, b] = [...queue.live()];
    for (const item of [a!, b!]) {
      expect(item.signal).toBe(ac.signal);
      expect(Object.values(item).filter((v) => typeof v === "function")).toEqual([]);
    }
    delivery.release(queue.shift()!);
    expect(a!.signal).toBeUndefined();
    expect(b!.signal).toBe(ac.signal);
  });

  it("an abort takes out only its own signal's messages, wherever they sit, and not one already taken to be sent", () => {
    const { send, queue, queued, delivery } = setup();
    const one = new AbortController();
    const two = new AbortController();
    send("a", { signal: one.signal });
    send("b", { signal: two.signal });
    send("c");
    send("d", { signal: one.signal });
    send("e", { signal: two.signal });
    const a = queue.shift()!; // being sent: the abort comes before it is released
    one.abort();
    expect(queued()).toEqual(["b", "c", "e"]);
    expect([queue.size, queue.bytes]).toEqual([3, 3]);
    delivery.release(a);
    two.abort();
    expect(queued()).toEqual(["c"]);
    expect([queue.size, queue.bytes]).toEqual([1, 1]);
    expect(getEventListeners(one.signal, "abort")).toHaveLength(0);
  });

  it("an abort looks at its own messages only, not at the rest of the queue", () => {
    // A pass over the whole queue per abort made 50,000 messages, each with its own signal and
    // aborted one by one, take 36 s instead of half a second.
    const { send, queue, queued } = setup({ maxMessages: 1000 });
    const controllers = Array.from({ length: 200 }, () => new AbortController());
    controllers.forEach((ac, i) => void send(`m${i}`, { signal: ac.signal }));
    const reads = countSignalReads();
    for (const item of queue.live()) reads.watch(item);
    controllers[150]!.abort();
    expect(reads.count).toBeLessThanOrEqual(2);
    expect(queued()).toHaveLength(199);
    expect(queued()).not.toContain("m150");
  });

  it("a signal shared by messages that keep coming and going looks at no more than about twice those queued when it aborts", () => {
    const { send, queue, queued, delivery } = setup({ maxMessages: 5000, maxBytes: 1e6 });
    const ac = new AbortController();
    const reads = countSignalReads();
    // 3,000 messages over time, two of every three sent before the next comes: 1,000 stay queued.
    for (let i = 0; i < 3000; i++) {
      send(`m${i}`, { signal: ac.signal });
      reads.watch([...queue.live()].at(-1)!);
      if (i % 3 !== 0) delivery.release(queue.shift()!);
    }
    expect(queue.size).toBe(1000);
    reads.count = 0;
    ac.abort();
    expect(queued()).toEqual([]);
    expect(reads.count).toBeLessThanOrEqual(2 * 1000 + 16);
  });
});

describe("Delivery: more rows the mutation audit found open", () => {
  it("a message without a deadline stays when another's deadline passes", () => {
    const clock = new FakeClock();
    const { send, queued, reported } = setup({}, clock);
    send("a");
    send("b", { maxAgeMs: 10 });
    clock.advance(10);
    expect(queued()).toEqual(["a"]);
    expect(reported()).toEqual([`${ErrorCode.QUEUE_EXPIRED} b`]);
  });

  it("once the last deadline has passed no timer is left; stop() clears a pending one", () => {
    const clock = new FakeClock();
    const { send, delivery } = setup({}, clock);
    send("a", { maxAgeMs: 10 });
    clock.advance(10);
    expect(clock.pending).toBe(0);
    send("b", { maxAgeMs: 10 });
    expect(clock.pending).toBe(1);
    delivery.stop();
    expect(clock.pending).toBe(0);
    clock.advance(100);
    expect(clock.fired).toBe(1); // the first message's timer only
  });

  it("messages sharing a deadline share its timer", () => {
    const clock = new FakeClock();
    const { send } = setup({ maxAgeMs: 10 }, clock);
    send("a");
    send("b");
    expect(clock.created).toBe(1);
  });

  it("a message queued at 1000 with maxAgeMs 100 is not due at 1050", () => {
    const clock = new FakeClock();
    clock.advance(1000);
    const { send, queue, delivery } = setup({ maxAgeMs: 100 }, clock);
    send("a");
    clock.advance(50);
    expect(delivery.isDue(queue.shift()!)).toBe(false);
  });

  it("under overflow reject, dropOldest drops nothing", () => {
    const { send, delivery, queued } = setup({ maxMessages: 1, overflow: "reject" });
    send("a");
    expect(delivery.dropOldest(1)).toBeUndefined();
    expect(queued()).toEqual(["a"]);
  });

  it("drop-oldest never drops a request, and drops nothing when dropping every plain message would not make room", () => {
    const { send, delivery, queue, queued } = setup({ maxBytes: 10, overflow: "drop-oldest" });
    queue.push("req", 6, { request: true }, "req");
    send("abc");
    expect(delivery.dropOldest(5)).toBeUndefined();
    expect(queued()).toEqual(["req", "abc"]);
    expect(delivery.dropOldest(4)?.map((i) => i.body)).toEqual(["abc"]);
    expect(queued()).toEqual(["req"]);
  });
});
