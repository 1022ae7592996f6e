import { describe, expect, it } from "vitest";
import { namesUrl, normalizeUrl, redactUrl } from "../src/url.js";

describe("normalizeUrl", () => {
  it.each([
    ["ws://127.0.0.1:8080/a?b=1", "ws://127.0.0.1:8080/a?b=1"],
    ["wss://example.com/x", "wss://example.com/x"],
    ["http://localhost:9/path", "ws://localhost:9/path"],
    ["https://example.com/", "wss://example.com/"],
    ["ws://h/p#frag", "ws://h/p"],
    ["ws://h/p#", "ws://h/p"],
    ["ws://h/p?q=1#", "ws://h/p?q=1"],
  ])("accepts %s as %s", (input, expected) => {
    expect(normalizeUrl(input)).toBe(expected);
  });

  it("accepts URL objects", () => {
    expect(normalizeUrl(new URL("http://a.b/c"))).toBe("ws://a.b/c");
  });

  it.each([["ftp://x/"], ["file:///etc/passwd"], ["not a url"], [""], ["javascript:alert(1)"]])(
    "rejects %s with ERR_INVALID_URL",
    (input) => {
      expect(() => normalizeUrl(input)).toThrow(expect.objectContaining({ code: "ERR_INVALID_URL" }));
    },
  );

  it.each([[42], [null], [undefined], [{}]])("rejects non-strings (%s)", (input) => {
    expect(() => normalizeUrl(input)).toThrow(expect.objectContaining({ code: "ERR_INVALID_URL" }));
  });

  it("never repeats a secret from the URL in its error", () => {
    for (const bad of ["ftp://user:s3cret@h/?token=t0ken", "ws://user:s3cret@exa mple/?token=t0ken"]) {
      try {
        normalizeUrl(bad);
        expect.unreachable();
      } catch (e) {
        const text = `${(e as Error).message} ${(e as Error).stack} ${String((e as Error).cause ?? "")}`;
        expect(text).not.toContain("s3cret");
        expect(text).not.toContain("t0ken");
      }
    }
  });
});

describe("redactUrl", () => {
  it("keeps scheme, host and port only: no userinfo, path, query or fragment", () => {
    expect(redactUrl(new URL("wss://u:p@h:1/x/y?token=abc#f"))).toBe("wss://h:1");
  });
});

describe("normalizeUrl: what its error says", () => {
  it.each([
    [42, "invalid URL: expected a string or URL, got number"],
    [null, "invalid URL: expected a string or URL, got object"],
    [undefined, "invalid URL: expected a string or URL, got undefined"],
    ["not a url", "invalid URL: cannot be parsed"],
    ["ftp://x/", 'invalid URL scheme "ftp:" in ftp://x: use ws:, wss:, http: or https:'],
  ])("%j: %s", (input, message) => {
    expect(() => normalizeUrl(input)).toThrow(expect.objectContaining({ code: "ERR_INVALID_URL", message }));
  });
});

describe("namesUrl: an error text that may carry the URL's secrets", () => {
  const url = "wss://user:pw@example.test:8443/socket/TOKEN?q=1";
  it.each<[string, unknown, boolean]>([
    ["Bun's constructor error, the whole URL", `Invalid url for WebSocket ${url}`, true],
    ["the URL without credentials", "failed to connect to wss://example.test:8443/socket/TOKEN", true],
    ["another URL (a proxy variable's rule)", "HTTP_PROXY must be an http:// URL", false],
    ["the host without a URL", "getaddrinfo ENOTFOUND example.test:8443", false],
    ["no text", undefined, false],
  ])("%s: %s", (_, text, expected) => {
    expect(namesUrl(text, url)).toBe(expected);
  });
});
