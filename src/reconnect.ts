/**
 * Whether and when to try again after a socket ended: a pure function of the policy, the
 * attempt count and the way the socket ended.
 *
 * The attempt counter starts over only after a connection stayed open `resetAfterMs`, so a
 * server that accepts and closes at once meets a growing backoff, not a tight loop. An invalid
 * URL is never retried, nor (on Node) a certificate that fails verification or an `agent` for
 * the other scheme. `maxAttempts` counts retries, so a first dial makes at most
 * `1 + maxAttempts` handshakes. A proxy that answered 407 (wrong or missing credentials), or 401
 * (what tinyproxy answers to wrong ones), is retried only when `shouldReconnect` says yes. Scheduling the wait is the connection's job.
 *
 * A server may set the wait itself (see {@link serverDelay}): a handshake (or a proxy's answer
 * to `CONNECT`) refused with 429 or 503 and a `Retry-After`, or a close with 1013 ("try again
 * later"). The delay is then at least what the server asked, with jitter added on top, never
 * taken off: clients told the same moment still spread out, and none comes back early.
 * `shouldReconnect` and `maxAttempts` are asked first and still stop the retries.
 */

import { backoffDelay } from "./backoff.js";
import { ErrorCode, EvtWebSocketError } from "./errors.js";
import type { DisconnectInfo } from "./options.js";
import type { ResolvedReconnect } from "./resolve-options.js";
// The runtime's own: Node's certificate codes and an agent of the other scheme; the browser build's answer is always false.
import { isPermanentFailure } from "./transport/default.js";

/** How a socket ended, as far as the policy cares. */
export interface Ending extends DisconnectInfo {
  /** How long the socket had been open, in ms; undefined when it never opened. */
  openForMs: number | undefined;
  error?: EvtWebSocketError | undefined;
  /** The wait a refused handshake's `Retry-After` header asked for, in ms (Node only). */
  retryAfterMs?: number | undefined;
}

/** The longest wait a server's `Retry-After` is honoured for, in ms: 10 minutes. */
export const MAX_SERVER_DELAY_MS = 600_000;
/** A close with 1013 ("try again later") waits at least this long, in ms, or `maxDelayMs` if smaller. */
export const TRY_AGAIN_LATER_MS = 5000;

/**
 * The wait the server asked for, in ms, or undefined when it set none: a handshake (or a
 * proxy's answer to `CONNECT`) refused with 429 or 503 and a readable `Retry-After` (honoured
 * up to {@link MAX_SERVER_DELAY_MS}), or a connection the server closed with 1013
 * ({@link TRY_AGAIN_LATER_MS}, or `maxDelayMs` if smaller).
 */
export function serverDelay(policy: ResolvedReconnect, ending: Ending): number | undefined {
  // A proxy's 429 or 503 to CONNECT counts as the server's would: it too asks for respite.
  const { status = ending.proxyStatus, retryAfterMs } = ending;
  if ((status === 429 || status === 503) && retryAfterMs !== undefined) {
    return Math.min(retryAfterMs, MAX_SERVER_DELAY_MS);
  }
  return ending.code === 1013 && ending.openForMs !== undefined
    ? Math.min(TRY_AGAIN_LATER_MS, policy.maxDelayMs)
    : undefined;
}

/** The outcome: retry as attempt n after `delayMs`, or stop (with the error that explains why, if any). */
export type RetryDecision =
  | { retry: true; attempt: number; delayMs: number; serverDelayMs?: number }
  | { retry: false; attempt: number; error: EvtWebSocketError | undefined };

/**
 * Decides the next step.
 *
 * @param attempt - retries made since the last stable connection.
 * @param ask - the user's `shouldReconnect`, already guarded against throws; undefined (no
 *   function, or a throw) means yes, except after a proxy's 407 or 401, where only true retries.
 */
export function decideRetry(
  policy: ResolvedReconnect,
  attempt: number,
  ending: Ending,
  ask: (info: DisconnectInfo) => boolean | undefined = () => undefined,
  random: () => number = Math.random,
): RetryDecision {
  const base = ending.openForMs !== undefined && ending.openForMs >= policy.resetAfterMs ? 0 : attempt;
  if (!policy.enabled || ending.error?.code === ErrorCode.INVALID_URL || isPermanentFailure(ending.error)) {
    return { retry: false, attempt: base, error: ending.error };
  }
  const info: DisconnectInfo = { code: ending.code, reason: ending.reason };
  if (ending.status !== undefined) info.status = ending.status;
  if (ending.proxyStatus !== undefined) info.proxyStatus = ending.proxyStatus;
  const answer = ask(info);
  if (answer === false || ((ending.proxyStatus === 407 || ending.proxyStatus === 401) && answer !== true)) {
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
  const server = serverDelay(policy, ending);
  // One draw for both: the backoff takes its jitter off, the server's wait gets it added.
  const r = random();
  const delayMs = backoffDelay(next, policy, () => r);
  if (server === undefined) return { retry: true, attempt: next, delayMs };
  return {
    retry: true,
    attempt: next,
    delayMs: Math.max(delayMs, serverWait(policy, ending, r)!),
    serverDelayMs: server,
  };
}

/**
 * The wait the server asked for ({@link serverDelay}) with jitter added, never taken off, in
 * ms; undefined when it set none. Retry-After (a handshake or CONNECT refused with 429 or 503)
 * may exceed maxDelayMs, as the server knows its load; a 1013 wait stays within maxDelayMs. Told
 * apart by the code, which a refused handshake never has (it ends with 1006).
 */
export function serverWait(policy: ResolvedReconnect, ending: Ending, r = Math.random()): number | undefined {
  const server = serverDelay(policy, ending);
  if (server === undefined) return undefined;
  const jittered = server + Math.round(server * policy.jitter * r);
  return ending.code === 1013 ? Math.min(jittered, policy.maxDelayMs) : jittered;
}
