import { describe, expect, it } from "vitest";
import { OutboundQueue } from "../src/queue.js";

describe("OutboundQueue", () => {
  it("keeps FIFO order", () => {
    const q = new OutboundQueue({ maxMessages: 10, maxBytes: 100 });
    q.push("a", 1);
    q.push("b", 1);
    q.push("c", 1);
    expect([q.shift()?.data, q.shift()?.data, q.shift()?.data, q.shift()]).toEqual([
      "a",
      "b",
      "c",
      undefined,
    ]);
  });

  it("refuses a message over the count bound and keeps what it has", () => {
    const q = new OutboundQueue({ maxMessages: 2, maxBytes: 100 });
    q.push("a", 1);
    q.push("b", 1);
    expect(q.push("c", 1)).toBeUndefined();
    expect(q.drain().map((i) => i.data)).toEqual(["a", "b"]);
  });

  it("refuses a message over the byte bound", () => {
    const q = new OutboundQueue({ maxMessages: 10, maxBytes: 5 });
    expect(q.push("abcd", 4)).toBeDefined();
    expect(q.push("xy", 2)).toBeUndefined();
    expect(q.push("x", 1)).toBeDefined();
    expect(q.bytes).toBe(5);
  });

  it("refuses everything with maxMessages 0 (queueing off)", () => {
    const q = new OutboundQueue({ maxMessages: 0, maxBytes: 0 });
    expect(q.fits(0)).toBe(false);
  });

  it("a cancelled item is skipped and frees its room", () => {
    const q = new OutboundQueue({ maxMessages: 2, maxBytes: 100 });
    const a = q.push("a", 3)!;
    q.push("b", 1);
    q.cancel(a);
    expect(q.size).toBe(1);
    expect(q.bytes).toBe(1);
    expect(q.push("c", 1)).toBeDefined();
    expect(q.drain().map((i) => i.data)).toEqual(["b", "c"]);
  });

  it("a frame taken to be sent is out of the queue: cancelling it then changes no count; put back, it counts again", () => {
    // A request or a signal aborted while its frame is being handed to the socket (from a
    // `sent` subscriber) cancels an item the queue no longer holds.
    const q = new OutboundQueue({ maxMessages: 10, maxBytes: 100 });
    q.push("a", 1);
    q.push("bb", 2);
    const a = q.shift()!;
    q.cancel(a);
    expect([q.size, q.bytes]).toEqual([1, 2]);
    q.unshift([a]);
    expect([q.size, q.bytes]).toEqual([2, 3]);
    q.cancel(a);
    expect([q.size, q.bytes]).toEqual([1, 2]);
  });

  it("unshift puts items back at the front even past the bound", () => {
    const q = new OutboundQueue({ maxMessages: 1, maxBytes: 100 });
    q.push("later", 1);
    const items = [
      {
        data: "first",
        bytes: 1,
        owner: undefined,
        cancelled: false,
        body: undefined,
        expiresAt: 0,
        signal: undefined,
      },
      {
        data: "second",
        bytes: 1,
        owner: undefined,
        cancelled: false,
        body: undefined,
        expiresAt: 0,
        signal: undefined,
      },
    ];
    q.unshift(items);
    expect(q.size).toBe(3);
    expect(q.drain().map((i) => i.data)).toEqual(["first", "second", "later"]);
  });
});

describe("OutboundQueue: counts, cancels and the frames already taken", () => {
  it("shift skips a cancelled item and takes its count and bytes off", () => {
    const q = new OutboundQueue({ maxMessages: 10, maxBytes: 100 });
    const a = q.push("a", 3)!;
    q.push("b", 5);
    q.push("c", 7);
    q.cancel(a);
    expect(q.shift()?.data).toBe("b");
    expect([q.size, q.bytes]).toEqual([1, 7]);
    expect(q.shift()?.data).toBe("c");
    expect([q.size, q.bytes]).toEqual([0, 0]);
    expect(q.shift()).toBeUndefined();
  });

  it("cancelling an item twice frees its room once", () => {
    const q = new OutboundQueue({ maxMessages: 10, maxBytes: 100 });
    const a = q.push("a", 3)!;
    q.push("b", 5);
    q.cancel(a);
    q.cancel(a);
    expect([q.size, q.bytes]).toEqual([1, 5]);
  });

  it("onEmpty is told once, when a cancel takes out the last frame", () => {
    const q = new OutboundQueue({ maxMessages: 10, maxBytes: 100 });
    let told = 0;
    q.onEmpty = () => void told++;
    const a = q.push("a", 1)!;
    const b = q.push("b", 1)!;
    q.cancel(a);
    expect(told).toBe(0);
    q.cancel(b);
    expect(told).toBe(1);
  });

  it("a cancel that empties the queue is fine with no onEmpty", () => {
    const q = new OutboundQueue({ maxMessages: 10, maxBytes: 100 });
    q.cancel(q.push("a", 1)!);
    expect(q.size).toBe(0);
  });

  it("unshift and drain never bring back frames already taken, and unshift counts the bytes it puts back", () => {
    const q = new OutboundQueue({ maxMessages: 10, maxBytes: 100 });
    q.push("a", 1);
    q.push("b", 2);
    q.push("c", 4);
    const a = q.shift()!;
    expect(q.drain().map((i) => i.data)).toEqual(["b", "c"]);
    q.push("d", 8);
    q.push("e", 16);
    q.shift();
    q.unshift([a]);
    expect([q.size, q.bytes]).toEqual([2, 17]);
    expect(q.drain().map((i) => i.data)).toEqual(["a", "e"]);
  });

  it("live() yields every live frame from the oldest not taken, and a cancel on the way is safe", () => {
    const q = new OutboundQueue({ maxMessages: 10, maxBytes: 100 });
    q.push("a", 1);
    const b = q.push("b", 1)!;
    q.push("c", 1);
    const d = q.push("d", 1)!;
    q.shift();
    q.cancel(b);
    const seen: unknown[] = [];
    for (const item of q.live()) {
      seen.push(item.data);
      if (item.data === "c") q.cancel(d);
    }
    expect(seen).toEqual(["c"]);
    expect([...q.live()].map((i) => i.data)).toEqual(["c"]);
  });

  it("many cancels among a few live frames: the live ones keep their order, count and bytes; one taken stays out; live() on the way is safe", () => {
    // Cancelled frames are let go once they outnumber the live ones (conn-delivery.test.ts
    // shows the memory); what stays queued must be untouched by that.
    const q = new OutboundQueue({ maxMessages: 1000, maxBytes: 10_000 });
    const taken = q.push("taken", 5)!;
    expect(q.shift()).toBe(taken);
    const items = Array.from({ length: 100 }, (_, i) => q.push(`m${i}`, i % 7)!);
    const live = items.filter((_, i) => i % 10 === 3);
    const seen: unknown[] = [];
    for (const item of q.live()) {
      seen.push(item.data);
      if (item === items[0]) for (const other of items) if (!live.includes(other)) q.cancel(other);
    }
    expect(seen).toEqual(["m0", ...live.map((i) => i.data)]);
    q.cancel(taken); // out of the queue: changes nothing
    expect([q.size, q.bytes]).toEqual([live.length, live.reduce((n, i) => n + i.bytes, 0)]);
    q.unshift([taken]);
    expect([...q.live()].map((i) => i.data)).toEqual(["taken", ...live.map((i) => i.data)]);
    const out: unknown[] = [];
    for (let item = q.shift(); item !== undefined; item = q.shift()) out.push(item.data);
    expect(out).toEqual(["taken", ...live.map((i) => i.data)]);
    expect([q.size, q.bytes]).toEqual([0, 0]);
  });

  it("clear() forgets every frame", () => {
    const q = new OutboundQueue({ maxMessages: 10, maxBytes: 100 });
    q.push("a", 1);
    q.push("b", 2);
    q.clear();
    expect([q.size, q.bytes, q.shift(), [...q.live()]]).toEqual([0, 0, undefined, []]);
  });
});
