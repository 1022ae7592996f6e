/**
 * What a socket's end means, as the error the connection reports: a handshake that failed, or
 * an end we did not ask for, classified by its close code and by which side's close frame came
 * first. Pure: the link decides when a socket ended and passes what it saw; nothing here reads
 * a socket, a timer or the connection's state.
 *
 * Messages name the server by its origin (scheme, host and port): paths, queries and
 * credentials carry secrets, and the origin is built only when a message is.
 */

import { ErrorCode, EvtWebSocketError } from "./errors.js";
import type { ClosedBy } from "./transport/types.js";
import { namesUrl, redactUrl } from "./url.js";

/** What a close code from the peer says it refused a message of ours as. */
const PEER_REFUSALS: Record<number, string> = {
  1007: "invalid data",
  1008: "against its policy",
  1009: "too big",
};

/** How a socket that had opened ended, as far as its error depends on it. */
export interface EndSeen {
  code: number;
  wasClean: boolean;
  /** What the transport saw go wrong, kept as the cause. */
  error?: unknown;
}

/** `url` as messages show it: scheme, host and port. */
export function shownUrl(url: string): string {
  return redactUrl(new URL(url));
}

/**
 * The error of an end we did not ask for on a socket opened to `url`, or undefined for a clean
 * one. 1007, 1008 and 1009 from the peer mean it refused a message of ours; 1009 from our side
 * means an incoming message exceeded `maxMessageBytes` (`ERR_MESSAGE_TOO_BIG`); other codes
 * from our side, that the peer broke the protocol; an unclean end, that the connection was lost.
 */
export function closeError(url: string, end: EndSeen, closedBy: ClosedBy): EvtWebSocketError | undefined {
  const { code } = end;
  const refused = PEER_REFUSALS[code];
  let message: string;
  if (closedBy === "client") {
    message =
      code === 1009 ? "an incoming message exceeded maxMessageBytes" : `${shownUrl(url)} broke the protocol`;
  } else if (closedBy === "server" && refused !== undefined) {
    message = `${shownUrl(url)} refused a message of ours as ${refused}`;
  } else if (end.wasClean) return undefined;
  else message = `connection to ${shownUrl(url)} was lost`;
  return new EvtWebSocketError(
    closedBy === "client" && code === 1009 ? ErrorCode.MESSAGE_TOO_BIG : ErrorCode.DISCONNECTED,
    `${message} (close code ${code}, closed by ${closedBy})`,
    { cause: end.error, details: { closeCode: code, closedBy } },
  );
}

/**
 * The error of a socket to `url` that never opened (`ERR_DIAL_FAILED`): the HTTP status of a
 * refused handshake, or else the cause's message (unless it names a URL); `details` carries the status, or the status
 * of a proxy that refused the tunnel.
 */
export function dialError(
  url: string,
  cause: unknown,
  status?: number,
  proxyStatus?: number,
): EvtWebSocketError {
  let text = cause instanceof Error ? cause.message : undefined;
  // A runtime's error may name the whole URL (Bun's constructor does): not kept.
  if (namesUrl(text, url)) cause = text = undefined;
  const why = status !== undefined ? `HTTP ${status}` : (text ?? "network error");
  return new EvtWebSocketError(ErrorCode.DIAL_FAILED, `could not connect to ${shownUrl(url)}: ${why}`, {
    cause,
    details: status !== undefined ? { status } : proxyStatus !== undefined ? { proxyStatus } : {},
  });
}

/**
 * How a socket to `url` ended when we tore it down (its close or connect timeout, a dead peer,
 * `terminate()`), from the close frames seen before: `error` is why we tore it down, if we
 * say. The peer's answer to our close (`answer`) completed the closing handshake: its code
 * explains the end. Otherwise a close frame the peer sent first (`peer`, answered: clean) or
 * ours failing the connection (`failure`, with its cause) still explains it, and the end of a
 * connection we did not close (`requested` false) gets the error its code means; with neither,
 * it is 1006. `closedBy` is left to the link when no frame tells.
 */
export function tornDownEnd(
  url: string,
  error: EvtWebSocketError | undefined,
  requested: boolean,
  answer: { code: number; reason: string; wasClean: true } | undefined,
  peer: { code: number; reason: string } | undefined,
  failure: { code: number; cause: unknown } | undefined,
): { code: number; reason: string; wasClean: boolean; error?: EvtWebSocketError; closedBy?: ClosedBy } {
  if (answer) return { ...answer, error };
  if (peer === undefined && failure === undefined) return { code: 1006, reason: "", wasClean: false, error };
  const seen = {
    code: (peer ?? failure)!.code,
    wasClean: peer !== undefined && failure === undefined,
    error: failure?.cause,
  };
  const by = peer ? "server" : "client";
  return {
    ...seen,
    reason: peer?.reason ?? "",
    error: error ?? (requested ? undefined : closeError(url, seen, by)),
    closedBy: by,
  };
}
