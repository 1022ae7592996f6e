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
        release: undefined,
      },
      {
        data: "second",
        bytes: 1,
        owner: undefined,
        cancelled: false,
        body: undefined,
        expiresAt: 0,
        release: undefined,
      },
    ];
    q.unshift(items);
    expect(q.size).toBe(3);
    expect(q.drain().map((i) => i.data)).toEqual(["first", "second", "later"]);
  });
});
