import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { byteLength, json, raw } from "../src/codec.js";

describe("codecs", () => {
  it("raw passes strings and bytes through and refuses other types", () => {
    expect(raw.encode("a")).toBe("a");
    const bytes = new Uint8Array([1, 2]);
    expect(raw.encode(bytes)).toBe(bytes);
    expect(() => raw.encode({} as never)).toThrow(/string or bytes/);
    expect(() => raw.encode(42 as never)).toThrow(TypeError);
  });

  it("json encodes to text and decodes text and binary frames", () => {
    const c = json<{ a: number }, { a: number }>();
    expect(c.encode({ a: 1 })).toBe('{"a":1}');
    expect(c.decode('{"a":2}')).toEqual({ a: 2 });
    expect(c.decode(new TextEncoder().encode('{"a":3}'))).toEqual({ a: 3 });
    expect(() => c.decode("{nope")).toThrow();
    expect(() => c.encode(undefined as never)).toThrow(TypeError);
  });

  it("json does not pollute Object.prototype", () => {
    json().decode('{"__proto__":{"polluted":true},"id":1}');
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it.each([
    ["empty", "", 0],
    ["ASCII", "abc", 3],
    ["2-byte", "é", 2],
    ["3-byte", "€", 3],
    ["surrogate pair", "😀", 4],
    ["the last ASCII character", "\x7f", 1],
    ["the first non-ASCII one", "\x80", 2],
    ["10,000 ASCII characters", "a".repeat(10_000), 10_000],
    ["10,000 ASCII characters, then é", `${"a".repeat(10_000)}é`, 10_002],
    ["a lone high surrogate (sent as U+FFFD)", "\ud800", 3],
    ["a lone low surrogate inside ASCII", "a\udc00b", 5],
    ["a pair, then a lone high surrogate", "\ud83d\ude00\ud83d", 7],
    ["a lone high surrogate before a non-surrogate", "\ud800中", 6],
    ["two high surrogates", "\ud800\ud800", 6],
  ])("byteLength: %s is $2 bytes", (_label, s, n) => {
    expect(byteLength(s)).toBe(n);
    expect(byteLength(s)).toBe(Buffer.byteLength(s));
  });

  it("byteLength equals Buffer.byteLength (the UTF-8 encoder's size) for any string, lone surrogates included", () => {
    // Any UTF-16 code unit (lone surrogates 1 in 32), whole code points (astral pairs), and the
    // edges, so surrogates meet each other and their neighbours in every order.
    const unit = fc.oneof(
      fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
      fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
      fc.constantFrom("\ud800", "\udbff", "\udc00", "\udfff", "\ud83d\ude00", "中", "é", "\x7f", "a"),
    );
    fc.assert(
      fc.property(fc.string({ unit: "binary-ascii" }), fc.string({ unit, maxLength: 40 }), (ascii, rest) => {
        const s = ascii + rest;
        expect(byteLength(s)).toBe(Buffer.byteLength(s));
        expect(byteLength(s)).toBe(new TextEncoder().encode(s).length);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("codecs: what each one hands over and refuses", () => {
  it("raw decode hands the frame over as it is, text or bytes", () => {
    const bytes = new Uint8Array([1, 2]);
    expect(raw.decode("text")).toBe("text");
    expect(raw.decode(bytes)).toBe(bytes);
  });

  it("raw sends an ArrayBuffer, or any view of one, as the bytes it spans (not copied)", () => {
    const buffer = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]).buffer;
    const whole = raw.encode(buffer) as Uint8Array;
    expect(whole).toBeInstanceOf(Uint8Array);
    expect([...whole]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(whole.buffer).toBe(buffer);
    const view = raw.encode(new DataView(buffer, 2, 3)) as Uint8Array;
    expect([...view]).toEqual([2, 3, 4]);
    expect(view.buffer).toBe(buffer);
    expect([...(raw.encode(new Uint16Array(buffer, 4, 2)) as Uint8Array)]).toEqual([4, 5, 6, 7]);
  });

  it.each([
    [{}, "Object"],
    [new Map(), "Map"],
    [Object.create(null), "object"],
    [null, "null"],
    [42, "number"],
    [undefined, "undefined"],
    [new Blob(["x"]), "Blob"],
    [new SharedArrayBuffer(2), "SharedArrayBuffer"],
  ])("raw refuses %o naming it as %s", (value, shown) => {
    expect(() => raw.encode(value as never)).toThrow(
      new TypeError(
        `expected a string or bytes (Uint8Array, ArrayBuffer, a view), got ${shown} (use the json() codec for objects)`,
      ),
    );
  });

  it("json names what it cannot encode", () => {
    expect(() => json().encode(undefined)).toThrow(new TypeError("undefined cannot be encoded as JSON"));
    expect(() => json().encode(() => 1)).toThrow(new TypeError("function cannot be encoded as JSON"));
  });

  it("json refuses a binary frame that is not valid UTF-8, even inside a JSON string", () => {
    const bytes = new Uint8Array([0x22, 0xff, 0x22]); // "\xff"
    expect(() => json().decode(bytes)).toThrow(TypeError);
  });

  it("byteLength of bytes is their length; U+07FF takes 2 bytes, U+0800 takes 3", () => {
    expect(byteLength(new Uint8Array(7))).toBe(7);
    expect(byteLength("\u07ff")).toBe(2);
    expect(byteLength("\u0800")).toBe(3);
  });
});
