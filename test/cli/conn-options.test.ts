/** From command-line options to `ConnOptions`, and from typed lines to frames. */

import { describe, expect, it } from "vitest";
import type { ClientOptions } from "../../src/cli/args.js";
import { createConnOptions, encodeLine, jsonField, matchOptions } from "../../src/cli/conn-options.js";
import { idReply } from "../../src/cli/test-server.js";

const base: ClientOptions = {
  url: "ws://127.0.0.1:1",
  subprotocols: [],
  headers: {},
  reconnect: true,
  minDelayMs: undefined,
  maxDelayMs: undefined,
  maxAttempts: undefined,
  pingIntervalMs: undefined,
  pingMsg: undefined,
  pongMsg: undefined,
  pongTimeoutMs: undefined,
  json: false,
  match: { kind: "id", path: ["id"] },
  binary: false,
  insecure: false,
  quiet: false,
  execute: [],
  timeoutMs: 10_000,
  concurrency: 100,
  responsesOnly: false,
  noClose: false,
  binaryIn: undefined,
  hex: false,
  ca: undefined,
  cert: undefined,
  key: undefined,
  passphrase: undefined,
  origin: undefined,
  connectTimeoutMs: undefined,
  maxMessageBytes: undefined,
  resetAfterMs: undefined,
  onConnect: [],
  waitMs: undefined,
  verbose: false,
  trace: false,
};

describe("matching", () => {
  it("id reads a (nested) JSON field from text or bytes", () => {
    expect(jsonField('{"id":7}', ["id"])).toBe(7);
    expect(jsonField('{"m":{"r":"x"}}', ["m", "r"])).toBe("x");
    expect(jsonField(new TextEncoder().encode('{"id":"b"}'), ["id"])).toBe("b");
    expect(jsonField('{"id":{"no":1}}', ["id"])).toBeUndefined();
    expect(jsonField("plain", ["id"])).toBeUndefined();
  });

  it("echo matches identical text or identical bytes only", () => {
    const { matchMsg } = matchOptions({ kind: "echo" });
    expect(matchMsg?.("a", "a")).toBe(true);
    expect(matchMsg?.("a", "b")).toBe(false);
    expect(matchMsg?.(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(matchMsg?.(new Uint8Array([1]), "\u0001")).toBe(false);
  });
});

describe("createConnOptions", () => {
  it("an interactive session reconnects and pings every 30 s by default", () => {
    const o = createConnOptions(base, "interactive");
    expect(o.reconnect).toEqual({});
    expect(o.pingIntervalMs).toBe(30_000);
  });

  it("a script fails on the first error unless --max-attempts asks for retries, and does not ping", () => {
    expect(createConnOptions(base, "scripted").reconnect).toBe(false);
    expect(createConnOptions(base, "scripted").pingIntervalMs).toBeUndefined();
    expect(createConnOptions({ ...base, maxAttempts: 3, minDelayMs: 10 }, "scripted").reconnect).toEqual({
      maxAttempts: 3,
      minDelayMs: 10,
    });
  });

  it("--no-reconnect wins over every reconnect option", () => {
    expect(createConnOptions({ ...base, reconnect: false, maxAttempts: 3 }, "interactive").reconnect).toBe(
      false,
    );
  });

  it("--ping-msg recognises its echo, or --pong-msg, as the pong", () => {
    const echo = createConnOptions({ ...base, pingIntervalMs: 1000, pingMsg: "hb" }, "interactive");
    expect(echo.pingMsg).toBe("hb");
    expect(echo.isPong?.("hb")).toBe(true);
    expect(echo.isPong?.("other")).toBe(false);
    const pong = createConnOptions(
      { ...base, pingIntervalMs: 1000, pingMsg: "ping", pongMsg: "pong" },
      "scripted",
    );
    expect(pong.isPong?.("pong")).toBe(true);
    expect(pong.isPong?.("ping")).toBe(false);
  });

  it("the proxy: the environment by default (as curl), --proxy's URL, none after --no-proxy", () => {
    expect(createConnOptions(base, "scripted").proxy).toBe("env");
    expect(createConnOptions({ ...base, proxy: "http://p:1" }, "scripted").proxy).toBe("http://p:1");
    expect(createConnOptions({ ...base, proxy: false }, "scripted")).not.toHaveProperty("proxy");
  });

  it("--insecure turns certificate verification off for this connection only", () => {
    expect(createConnOptions(base, "scripted").tls).toBeUndefined();
    expect(createConnOptions({ ...base, insecure: true }, "scripted").tls).toEqual({
      rejectUnauthorized: false,
    });
  });

  it("passes headers only when there are some", () => {
    expect(createConnOptions(base, "scripted").headers).toBeUndefined();
    expect(createConnOptions({ ...base, headers: { A: "1" } }, "scripted").headers).toEqual({ A: "1" });
  });
});

describe("handshake and TLS options", () => {
  it("--origin adds an Origin header beside -H headers", () => {
    expect(
      createConnOptions({ ...base, headers: { A: "1" }, origin: "https://x.test" }, "scripted").headers,
    ).toEqual({
      A: "1",
      Origin: "https://x.test",
    });
  });

  it("--connect-timeout, --max-message-size and --reset-after map to the library's options", () => {
    const o = createConnOptions(
      { ...base, connectTimeoutMs: 300, maxMessageBytes: 1024, resetAfterMs: 100 },
      "interactive",
    );
    expect(o.connectTimeoutMs).toBe(300);
    expect(o.maxMessageBytes).toBe(1024);
    expect(o.reconnect).toEqual({ resetAfterMs: 100 });
  });

  it("--cert without --key, or an unreadable file, is a usage mistake naming the option", () => {
    expect(() => createConnOptions({ ...base, cert: "c.pem" }, "scripted")).toThrow(
      /--cert and --key go together/,
    );
    expect(() => createConnOptions({ ...base, ca: "/nonexistent.pem" }, "scripted")).toThrow(
      /^--ca \/nonexistent.pem: cannot read the file \(ENOENT\)$/,
    );
  });

  it("--on-connect sends its frames, in order, from onConnected", () => {
    const o = createConnOptions({ ...base, onConnect: ["a", "b"] }, "scripted");
    const sent: unknown[] = [];
    o.onConnected?.({ send: (data: unknown) => sent.push(data) } as never);
    expect(sent).toEqual(["a", "b"]);
    expect(createConnOptions(base, "scripted").onConnected).toBeUndefined();
  });
});

describe("encodeLine", () => {
  it("sends text as typed, or its UTF-8 bytes with --binary", () => {
    expect(encodeLine("hé", base)).toBe("hé");
    expect(encodeLine("hé", { ...base, binary: true })).toEqual(new Uint8Array([0x68, 0xc3, 0xa9]));
  });

  it("with --binary-in, sends the decoded bytes", () => {
    expect(encodeLine("aGk=", { ...base, binaryIn: "base64" })).toEqual(new Uint8Array([0x68, 0x69]));
    expect(encodeLine("68 69", { ...base, binaryIn: "hex" })).toEqual(new Uint8Array([0x68, 0x69]));
    expect(() => encodeLine("zz", { ...base, binaryIn: "hex" })).toThrow(/pairs of hex digits/);
  });

  it("with --json, refuses a line that is not JSON", () => {
    expect(encodeLine('{"a":1}', { ...base, json: true })).toBe('{"a":1}');
    expect(() => encodeLine("{a:1}", { ...base, json: true })).toThrow(/not JSON/);
  });
});

describe("the test server's id reply", () => {
  it("answers an object with an id, and anything else with an error object", () => {
    expect(JSON.parse(idReply('{"id":1,"x":2}'))).toEqual({ id: 1, ok: true, echo: { id: 1, x: 2 } });
    expect(JSON.parse(idReply("[1]"))).toMatchObject({ ok: false });
    expect(JSON.parse(idReply("text"))).toMatchObject({ ok: false });
  });
});
