/**
 * The `evtws` command line, declared with commander: options, help text, and the typed
 * {@link Command} it parses to.
 *
 * Parsing only: nothing here opens a socket or decides defaults that depend on the mode
 * (interactive or scripted); `client-options.ts` does that. Value checks live in `parse.ts`
 * so they can be tested without commander.
 */

import { InvalidArgumentError, Option, Command as Program } from "commander";
import {
  type BinaryEncoding,
  joinHeaders,
  type MatchRule,
  parseBinaryEncoding,
  parseBytes,
  parseCount,
  parseDuration,
  parseHeader,
  parseMatch,
  parseOrigin,
  parsePort,
  parseSubprotocol,
  parseTimerDuration,
  parseUrl,
  UsageError,
} from "./parse.js";

/** Options of a client session (interactive or scripted), as typed by the user. */
export interface ClientOptions {
  /** The server URL; undefined starts the embedded server and connects to it. */
  url: string | undefined;
  subprotocols: string[];
  headers: Record<string, string>;
  /** False after `--no-reconnect`. */
  reconnect: boolean;
  minDelayMs: number | undefined;
  maxDelayMs: number | undefined;
  maxAttempts: number | undefined;
  /** Undefined leaves the mode's default (30 s interactive, off in scripts). */
  pingIntervalMs: number | undefined;
  pingMsg: string | undefined;
  pongMsg: string | undefined;
  pongTimeoutMs: number | undefined;
  json: boolean;
  match: MatchRule;
  binary: boolean;
  insecure: boolean;
  quiet: boolean;
  /** Messages of `-x`, in order. */
  execute: string[];
  /** Deadline of each scripted request, in ms, counted from its send. */
  timeoutMs: number;
  /** Scripted requests sent and not yet printed, at most; 0 is no limit. */
  concurrency: number;
  /** In a pipeline, print responses only: messages that answer no request go to stderr. */
  responsesOnly: boolean;
  /**
   * `-n/--no-close`: keep the connection (and the stream) open after stdin ends, until the
   * server closes or SIGINT/SIGTERM.
   */
  noClose: boolean;
  /**
   * `--proxy <url>`: that HTTP proxy; `--no-proxy` (false) or `--proxy ""` (as curl): none;
   * absent: the proxy environment variables, as curl reads them.
   */
  proxy?: string | false;
  /** `--binary-in`: each line is decoded and sent as a binary frame. */
  binaryIn: BinaryEncoding | undefined;
  /** `--hex`: binary frames print as hex (in a pipeline they print as base64 otherwise). */
  hex: boolean;
  /** `--ca`, `--cert`, `--key`: paths of PEM files; `--passphrase` unlocks the key. */
  ca: string | undefined;
  cert: string | undefined;
  key: string | undefined;
  passphrase: string | undefined;
  /** `--origin`: the handshake's Origin header. */
  origin: string | undefined;
  connectTimeoutMs: number | undefined;
  maxMessageBytes: number | undefined;
  /** The backoff's stability window (`reconnect.resetAfterMs`). */
  resetAfterMs: number | undefined;
  /** `--on-connect`: sent after every connect and reconnect, before anything else. */
  onConnect: string[];
  /** `-w/--wait`: after the last response, keep printing what arrives this long, in ms. */
  waitMs: number | undefined;
  /** `-v/--verbose`: pongs with their round-trip time, and the connection's log lines on stderr. */
  verbose: boolean;
  /** `--trace`: as -v, plus the size of each message sent and received. */
  trace: boolean;
}

/** Options of `evtws serve`. */
export interface ServeOptions {
  host: string;
  port: number;
  mode: "echo" | "id-reply";
  /** Cut every connection this often, in ms; undefined never. */
  dropEveryMs: number | undefined;
  /** Stop reading (no replies, no pongs) this long after each connection opens, in ms. */
  stallAfterMs: number | undefined;
  /** Wait before each reply, in ms. */
  delayMs: number;
  quiet: boolean;
}

/** What the command line asks for. */
export type Command = { kind: "client"; options: ClientOptions } | { kind: "serve"; options: ServeOptions };

/** Where commander writes help and errors; tests and `main` pass the process streams. */
export interface ArgsOutput {
  writeOut(text: string): void;
  writeErr(text: string): void;
}

/** Default request deadline of scripted mode, in ms. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** Default limit of scripted requests in flight. */
export const DEFAULT_CONCURRENCY = 100;

function checked<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      if (error instanceof UsageError) throw new InvalidArgumentError(error.message);
      throw error;
    }
  };
}

const seconds = checked((text) => parseDuration(text, "s"));
const millis = checked((text) => parseDuration(text, "ms"));
/** Waits evtws times itself: a Node timer cannot wait longer than about 24.8 days. */
const timerSeconds = checked((text) => parseTimerDuration(text, "s"));
const timerMillis = checked((text) => parseTimerDuration(text, "ms"));
const collect = (value: string, previous: string[] = []) => [...previous, value];
const subprotocol = checked(parseSubprotocol);
/** Each `-s` is checked here: the library would refuse the list only at dial(). */
const collectSubprotocol = (value: string, previous: string[] = []) => {
  if (previous.includes(value)) throw new InvalidArgumentError(`"${value}" is offered twice`);
  return [...previous, subprotocol(value)];
};
/**
 * Each `-H`, checked once parsing is done: commander quotes a value its parser refuses, and a
 * header's may be a secret.
 */
function headers(values: string[]): Record<string, string> {
  return joinHeaders(
    values.map((value, i) => {
      try {
        return parseHeader(value);
      } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        throw new UsageError(`--header ${i + 1} ${error.message.replace(/^it /, "")}`);
      }
    }),
  );
}

/** Each example: the command and what it does. */
const EXAMPLES: [string, string][] = [
  ["evtws", "embedded echo server + session (what npm start runs)"],
  ["evtws ws://127.0.0.1:8080", "interactive session"],
  ['evtws -x \'{"id":1,"op":"ping"}\' --json ws://host/api', "one request; its response on stdout"],
  ["seq 1 100000 | evtws -q ws://host/echo", "every line a request, answers in order"],
  ["evtws -n --json ws://host/feed | jq .price", "follow a feed: each push one line of compact JSON"],
  ["evtws serve --port 8080 --drop-every 10", "a test server: watch your client reconnect"],
];

/**
 * The examples as help text: descriptions in one column two spaces past the longest command
 * that fits, and below a command that does not, so the two never run together.
 */
export function examplesHelp(examples: [string, string][] = EXAMPLES, column = 42): string {
  const lines = ["", "Examples:"];
  for (const [command, what] of examples) {
    const head = `  ${command}`;
    if (head.length + 2 <= column) lines.push(`${head.padEnd(column)}${what}`);
    else lines.push(head, `${" ".repeat(column)}${what}`);
  }
  return lines.join("\n");
}

function clientProgram(version: string): Program {
  return new Program("evtws")
    .description("Event-based WebSocket client: reconnects, pings, matches responses to requests.")
    .version(version, "-V, --version")
    .argument("[url]", "ws:// or wss:// URL; none starts the embedded test server")
    .option("-s, --subprotocol <name>", "offer a subprotocol (repeatable)", collectSubprotocol)
    .option("-H, --header <header>", 'send a handshake header "Name: value" (repeatable)', collect)
    .option("--no-reconnect", "do not reconnect after the connection drops")
    .option("--min-delay <ms>", "first reconnect delay (default 1000ms)", millis)
    .option("--max-delay <ms>", "largest reconnect delay (default 30000ms)", millis)
    .option(
      "--max-attempts <n>",
      "reconnect attempts before giving up (default inf; a script: none, it ends at the first error)",
      checked(parseCount),
    )
    .option(
      "--ping-interval <s>",
      "ping after this much silence; 0 is off (default 30, off in a script)",
      seconds,
    )
    .option("--ping-msg <text>", "ping with this text message instead of a protocol ping")
    .option("--pong-msg <text>", "the reply that answers --ping-msg (default: its echo)")
    .option("--pong-timeout <s>", "declare the peer dead this long after an unanswered ping", seconds)
    .option("--json", "pretty-print JSON messages; check that sent lines are JSON")
    .addOption(
      new Option("--match <rule>", "how responses match requests: echo, id or id:<field>")
        .argParser(checked(parseMatch))
        .default({ kind: "id", path: ["id"] } satisfies MatchRule, "id"),
    )
    .option("--binary", "print binary frames as hex; send lines as binary frames")
    .option("--insecure", "accept invalid TLS certificates (self-signed); warns once")
    .option("-q, --quiet", "print data only: no events, no timestamps")
    .option("-v, --verbose", "show pongs, and log attempts, opens, closes, retries and pings on stderr")
    .option("--trace", "like -v, and log the size of every message sent and received")
    .option("-x, --execute <msg>", "send a message, print its response, exit (repeatable)", collect)
    .option(
      "--timeout <s>",
      "how long each request waits for its response once sent; 0 is forever (default 10)",
      seconds,
    )
    .option(
      "--concurrency <n>",
      `requests in flight at most; stdin waits meanwhile; 0 is no limit (default ${DEFAULT_CONCURRENCY})`,
      checked(parseCount),
    )
    .option(
      "--responses-only",
      "in a pipeline, print only responses; other messages go to stderr as (unmatched)",
    )
    .option(
      "-n, --no-close",
      "keep the connection and the stream open after stdin ends, until closed or signalled",
    )
    .option("--proxy <url>", "connect through this HTTP proxy: http://[user:password@]host:port")
    .option("--no-proxy", "ignore HTTPS_PROXY/HTTP_PROXY/NO_PROXY (read by default, as curl does)")
    .addOption(
      new Option("--binary-in <encoding>", "decode each line (base64 or hex) and send it as a binary frame")
        .argParser(checked(parseBinaryEncoding))
        .conflicts(["binary", "json"]),
    )
    .option("--hex", "print binary frames as hex (in a pipeline they print as base64 otherwise)")
    .option("--ca <file>", "trust the CA certificates in this PEM file (a private CA)")
    .option("--cert <file>", "client certificate (PEM), with --key")
    .option("--key <file>", "private key of --cert (PEM)")
    .option("--passphrase <text>", "passphrase of an encrypted --key")
    .option("--origin <url>", "send this Origin header in the handshake", checked(parseOrigin))
    .option("--connect-timeout <s>", "give up a connection attempt after this long (default 10)", seconds)
    .option(
      "--max-message-size <bytes>",
      "refuse incoming messages above this size, e.g. 64k (default 16m)",
      checked(parseBytes),
    )
    .option("--reset-after <s>", "a connection this old resets the reconnect backoff (default 5)", seconds)
    .option(
      "--on-connect <msg>",
      "send after every connect and reconnect, before anything else (repeatable)",
      collect,
    )
    .addOption(
      new Option("-w, --wait <s>", "after the last response, keep printing what arrives this long")
        .argParser(timerSeconds)
        .conflicts("close"),
    )
    .addHelpText("after", examplesHelp());
}

function serveProgram(): Program {
  return new Program("serve")
    .description("run a local WebSocket test server with fault injection")
    .option("--port <n>", "port to listen on; 0 picks a free one", checked(parsePort), 0)
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .addOption(new Option("--echo", "send every message back (default)").conflicts("idReply"))
    .addOption(new Option("--id-reply", 'answer JSON {"id":…} with {"id":…,"ok":true,"echo":…}'))
    .option("--drop-every <s>", "cut every connection this often; 0 is off", timerSeconds)
    .option(
      "--stall-after <s>",
      "stop reading (no replies, no pongs) this long after a connection opens",
      timerSeconds,
    )
    .option("--delay <ms>", "wait this long before each reply", timerMillis, 0)
    .option("-q, --quiet", "log nothing but the listening URL");
}

/**
 * Parses `argv` (without the node and script entries).
 *
 * @throws CommanderError for bad options, `--help` and `--version` (its `exitCode` says which).
 */
export function parseArgs(argv: string[], version: string, output: ArgsOutput): Command {
  let command: Command | undefined;
  const program = clientProgram(version);
  const serve = serveProgram();
  for (const p of [program, serve]) {
    p.exitOverride().configureOutput({
      writeOut: output.writeOut,
      writeErr: output.writeErr,
      outputError: (text, write) =>
        write(`${text.trimEnd().replace(/^error: /, "evtws: ")} (see evtws --help)\n`),
    });
  }
  serve.action((o: Record<string, unknown>) => {
    command = {
      kind: "serve",
      options: {
        host: o.host as string,
        port: o.port as number,
        mode: o.idReply === true ? "id-reply" : "echo",
        dropEveryMs: o.dropEvery as number | undefined,
        stallAfterMs: o.stallAfter as number | undefined,
        delayMs: o.delay as number,
        quiet: o.quiet === true,
      },
    };
  });
  program.addCommand(serve);
  program.action((url: string | undefined, o: Record<string, unknown>) => {
    command = { kind: "client", options: toClientOptions(url === undefined ? undefined : parseUrl(url), o) };
  });
  program.parse(argv, { from: "user" });
  if (command === undefined) throw new UsageError("nothing to do");
  return command;
}

function toClientOptions(url: string | undefined, o: Record<string, unknown>): ClientOptions {
  return {
    url,
    subprotocols: (o.subprotocol as string[] | undefined) ?? [],
    headers: headers((o.header as string[] | undefined) ?? []),
    reconnect: o.reconnect !== false,
    minDelayMs: o.minDelay as number | undefined,
    maxDelayMs: o.maxDelay as number | undefined,
    maxAttempts: o.maxAttempts as number | undefined,
    pingIntervalMs: o.pingInterval as number | undefined,
    pingMsg: o.pingMsg as string | undefined,
    pongMsg: o.pongMsg as string | undefined,
    pongTimeoutMs: o.pongTimeout as number | undefined,
    json: o.json === true,
    match: o.match as MatchRule,
    binary: o.binary === true,
    insecure: o.insecure === true,
    quiet: o.quiet === true,
    execute: (o.execute as string[] | undefined) ?? [],
    timeoutMs: (o.timeout as number | undefined) ?? DEFAULT_TIMEOUT_MS,
    concurrency: (o.concurrency as number | undefined) ?? DEFAULT_CONCURRENCY,
    responsesOnly: o.responsesOnly === true,
    noClose: o.close === false,
    proxy: o.proxy as string | false | undefined,
    binaryIn: o.binaryIn as BinaryEncoding | undefined,
    hex: o.hex === true,
    ca: o.ca as string | undefined,
    cert: o.cert as string | undefined,
    key: o.key as string | undefined,
    passphrase: o.passphrase as string | undefined,
    origin: o.origin as string | undefined,
    connectTimeoutMs: o.connectTimeout as number | undefined,
    maxMessageBytes: o.maxMessageSize as number | undefined,
    resetAfterMs: o.resetAfter as number | undefined,
    onConnect: (o.onConnect as string[] | undefined) ?? [],
    waitMs: o.wait as number | undefined,
    verbose: o.verbose === true || o.trace === true,
    trace: o.trace === true,
  };
}
