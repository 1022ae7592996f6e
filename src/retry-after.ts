/**
 * Reads an HTTP `Retry-After` header (RFC 9110 10.2.3) as a wait in ms, as a pure function.
 *
 * The header is either delta-seconds (`120`) or an HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`,
 * and the obsolete RFC 850 and asctime forms `Date.parse` also reads). Anything else (a
 * fraction, a sign, a unit, an unreadable date) means the server set no wait: the header is
 * ignored rather than guessed at. Which responses the wait applies to, and how long a wait is
 * honoured, is the reconnect policy's business (`reconnect.ts`), not this module's. Only the
 * Node transport reads response headers, so the browser build does not carry this module.
 */

const DELTA_SECONDS = /^\d+$/;
/** The three HTTP date forms: IMF-fixdate, RFC 850, asctime (which has no zone: it is GMT). */
const IMF_FIXDATE = /^[a-z]{3}, \d{2} [a-z]{3} \d{4} \d{2}:\d{2}:\d{2} gmt$/i;
const RFC_850 = /^[a-z]{6,9}, \d{2}-[a-z]{3}-\d{2} \d{2}:\d{2}:\d{2} gmt$/i;
const ASCTIME = /^[a-z]{3} [a-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/i;

/**
 * The wait a `Retry-After` value asks for, in whole ms (0 for a date already past), or
 * `undefined` when the value is missing or not a valid `Retry-After`.
 *
 * @param value - the header's value (Node gives a string; an array is read by its first entry).
 * @param nowMs - the current wall-clock time in ms since the epoch, for HTTP dates.
 * @example
 * ```ts
 * parseRetryAfter("2", Date.now()) // 2000
 * parseRetryAfter("Wed, 21 Oct 2026 07:28:00 GMT", Date.parse("Wed, 21 Oct 2026 07:27:30 GMT")) // 30000
 * ```
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (text === undefined || text === "") return undefined;
  if (DELTA_SECONDS.test(text)) {
    const ms = Number(text) * 1000;
    return Number.isFinite(ms) ? ms : undefined;
  }
  // Only the three forms HTTP allows: Date.parse alone reads "-1" or "foo 12" as dates, and
  // reads asctime (which has no zone) as local time.
  let at: number;
  if (IMF_FIXDATE.test(text) || RFC_850.test(text)) at = Date.parse(text);
  else if (ASCTIME.test(text)) at = Date.parse(`${text} GMT`);
  else return undefined;
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil(at - nowMs));
}
