/**
 * Scripted mode: `-x` messages or lines piped on stdin are sent as requests, and each
 * response is printed on stdout in the order of the requests. Events and unmatched messages
 * go to stderr; each failure prints `evtws: CODE: message` on stderr.
 *
 * Resolves with 0 when every request got its response, 1 when any failed, and 1 at once when
 * the connection fails for good (a failed dial, or a drop without reconnect).
 */

import type { Conn, Data } from "../index.js";
import type { ClientOptions } from "./args.js";
import { printConnEvents } from "./conn-events.js";
import { encodeLine } from "./conn-options.js";
import { displayUrl } from "./parse.js";
import type { Printer } from "./printer.js";

/** Errors of the connection itself, printed without naming a message. */
const CONNECTION_ERRORS = new Set([
  "ERR_DIAL_FAILED",
  "ERR_CONNECT_TIMEOUT",
  "ERR_RECONNECT_EXHAUSTED",
  "ERR_CLOSED",
]);

type Outcome = { ok: true; response: Data } | { ok: false; error: Error };

function excerpt(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Sends every message of `messages` as a request on `conn` and prints the responses in order.
 *
 * @param messages - the `-x` list, or the lines of stdin (read as they arrive).
 */
export async function runScript(
  conn: Conn,
  o: ClientOptions & { url: string },
  printer: Printer,
  messages: Iterable<string> | AsyncIterable<string>,
): Promise<number> {
  const offEvents = printConnEvents(conn, printer, displayUrl(o.url));
  const offMessage = conn.on("message", (msg) => printer.aside(msg));
  let lastError: Error | undefined;
  const offError = conn.on("error", (error) => {
    lastError = error;
  });
  const printed = new WeakSet<object>();
  let failures = 0;
  let chain = Promise.resolve();
  let stopped = false;

  const report = (error: Error, context = "") => {
    if (printed.has(error)) return;
    printed.add(error);
    const code = (error as { code?: unknown }).code;
    const where = typeof code === "string" && CONNECTION_ERRORS.has(code) ? "" : context;
    printer.fatal({ code, message: `${error.message}${where}` });
  };

  // A request failing because the connection ended for good is not reported on its own: the
  // connection's reason is, once, below.
  const fail = (error: Error, context = "") => {
    if (stopped) return;
    failures++;
    const code = (error as { code?: unknown }).code;
    if (code === "ERR_DISCONNECTED" && conn.state === "closed") return;
    report(error, context);
  };

  // The connection failing for good ends the run once the requests made so far are reported.
  let dialed: Promise<void> = Promise.resolve();
  let dialFailed = false;
  const gone = new Promise<void>((resolve) => {
    dialed = conn.dial(o.url, o.subprotocols).catch((error: Error) => {
      dialFailed = true;
      fail(error);
      resolve();
    });
    conn.on("state", ({ newState }) => {
      if (newState === "closed") void Promise.resolve().then(() => chain.then(() => resolve()));
    });
  });

  const sendAll = async () => {
    let n = 0;
    for await (const line of messages) {
      if (line.trim() === "") continue;
      const context = ` (message ${++n}: ${excerpt(line)})`;
      let outcome: Promise<Outcome>;
      try {
        outcome = conn.request(encodeLine(line, o)).then(
          (response) => ({ ok: true, response }),
          (error: Error) => ({ ok: false, error }),
        );
      } catch (error) {
        outcome = Promise.resolve({ ok: false, error: error as Error });
      }
      chain = chain.then(async () => {
        const result = await outcome;
        if (stopped) return;
        if (result.ok) printer.result(result.response);
        else fail(result.error, context);
      });
    }
    await chain;
  };

  // With no messages at all, the run still reports whether the connection could be made.
  await Promise.race([sendAll().then(() => dialed), gone]);
  if (conn.state === "closed" && !dialFailed && !stopped) {
    // The connection ended for good on its own: say why, once, even when quiet.
    failures++;
    report(lastError ?? new Error("the connection closed"));
  }
  stopped = true;
  offEvents();
  offMessage();
  offError();
  await conn.close().catch(() => {});
  return failures > 0 ? 1 : 0;
}
