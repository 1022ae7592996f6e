/**
 * Scripted mode: `-x` messages or lines piped on stdin are sent as requests, and each
 * response is printed on stdout in the order of the requests. Events and unmatched messages
 * go to stderr; each failure prints `evtws: CODE: message` on stderr.
 *
 * Resolves with 0 when every request got its response, 1 when any failed, and 1 at once when
 * the connection fails for good (a failed dial, or a drop without reconnect); a close by the
 * server is then reported as `evtws: closed 4001 go away`, even when quiet.
 */

import type { CloseInfo, Conn, Data, MessageKey } from "../index.js";
import type { ClientOptions } from "./args.js";
import { closeWithin } from "./close.js";
import { printConnEvents } from "./conn-events.js";
import { echoKey, encodeLine, jsonField } from "./conn-options.js";
import { NotUtf8Error } from "./lines.js";
import { displayUrl, notEncoded, UsageError } from "./parse.js";
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

/** Bytes handed to the socket but not yet written above which no new request is started. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * Requests sent and not yet printed, at most, whatever `--concurrency` says (0 is no limit):
 * the library's `maxPendingRequests` default, which refuses one more with `ERR_TOO_MANY_PENDING`.
 */
export const MAX_OUTSTANDING = 65_536;

/**
 * Sends every message of `messages` as a request on `conn` and prints the responses in order.
 *
 * Messages are taken only when there is room: the connection is open, fewer than
 * `o.concurrency` requests are waiting to be printed (0 is no limit, up to
 * {@link MAX_OUTSTANDING}), the socket's buffer
 * is below {@link MAX_BUFFERED_BYTES}, stdout's reader is not behind (so answers do not pile
 * up in memory for a slow reader), and (with `--match id`) no request with the same id is
 * in flight: the library refuses a second pending request with one id, so a line repeating an
 * id waits for the first to settle, rather than failing only when stdin came fast. Until then `messages` is not read, so piped stdin is
 * paused by backpressure, nothing waits in the library's queue, and each request's `--timeout`
 * starts when it goes on the wire.
 *
 * @param messages - the `-x` list (an array), or the lines of stdin (read as they are needed).
 * @param stop - aborted when stdout is gone (EPIPE) or a signal came: the run closes the
 *   connection with 1000 (waiting at most 1 s) and resolves with 0, printing nothing more (the
 *   caller turns a signal into 130 or 143).
 * @param stream - print each message that answers no request on stdout, one line each (a
 *   pipeline without `--responses-only`); otherwise it goes to stderr as `(unmatched)`.
 * With `o.noClose` the run does not end with its input: the connection, and the stream of
 * pushes, stays open until it closes for good or `stop` is aborted (a signal). A close by the
 * server with 1000 is then the stream's normal end, not a failure; so it is during `o.waitMs`.
 * @param unhold - stops holding pushes back for a slow reader (push-flow.ts); called when the
 *   `o.waitMs` wait begins, so everything that arrives in it is read and printed.
 *
 * @returns 0 when every request got its response, 1 after a failure, 2 when a line is a usage
 *   mistake (not JSON under `--json`); reading stops at that line.
 */
export async function runScript(
  conn: Conn,
  o: ClientOptions & { url: string },
  printer: Printer,
  messages: Iterable<string> | AsyncIterable<string>,
  stop?: AbortSignal,
  stream = false,
  unhold?: () => void,
): Promise<number> {
  const offEvents = printConnEvents(conn, printer, displayUrl(o.url), () => o.verbose);
  // A response is printed one promise step after it settles (when every earlier request's
  // outcome is printed); a push one microtask after it arrives. Both steps queue in arrival
  // order, so a response and a push that came in the same read print in the order they came.
  const offMessage = conn.on("message", (msg) => {
    if (lateKeys.size > 0) answered(keyOf(msg));
    queueMicrotask(() => (stream ? printer.push(msg) : printer.aside(msg)));
  });
  let lastError: Error | undefined;
  const offError = conn.on("error", (error) => {
    lastError = error;
  });
  let lastClose: CloseInfo | undefined;
  const offClose = conn.on("close", (info) => {
    lastClose = info;
  });
  const printed = new WeakSet<object>();
  let failures = 0;
  let usageMistake = false;
  // Outcomes of the requests sent, in request order; printed from the head as they settle.
  // A linked list, so taking the head is O(1) however many are in flight (--concurrency 0).
  type Slot = { outcome: Outcome | undefined; context: string; next: Slot | undefined };
  let head: Slot | undefined;
  let tail: Slot | undefined;
  let drained: Array<() => void> = [];
  /** Resolves once every request sent so far has its outcome printed. */
  const whenDrained = (): Promise<void> =>
    head === undefined ? Promise.resolve() : new Promise((resolve) => drained.push(resolve));
  let stopped = false;
  const label = Array.isArray(messages) ? "message" : "line";
  const limit = Math.min(o.concurrency > 0 ? o.concurrency : Number.POSITIVE_INFINITY, MAX_OUTSTANDING);
  // Requests sent and not yet printed: a slot is freed when its outcome is printed, so
  // answers held for an earlier, slower request count too and memory stays bounded.
  let outstanding = 0;
  // The ids of the requests in flight (`--match id`), freed as each settles.
  const idsInFlight = new Set<MessageKey>();
  // What an answer is known by: its id (`--match id`), or the whole message (`--match echo`,
  // whose answer is identical to its request).
  const keyOf = (data: Data): MessageKey | undefined =>
    o.match.kind === "id" ? jsonField(data, o.match.path) : echoKey(data);
  // The keys of requests that timed out, whose answers may still come, with how many may: a
  // later line with the same id (or, with echo, the same message) would take that late answer
  // for its own. It waits until a message with the key arrives for each (the late answer,
  // printed as one that answers no request), the connection opens again (no answer comes on a
  // new socket), or one more --timeout has passed.
  const lateKeys = new Map<MessageKey, { timer: NodeJS.Timeout; n: number }>();
  const answered = (key: MessageKey | undefined, all = false) => {
    const late = key === undefined ? undefined : lateKeys.get(key);
    if (late === undefined) return;
    if (--late.n > 0 && !all) return;
    clearTimeout(late.timer);
    lateKeys.delete(key!);
    poke();
  };
  const forgetLateKeys = () => {
    for (const { timer } of lateKeys.values()) clearTimeout(timer);
    lateKeys.clear();
  };

  // One waiter at most (the sending loop); woken by a state change, a printed outcome or stop.
  let wake: (() => void) | undefined;
  const poke = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  // Lines wait for the `connected` listeners (after --on-connect's, which run first), so the
  // --on-connect messages go out before them on every connection.
  let ready = false;
  const offState = conn.on("state", ({ newState }) => {
    if (newState !== "open") ready = false;
    poke();
  });
  const offReady = conn.on("connected", () => {
    ready = true;
    forgetLateKeys();
    poke();
  });

  const report = (error: Error, context = "") => {
    if (printed.has(error)) return;
    printed.add(error);
    const code = (error as { code?: unknown }).code;
    const where = typeof code === "string" && CONNECTION_ERRORS.has(code) ? "" : context;
    printer.fatal({ code, message: `${error.message}${where}`, cause: error.cause });
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

  // The connection failing for good, or stdout closing, ends the run once the requests made
  // so far are reported.
  let dialed: Promise<void> = Promise.resolve();
  let dialFailed = false;
  const gone = new Promise<void>((resolve) => {
    dialed = conn.dial(o.url, o.subprotocols).catch((error: Error) => {
      dialFailed = true;
      fail(error);
      resolve();
    });
    conn.on("state", ({ newState }) => {
      if (newState === "closed") void Promise.resolve().then(() => whenDrained().then(() => resolve()));
    });
    const onStop = () => {
      stopped = true;
      poke();
      resolve();
    };
    if (stop?.aborted) onStop();
    else stop?.addEventListener("abort", onStop, { once: true });
  });

  /** Prints the settled outcomes at the head of the list, in request order. */
  const printSettled = () => {
    while (head?.outcome !== undefined) {
      const { outcome, context } = head;
      head = head.next;
      if (head === undefined) tail = undefined;
      outstanding--;
      if (stopped) continue;
      if (outcome.ok) printer.result(outcome.response);
      else fail(outcome.error, context);
    }
    poke();
    if (head === undefined && drained.length > 0) {
      const waiters = drained;
      drained = [];
      for (const resolve of waiters) resolve();
    }
  };

  const ended = () => stopped || dialFailed || conn.state === "closed";
  const idFree = (id: MessageKey | undefined) =>
    id === undefined || (!idsInFlight.has(id) && !lateKeys.has(id));
  const hasRoom = (id: MessageKey | undefined) =>
    ready &&
    conn.state === "open" &&
    outstanding < limit &&
    idFree(id) &&
    !printer.behind() &&
    conn.bufferedAmount < MAX_BUFFERED_BYTES;
  /** Waits until a request with `id` may be sent; false when the run is over instead. */
  const room = async (id: MessageKey | undefined): Promise<boolean> => {
    while (!ended()) {
      if (hasRoom(id)) return true;
      await new Promise<void>((resolve) => {
        wake = resolve;
        // No event says the socket's buffer (or stdout's) drained: look again shortly.
        if (ready && conn.state === "open" && outstanding < limit && idFree(id)) setTimeout(poke, 10);
      });
    }
    return false;
  };

  // A line stdin cannot give as text (not UTF-8) ends the input: the lines before it are answered.
  let read = 0;
  const input = (async function* () {
    try {
      for await (const line of messages) {
        read++;
        yield line;
      }
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      usageMistake = true;
      // Under --binary-in a line must be base64 or hex text: raw bytes are that mistake, and
      // "send bytes with --binary-in" would be no help to one who gave it.
      const why =
        error instanceof NotUtf8Error && o.binaryIn !== undefined ? notEncoded(o.binaryIn) : error.message;
      printer.fatal({ code: error.code, message: `${why} (${label} ${read + 1})` });
    }
  })();

  const sendAll = async () => {
    let n = 0;
    for await (const line of input) {
      n++;
      // A blank stdin line is skipped; an -x message is sent as given, even an empty one.
      if (label === "line" && line.trim() === "") continue;
      const context = ` (${label} ${n}: ${excerpt(line)})`;
      let data: Data;
      try {
        data = encodeLine(line, o);
      } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        usageMistake = true;
        printer.fatal({ code: error.code, message: `${error.message}${context}` });
        break;
      }
      const id = keyOf(data);
      if (!(await room(id))) break;
      // Only ids: the library refuses a second pending request with one id, not two identical echoes.
      if (id !== undefined && o.match.kind === "id") idsInFlight.add(id);
      const slot: Slot = { outcome: undefined, context, next: undefined };
      if (tail === undefined) head = slot;
      else tail.next = slot;
      tail = slot;
      outstanding++;
      const settle = (outcome: Outcome) => {
        if (id !== undefined) {
          idsInFlight.delete(id);
          const code = outcome.ok ? undefined : (outcome.error as { code?: unknown }).code;
          if (code === "ERR_REQUEST_TIMEOUT") {
            const late = lateKeys.get(id);
            if (late !== undefined) clearTimeout(late.timer);
            lateKeys.set(id, {
              timer: setTimeout(() => answered(id, true), o.timeoutMs),
              n: (late?.n ?? 0) + 1,
            });
          }
        }
        slot.outcome = outcome;
        printSettled();
      };
      try {
        conn.request(data).then(
          (response) => settle({ ok: true, response }),
          (error: Error) => settle({ ok: false, error }),
        );
      } catch (error) {
        settle({ ok: false, error: error as Error });
      }
    }
    await whenDrained();
  };

  // With no messages at all, the run still reports whether the connection could be made.
  // With --no-close it then waits for the connection to end for good, or for `stop`; with
  // --wait, for that long at most.
  let waitTimer: NodeJS.Timeout | undefined;
  // Every request has its answer and the run only waits for what else arrives (-n, -w).
  let lingering = false;
  const linger = (): Promise<void> | undefined => {
    if (o.noClose) return gone;
    if (o.waitMs === undefined || o.waitMs <= 0 || dialFailed) return undefined;
    lingering = true;
    // A wait the user bounded reads all that arrives: held back for a slow reader, the server
    // would send less in it, and what waited in TCP's buffers would be lost at its end.
    unhold?.();
    return Promise.race([gone, new Promise<void>((resolve) => (waitTimer = setTimeout(resolve, o.waitMs)))]);
  };
  const done = sendAll()
    .then(() => dialed)
    .then(linger);
  await Promise.race([done, gone]);
  clearTimeout(waitTimer);
  // Not when a request failed with it: that failure is reported as the close, below.
  // Nor when the policy gave up: a server that closes every connection with 1000 under
  // --max-attempts ends in exhaustion, a failure, whatever the last close's code.
  const gaveUp = (lastError as { code?: unknown } | undefined)?.code === "ERR_RECONNECT_EXHAUSTED";
  const normalEnd = (o.noClose || lingering) && lastClose?.code === 1000 && failures === 0 && !gaveUp;
  if (conn.state === "closed" && !dialFailed && !stopped && !normalEnd) {
    // The connection ended for good on its own: say why, once, even when quiet.
    failures++;
    // A close our side started (an oversized message, a dead peer) is told by its error: the
    // bare code would read as the server's close.
    const ours = lastClose?.closedBy === "client" && lastError !== undefined;
    const closed =
      lastClose !== undefined && lastClose.code !== 1006 && !ours
        ? `closed ${lastClose.code}${lastClose.reason === "" ? "" : ` ${lastClose.reason}`}`
        : undefined;
    if (gaveUp && closed !== undefined && lastError?.cause === undefined) {
      // Giving up after a close the server sent: say both (-q showed neither before).
      printer.fatal({ code: "ERR_RECONNECT_EXHAUSTED", message: `${lastError?.message}: ${closed}` });
    } else if (closed !== undefined && !gaveUp) printer.fatal({ message: closed });
    else report(lastError ?? new Error("the connection closed"));
  }
  const quietly = stopped;
  stopped = true;
  forgetLateKeys();
  offEvents();
  offMessage();
  offError();
  offClose();
  offState();
  offReady();
  await closeWithin(conn);
  if (quietly) return 0;
  if (usageMistake) return 2;
  return failures > 0 ? 1 : 0;
}
