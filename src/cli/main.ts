/**
 * The `evtws` entry point: parses the command line, picks the mode (interactive, scripted,
 * `serve`, or the embedded-server demo that `npm start` runs) and turns every outcome into an
 * exit code: 0 success, 1 a connection or request failure, 2 a usage mistake, 129 / 130 / 143
 * after SIGHUP / SIGINT / SIGTERM (the connection closed with 1000 first). Usage mistakes
 * print one line, never a stack trace.
 */

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CommanderError } from "commander";
import { Conn, isEvtWebSocketError } from "../index.js";
import { type ClientOptions, parseArgs, type ServeOptions } from "./args.js";
import { createConnOptions, encodeLine } from "./conn-options.js";
import { shouldColor, timestamp } from "./format.js";
import { readLines } from "./lines.js";
import { UsageError } from "./parse.js";
import { Printer } from "./printer.js";
import { holdPushesWhileBehind } from "./push-flow.js";
import { runScript } from "./script.js";
import { runSession } from "./session.js";
import { startTestServer, type TestServer } from "./test-server.js";
import { lineLogger, traceSizes } from "./verbose.js";

/** The command-line flag behind each connection option the library checks (its range, mostly). */
const FLAGS: Record<string, string> = {
  connectTimeoutMs: "--connect-timeout",
  pingIntervalMs: "--ping-interval",
  pongTimeoutMs: "--pong-timeout",
  requestTimeoutMs: "--timeout",
  maxMessageBytes: "--max-message-size",
  "reconnect.minDelayMs": "--min-delay",
  "reconnect.maxDelayMs": "--max-delay",
  "reconnect.resetAfterMs": "--reset-after",
  "reconnect.maxAttempts": "--max-attempts",
  pingMsg: "--ping-msg",
  protocols: "--subprotocol",
  headers: "--header",
  proxy: "--proxy",
};

/**
 * A library option error, led by the flag the user typed: "--connect-timeout: option
 * connectTimeoutMs must be …". The library's own words follow, in its units (ms).
 */
function withFlag(message: string): string {
  const name = /^option ([\w.]+)/.exec(message)?.[1];
  const flag = name === undefined ? undefined : (FLAGS[name] ?? FLAGS[name.split(".")[0]!]);
  return flag === undefined ? message : `${flag}: ${message}`;
}

const { stdin, stdout, stderr, env } = process;

// A stderr whose reader went away (`2> >(head -1)`) loses what would be said there, not the
// run: unheard, its EPIPE was thrown and ended the process in the middle of a stream.
stderr.on("error", () => {});

/** The version in evtwebsocket's package.json, found upwards from this file (src/cli/ or dist/). */
function version(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
    if (pkg.name === "evtwebsocket" && pkg.version !== undefined) return pkg.version;
  }
  return "unknown";
}

function banner(url: string): string {
  return [
    `evtws: embedded echo server on ${url} (give a URL to talk to another server)`,
    `Try:  hello   {"id":1,"op":"hi"}   /ping   /stats   /drop (the server cuts the line: watch`,
    "      the reconnect)   /close   /reconnect   /help   /quit",
  ].join("\n");
}

/**
 * Prints the one `--insecure` warning. The library reports `tls.rejectUnauthorized: false`
 * through Node's warning channel (code `EVTWEBSOCKET_INSECURE_TLS`); a CLI user gets ours
 * instead, on stderr, even under `NODE_NO_WARNINGS`.
 */
function warnInsecure(printer: Printer): void {
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const options = rest[0] as { code?: unknown } | undefined;
    if (typeof options === "object" && options?.code === "EVTWEBSOCKET_INSECURE_TLS") return;
    emitWarning(warning, ...rest);
  }) as typeof process.emitWarning;
  printer.warn(
    "--insecure: TLS certificates are not verified; anyone on the path can read and change traffic",
  );
}

/**
 * An AbortSignal aborted when stdout is closed under us (`evtws … | head -1`: EPIPE). From
 * then on nothing more is written there; the run closes the connection and exits 0.
 */
function stdoutGone(): AbortSignal {
  const gone = new AbortController();
  stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (gone.signal.aborted) return;
    if (error.code === "EPIPE" || error.code === "ERR_STREAM_DESTROYED") gone.abort();
    else {
      stderr.write(`evtws: stdout: ${error.message}\n`);
      process.exit(1);
    }
  });
  return gone.signal;
}

/**
 * The exit status after a signal, as a shell reports it: 128 + the signal's number. SIGHUP
 * comes when the terminal goes away (its window closed, an ssh session dropped).
 */
const SIGNAL_EXIT = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;

/** SIGHUP, SIGINT or SIGTERM, once received: aborts `signal`; `received` says which came. */
interface Signalled {
  readonly signal: AbortSignal;
  received: keyof typeof SIGNAL_EXIT | undefined;
}

/**
 * Catches SIGHUP, SIGINT and SIGTERM: the run then closes the connection with 1000 (waiting at
 * most 1 s for the close handshake) and exits 129, 130 or 143, as a shell expects of a killed
 * command. (Node resets an inherited ignore of SIGHUP at startup, so `nohup` never kept
 * evtws alive; catching it loses nothing.)
 * A second signal finds no handler and ends the process at once.
 */
function catchSignals(): Signalled {
  const got = new AbortController();
  const caught: Signalled = { signal: got.signal, received: undefined };
  caughtSignals = caught;
  for (const name of ["SIGHUP", "SIGINT", "SIGTERM"] as const) {
    process.once(name, () => {
      caught.received ??= name;
      got.abort();
      onSignal?.(name);
    });
  }
  return caught;
}

/** What {@link catchSignals} catches, once it was called (a client run). */
let caughtSignals: Signalled | undefined;
/** Told of a signal that comes once the run is over (while stdout is flushed). */
let onSignal: ((name: keyof typeof SIGNAL_EXIT) => void) | undefined;

/**
 * How long stdout's reader gets, after a signal, to take what stdout still holds: a reader that
 * stopped reading (stuck, or a pager left open) must not keep evtws alive. The same bound as the
 * close handshake's.
 */
const SIGNAL_FLUSH_MS = 1000;

/** A signal aborted as soon as any of `signals` is. */
function anyOf(signals: AbortSignal[]): AbortSignal {
  const all = new AbortController();
  for (const signal of signals) {
    if (signal.aborted) all.abort();
    else signal.addEventListener("abort", () => all.abort(), { once: true });
  }
  return all.signal;
}

async function runClient(o: ClientOptions): Promise<number> {
  // A person at a terminal gets the session; anything else is a pipeline, where stdout
  // carries data only (no prompt, no colour, events on stderr).
  const scripted = o.execute.length > 0 || stdin.isTTY !== true || stdout.isTTY !== true;
  // Usage mistakes are reported before any connection is made.
  for (const [option, messages] of [
    ["-x", o.execute],
    ["--on-connect", o.onConnect],
  ] as const) {
    for (const [i, message] of messages.entries()) {
      try {
        encodeLine(message, o);
      } catch (error) {
        if (error instanceof UsageError) throw new UsageError(`${option} message ${i + 1}: ${error.message}`);
        throw error;
      }
    }
  }
  const printer = new Printer({
    stdout,
    stderr,
    color: { stdout: shouldColor(stdout, env), stderr: shouldColor(stderr, env) },
    quiet: o.quiet,
    body: { json: o.json, binary: o.binary || o.hex, pipeline: stdout.isTTY !== true },
    events: scripted ? "stderr" : "stdout",
  });
  let conn: Conn;
  try {
    // The embedded server runs on this machine: the proxy variables are for the outside world
    // (a proxy would dial its own 127.0.0.1). An explicit --proxy is still honoured.
    const own = o.url === undefined && o.proxy === undefined ? { ...o, proxy: false as const } : o;
    const options = createConnOptions(own, scripted ? "scripted" : "interactive");
    if (o.verbose) options.logger = lineLogger((text) => stderr.write(text));
    conn = new Conn(options);
    if (o.trace) traceSizes(conn.id, (text) => stderr.write(text));
  } catch (error) {
    if (isEvtWebSocketError(error, "ERR_INVALID_OPTION")) throw new UsageError(withFlag(error.message));
    throw error;
  }
  if (o.insecure) warnInsecure(printer);
  let server: TestServer | undefined;
  let url = o.url;
  if (url === undefined) {
    server = await startTestServer({
      host: "127.0.0.1",
      port: 0,
      mode: "echo",
      delayMs: 0,
      dropEveryMs: undefined,
      stallAfterMs: undefined,
    });
    url = server.url;
  }
  const signals = catchSignals();
  const exitCode = (code: number) => (signals.received === undefined ? code : SIGNAL_EXIT[signals.received]);
  try {
    const run = { ...o, url };
    if (!scripted) {
      const session = runSession(
        conn,
        run,
        printer,
        { stdin, stdout },
        server && banner(url),
        signals.signal,
      );
      return exitCode(await session);
    }
    const messages = o.execute.length > 0 ? o.execute : readLines(stdin);
    // In a pipeline, messages that answer no request are data too: one line each on stdout.
    const stream = stdout.isTTY !== true && !o.responsesOnly;
    const stop = anyOf([stdoutGone(), signals.signal]);
    // A slow reader of the stream holds the socket back, rather than memory growing with the feed.
    const release = stream ? holdPushesWhileBehind(conn, stdout) : undefined;
    try {
      return exitCode(await runScript(conn, run, printer, messages, stop, stream, release));
    } finally {
      release?.();
    }
  } finally {
    await server?.close();
  }
}

async function runServe(o: ServeOptions): Promise<number> {
  const color = shouldColor(stdout, env);
  // A log whose reader went away (`evtws serve | head -3`) loses the lines that would be said
  // there, not the server: unheard, its EPIPE ended the process at the next connection.
  stdout.on("error", () => {});
  const log = (line: string) => {
    if (!o.quiet && !stdout.destroyed) stdout.write(`${timestamp(new Date())} ${line}\n`);
  };
  const server = await startTestServer(o, log);
  const faults = [
    o.mode,
    // 0 is off (the server never drops), as --ping-interval 0 is.
    o.dropEveryMs === undefined || o.dropEveryMs <= 0 ? "" : `drop every ${o.dropEveryMs} ms`,
    o.stallAfterMs === undefined ? "" : `stall after ${o.stallAfterMs} ms`,
    o.delayMs > 0 ? `reply delay ${o.delayMs} ms` : "",
  ].filter((f) => f !== "");
  const listening = `listening on ${server.url} (${faults.join(", ")}); Ctrl-C stops`;
  stdout.write(`${color ? `\x1b[1m${listening}\x1b[22m` : listening}\n`);
  await new Promise<void>((resolve) => {
    // SIGHUP: the terminal it runs in was closed.
    for (const name of ["SIGHUP", "SIGINT", "SIGTERM"] as const) process.once(name, resolve);
  });
  // Going away: each client gets a close frame with 1001, as a server being stopped sends.
  await server.close(1001);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  try {
    const command = parseArgs(argv, version(), {
      writeOut: (text) => stdout.write(text),
      writeErr: (text) => stderr.write(text),
    });
    return command.kind === "serve" ? await runServe(command.options) : await runClient(command.options);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof UsageError) {
      stderr.write(`evtws: ${error.message}\n`);
      return 2;
    }
    const code = (error as { code?: unknown }).code;
    stderr.write(`evtws: ${typeof code === "string" ? `${code}: ` : ""}${(error as Error).message}\n`);
    return 1;
  }
}

let status = await main(process.argv.slice(2));
if (stdout.destroyed) process.exit(status);
else {
  // What stdout holds reaches its reader first; after a signal, for SIGNAL_FLUSH_MS at most.
  const bounded = () => setTimeout(() => process.exit(status), SIGNAL_FLUSH_MS).unref();
  if (caughtSignals?.received !== undefined) bounded();
  else
    onSignal = (name) => {
      status = SIGNAL_EXIT[name];
      bounded();
    };
  stdout.write("", () => process.exit(status));
}
