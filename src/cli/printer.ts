/**
 * Where `evtws` output goes: data to stdout, events beside it (interactive) or on stderr
 * (scripted, so stdout stays machine-readable), fatal errors always on stderr.
 *
 * The printer owns one concern the formatter cannot: an interactive prompt. Before each write
 * it lets the session clear the line being typed, and redraw it afterwards, so incoming
 * messages never garble what the user is typing.
 */

import type { Data } from "../index.js";
import {
  type BodyStyle,
  type Direction,
  dataLine,
  describeError,
  errorLine,
  escapeControls,
  eventLine,
  paint,
  renderBody,
  renderLine,
} from "./format.js";
import { withCertHint } from "./tls.js";

/** A writable text stream, as far as the printer uses it. */
export interface TextOut {
  write(text: string): unknown;
  /** True once the stream is closed (a reader that went away): writes are then dropped. */
  readonly destroyed?: boolean;
  /** True while the stream holds more than its high-water mark: its reader is behind. */
  readonly writableNeedDrain?: boolean;
}

/** Settings of a printer. */
export interface PrinterOptions {
  stdout: TextOut;
  stderr: TextOut;
  /** Colour stdout / stderr (see `shouldColor`). */
  color: { stdout: boolean; stderr: boolean };
  /** Data only: no events, no timestamps or markers. */
  quiet: boolean;
  body: BodyStyle;
  /** Where events and non-fatal errors go. */
  events: "stdout" | "stderr";
  /** The clock for timestamps. @default () => new Date() */
  now?: () => Date;
}

/** Called around every write to stdout, so a prompt can be cleared and redrawn. */
export interface PromptHooks {
  before(): void;
  after(): void;
}

/**
 * An event or error as one line, its control characters escaped: what the peer chose (a close
 * reason, a proxy's status text) must not clear the terminal or forge lines, and an OpenSSL
 * message's trailing newline must not leave a blank one.
 */
function oneLine(text: string): string {
  return escapeControls(text.trimEnd());
}

/** Writes the session's output; see the module header. */
export class Printer {
  readonly #o: PrinterOptions;
  readonly #now: () => Date;
  #prompt: PromptHooks | undefined;

  constructor(options: PrinterOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
  }

  /** Installs the hooks of an interactive prompt. */
  attachPrompt(hooks: PromptHooks | undefined): void {
    this.#prompt = hooks;
  }

  /** A message sent or received: timestamp, marker, body (the body alone when quiet). */
  data(direction: Direction, data: Data): void {
    const body = renderBody(data, this.#o.body);
    if (this.#o.quiet) {
      if (direction === "<") this.#write("stdout", body);
      return;
    }
    this.#write("stdout", dataLine(this.#o.color.stdout, this.#now(), direction, body));
  }

  /** A scripted response: the body alone, on stdout. */
  result(data: Data): void {
    this.#write("stdout", renderBody(data, this.#o.body));
  }

  /** A message that answers no request, streamed in a pipeline: one line on stdout, even when quiet. */
  push(data: Data): void {
    this.#write("stdout", renderLine(data, this.#o.body));
  }

  /** An unmatched message in scripted mode: shown with the events, since stdout holds responses. */
  aside(data: Data): void {
    if (this.#o.quiet) return;
    const stream = this.#o.events;
    // The events' stream is read by a person, even when stdout is a pipeline: a text's escape
    // sequences are shown there, not obeyed.
    const body = renderBody(
      data,
      typeof data === "string" ? { ...this.#o.body, pipeline: false } : this.#o.body,
    );
    this.#write(stream, dataLine(this.#o.color[stream], this.#now(), "<", `(unmatched) ${body}`));
  }

  /** A connection event (connected, closed, reconnecting, pong), dimmed; none when quiet. */
  event(text: string): void {
    if (this.#o.quiet) return;
    this.#write(this.#o.events, eventLine(this.#o.color[this.#o.events], this.#now(), oneLine(text)));
  }

  /** A non-fatal error with its code (and a hint for a certificate error); none when quiet. */
  error(error: { code?: unknown; message: string }): void {
    if (this.#o.quiet) return;
    const shown = withCertHint(error);
    const line = errorLine(this.#o.color[this.#o.events], this.#now(), {
      code: shown.code,
      message: oneLine(shown.message),
    });
    this.#write(this.#o.events, line);
  }

  /** Output the user asked for (`/stats`, `/help`, banners), dimmed, shown even when quiet. */
  info(text: string): void {
    this.#write("stdout", paint(this.#o.color.stdout, "dim", text));
  }

  /** A fatal error: `evtws: CODE: message` on stderr, always; a certificate error gets a hint. */
  fatal(error: { code?: unknown; message: string; cause?: unknown }): void {
    // Giving up says why the last attempt failed: under -q no event line said it before.
    const why = (error.cause as { message?: unknown } | undefined)?.message;
    const shown =
      error.code === "ERR_RECONNECT_EXHAUSTED" && typeof why === "string" && why !== ""
        ? { code: error.code, message: `${error.message}: ${why}`, cause: error.cause }
        : error;
    const line = `evtws: ${oneLine(describeError(withCertHint(shown)))}`;
    this.#write("stderr", paint(this.#o.color.stderr, "red", line));
  }

  /** A warning on stderr, always (e.g. `--insecure`). */
  warn(text: string): void {
    this.#write("stderr", paint(this.#o.color.stderr, "yellow", `evtws: warning: ${text}`));
  }

  /** Whether stdout's reader is behind (more than its high-water mark waits to be written). */
  behind(): boolean {
    return this.#o.stdout.writableNeedDrain === true && this.#o.stdout.destroyed !== true;
  }

  #write(stream: "stdout" | "stderr", text: string): void {
    if (this.#o[stream].destroyed === true) return;
    const prompt = this.#prompt;
    prompt?.before();
    this.#o[stream].write(`${text}\n`);
    prompt?.after();
  }
}
