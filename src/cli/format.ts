/**
 * How `evtws` renders what happens: timestamps, direction markers, message bodies (JSON pretty
 * print, hex for binary), event lines and the `/stats` figures, with or without colour.
 *
 * Pure functions from values to strings; writing them to a stream (and keeping the prompt
 * intact while doing so) is `printer.ts`'s job.
 */

import type { ConnStats, Data } from "../index.js";

const ANSI = {
  dim: [2, 22],
  bold: [1, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
} as const;

/** A colour or weight {@link paint} can apply. */
export type Paint = keyof typeof ANSI;

/**
 * Whether to colour a stream: never when `NO_COLOR` is set to anything non-empty (no-color.org),
 * always when `FORCE_COLOR` is set and not "0", otherwise only on a terminal.
 */
export function shouldColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "" && env.FORCE_COLOR !== "0") return true;
  return stream.isTTY === true;
}

/** Wraps `text` in the ANSI codes of `style` when `color` is on. */
export function paint(color: boolean, style: Paint, text: string): string {
  if (!color) return text;
  const [on, off] = ANSI[style];
  return `\x1b[${on}m${text}\x1b[${off}m`;
}

/** Local wall-clock time as `HH:MM:SS.mmm`. */
export function timestamp(date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  const ms = String(date.getMilliseconds()).padStart(3, "0");
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${ms}`;
}

/** Bytes as lower-case hex pairs separated by spaces. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** How bodies are shown: `json` pretty-prints JSON text, `binary` shows binary frames as hex. */
export interface BodyStyle {
  json: boolean;
  /** Binary frames as hex (`--hex`, `--binary`). */
  binary: boolean;
  /**
   * Output for a program (stdout is not a terminal): binary frames as base64 (or hex with
   * `binary`), never as tagged text, and with `json` as a JSON string, so every line parses.
   * @default false
   */
  pipeline?: boolean;
}

/** C0 and C1 control characters and DEL (`Cc`): bytes a terminal obeys instead of showing. */
const CONTROLS = /\p{Cc}/gu;
const NAMED_CONTROLS: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * `text` with every control character written as an escape (`\n`, `\r`, `\t`, `\x1b`), so
 * the bytes of a binary frame cannot move the cursor, clear the screen or switch the
 * terminal's character set under the prompt.
 */
export function escapeControls(text: string, controls: RegExp = CONTROLS): string {
  return text.replace(
    controls,
    (c) => NAMED_CONTROLS[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/** Control characters but newline and tab, which a text message shown on a terminal keeps. */
const TEXT_CONTROLS = /[^\P{Cc}\n\t]/gu;

/**
 * A binary frame as text: hex (with `style.binary`), base64 in a pipeline, else its UTF-8
 * text, control characters escaped, after a `(binary N B)` tag. In a pipeline with
 * `style.json` the hex or base64 is a JSON string (`"aGk="`), so `evtws --json URL | jq`
 * reads every line.
 */
export function renderBinary(data: Uint8Array, style: BodyStyle): string {
  if (style.pipeline !== true) {
    if (style.binary) return hex(data);
    return `(binary ${data.byteLength} B) ${escapeControls(Buffer.from(data).toString("utf8"))}`;
  }
  const text = style.binary ? hex(data) : Buffer.from(data).toString("base64");
  return style.json ? JSON.stringify(text) : text;
}

/**
 * DEL and C1 controls, the control characters JSON allows raw in a string (and
 * `JSON.stringify` writes raw): U+009B is a one-character CSI.
 */
const JSON_RAW_CONTROLS = /[\x7f-\x9f]/g;

/**
 * A message body as text: JSON pretty-printed (when asked and when it parses), binary frames
 * as {@link renderBinary} shows them; off a pipeline, a text's control characters but newline
 * and tab escaped, and JSON's as `\u` escapes (so it stays JSON).
 */
export function renderBody(data: Data, style: BodyStyle): string {
  if (data instanceof Uint8Array) return renderBinary(data, style);
  if (style.json) {
    try {
      const pretty = JSON.stringify(JSON.parse(data), null, 2);
      return style.pipeline === true
        ? pretty
        : pretty.replace(JSON_RAW_CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
    } catch {}
  }
  // On a terminal, escape sequences and CRs in a text message are shown, not obeyed (a
  // program reading a pipeline gets the text as sent).
  return style.pipeline === true ? data : escapeControls(data, TEXT_CONTROLS);
}

/**
 * A streamed message as one line of a pipeline: with `style.json`, JSON is printed compact
 * (`{"a":1}`), so `evtws URL | jq` can follow a feed; anything else as {@link renderBody}.
 */
export function renderLine(data: Data, style: BodyStyle): string {
  if (style.json && typeof data === "string") {
    try {
      return JSON.stringify(JSON.parse(data));
    } catch {
      return data;
    }
  }
  return renderBody(data, style);
}

/** Which way a message went: `>` sent, `<` received. */
export type Direction = ">" | "<";

/**
 * One data line: `12:00:00.000 < body`, continuation lines of a multi-line body indented under
 * the body's first character.
 */
export function dataLine(color: boolean, at: Date, direction: Direction, body: string): string {
  const ts = timestamp(at);
  const marker = paint(color, direction === "<" ? "green" : "cyan", direction);
  const indent = " ".repeat(ts.length + 3);
  return `${paint(color, "dim", ts)} ${marker} ${body.split("\n").join(`\n${indent}`)}`;
}

/** One event line, dimmed and marked `*` so it stands apart from data. */
export function eventLine(color: boolean, at: Date, text: string): string {
  return paint(color, "dim", `${timestamp(at)} * ${text}`);
}

/** One error line: like an event, but red and carrying the error's code. */
export function errorLine(color: boolean, at: Date, error: { code?: unknown; message: string }): string {
  return paint(color, "red", `${timestamp(at)} ! ${describeError(error)}`);
}

/** `CODE: message`, or the message alone when the error has no code. */
export function describeError(error: { code?: unknown; message: string }): string {
  return typeof error.code === "string" ? `${error.code}: ${error.message}` : error.message;
}

/** A round-trip time in ms with one decimal. */
export function formatRtt(ms: number): string {
  return `${ms.toFixed(1)} ms`;
}

/** The `/stats` figures, one per line. */
export function formatStats(stats: ConnStats, state: string): string {
  return [
    `state       ${state}`,
    `sent        ${stats.messagesSent} messages, ${stats.bytesSent} bytes`,
    `received    ${stats.messagesReceived} messages, ${stats.bytesReceived} bytes`,
    `reconnects  ${stats.reconnects}`,
    `pending     ${stats.pendingRequests} requests`,
    `queued      ${stats.queuedMessages} messages`,
    `last RTT    ${stats.lastRttMs === undefined ? "-" : formatRtt(stats.lastRttMs)}`,
  ].join("\n");
}
