/**
 * The `logger` option: one line per connection event, `evtwebsocket[c1] open url=… ms=12`.
 *
 * A line names the connection and the event, then `key=value` fields. URLs show scheme, host
 * and port only (`redactUrl`); message bodies and headers are never logged. A `close` line
 * carries the close frame's reason as it came (a server may echo the reason `close()` sent), so
 * a reason is no place for a secret. A logger that throws, or returns a promise that rejects, is
 * ignored: logging cannot break a connection. Message sizes per frame are not logged here (too
 * many lines): `diagnostics_channel`'s `evtwebsocket:message:*` carries them on Node.
 */

import type { Clock } from "./clock.js";
import { ErrorCode, EvtWebSocketError, invalidOption } from "./errors.js";
import { type AttemptRecord, complete, type Fields, type ObservedEvent, type Observer } from "./observe.js";
import { shown } from "./option-checks.js";
import type { Done, RequestInit } from "./pending.js";

/**
 * Where log lines go: `console`, a pino or winston logger, or any object with these four
 * functions. Each call gets one string. A method that throws, or is async and rejects, is ignored.
 *
 * @example
 * ```ts
 * new Conn({ logger: console });
 * new Conn({ logger: pino({ level: "debug" }) });
 * ```
 */
export interface Logger {
  /** Attempts, pings and pongs. */
  debug(line: string): void;
  /** Opens and clean closes. */
  info(line: string): void;
  /** Unclean closes, reconnect decisions, dead peers, queue overflow, request timeouts, options a transport ignores. */
  warn(line: string): void;
  /** Errors reported to `onError` or rejecting `dial()`. */
  error(line: string): void;
}

type Level = keyof Logger;

/** Checks the `logger` option. @throws EvtWebSocketError `ERR_INVALID_OPTION`. */
export function toLogger(value: unknown): Logger {
  const l = value as Logger;
  if (!["debug", "info", "warn", "error"].every((k) => typeof l?.[k as Level] === "function"))
    throw invalidOption("option logger must have debug, info, warn and error functions");
  return l;
}

/** Levels other than `warn`. */
const LEVELS: Partial<Record<ObservedEvent, Level>> = {
  attempt: "debug",
  ping: "debug",
  pong: "debug",
  open: "info",
  error: "error",
};

/** A value as it appears in a line: an error as its code and quoted message, a string quoted. */
function show(v: unknown): string {
  return v instanceof EvtWebSocketError ? `${v.code} ${JSON.stringify(v.message)}` : shown(v);
}

/** The observer behind the `logger` option; see the module header. */
export class LogObserver implements Observer, AttemptRecord {
  readonly tracesRequests = true;
  readonly #log: Logger;
  readonly #prefix: string;
  readonly #clock: Clock;
  /** The current attempt's redacted URL and start time (see `complete`): set by each attempt, which comes first. */
  declare url: string;
  declare at: number;

  constructor(log: Logger, id: string, clock: Clock) {
    this.#log = log;
    this.#prefix = `evtwebsocket[${id}] `;
    this.#clock = clock;
  }

  event(kind: ObservedEvent, fields: Fields): void {
    complete(this, this.#clock, kind, fields);
    let line = this.#prefix + kind;
    for (const k in fields) {
      const v = fields[k];
      if (v !== undefined) line += ` ${k}=${show(typeof v === "number" ? Math.round(v * 10) / 10 : v)}`;
    }
    // A clean close is news, an unclean one a warning.
    const level = kind === "close" ? (fields.wasClean ? "info" : "warn") : (LEVELS[kind] ?? "warn");
    try {
      // An async logger's rejection is its throw: left unhandled, it ended the process.
      (this.#log[level](line) as Promise<void> | undefined)?.catch?.(() => {});
    } catch {
      // A logger that throws must not break the connection; it has nowhere else to report.
    }
  }

  sent(): void {}

  received(): void {}

  request<TIn, TOut>(init: RequestInit<TIn, TOut>, register: () => void): void {
    init.done = loggedTimeout(this, init.done);
    register();
  }
}

/** `done`, logging a timeout first; made outside a method for the reason channels.ts's `traced` gives. */
function loggedTimeout<TIn>(log: LogObserver, done: Done<TIn>): Done<TIn> {
  return (error, response) => {
    if ((error as EvtWebSocketError | undefined)?.code === ErrorCode.REQUEST_TIMEOUT)
      log.event("request-timeout", { error });
    done(error, response);
  };
}
