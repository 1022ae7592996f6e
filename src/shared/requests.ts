/**
 * A follower tab's requests waiting for the leader's answer, by the tab-local sequence number
 * they were posted with: their own deadline and abort signal, what a new leader does with
 * them, and how each settles exactly once. Posting them is the caller's job (`post`), as is
 * deciding when a leader appeared, took a request or answered it (`follower.ts`).
 */

import type { Conn, EvtWebSocketError as ErrorClass, RequestOptions } from "../index.js";
import { resolveRequestOptions } from "../send-options.js";
import { checked, evtError } from "./public-error.js";

/** The error of a request in flight through a leader that went away (`ERR_DISCONNECTED`). */
export const lost = (): ErrorClass =>
  evtError("ERR_DISCONNECTED", "the leader tab went away while the request was in flight");

/** A request as it is posted to the leader. */
export interface Waiting {
  body: unknown;
  timeoutMs: number | undefined;
  retry: boolean;
  /** Its abort signal: it goes with the request to this tab's own Conn when this tab leads. */
  signal?: AbortSignal | undefined;
  /** A leader took it (acknowledged it): only then is it "in flight through" that leader. */
  taken?: boolean;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** The requests of one follower tab. */
export class FollowerRequests {
  readonly #waiting = new Map<number, Waiting>();
  readonly #post: (seq: number, w: Waiting) => void;

  /** @param post - posts a request to the leader (throws for a body that cannot be cloned). */
  constructor(post: (seq: number, w: Waiting) => void) {
    this.#post = post;
  }

  /** Requests still waiting. */
  get size(): number {
    return this.#waiting.size;
  }

  /**
   * Posts a request as number `seq` and returns its promise. It keeps its own deadline
   * (`timeoutMs`, else `defaultTimeoutMs`), so a leader tab that hangs, or none leading, cannot
   * hold it past it, and its signal lets go of it however it settles.
   *
   * @throws EvtWebSocketError `ERR_ABORTED` for a signal already aborted, `ERR_INVALID_OPTION`
   *   for a bad `timeoutMs` or `signal`.
   */
  add<T>(
    seq: number,
    body: unknown,
    options: RequestOptions | undefined,
    defaultTimeoutMs: number,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // Checked by Conn's rules and words: a signal that is not one threw from addEventListener
      // once posted and held; a bad timeoutMs must not wait for (or overflow) a timer; a
      // retryOnReconnect that is not a boolean was read as false.
      const {
        timeoutMs: ms,
        signal,
        retryOnReconnect: retry,
      } = checked(() => resolveRequestOptions(options, defaultTimeoutMs));
      if (signal?.aborted)
        throw evtError("ERR_ABORTED", "request(): the signal was already aborted", signal.reason);
      const onAbort = () => {
        if (this.#waiting.delete(seq))
          waiting.reject(evtError("ERR_ABORTED", "request aborted", signal?.reason));
      };
      let timer: ReturnType<typeof setTimeout> | undefined;
      // However the request settles, the signal lets go of it: a long-lived signal shared by
      // many requests must not collect one listener (and one settled request) per call.
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const waiting: Waiting = {
        body,
        timeoutMs: options?.timeoutMs,
        retry,
        signal,
        resolve: (value) => {
          done();
          resolve(value as T);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      this.#post(seq, waiting); // throws for a body that cannot be cloned: kept nowhere
      this.#waiting.set(seq, waiting);
      signal?.addEventListener("abort", onAbort);
      if (ms > 0 && Number.isFinite(ms)) {
        timer = setTimeout(() => {
          if (this.#waiting.delete(seq))
            waiting.reject(
              evtError("ERR_REQUEST_TIMEOUT", `request timed out after ${ms} ms (in a follower tab)`),
            );
        }, ms);
      }
    });
  }

  /** The leader took request `seq` (acknowledged it). */
  taken(seq: number): void {
    const w = this.#waiting.get(seq);
    if (w !== undefined) w.taken = true;
  }

  /** The leader answered request `seq`; false when it no longer waits (timed out, aborted). */
  settle(seq: number, error: ErrorClass | undefined, value: unknown): boolean {
    const w = this.#waiting.get(seq);
    if (w === undefined) return false;
    this.#waiting.delete(seq);
    if (error !== undefined) w.reject(error);
    else w.resolve(value);
    return true;
  }

  /**
   * A new leader: a request the old one took rejects with `lost()` unless made with
   * `retryOnReconnect`; the others (retried, or never taken: made while none led) are posted to it.
   */
  newLeader(lost: () => Error): void {
    for (const [seq, w] of this.#waiting) {
      if (w.retry || !w.taken) this.#post(seq, w);
      else {
        this.#waiting.delete(seq);
        w.reject(lost());
      }
    }
  }

  /** This tab leads now: its waiting requests go to its own `conn`, by the same rule as {@link newLeader}. */
  handOver<TIn, TOut>(conn: Conn<TIn, TOut>, lost: () => Error): void {
    for (const [seq, w] of this.#waiting) {
      this.#waiting.delete(seq);
      if (!w.retry && w.taken) w.reject(lost());
      else
        conn
          .request(w.body as TOut, { timeoutMs: w.timeoutMs, retryOnReconnect: w.retry, signal: w.signal })
          .then(w.resolve, w.reject);
    }
  }

  /** Rejects every waiting request with `error` (this tab closed). */
  rejectAll(error: Error): void {
    for (const w of this.#waiting.values()) w.reject(error);
    this.#waiting.clear();
  }
}
