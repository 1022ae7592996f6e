/**
 * proxy-env.ts, as tables: which proxy `proxy: "env"` picks from the environment, and which
 * hosts NO_PROXY sends direct, as curl does.
 */

import { describe, expect, it } from "vitest";
import { bypassesProxy, parseProxyUrl, proxyFor } from "../src/transport/proxy-env.js";

describe("NO_PROXY matching (curl's rules)", () => {
  it.each([
    // [host, port, NO_PROXY, bypass]
    ["example.com", 443, "example.com", true],
    ["a.example.com", 443, "example.com", true],
    ["a.b.example.com", 443, "example.com", true],
    ["a.example.com", 443, ".example.com", true],
    ["example.com", 443, ".example.com", true],
    ["notexample.com", 443, "example.com", false],
    ["example.com.evil", 443, "example.com", false],
    ["EXAMPLE.com", 443, "example.COM", true],
    ["example.com", 443, "*", true],
    ["anything", 80, " * ", true],
    ["example.com", 443, "*.example.com", true],
    ["example.com", 443, "other.com, example.com", true],
    ["example.com", 443, "other.com example.com", true],
    ["example.com", 443, "other.com", false],
    ["example.com", 443, "", false],
    ["example.com", 8080, "example.com:8080", true],
    ["example.com", 443, "example.com:8080", false],
    ["127.0.0.1", 80, "127.0.0.1", true],
    ["127.0.0.1", 80, "127.0.0.2", false],
    ["127.0.0.1", 80, "0.0.1", false],
    ["127.0.0.1", 8080, "127.0.0.1:8080", true],
    ["127.0.0.1", 80, "127.0.0.1:8080", false],
    ["10.1.2.3", 80, "10.0.0.0/8", true],
    ["11.1.2.3", 80, "10.0.0.0/8", false],
    ["[::1]", 80, "::1", true],
    ["::1", 80, "[::1]", true],
    ["[::1]", 8080, "[::1]:8080", true],
    ["[::1]", 80, "[::1]:8080", false],
    ["[fd00::5]", 80, "fd00::/8", true],
    // IPv6 entries compare as addresses, as curl's inet_pton does, not as text.
    ["[::1]", 80, "0:0:0:0:0:0:0:1", true],
    ["[fd00::5]", 80, "FD00:0::0005", true],
    ["[fd00::5]", 80, "fd00::6", false],
  ] as const)("%s:%s with NO_PROXY=%j bypasses: %s", (host, port, noProxy, bypass) => {
    expect(bypassesProxy(host, port, noProxy)).toBe(bypass);
  });
});

describe("proxyFor: which variable for which scheme", () => {
  const proxy = (value: string) => ({ host: "p", port: Number(value.split(":").at(-1)) });
  it.each([
    // [url, env, expected proxy port or undefined]
    ["wss://x.test", { HTTPS_PROXY: "http://p:1" }, 1],
    ["wss://x.test", { https_proxy: "http://p:2", HTTPS_PROXY: "http://p:1" }, 2],
    ["wss://x.test", { HTTP_PROXY: "http://p:3" }, undefined],
    ["ws://x.test", { HTTP_PROXY: "http://p:3" }, 3],
    ["ws://x.test", { http_proxy: "http://p:4", HTTP_PROXY: "http://p:3" }, 4],
    ["ws://x.test", { HTTPS_PROXY: "http://p:1" }, undefined],
    ["ws://x.test", { http_proxy: "", HTTP_PROXY: "http://p:3" }, 3],
    ["ws://x.test", { HTTP_PROXY: "p:5" }, 5],
    ["ws://x.test", {}, undefined],
    ["ws://x.test", { HTTP_PROXY: "http://p:3", NO_PROXY: "x.test" }, undefined],
    ["ws://x.test", { HTTP_PROXY: "http://p:3", no_proxy: "other", NO_PROXY: "x.test" }, 3],
    ["ws://x.test:8080", { HTTP_PROXY: "http://p:3", NO_PROXY: "x.test:8080" }, undefined],
    ["ws://x.test", { HTTP_PROXY: "http://p:3", NO_PROXY: "x.test:80" }, undefined],
    ["wss://x.test", { HTTPS_PROXY: "http://p:1", NO_PROXY: "x.test:443" }, undefined],
    ["wss://x.test", { HTTPS_PROXY: "http://p:1", NO_PROXY: "x.test:80" }, 1],
  ] as const)("%s with %j: proxy port %s", (url, env, port) => {
    const found = proxyFor(url, "env", env);
    expect(found === undefined ? undefined : found.port).toBe(port);
    if (found !== undefined) expect(found).toMatchObject({ host: proxy(`p:${port}`).host });
  });

  it("no proxy option: none, whatever the environment says", () => {
    expect(proxyFor("ws://x.test", undefined, { HTTP_PROXY: "http://p:3" })).toBeUndefined();
  });

  it("a proxy URL: used for both schemes; NO_PROXY is not read", () => {
    const env = { NO_PROXY: "*" };
    expect(proxyFor("ws://x.test", "http://p:9", env)?.port).toBe(9);
    expect(proxyFor("wss://x.test", "http://p:9", env)?.port).toBe(9);
  });
});

describe("parseProxyUrl", () => {
  it("credentials become a Basic Proxy-Authorization, percent-decoded", () => {
    const p = parseProxyUrl("http://us%40er:p%3Ass@proxy.test:3128", "option proxy");
    expect(p).toEqual({
      host: "proxy.test",
      port: 3128,
      authorization: `Basic ${Buffer.from("us@er:p:ss").toString("base64")}`,
    });
  });

  it("no port means 80; IPv6 loses its brackets; no credentials, no header", () => {
    expect(parseProxyUrl("http://[::1]", "x")).toEqual({ host: "::1", port: 80, authorization: undefined });
  });

  it.each([
    "http://alice:2024#Spring@proxy.test:3128",
    "http://alice:2024/Spring@proxy.test:3128",
    "http://alice:2024?Spring@proxy.test:3128",
  ])("a password with an unencoded # / or ? (%s) is refused, not taken for host alice port 2024", (value) => {
    let error: Error | undefined;
    try {
      parseProxyUrl(value, "option proxy");
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toMatch(/^option proxy /);
    expect(error?.message).not.toMatch(/alice|2024|Spring/);
  });

  it.each(["http://us%zzer:pw@p:1", "http://user:s3cr%E0%A4%A@p:1"])(
    "credentials with malformed percent-encoding (%s) are refused naming the source, not quoting them",
    (value) => {
      let error: Error | undefined;
      try {
        parseProxyUrl(value, "environment variable HTTPS_PROXY");
      } catch (e) {
        error = e as Error;
      }
      expect(error?.message).toMatch(/^environment variable HTTPS_PROXY .*percent-encoding/);
      expect(error?.message).not.toMatch(/zz|s3cr/);
    },
  );

  it.each(["https://p:1", "socks5://p:1", "http://", "::"])(
    "%s is refused, naming the source but not quoting the value",
    (value) => {
      expect(() => parseProxyUrl(value, "environment variable HTTPS_PROXY")).toThrow(
        /^environment variable HTTPS_PROXY /,
      );
      try {
        parseProxyUrl(value, "s");
      } catch (e) {
        expect((e as Error).message).not.toContain(value);
      }
    },
  );
});

describe("NO_PROXY matching: CIDR ranges, trailing dots, entries that cannot match (mutation audit)", () => {
  it.each([
    // [host, port, NO_PROXY, bypass]
    ["example.com.", 443, "example.com", true],
    ["a.example.com", 443, "example.com.", true],
    ["10.1.2.3", 443, "10.0.0.0/33", false], // a prefix out of range matches nothing
    ["10.1.2.3", 443, "10.0.0.0/x", false],
    ["10.1.2.3", 443, "ten/8", false],
    ["example.com", 443, "10.0.0.0/8", false], // a name is never in a range
    ["10.1.2.3", 443, "::ffff:10.0.0.0/104", false], // a range of the other family never matches
    ["::ffff:10.1.2.3", 443, "10.0.0.0/8", false],
    ["::1", 443, "foo[::1]", false], // only a whole bracketed entry is an address
    ["::1", 80, "[::1]:80:90", false],
    ["::1", 80, "[::1]:80", true],
    // A port that is not a number matches nothing (Go's httpproxy, undici), not every port.
    ["example.com", 80, "example.com:80x", false],
    ["example.com", 443, "example.com:x", false],
    ["example.com", 443, "other.com:80x, example.com", true],
    ["example.com", 443, "example.com:", true], // an empty port is no port
  ])("%s:%d with NO_PROXY=%j: bypass %s", (host, port, noProxy, bypass) => {
    expect(bypassesProxy(host, port, noProxy)).toBe(bypass);
  });
});

describe("proxyFor and parseProxyUrl: values and what errors name (mutation audit)", () => {
  it("a blank lower-case variable counts as unset, and a value is read trimmed", () => {
    expect(proxyFor("ws://h/", "env", { http_proxy: "  ", HTTP_PROXY: "http://p:1" })).toMatchObject({
      host: "p",
      port: 1,
    });
    expect(proxyFor("ws://h/", "env", { http_proxy: " p:2 " })).toMatchObject({ host: "p", port: 2 });
  });

  it.each([
    ["http://user@p:1", "user:"],
    ["http://:pw@p:1", ":pw"],
  ])(
    "credentials with only a user name or only a password (%s) still make a header",
    (value, credentials) => {
      expect(parseProxyUrl(value, "s").authorization).toBe(
        `Basic ${Buffer.from(credentials).toString("base64")}`,
      );
    },
  );

  it("a scheme counts only at the start: p:1/?x=http://y is a host and port followed by more", () => {
    expect(() => parseProxyUrl("p:1/?x=http://y", "s")).toThrow(/^s must have nothing after host:port/);
  });

  it("errors name the option or the variable the proxy came from", () => {
    expect(() => proxyFor("ws://h/", "socks5://p:1", {})).toThrow(
      /^option proxy must be an http:\/\/ proxy URL/,
    );
    expect(() => proxyFor("wss://h/", "env", { HTTPS_PROXY: "socks5://p:1" })).toThrow(
      /^environment variable HTTPS_PROXY must be an http:\/\/ proxy URL/,
    );
  });
});
