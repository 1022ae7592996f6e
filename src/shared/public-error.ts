/**
 * Errors of the shared modules as the public class. The `evtwebsocket/shared` build imports
 * `Conn` and `EvtWebSocketError` from `evtwebsocket` but bundles the internal modules it reuses
 * (option checks, the message iterators), which make errors of their own bundled copy of the
 * class: `rebrand()` turns such an error into the public class, so `instanceof` and
 * `isEvtWebSocketError()` hold for every error this entry throws; `evtError()` makes one of the
 * public class. It does nothing else.
 */

import { type ErrorCode, EvtWebSocketError } from "../index.js";

/**
 * The public class, for the shared modules: imported from here, it is one import of
 * `evtwebsocket` in the build, not one per module (browser bytes).
 */
export { EvtWebSocketError };

/** `error` as a public {@link EvtWebSocketError} (same code, message, details and cause); other values as they are. */
export function rebrand<E>(error: E): E | EvtWebSocketError {
  if (error instanceof EvtWebSocketError || !(error instanceof Error) || !("code" in error)) return error;
  const e = error as unknown as EvtWebSocketError;
  return new EvtWebSocketError(e.code, e.message, { cause: e.cause, details: e.details });
}

/** Runs `fn`; what it throws is rethrown {@link rebrand}ed. */
export function checked<R>(fn: () => R): R {
  try {
    return fn();
  } catch (error) {
    throw rebrand(error);
  }
}

/** A public {@link EvtWebSocketError} with `code`, `message` and an optional `cause`. */
export const evtError = (code: ErrorCode, message: string, cause?: unknown): EvtWebSocketError =>
  new EvtWebSocketError(code, message, { cause });
