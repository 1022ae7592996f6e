/** The pure parsers behind the command line and `/close`. */

import { describe, expect, it } from "vitest";
import {
  decodeBinaryLine,
  displayUrl,
  parseBinaryEncoding,
  parseBytes,
  parseCloseArgs,
  parseCount,
  parseDuration,
  parseHeader,
  parseMatch,
  parseOrigin,
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

describe("parseUrl's usage error: no secret of a URL that does not parse is quoted", () => {
  it.each([
    ["ws://alice:s3cr3t@host:99999/", "s3cr3t"],
    ["ws://alice:pa/ss@host:99999/", "pa/ss"],
    ["ws://host:99999/feed?user=me@x&token=s3cr3t", "s3cr3t"],
    ["ws://host:99999/feed#access_token=s3cr3t", "s3cr3t"],
    ["ws://host:99999/feed;jsessionid=s3cr3t", "s3cr3t"],
    ["ws://host:99999/feed&token=s3cr3t", "s3cr3t"],
    ["alice:s3cr3t@host:99999", "s3cr3t"],
    ["WS://ALICE:S3CR3T@HOST:99999", "S3CR3T"],
    [" ws://alice:s3cr3t@host:99999", "s3cr3t"],
    ["ws://host:99999/a\n?token=s3cr3t", "s3cr3t"],
  ])("%j: the message names the URL without %j", (url, secret) => {
    let message = "";
    try {
      parseUrl(url);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/is not a URL/);
    expect(message).not.toContain(secret);
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

  it("takes a reason of 123 bytes of UTF-8 and refuses 124 (a close frame carries no more)", () => {
    expect(parseCloseArgs(`4000 ${"€".repeat(41)}`).reason).toBe("€".repeat(41));
    expect(() => parseCloseArgs(`4000 ${"€".repeat(41)}x`)).toThrow(/at most 123 bytes of UTF-8, got 124/);
  });
});

describe("parseBytes", () => {
  it.each([
    ["65536", 65536],
    ["64k", 65536],
    ["64KiB", 65536],
    ["16m", 16 * 1024 * 1024],
    [" 2 MB ", 2 * 1024 * 1024],
    ["1g", 1024 ** 3],
  ])("%s is %d bytes", (text, bytes) => {
    expect(parseBytes(text)).toBe(bytes);
  });

  it.each(["0", "-1", "1.5k", "k", "12 parsecs", ""])("refuses %j", (text) => {
    expect(() => parseBytes(text)).toThrow(UsageError);
  });
});

describe("--binary-in", () => {
  it("takes base64 or hex only", () => {
    expect(parseBinaryEncoding("base64")).toBe("base64");
    expect(parseBinaryEncoding("hex")).toBe("hex");
    expect(() => parseBinaryEncoding("utf8")).toThrow(/use base64 or hex/);
  });

  it("decodes base64 (standard or URL alphabet, padding optional) exactly", () => {
    const bytes = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x0a, 0x0d];
    expect([...decodeBinaryLine("AAF/gP7/Cg0=", "base64")]).toEqual(bytes);
    expect([...decodeBinaryLine("AAF_gP7_Cg0", "base64")]).toEqual(bytes);
    expect([...decodeBinaryLine("aGk", "base64")]).toEqual([0x68, 0x69]);
    expect([...decodeBinaryLine("", "base64")]).toEqual([]);
  });

  it.each(["aGk!", "a", "aGk=x", "aG=k", "a+b_", "aGk==="])(
    "refuses base64 %j instead of skipping bytes",
    (line) => {
      expect(() => decodeBinaryLine(line, "base64")).toThrow(UsageError);
    },
  );

  it("decodes hex pairs, with spaces or colons between them", () => {
    expect([...decodeBinaryLine("de ad BE:EF", "hex")]).toEqual([0xde, 0xad, 0xbe, 0xef]);
    expect([...decodeBinaryLine("00ff", "hex")]).toEqual([0x00, 0xff]);
  });

  it.each(["abc", "0g", "0x00", "de-ad"])("refuses hex %j", (line) => {
    expect(() => decodeBinaryLine(line, "hex")).toThrow(/pairs of hex digits/);
  });
});

describe("parseOrigin", () => {
  it("keeps a URL's origin, or null", () => {
    expect(parseOrigin("https://app.example.com/page?q=1")).toBe("https://app.example.com");
    expect(parseOrigin("http://localhost:3000")).toBe("http://localhost:3000");
    expect(parseOrigin("null")).toBe("null");
  });

  it.each(["example.com", "not an origin", ""])("refuses %j", (text) => {
    expect(() => parseOrigin(text)).toThrow(/is not an origin/);
  });
});
