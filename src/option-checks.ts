/**
 * The rule for each kind of option value, with one message shape: durations, counts, numbers,
 * byte sizes, handshake headers and functions. Each returns the checked value (or the fallback
 * for `undefined`) or throws `ERR_INVALID_OPTION` naming the option. Which option takes which
 * rule, and the defaults, are `resolve-options.ts`'s (and `send()`'s, `request()`'s and
 * `messages()`'s own checks use the same rules).
 *
 * Durations follow one rule, {@link duration}: whole ms from 0 to 2,147,483,647, the longest
 * a timer holds (Node fires a longer one after 1 ms, so `connectTimeoutMs: Infinity` used to
 * fail every dial within milliseconds). `Infinity` means "never" only where that has a
 * meaning: no timeout for `requestTimeoutMs`, `request()`'s `timeoutMs` and
 * `connectTimeoutMs`, no cap but the timer limit for `reconnect.maxDelayMs`.
 */

import { MAX_TIMER_MS } from "./clock.js";
import { byteLength } from "./codec.js";
import { invalidOption as invalid } from "./errors.js";

/** An HTTP token (RFC 9110 5.6.2): what header names and subprotocols must be. */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * A bad value as a message shows it: strings quoted, the rest as `String()` gives them, or as
 * its type where `String()` throws (an object without a prototype or whose `toString` throws, a
 * revoked Proxy): the check must throw its own error, not that one.
 */
export function shown(value: unknown): string {
  try {
    return typeof value === "string" ? JSON.stringify(value) : String(value);
  } catch {
    return typeof value;
  }
}

/** Checks a number from `min` to `max`. */
export function num(name: string, value: unknown, fallback: number, min = 0, max = Infinity): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= min && value <= max)) {
    throw invalid(`option ${name} must be a number from ${min} to ${max}, got ${shown(value)}`);
  }
  return value;
}

/** Checks a count (messages, bytes, attempts, requests): a whole number from `min`, or `Infinity`. */
export function count(name: string, value: unknown, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = value as number;
  if (n === Infinity || (Number.isInteger(n) && n >= min)) return n;
  throw invalid(`option ${name} must be a whole number from ${min} or Infinity, got ${shown(value)}`);
}

/**
 * Checks a duration in ms: a whole number from `min` to {@link MAX_TIMER_MS}, or `Infinity` when
 * `infinite` is true (the option has a "never"); `undefined` gives `fallback`. The one rule for
 * every duration option and for `request()`'s `timeoutMs`, so no timer is ever asked for a delay
 * the platform would turn into 1 ms.
 *
 * @param name - the option as the message names it.
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` naming the option.
 */
export function duration(name: string, value: unknown, fallback: number, min = 0, infinite = false): number {
  if (value === undefined) return fallback;
  const n = value as number;
  if (n === Infinity ? infinite : Number.isInteger(n) && n >= min && n <= MAX_TIMER_MS) return n;
  throw invalid(
    `option ${name} must be a whole number of ms from ${min} to ${MAX_TIMER_MS}${infinite ? " or Infinity" : ""}, got ${shown(value)}`,
  );
}

/**
 * Checks handshake headers: an object of HTTP token names and string values without CR, LF or
 * NUL. The one rule for fixed `headers` (at construction) and a headers function's result (per
 * attempt).
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` naming `headers` (never quoting a value: it is often a credential).
 */
export function checkHeaders(headers: unknown): Record<string, string> {
  if (typeof headers !== "object" || headers === null) {
    throw invalid("option headers must be an object of strings");
  }
  for (const [key, value] of Object.entries(headers)) {
    // A bad name or value would fail every handshake and be retried forever: refuse it now.
    if (!HTTP_TOKEN.test(key)) {
      throw invalid("option headers has a name that is not an HTTP token");
    }
    if (typeof value !== "string") throw invalid(`option headers.${key} must be a string`);
    // The value itself is never quoted: it is often a credential.
    // What Node's http accepts (tab, visible ASCII, Latin-1); anything else fails every handshake.
    if (/[^\t\x20-\x7e\x80-\xff]/.test(value))
      throw invalid(
        `option headers.${key} must not contain CR, LF, NUL, other control characters or characters beyond Latin-1`,
      );
  }
  return headers as Record<string, string>;
}

/**
 * Checks the options argument of `fn` (`"request()"`, `"messages()"`): an object, or
 * `undefined` (none: `{}`).
 */
export function optionsOf<T extends object>(fn: string, options: unknown): Partial<T> {
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null)
    throw invalid(`${fn}: options must be an object, got ${shown(options)}`);
  return options;
}

/** Checks an optional boolean: `undefined` is false. */
export function bool(name: string, value: unknown): boolean {
  if (value !== undefined && typeof value !== "boolean") {
    throw invalid(`option ${name} must be a boolean, got ${shown(value)}`);
  }
  return value === true;
}

/** Checks an optional function. */
export function fn(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "function") {
    throw invalid(`option ${name} must be a function, got ${typeof value}`);
  }
}

/**
 * The events of `Conn.on()`; the first five also have an `on…` option. (A shared connection
 * adds `"role"`.)
 */
export const EVENTS = [
  "connected",
  "message",
  "error",
  "close",
  "reconnecting",
  "pong",
  "state",
  "drain",
] as const;

/**
 * Checks what `on()` was given: an event among `names` (JavaScript callers meet no type check,
 * and `on("open")`, as `ws` names it, would wait for ever) and a function.
 */
export function checkOn(names: readonly string[], event: unknown, listener: unknown): void {
  if (!names.includes(event as string))
    throw invalid(`on(): unknown event ${shown(event)}; the events are ${names.join(", ")}`);
  if (typeof listener !== "function")
    throw invalid(`on(${shown(event)}): the listener must be a function, got ${typeof listener}`);
}

/**
 * What is wrong with a close code and reason (`close()`'s and `reconnect()`'s rule: 1000 or
 * 3000-4999, a string of at most 123 bytes); undefined when both are good.
 */
export function closeProblem(code: number, reason: string): string | undefined {
  if (!Number.isInteger(code) || (code !== 1000 && (code < 3000 || code > 4999)))
    return `close code must be 1000 or 3000-4999, got ${shown(code)}`;
  if (typeof reason !== "string" || byteLength(reason) > 123)
    return "close reason must be a string of at most 123 bytes";
}

/** A whole number of bytes, 0 or more; `undefined` gives `fallback`. */
export function bytes(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw invalid(`option ${name} must be a whole number of bytes (0 or more), got ${shown(value)}`);
  }
  return value as number;
}
