/**
 * Holds a server's pushes back while stdout is behind (a slow reader: `evtws -n URL | slow`),
 * so memory does not grow with the feed. The script still prints each push as it arrives; this
 * module only keeps the socket from being read faster than stdout drains. It pulls from the
 * library's `messages()` iterator, which pauses reading from the socket once
 * {@link PUSH_WINDOW} messages wait unread (Node's `ws`), and stops pulling while stdout holds
 * more than its high-water mark and no request waits for its answer (a paused socket would
 * make it time out; no line is sent while stdout is behind, so those settle). What it does not do: print, or hold back responses
 * (`--concurrency` bounds those), or hold back during a `-w/--wait` (the script releases it then).
 */

import type { Conn } from "../index.js";

/** Pushes printed but not yet taken from the iterator, at most, while stdout is behind. */
export const PUSH_WINDOW = 256;

/** The stream pushes are printed on, as far as this module watches it. */
export interface FlowOut {
  readonly writableNeedDrain: boolean;
  readonly destroyed: boolean;
  on(event: "drain" | "close" | "error", listener: () => void): unknown;
  off(event: "drain" | "close" | "error", listener: () => void): unknown;
}

/** Resolves when `out` drains, closes or fails. */
function drained(out: FlowOut): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      for (const event of ["drain", "close", "error"] as const) out.off(event, done);
      resolve();
    };
    for (const event of ["drain", "close", "error"] as const) out.on(event, done);
  });
}

/**
 * Starts holding `conn`'s pushes back while `out` is behind; call before dialling. Returns the
 * function that stops it (the iterator also ends with the connection).
 */
export function holdPushesWhileBehind(conn: Conn, out: FlowOut): () => void {
  const pushes = conn.messages({ bufferSize: PUSH_WINDOW });
  void (async () => {
    try {
      for await (const _ of pushes) {
        // Not while requests wait for answers: a paused socket would make them time out. No
        // line is sent while stdout is behind, so those settle, and the hold begins.
        if (out.writableNeedDrain && !out.destroyed && conn.stats.pendingRequests === 0) await drained(out);
      }
    } catch {
      // The connection gave up: the script reports why.
    }
  })();
  return () => void pushes.return?.();
}
