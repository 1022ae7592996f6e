/**
 * `-v/--verbose` and `--trace`: the library's logger lines on stderr, and with `--trace` the
 * size of every message sent and received (read from the `evtwebsocket:message:*` diagnostics
 * channels, so the library logs no line per message). Bodies are never printed here: stdout
 * shows them already. A logger line quotes what the server said (a close reason) with
 * `JSON.stringify`, which escapes C0 controls only: DEL and C1 controls (U+009B is a
 * one-character CSI) are escaped here, as on every other line the CLI writes.
 */

import dc from "node:diagnostics_channel";
import { CHANNELS } from "../channel-names.js";
import type { Logger } from "../index.js";
import { escapeControls } from "./format.js";

/** A logger that writes each line to `write` (stderr), its control characters escaped. */
export function lineLogger(write: (text: string) => void): Logger {
  const line = (text: string) => write(`${escapeControls(text)}\n`);
  return { debug: line, info: line, warn: line, error: line };
}

/**
 * Writes `evtwebsocket[c1] sent bytes=5` / `received bytes=5` for connection `id`; returns
 * the function that stops it.
 */
export function traceSizes(id: string, write: (text: string) => void): () => void {
  const subscriptions = (["sent", "received"] as const).map((kind) => {
    const name = CHANNELS[kind];
    const fn = (m: unknown) => {
      const { id: of, bytes } = m as { id: string; bytes: number };
      if (of === id) write(`evtwebsocket[${id}] ${kind} bytes=${bytes}\n`);
    };
    dc.subscribe(name, fn);
    return () => dc.unsubscribe(name, fn);
  });
  return () => {
    for (const stop of subscriptions) stop();
  };
}
