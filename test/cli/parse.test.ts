/** The pure parsers behind the command line and `/close`. */

import { describe, expect, it } from "vitest";
import {
  displayUrl,
  parseCloseArgs,
  parseCount,
  parseDuration,
  parseHeader,
  parseMatch,
  parsePort,
  parseUrl,
  UsageError,
} from "../../src/cli/parse.js";

describe("parseDuration", () => {
  it.each([
    ["1.5", "s", 1500],
    ["0.2", "s", 200],
    [".5", "s", 500],
    ["500", "ms", 500],
    ["500ms", "s", 500],
    ["2s", "ms", 2000],
    ["1m", "s", 60_000],
    ["0", "s", 0],
  ] as const)("%s with unit %s is %d ms", (text, unit, ms) => {
    expect(parseDuration(text, unit)).toBe(ms);
  });

  it.each(["", "-1", "abc", "1h", "1.2.3", "s"])("rejects %j with a UsageError", (text) => {
    expect(() => parseDuration(text, "s")).toThrow(UsageError);
  });
});

describe("parseCount and parsePort", () => {
  it("a count is a whole number or inf", () => {
    expect(parseCount("0")).toBe(0);
    expect(parseCount("12")).toBe(12);
    expect(parseCount("inf")).toBe(Number.POSITIVE_INFINITY);
    expect(() => parseCount("2.5")).toThrow(/not a count/);
    expect(() => parseCount("-1")).toThrow(/not a count/);
  });

  it("a port is 0..65535", () => {
    expect(parsePort("0")).toBe(0);
    expect(parsePort("65535")).toBe(65535);
    expect(() => parsePort("65536")).toThrow(/not a port/);
    expect(() => parsePort("http")).toThrow(/not a port/);
  });
});

describe("parseHeader", () => {
  it("splits at the first colon and trims both sides", () => {
    expect(parseHeader("Authorization: Bearer a:b")).toEqual(["Authorization", "Bearer a:b"]);
    expect(parseHeader("X-Empty:")).toEqual(["X-Empty", ""]);
  });

  it.each(["no colon", ": value", "bad name: x"])("rejects %j", (text) => {
    expect(() => parseHeader(text)).toThrow(/is not a header/);
  });
});

describe("parseMatch", () => {
  it("reads echo, id and id:<dotted field>", () => {
    expect(parseMatch("echo")).toEqual({ kind: "echo" });
    expect(parseMatch("id")).toEqual({ kind: "id", path: ["id"] });
    expect(parseMatch("id:rid")).toEqual({ kind: "id", path: ["rid"] });
    expect(parseMatch("id:meta.rid")).toEqual({ kind: "id", path: ["meta", "rid"] });
  });

  it.each(["", "ids", "id:", "id:a..b", "exact"])("rejects %j", (text) => {
    expect(() => parseMatch(text)).toThrow(/not a match rule/);
  });
});

describe("parseUrl and displayUrl", () => {
  it("accepts ws, wss, http and https, and adds ws:// to host:port", () => {
    expect(parseUrl("ws://h:1/p")).toBe("ws://h:1/p");
    expect(parseUrl("https://h/p")).toBe("https://h/p");
    expect(parseUrl("127.0.0.1:8080/chat")).toBe("ws://127.0.0.1:8080/chat");
  });

  it("rejects other schemes and unparsable input", () => {
    expect(() => parseUrl("ftp://h")).toThrow(/scheme "ftp:" is not supported/);
    expect(() => parseUrl("ws://")).toThrow(/is not a URL/);
  });

  it("shows no credentials, query or fragment", () => {
    expect(displayUrl("wss://user:secret@h:1/p?token=t#f")).toBe("wss://h:1/p");
  });
});

describe("parseCloseArgs", () => {
  it("defaults to 1000 with no reason; the rest of the line is the reason", () => {
    expect(parseCloseArgs("")).toEqual({ code: 1000, reason: "" });
    expect(parseCloseArgs("4000 going away now")).toEqual({ code: 4000, reason: "going away now" });
  });

  it.each(["1001", "2999", "5000", "bye"])("rejects the code %j", (args) => {
    expect(() => parseCloseArgs(args)).toThrow(/close code must be 1000 or 3000-4999/);
  });
});
