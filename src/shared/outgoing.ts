/**
 * A tab's plain sends that no leader has acknowledged yet, with their per-message options
 * (`send(body, options)`), and `drained()` for a follower.
 *
 * A follower keeps each send until the leader acknowledges it (see shared-conn.ts): that is
 * where it still holds the message, so that is where `signal` and `maxAgeMs` act here. An abort
 * forgets the message (it is not sent again to a next leader, nor reported at close); a
 * message older than its `maxAgeMs` is not sent again to a next leader but dropped and
 * reported, as Conn's queue reports one (`ERR_QUEUE_EXPIRED`, the body in `details.message`).
 * What a leader already holds in its queue, its Conn expires or aborts. `drained()` resolves
 * once nothing is held, and `onEmpty` is called. This module posts nothing and decides no role.
 */

import type { ResolvedSend } from "../send-options.js";

/** One held message. */
export interface Held {
  body: unknown;
  volatile: boolean;
  /** `Date.now()` past which it expires; Infinity for no limit. */
  expiresAt: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** What a leader is told with a forwarded send: `volatile`, and the `maxAgeMs` left. */
export type WireSendOptions = { volatile?: true; maxAgeMs?: number };

/** The unacknowledged sends of one tab, in order of sequence number. */
export class Outgoing {
  readonly #held = new Map<number, Held>();
  #waiters: { resolve(): void; reject(error: Error): void }[] = [];
  /** Called each time the last held message is let go of. */
  onEmpty: (() => void) | undefined;

  /** How many are held. */
  get size(): number {
    return this.#held.size;
  }

  /** Holds `body` under `seq`; an abort of `o.signal` forgets it. */
  add(seq: number, body: unknown, o?: ResolvedSend, expiresAt?: number): Held {
    const held: Held = {
      body,
      volatile: o?.volatile === true,
      expiresAt: expiresAt ?? (o !== undefined && o.maxAgeMs > 0 ? Date.now() + o.maxAgeMs : Infinity),
      signal: o?.signal,
      onAbort: undefined,
    };
    if (held.signal !== undefined) {
      held.onAbort = () => this.delete(seq);
      held.signal.addEventListener("abort", held.onAbort);
    }
    this.#held.set(seq, held);
    return held;
  }

  /** Acknowledged (or aborted): forgets it, and lets go of its signal. */
  delete(seq: number): void {
    const held = this.#held.get(seq);
    if (held === undefined) return;
    this.#held.delete(seq);
    if (held.onAbort !== undefined) held.signal?.removeEventListener("abort", held.onAbort);
    this.settle();
  }

  /** Lets go of everything held without telling anyone (the caller holds it again, or calls {@link settle}). */
  take(): [number, Held][] {
    const all = [...this.#held];
    this.#held.clear();
    for (const [, held] of all)
      if (held.onAbort !== undefined) held.signal?.removeEventListener("abort", held.onAbort);
    return all;
  }

  /** When nothing is held: `drained()` waiters resolve and `onEmpty` is called. */
  settle(): void {
    if (this.#held.size > 0) return;
    for (const w of this.#waiters.splice(0)) w.resolve();
    this.onEmpty?.();
  }

  /** A snapshot of what is held, oldest first. */
  entries(): [number, Held][] {
    return [...this.#held];
  }

  /** The options to forward with a held message; "expired" when its `maxAgeMs` has passed. */
  wire(held: Held): WireSendOptions | undefined | "expired" {
    const left = held.expiresAt === Infinity ? 0 : Math.ceil(held.expiresAt - Date.now());
    if (held.expiresAt !== Infinity && left <= 0) return "expired";
    if (!held.volatile && left === 0) return undefined;
    const o: WireSendOptions = {};
    if (held.volatile) o.volatile = true;
    if (left > 0) o.maxAgeMs = left;
    return o;
  }

  /** Forgets every message; `drained()` waiters resolve, or reject with `error`. Returns how many there were. */
  clear(error?: Error): number {
    const n = this.#held.size;
    if (error !== undefined) for (const w of this.#waiters.splice(0)) w.reject(error);
    for (const seq of [...this.#held.keys()]) this.delete(seq);
    return n;
  }

  /** Resolves once nothing is held (at once when nothing is). */
  drained(): Promise<void> {
    if (this.#held.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }
}
