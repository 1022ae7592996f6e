/**
 * One attempt's URL and headers: the user's URL and headers functions called with the
 * attempt's context, each awaited within `connectTimeoutMs`, and their failures typed.
 *
 * A function that never settles fails its attempt with `ERR_CONNECT_TIMEOUT` instead of holding
 * the connection in "connecting" for good. Our own errors come out as they are (an invalid URL,
 * headers that fail the check, the deadline); a throw from the user's function, even one of our
 * errors, is that function's failure: `ERR_DIAL_FAILED` with it as the cause. Whether the
 * attempt is still wanted once they settle, and what its failure leads to (a retry, the end),
 * is the lifecycle's.
 */

import { type Clock, clearDeadline, type Deadline, setDeadline } from "./clock.js";
import { ErrorCode, EvtWebSocketError, evtError } from "./errors.js";
import type { LinkEnd } from "./link.js";
import { checkHeaders } from "./option-checks.js";
import type { AttemptContext, HeadersFunction, UrlSource } from "./types.js";
import { normalizeUrl } from "./url.js";

/** True for a promise or any object with a `then` method. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === "function";
}

/** The preparation of one attempt, with the deadline of the function it awaits; see the module header. */
export class AttemptPrep {
  readonly #clock: Clock;
  readonly #ms: number;
  #timer: Deadline | undefined;
  /** The error this attempt's deadline failed it with, told apart from a user function's throw. */
  #late: EvtWebSocketError | undefined;

  /** @param ms - `connectTimeoutMs`: how long each function may take (Infinity: no deadline, no timer). */
  constructor(clock: Clock, ms: number) {
    this.#clock = clock;
    this.#ms = ms;
  }

  /**
   * The attempt's URL (normalized) and its headers when a headers function builds them.
   * `attempt` and `last` (how the previous connection or attempt of the dial ended) make the
   * functions' context; `wanted()` false once the URL is known skips the headers function.
   *
   * @throws EvtWebSocketError `ERR_INVALID_URL`, `ERR_INVALID_OPTION` (headers), `ERR_CONNECT_TIMEOUT`, `ERR_DIAL_FAILED`.
   */
  async prepare(
    source: UrlSource,
    headersFn: HeadersFunction | undefined,
    attempt: number,
    last: LinkEnd | undefined,
    wanted: () => boolean,
  ): Promise<[url: string, headers: Record<string, string> | undefined]> {
    const ctx: AttemptContext = { attempt };
    if (last !== undefined) ctx.lastClose = { code: last.code, reason: last.reason };
    if (last?.error !== undefined) ctx.lastError = last.error;
    let failing = "URL";
    try {
      const url = normalizeUrl(
        typeof source === "function" ? await this.#within(source(ctx), "URL") : source,
      );
      let headers: Record<string, string> | undefined;
      if (headersFn !== undefined && wanted()) {
        failing = "headers";
        const built = await this.#within(headersFn(ctx), "headers");
        failing = "";
        // Checked like fixed headers, per attempt: a bad one fails this attempt with ERR_INVALID_OPTION.
        headers = checkHeaders(built);
      }
      return [url, headers];
    } catch (cause) {
      const ours =
        cause === this.#late ||
        (cause instanceof EvtWebSocketError &&
          (failing === "" || (failing === "URL" && cause.code === ErrorCode.INVALID_URL)));
      throw ours ? cause : evtError(ErrorCode.DIAL_FAILED, `the ${failing} function failed`, cause);
    }
  }

  /** Clears the deadline of a function still awaited (`close()`, or a newer attempt took over). */
  cancel(): void {
    clearDeadline(this.#clock, this.#timer);
    this.#timer = undefined;
  }

  /** A user function's result within the deadline; no timer for a value that is not a promise. */
  #within<T>(value: T | PromiseLike<T>, what: string): T | Promise<T> {
    const ms = this.#ms;
    if (!isThenable(value) || !Number.isFinite(ms)) return value as T;
    return new Promise<T>((resolve, reject) => {
      this.#timer = setDeadline(
        this.#clock,
        () => {
          this.#late = evtError(
            ErrorCode.CONNECT_TIMEOUT,
            `the ${what} function did not settle within ${ms} ms`,
          );
          reject(this.#late);
        },
        ms,
      );
      value.then(resolve, reject);
    }).finally(() => this.cancel());
  }
}
