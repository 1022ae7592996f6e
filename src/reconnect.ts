/**
 * Whether and when to try again after a socket ended: a pure function of the policy, the
 * attempt count and the way the socket ended.
 *
 * The attempt counter starts over only after a connection stayed open `resetAfterMs`, so a
 * server that accepts and closes at once meets a growing backoff, not a tight loop. An invalid
 * URL is never retried. `maxAttempts` counts retries, so a first dial makes at most
 * `1 + maxAttempts` handshakes. A proxy that answered 407 (wrong or missing credentials) is
 * retried only when `shouldReconnect` says yes. Scheduling the wait is the connection's job.
 */

import { backoffDelay } from "./backoff.js";
import { ErrorCode, EvtWebSocketError } from "./errors.js";
import type { DisconnectInfo, ResolvedReconnect } from "./options.js";
// The runtime's own: Node's certificate codes; the browser build's answer is always false.
import { isCertificateError } from "./transport/default.js";

/** How a socket ended, as far as the policy cares. */
export interface Ending extends DisconnectInfo {
  /** How long the socket had been open, in ms; undefined when it never opened. */
  openForMs: number | undefined;
  error?: EvtWebSocketError | undefined;
}

/** The outcome: retry as attempt n after `delayMs`, or stop (with the error that explains why, if any). */
export type RetryDecision =
  | { retry: true; attempt: number; delayMs: number }
  | { retry: false; attempt: number; error: EvtWebSocketError | undefined };

/**
 * Decides the next step.
 *
 * @param attempt - retries made since the last stable connection.
 * @param ask - the user's `shouldReconnect`, already guarded against throws; undefined (no
 *   function, or a throw) means yes, except after a proxy's 407, where only true retries.
 */
export function decideRetry(
  policy: ResolvedReconnect,
  attempt: number,
  ending: Ending,
  ask: (info: DisconnectInfo) => boolean | undefined = () => undefined,
  random: () => number = Math.random,
): RetryDecision {
  const base = ending.openForMs !== undefined && ending.openForMs >= policy.resetAfterMs ? 0 : attempt;
  if (!policy.enabled || ending.error?.code === ErrorCode.INVALID_URL || isCertificateError(ending.error)) {
    return { retry: false, attempt: base, error: ending.error };
  }
  const info: DisconnectInfo = { code: ending.code, reason: ending.reason };
  if (ending.status !== undefined) info.status = ending.status;
  if (ending.proxyStatus !== undefined) info.proxyStatus = ending.proxyStatus;
  const answer = ask(info);
  if (answer === false || (ending.proxyStatus === 407 && answer !== true)) {
    return { retry: false, attempt: base, error: ending.error };
  }
  if (base >= policy.maxAttempts) {
    const error = new EvtWebSocketError(
      ErrorCode.RECONNECT_EXHAUSTED,
      `gave up after ${base} reconnect attempts`,
      {
        cause: ending.error,
        details: { attempt: base, closeCode: ending.code },
      },
    );
    return { retry: false, attempt: base, error };
  }
  const next = base + 1;
  return { retry: true, attempt: next, delayMs: backoffDelay(next, policy, random) };
}
