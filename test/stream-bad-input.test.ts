/**
 * Bad input of the backpressure API: `messages()`'s options and the `lowWaterMark` /
 * `highWaterMark` options each get `ERR_INVALID_OPTION` naming the option, and a bad
 * `messages()` call leaves an open connection usable.
 */

import { describe, expect, it } from "vitest";
import { Conn, type ConnOptions, type MessagesOptions } from "../src/index.js";
import { conn, server } from "./helpers/harness.js";

const invalid = (name: string) =>
  expect.objectContaining({ code: "ERR_INVALID_OPTION", message: expect.stringContaining(name) });

describe("messages() options", () => {
  const bad: Array<[string, unknown, string]> = [
    ["bufferSize 0", { bufferSize: 0 }, "bufferSize"],
    ["a negative bufferSize", { bufferSize: -1 }, "bufferSize"],
    ["a fractional bufferSize", { bufferSize: 1.5 }, "bufferSize"],
    ["a bufferSize that is a string", { bufferSize: "8" }, "bufferSize"],
    ["a bufferSize of NaN", { bufferSize: Number.NaN }, "bufferSize"],
    ["a bufferSize of Infinity", { bufferSize: Number.POSITIVE_INFINITY }, "bufferSize"],
    ['overflow "drop-newest"', { overflow: "drop-newest" }, "overflow"],
    ["options that are not an object", 5, "options"],
  ];
  for (const [what, options, name] of bad) {
    it(`${what}: ERR_INVALID_OPTION naming ${name}`, () => {
      const c = new Conn();
      expect(() => c.messages(options as MessagesOptions)).toThrow(invalid(name));
    });
  }

  it("a bad call leaves an open connection usable, with no iterator subscribed", async () => {
    const s = await server({ onConnection: (ws) => ws.send("hello") });
    const heard: string[] = [];
    const c = conn({ onMessage: (m) => void heard.push(m) });
    expect(() => c.messages({ bufferSize: 0 })).toThrow(invalid("bufferSize"));
    const it = c.messages({ bufferSize: 1 });
    await c.dial(s.url);
    expect((await it.next()).value).toBe("hello");
    expect(heard).toEqual(["hello"]);
  });
});

describe("lowWaterMark / highWaterMark", () => {
  const bad: Array<[string, ConnOptions, string]> = [
    ["a negative lowWaterMark", { lowWaterMark: -1 }, "lowWaterMark"],
    ["a fractional lowWaterMark", { lowWaterMark: 1.5 }, "lowWaterMark"],
    ["a lowWaterMark that is a string", { lowWaterMark: "64k" as never }, "lowWaterMark"],
    ["a highWaterMark of NaN", { highWaterMark: Number.NaN }, "highWaterMark"],
    ["a highWaterMark of Infinity", { highWaterMark: Number.POSITIVE_INFINITY }, "highWaterMark"],
    ["lowWaterMark above highWaterMark", { lowWaterMark: 2048, highWaterMark: 1024 }, "lowWaterMark"],
  ];
  for (const [what, options, name] of bad) {
    it(`${what}: ERR_INVALID_OPTION naming ${name}`, () => {
      expect(() => new Conn(options)).toThrow(invalid(name));
    });
  }

  it("a highWaterMark under the default lowWaterMark lowers the low mark with it", () => {
    expect(() => new Conn({ highWaterMark: 1024 })).not.toThrow();
    expect(() => new Conn({ lowWaterMark: 0, highWaterMark: 0 })).not.toThrow();
  });
});
