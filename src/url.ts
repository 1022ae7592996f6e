/**
 * URL checks and redaction, as pure functions.
 *
 * `normalizeUrl` accepts `ws:`, `wss:`, and — as the Go original's example did — `http:` and
 * `https:` (mapped to `ws:`/`wss:`). `redactUrl` is what every message and error shows of a
 * URL: scheme, host and port only. Never userinfo or query, and never the path either: paths
 * carry secrets too (webhook-style URLs, `/socket/<token>`).
 */

import { ErrorCode, evtError } from "./errors.js";

const SCHEMES: Record<string, string> = { "ws:": "ws:", "wss:": "wss:", "http:": "ws:", "https:": "wss:" };

/**
 * True when `text` (an error message from a runtime or a library) names the URL `url`, so it may
 * carry its path, query or credentials: Bun's `WebSocket` repeats the whole URL in its errors.
 * Such a text is never kept in an error of ours.
 */
export function namesUrl(text: unknown, url: string): boolean {
  return typeof text === "string" && text.includes("//") && text.includes(new URL(url).host);
}

/** A URL safe to print: scheme, host and port; no userinfo, path, query or fragment. */
export function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/**
 * Parses and checks a dial URL; returns it as a `ws:`/`wss:` string.
 *
 * @throws EvtWebSocketError `ERR_INVALID_URL` for anything else.
 */
export function normalizeUrl(input: unknown): string {
  let url: URL;
  if (input instanceof URL) url = new URL(input.href);
  else if (typeof input === "string") {
    try {
      url = new URL(input);
    } catch {
      // Neither the input nor the parser's error (which quotes it) is kept: it may hold a token.
      throw evtError(ErrorCode.INVALID_URL, "invalid URL: cannot be parsed");
    }
  } else {
    throw evtError(ErrorCode.INVALID_URL, `invalid URL: expected a string or URL, got ${typeof input}`);
  }
  const scheme = SCHEMES[url.protocol];
  if (scheme === undefined) {
    throw evtError(
      ErrorCode.INVALID_URL,
      `invalid URL scheme "${url.protocol}" in ${redactUrl(url)}: use ws:, wss:, http: or https:`,
    );
  }
  // An empty fragment ("ws://h/p#") has hash "" yet keeps its "#", which undici's WebSocket refuses.
  if (url.href.includes("#")) url.hash = "";
  if (scheme !== url.protocol) url.href = scheme + url.href.slice(url.protocol.length);
  const href = url.href;
  // Already normal: keep the caller's string rather than hold a copy per connection.
  return href === input ? input : href;
}
