import { describe, expect, it } from "vitest";
import { parseRetryAfter } from "../src/retry-after.js";

const now = Date.parse("Sun, 06 Dec 2026 14:00:00 GMT");

describe("parseRetryAfter", () => {
  it.each([
    ["delta-seconds", "2", 2000],
    ["zero seconds", "0", 0],
    ["leading zeros", "007", 7000],
    ["surrounding spaces", " 120 ", 120_000],
    ["a large delta (the policy caps it, not the parser)", "86400", 86_400_000],
    ["IMF-fixdate 30 s ahead", "Sun, 06 Dec 2026 14:00:30 GMT", 30_000],
    ["IMF-fixdate in lower case", "sun, 06 dec 2026 14:00:30 gmt", 30_000],
    ["RFC 850 date", "Sunday, 06-Dec-26 14:01:00 GMT", 60_000],
    ["asctime date (GMT, though it names no zone)", "Sun Dec  6 14:00:05 2026", 5000],
    ["a date in the past means now", "Sun, 06 Dec 2026 13:59:00 GMT", 0],
    ["the first of repeated headers", ["3", "9"], 3000],
  ] as const)("%s: %j -> %d ms", (_name, value, ms) => {
    expect(parseRetryAfter(value as string | string[], now)).toBe(ms);
  });

  it.each([
    ["absent", undefined],
    ["empty", ""],
    ["blank", "   "],
    ["a fraction", "1.5"],
    ["a sign", "-1"],
    ["a plus sign", "+5"],
    ["a unit", "5s"],
    ["words", "later"],
    ["a loose date Date.parse would read", "foo 12"],
    ["an ISO date (not an HTTP date)", "2026-12-06T14:00:30Z"],
    ["an impossible day", "Sun, 32 Dec 2026 14:00:30 GMT"],
    ["a date with another zone", "Sun, 06 Dec 2026 14:00:30 CET"],
    ["no repeated header", []],
  ] as const)("%s (%j) sets no wait", (_name, value) => {
    expect(parseRetryAfter(value as string | string[] | undefined, now)).toBeUndefined();
  });
});

describe("parseRetryAfter: one of the three date forms, whole", () => {
  it("an asctime date with a two-digit day", () => {
    expect(parseRetryAfter("Sun Dec 06 14:00:05 2026", now)).toBe(5000);
    expect(parseRetryAfter("Thu Dec 10 14:00:00 2026", now)).toBe(4 * 86_400_000);
  });

  it.each([
    ["text before an IMF-fixdate", "x Sun, 06 Dec 2026 14:00:30 GMT"],
    ["an offset after an IMF-fixdate", "Sun, 06 Dec 2026 14:00:30 GMT+0100"],
    ["text before an RFC 850 date", "x Sunday, 06-Dec-26 14:01:00 GMT"],
    ["an offset after an RFC 850 date", "Sunday, 06-Dec-26 14:01:00 GMT+0100"],
    ["text before an asctime date", "x Sun Dec  6 14:00:05 2026"],
    ["an offset after an asctime date", "Sun Dec  6 14:00:05 2026 +0100"],
  ])("%s (%j) sets no wait, though Date.parse reads it", (_name, value) => {
    expect(Number.isNaN(Date.parse(value)) && Number.isNaN(Date.parse(`${value} GMT`))).toBe(false);
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});
