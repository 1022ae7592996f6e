/**
 * A tab's plain sends that no leader has acknowledged yet, with their per-message options
 * (`send(body, options)`), and `drained()` for a follower.
 *
 * A follower keeps each send until the leader acknowledges it (see follower.ts): that is
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
  /** `performance.now()` past which it expires (monotonic: a wall-clock jump moves nothing); Infinity for no limit. */
  expiresAt: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** What a leader is told with a forwarded send: `volatile`, and the `maxAgeMs` left. */
export type WireSendOptions = { volatile?: true; maxAgeMs?: number };

/** How the held messages reach the leader, and where an expired one is reported. */
export interface OutgoingHooks {
  /** Posts a message to the leader; throws for a body that cannot be cloned. */
  post(seq: number, body: unknown, o: WireSendOptions | undefined): void;
  /** A held message passed its `maxAgeMs` before a leader took it: it is dropped. */
  expired(body: unknown): void;
}

/**
 * A leader's Conn dropped a queued message unsent and reported it (`ERR_QUEUE_EXPIRED`, or
 * `ERR_QUEUE_FULL` under "drop-oldest", with the body in `details.message`): the index of the
 * entry that holds that very body, or -1. A body that is not an object must be the only entry
 * of its value, else none is taken (which one was dropped cannot be told).
 */
export function droppedAt(bodies: readonly unknown[], error: unknown): number {
  const e = error as { code?: string; details?: { message?: unknown } } | undefined;
  if (e?.code !== "ERR_QUEUE_EXPIRED" && e?.code !== "ERR_QUEUE_FULL") return -1;
  const body = e.details?.message;
  if (body === undefined) return -1;
  const i = bodies.indexOf(body);
  return typeof body === "object" || bodies.lastIndexOf(body) === i ? i : -1;
}

/** The unacknowledged sends of one tab, in order of sequence number. */
export class Outgoing {
  readonly #hooks: OutgoingHooks;
  readonly #held = new Map<number, Held>();
  #waiters: { resolve(): void; reject(error: Error): void }[] = [];
  /** Called each time the last held message is let go of. */
  onEmpty: (() => void) | undefined;

  constructor(hooks: OutgoingHooks) {
    this.#hooks = hooks;
  }

  /** How many are held. */
  get size(): number {
    return this.#held.size;
  }

  /** Holds `body` under `seq`; an abort of `o.signal` forgets it. */
  add(seq: number, body: unknown, o?: ResolvedSend, expiresAt?: number): Held {
    const held: Held = {
      body,
      volatile: o?.volatile === true,
      expiresAt: expiresAt ?? (o !== undefined && o.maxAgeMs > 0 ? performance.now() + o.maxAgeMs : Infinity),
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

  /** Holds a new message and posts it to the leader; one that cannot be posted (cloned) is kept nowhere. */
  send(seq: number, body: unknown, o: ResolvedSend | undefined): void {
    const held = this.add(seq, body, o);
    try {
      this.forward(seq, held);
    } catch (error) {
      this.#forget(seq);
      throw error;
    }
  }

  /** Posts a held message (again) with the options it has left; one past its `maxAgeMs` is dropped instead. */
  forward(seq: number, held: Held): void {
    const o = this.wire(held);
    if (o === "expired") {
      this.delete(seq);
      this.#hooks.expired(held.body);
    } else this.#hooks.post(seq, held.body, o);
  }

  /** Posts every held message again, oldest first (to a new leader). */
  forwardAll(): void {
    for (const [seq, held] of [...this.#held]) this.forward(seq, held);
  }

  /** Reports a message taken over (see {@link take}) that is past its `maxAgeMs`. */
  drop(held: Held): void {
    this.#hooks.expired(held.body);
  }

  /** Acknowledged (or aborted): forgets it, and lets go of its signal. */
  delete(seq: number): void {
    if (this.#forget(seq)) this.settle();
  }

  #forget(seq: number): boolean {
    const held = this.#held.get(seq);
    if (held === undefined) return false;
    this.#held.delete(seq);
    if (held.onAbort !== undefined) held.signal?.removeEventListener("abort", held.onAbort);
    return true;
  }

  /**
   * This tab's Conn dropped and reported a queued message (see {@link droppedAt}): a held one
   * is forgotten, not sent again. `others` are the bodies of the followers' sends it queued
   * (a leader's); returns the index there of the one dropped, else -1.
   */
  dropped(error: unknown, others: readonly unknown[]): number {
    const held = [...this.#held];
    const i = droppedAt([...held.map(([, h]) => h.body), ...others], error);
    if (i < held.length) {
      if (i >= 0) this.delete(held[i]![0]);
      return -1;
    }
    return i - held.length;
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

  /** The options to forward with a held message; "expired" when its `maxAgeMs` has passed. */
  wire(held: Held): WireSendOptions | undefined | "expired" {
    const left = held.expiresAt === Infinity ? 0 : Math.ceil(held.expiresAt - performance.now());
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
