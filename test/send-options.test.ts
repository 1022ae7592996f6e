/**
 * resolveSendOptions (src/send-options.ts) as a table: what counts as an AbortSignal (one of
 * another realm too, by its shape), and what the checked options hold. What the options do to
 * a queued message is pinned against real sockets in conn-delivery.test.ts.
 */
import { describe, expect, it } from "vitest";
import { resolveSendOptions } from "../src/send-options.js";

const noop = () => {};

describe("resolveSendOptions", () => {
  it("fills maxAgeMs in from queue.maxAgeMs, keeps the signal, and reads volatile as a boolean", () => {
    const signal = new AbortController().signal;
    expect(resolveSendOptions({}, 250)).toStrictEqual({ volatile: false, signal: undefined, maxAgeMs: 250 });
    expect(resolveSendOptions({ volatile: true, signal, maxAgeMs: 0 }, 250)).toStrictEqual({
      volatile: true,
      signal,
      maxAgeMs: 0,
    });
  });

  it("an object shaped like an AbortSignal (another realm's, a polyfill's) is accepted", () => {
    const foreign = { aborted: false, addEventListener: noop, removeEventListener: noop };
    expect(resolveSendOptions({ signal: foreign }, 0).signal).toBe(foreign);
  });

  it.each<[string, unknown]>([
    ["a plain object", {}],
    ["null", null],
    ["a string", "signal"],
    [
      "a function with a signal's properties",
      Object.assign(() => {}, { aborted: false, addEventListener: noop, removeEventListener: noop }),
    ],
    ["aborted not a boolean", { aborted: "no", addEventListener: noop, removeEventListener: noop }],
    ["no addEventListener", { aborted: false, removeEventListener: noop }],
    ["no removeEventListener", { aborted: false, addEventListener: noop }],
  ])("signal as %s is refused with ERR_INVALID_OPTION naming it", (_name, signal) => {
    expect(() => resolveSendOptions({ signal }, 0)).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_OPTION",
        message: "option signal of send() must be an AbortSignal",
      }),
    );
  });
});

describe("resolveSendOptions: the other refusals name what they refuse", () => {
  it.each<[unknown, string]>([
    [null, "send(): the second argument must be a callback or an options object, got null"],
    ["fast", 'send(): the second argument must be a callback or an options object, got "fast"'],
    [{ volatile: "yes" }, 'option volatile of send() must be a boolean, got "yes"'],
    [{ maxAgeMs: -1 }, "option maxAgeMs of send() must be a whole number of ms from 0 to 2147483647, got -1"],
  ])("%o: %s", (value, message) => {
    expect(() => resolveSendOptions(value, 0)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message }),
    );
  });
});
