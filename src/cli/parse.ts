/**
 * Pure parsers for the values `evtws` reads from its command line and its prompt: durations,
 * headers, the `--match` rule, URLs and `/close` arguments.
 *
 * Each returns a value or throws {@link UsageError} with a one-line message naming the
 * offending input; none prints or exits. Commander calls them as argument parsers, the
 * session calls {@link parseCloseArgs}.
 */

import { byteLength } from "../codec.js";

/** A mistake in what the user typed; `main` prints its message on one line and exits 2. */
export class UsageError extends Error {
  /** Stable code, so callers branch on it rather than on the message. */
  readonly code = "ERR_USAGE";

  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/**
 * Parses a duration such as `1.5`, `500ms`, `2s` or `1m` into whole milliseconds. A bare number
 * is in `unit`, the unit the option documents. A duration above 0 is at least 1 ms: rounded down
 * to 0, it would turn the option off (`--timeout 0` waits forever, `--ping-interval 0` never
 * pings), the opposite of what a tiny value asks for.
 *
 * @throws UsageError for a negative, empty or unparsable value.
 */
export function parseDuration(text: string, unit: "s" | "ms"): number {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m)?\s*$/.exec(text);
  if (match === null) {
    throw new UsageError(
      `"${text}" is not a duration: use a number of ${unit === "s" ? "seconds" : "ms"}, or 500ms, 2s, 1m`,
    );
  }
  const factor = UNITS[match[2] ?? unit] ?? 1;
  const ms = Number(match[1]) * factor;
  return ms > 0 ? Math.max(1, Math.round(ms)) : 0;
}

/** The longest wait a Node timer keeps, in ms (2^31 - 1, about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * As {@link parseDuration}, for a wait evtws times itself (`-w`, the `serve` faults).
 *
 * @throws UsageError also for a duration above {@link MAX_TIMER_MS}, which a timer would not wait.
 */
export function parseTimerDuration(text: string, unit: "s" | "ms"): number {
  const ms = parseDuration(text, unit);
  if (ms > MAX_TIMER_MS) {
    const most = unit === "s" ? `${Math.floor(MAX_TIMER_MS / 1000)} s` : `${MAX_TIMER_MS} ms`;
    throw new UsageError(`"${text}" is too long: at most ${most} (about 24 days)`);
  }
  return ms;
}

/**
 * Parses a count such as `--max-attempts 5`; `inf` means no limit.
 *
 * @throws UsageError for anything but a non-negative integer or `inf`.
 */
export function parseCount(text: string): number {
  if (/^\s*(inf|infinity)\s*$/i.test(text)) return Number.POSITIVE_INFINITY;
  if (!/^\s*\d+\s*$/.test(text))
    throw new UsageError(`"${text}" is not a count: use a whole number >= 0 or inf`);
  return Number(text);
}

/**
 * Parses a TCP port, 0 meaning "any free port".
 *
 * @throws UsageError outside 0..65535.
 */
export function parsePort(text: string): number {
  const port = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`"${text}" is not a port: use 0..65535`);
  return port;
}

/**
 * Parses one `-H "Name: value"` header into a name and a value (both trimmed).
 *
 * @throws UsageError when there is no colon or the name is not an HTTP token. The message
 *   never quotes the text: `-H "Authorization Bearer $TOKEN"` (a colon forgotten) holds a secret.
 */
export function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(":");
  const name = colon < 0 ? "" : text.slice(0, colon).trim();
  if (colon < 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    throw new UsageError('it is not a header: use "Name: value" (not shown: it may hold a secret)');
  }
  return [name, text.slice(colon + 1).trim()];
}

/**
 * The handshake headers of every `-H`, a name given twice (in any case) sent once with its
 * values joined in order, as RFC 9110 5.3 reads repeated fields: with ", ", and a Cookie's with
 * "; " (RFC 6265 5.4). The name is spelt as it was first given. curl sends each line, which a
 * server reads the same; keeping only the last, as an object would, loses the others.
 */
export function joinHeaders(pairs: readonly (readonly [string, string])[]): Record<string, string> {
  // Keyed by the lower-case name: [spelling, value]. The object is made from entries at the end,
  // as own properties: `headers["__proto__"] = value` would set no header at all.
  const joined = new Map<string, [string, string]>();
  for (const [name, value] of pairs) {
    const key = name.toLowerCase();
    const first = joined.get(key);
    if (first === undefined) joined.set(key, [name, value]);
    else first[1] = `${first[1]}${key === "cookie" ? "; " : ", "}${value}`;
  }
  return Object.fromEntries(joined.values());
}

/**
 * Checks one `-s` subprotocol name: an HTTP token (RFC 6455 4.1), as the handshake needs it.
 *
 * @throws UsageError for an empty name or one with spaces or separators.
 */
export function parseSubprotocol(text: string): string {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(text)) {
    throw new UsageError(`"${text}" is not a subprotocol: use a name without spaces or separators`);
  }
  return text;
}

/** How scripted mode recognises the response to a request. */
export type MatchRule = { kind: "echo" } | { kind: "id"; path: string[] };

/**
 * Parses `--match`: `echo` (the response equals the request) or `id[:field]` (a JSON field,
 * dotted for nesting, `id` when omitted).
 *
 * @throws UsageError for anything else.
 */
export function parseMatch(text: string): MatchRule {
  if (text === "echo") return { kind: "echo" };
  const match = /^id(?::([^.\s]+(?:\.[^.\s]+)*))?$/.exec(text);
  if (match === null) throw new UsageError(`"${text}" is not a match rule: use echo, id or id:<field>`);
  return { kind: "id", path: (match[1] ?? "id").split(".") };
}

const SCHEMES = new Set(["ws:", "wss:", "http:", "https:"]);

/**
 * Checks a server URL; `host:port/path` without a scheme gets `ws://`, as wscat does.
 *
 * @throws UsageError for a URL that cannot be parsed or has another scheme.
 */
export function parseUrl(text: string): string {
  const input = text.includes("://") ? text : `ws://${text}`;
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    // Credentials in it are not shown, nor its query (`?token=…`) or fragment
    // (`#access_token=…`): a URL that does not parse still holds its password. They run to the
    // last @: a password with a / or # left unencoded (what makes the URL fail to parse) would
    // otherwise show from there on. That @ may be in the query instead (`?user=me@host&token=…`),
    // whose ? is then hidden with it: what follows is cut at a query's & ; = as well.
    const shown = text
      .replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/is, (_, scheme = "") => `${scheme}…@`)
      .replace(/([?#&;=]).*$/s, (_, mark: string) => (mark === "?" || mark === "#" ? `${mark}…` : "…"));
    throw new UsageError(`"${shown}" is not a URL: use ws://host[:port][/path] or wss://…`);
  }
  if (!SCHEMES.has(url.protocol)) {
    throw new UsageError(`URL scheme "${url.protocol}" is not supported: use ws:, wss:, http: or https:`);
  }
  return url.href;
}

/** The URL without user info, query or fragment: what the session prints. */
export function displayUrl(text: string): string {
  const url = new URL(text);
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/**
 * Parses the arguments of `/close [code] [reason]`; the code defaults to 1000.
 *
 * @throws UsageError when the code is not 1000 or 3000-4999, or the reason is over 123 bytes
 *   of UTF-8 (all a close frame can carry; the library refused it with a rejection that ended the
 *   session with a stack trace).
 */
export function parseCloseArgs(args: string): { code: number; reason: string } {
  const match = /^\s*(\S+)?\s*(.*)$/.exec(args);
  const first = match?.[1];
  if (first === undefined) return { code: 1000, reason: "" };
  const code = /^\d+$/.test(first) ? Number(first) : Number.NaN;
  if (code !== 1000 && !(code >= 3000 && code <= 4999)) {
    throw new UsageError(`close code must be 1000 or 3000-4999, got ${first}`);
  }
  const reason = (match?.[2] ?? "").trim();
  const bytes = byteLength(reason); // the library's count, which close() checks
  if (bytes > 123) throw new UsageError(`close reason must be at most 123 bytes of UTF-8, got ${bytes}`);
  return { code, reason };
}

const BYTE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2 };
Object.assign(BYTE_UNITS, { mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 });

/**
 * Parses a size in bytes such as `65536`, `64k` or `16MiB` (units are powers of 1024).
 *
 * @throws UsageError for anything but a whole number above 0 with an optional unit.
 */
export function parseBytes(text: string): number {
  const match = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(text);
  const factor = match === null ? undefined : BYTE_UNITS[match[2]!.toLowerCase()];
  const bytes = match === null || factor === undefined ? Number.NaN : Number(match[1]) * factor;
  if (!(bytes >= 1)) throw new UsageError(`"${text}" is not a size: use a number of bytes > 0, or 64k, 16m`);
  return bytes;
}

/** How `--binary-in` decodes each line into the bytes of a binary frame. */
export type BinaryEncoding = "base64" | "hex";

/**
 * Parses the value of `--binary-in`.
 *
 * @throws UsageError for anything but base64 or hex.
 */
export function parseBinaryEncoding(text: string): BinaryEncoding {
  if (text === "base64" || text === "hex") return text;
  throw new UsageError(`"${text}" is not a binary encoding: use base64 or hex`);
}

/** Why a line was not sent under `--binary-in`: it is not `encoding`'s text. */
export function notEncoded(encoding: BinaryEncoding): string {
  return encoding === "hex"
    ? "not sent: --binary-in hex needs pairs of hex digits (0-9, a-f)"
    : "not sent: --binary-in base64 needs base64 (A-Z a-z 0-9 + / =)";
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * Decodes one line of `--binary-in` input: base64 (standard or URL alphabet, padding optional)
 * or hex (pairs of digits, spaces and colons between them allowed). Nothing is ever skipped or
 * replaced: input that is not exactly one of these is refused.
 *
 * @throws UsageError naming what is wrong with the line.
 */
export function decodeBinaryLine(line: string, encoding: BinaryEncoding): Uint8Array {
  const text = line.trim();
  if (encoding === "hex") {
    const digits = text.replace(/[\s:]/g, "");
    if (!/^[0-9a-fA-F]*$/.test(digits) || digits.length % 2 !== 0) {
      throw new UsageError(notEncoded("hex"));
    }
    return new Uint8Array(Buffer.from(digits, "hex"));
  }
  const body = text.replace(/=+$/, "");
  const padding = text.length - body.length;
  const valid =
    (BASE64.test(text) || BASE64URL.test(text)) &&
    body.length % 4 !== 1 &&
    (padding === 0 || text.length % 4 === 0);
  if (!valid) throw new UsageError(notEncoded("base64"));
  return new Uint8Array(Buffer.from(body, body.includes("-") || body.includes("_") ? "base64url" : "base64"));
}

/**
 * Checks a `--proxy` value: an `http://[user:password@]host[:port]` URL (without a scheme,
 * `http://` is meant, as for the proxy environment variables). The message never quotes the
 * value: it may hold a password.
 *
 * @throws UsageError for anything else.
 */
export function parseProxy(text: string): string {
  try {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
    const bare = url.pathname === "/" && url.search === "" && url.hash === "";
    if (url.protocol === "http:" && url.hostname !== "" && bare) return text;
  } catch {}
  throw new UsageError("--proxy must be an http:// URL: http://[user:password@]host:port (value not shown)");
}

/**
 * Checks an `--origin` value: `null`, or a URL whose origin (scheme, host, port) is sent.
 *
 * @throws UsageError for anything else.
 */
export function parseOrigin(text: string): string {
  if (text === "null") return text;
  try {
    const origin = new URL(text).origin;
    if (origin !== "null") return origin;
  } catch {}
  throw new UsageError(`"${text}" is not an origin: use scheme://host[:port], e.g. https://example.com`);
}
