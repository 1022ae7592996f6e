/**
 * Turns the command line into `ConnOptions` for the library, and typed lines into frames.
 *
 * The CLI always uses the raw codec: a JSON codec would drop every non-JSON frame with
 * `ERR_DECODE`, and a terminal should show what arrived. JSON is parsed here, for matching
 * (`--match id`) and by the formatter, for display. Mode-dependent defaults live here too:
 * a script fails on the first connection error unless `--max-attempts` asks for retries, and
 * only an interactive session pings by default.
 */

import type { Conn, ConnOptions, Data, MessageKey } from "../index.js";
import type { ClientOptions } from "./args.js";
import type { MatchRule } from "./parse.js";
import { decodeBinaryLine, parseProxy, UsageError } from "./parse.js";
import { readTlsOptions } from "./tls.js";

/** Interactive sessions ping after this much silence unless `--ping-interval` says otherwise. */
export const INTERACTIVE_PING_INTERVAL_MS = 30_000;

/** Interactive (a person at a prompt) or scripted (`-x` or piped stdin). */
export type Mode = "interactive" | "scripted";

function text(data: Data): string {
  return typeof data === "string" ? data : Buffer.from(data).toString("utf8");
}

/** The value at `path` in a JSON message, when it is a string or a number. */
export function jsonField(data: Data, path: string[]): MessageKey | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text(data));
  } catch {
    return undefined;
  }
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return typeof value === "string" || typeof value === "number" ? value : undefined;
}

/**
 * A message as a map key, for `--match echo` (an echo answers the request identical to it):
 * text and bytes apart, as {@link sameData} tells them.
 */
export function echoKey(data: Data): string {
  return typeof data === "string" ? `t${data}` : `b${Buffer.from(data).toString("latin1")}`;
}

function sameData(a: Data, b: Data): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  return Buffer.from(a).equals(Buffer.from(b));
}

/**
 * The matching options for a rule. With `id`, a request without the field is answered by the
 * next message that answers nothing else, so `-x hello` works against any server.
 */
export function matchOptions(rule: MatchRule): Pick<ConnOptions<Data, Data>, "messageId" | "matchMsg"> {
  if (rule.kind === "echo") return { matchMsg: (req, resp) => sameData(req, resp) };
  return { messageId: (msg) => jsonField(msg, rule.path), matchMsg: () => true };
}

/** Builds the connection options for `mode` from the command line. */
export function createConnOptions(o: ClientOptions, mode: Mode): ConnOptions<Data, Data, Conn> {
  const options: ConnOptions<Data, Data, Conn> = {
    ...matchOptions(o.match),
    requestTimeoutMs: o.timeoutMs,
    reconnect: reconnectOption(o, mode),
  };
  const headers = o.origin === undefined ? o.headers : { ...o.headers, Origin: o.origin };
  if (Object.keys(headers).length > 0) options.headers = headers;
  const tls = readTlsOptions(o);
  if (tls !== undefined) options.tls = tls;
  if (o.connectTimeoutMs !== undefined) options.connectTimeoutMs = o.connectTimeoutMs;
  if (o.maxMessageBytes !== undefined) options.maxMessageBytes = o.maxMessageBytes;
  if (o.onConnect.length > 0) {
    // Runs before the library sends its queue, so these go out first after every (re)connect.
    const frames = o.onConnect.map((message) => encodeLine(message, o));
    options.onConnected = (conn) => {
      for (const frame of frames) conn.send(frame);
    };
  }
  // As curl: the proxy environment variables count unless --no-proxy; --proxy overrides them,
  // and `--proxy ""` turns them off.
  if (o.proxy !== false && o.proxy !== "")
    options.proxy = o.proxy === undefined ? "env" : parseProxy(o.proxy);
  const pingIntervalMs = o.pingIntervalMs ?? (mode === "interactive" ? INTERACTIVE_PING_INTERVAL_MS : 0);
  if (pingIntervalMs > 0) {
    options.pingIntervalMs = pingIntervalMs;
    if (o.pongTimeoutMs !== undefined) options.pongTimeoutMs = o.pongTimeoutMs;
    if (o.pingMsg !== undefined) {
      options.pingMsg = o.pingMsg;
      const pong = o.pongMsg ?? o.pingMsg;
      options.isPong = (msg) => typeof msg === "string" && msg === pong;
    }
  } else if (o.pingMsg !== undefined || o.pongTimeoutMs !== undefined || o.pongMsg !== undefined) {
    throw new UsageError("--ping-msg, --pong-msg and --pong-timeout need --ping-interval above 0");
  }
  return options;
}

function reconnectOption(o: ClientOptions, mode: Mode): ConnOptions["reconnect"] {
  if (o.minDelayMs !== undefined && o.maxDelayMs !== undefined && o.maxDelayMs < o.minDelayMs) {
    throw new UsageError(
      `--max-delay (${o.maxDelayMs} ms) must not be below --min-delay (${o.minDelayMs} ms)`,
    );
  }
  // --max-attempts 0 asks for no retry: as --no-reconnect, so a close is not a give-up.
  if (!o.reconnect || o.maxAttempts === 0) return false;
  if (mode === "scripted" && o.maxAttempts === undefined) return false;
  const policy: NonNullable<Exclude<ConnOptions["reconnect"], boolean>> = {};
  if (o.minDelayMs !== undefined) policy.minDelayMs = o.minDelayMs;
  if (o.maxDelayMs !== undefined) policy.maxDelayMs = o.maxDelayMs;
  if (o.maxAttempts !== undefined) policy.maxAttempts = o.maxAttempts;
  if (o.resetAfterMs !== undefined) policy.resetAfterMs = o.resetAfterMs;
  return policy;
}

/**
 * The frame for a typed line: with `binaryIn`, the bytes it decodes to (base64 or hex) as a
 * binary frame; with `binary`, its UTF-8 bytes as a binary frame; with `json`, the line must
 * parse as JSON (it is sent as typed).
 *
 * @throws UsageError when `json` is on and the line is not JSON, or the line does not decode.
 */
export function encodeLine(
  line: string,
  o: Pick<ClientOptions, "json" | "binary"> & Partial<Pick<ClientOptions, "binaryIn">>,
): Data {
  if (o.binaryIn !== undefined) return decodeBinaryLine(line, o.binaryIn);
  if (o.json) {
    try {
      JSON.parse(line);
    } catch {
      throw new UsageError("not sent: --json is on and this is not JSON");
    }
  }
  return o.binary ? new Uint8Array(Buffer.from(line, "utf8")) : line;
}
