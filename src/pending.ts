/**
 * Pending requests: what makes every request settle exactly once. Its timeout (one timer per
 * distinct timeout, judged late as src/clock.ts's deadlines are), its abort signal, and its
 * removal from the outgoing queue when it ends before being sent; finding a request for a
 * response is the registry's (`pending-registry.ts`). Deciding which error a disconnect means is
 * the connection's job.
 */

import type { Clock, TimerHandle } from "./clock.js";
import type { Data } from "./codec.js";
import { ErrorCode, EvtWebSocketError, evtError } from "./errors.js";
import { type MessageKey, type PendingEntry, PendingRegistry } from "./pending-registry.js";
import { allowManyListeners } from "./signal-limit.js";

/** A request as the connection tracks it. */
export interface Request<TIn, TOut, Q = unknown> extends PendingEntry<TOut> {
  /** The queue slot while the request waits to be sent. */
  queued: Q | undefined;
  /** True once its frame went out on a socket. */
  sent: boolean;
  /** Re-send after a reconnect instead of failing with `ERR_DISCONNECTED`. */
  readonly retryOnReconnect: boolean;
  /** The request body, handed to `matchMsg`; let go once the request has left (see `release`). */
  body: TOut;
  /** The encoded frame, kept to re-send it; let go once the request has left. */
  data: Data;
  /** Called exactly once with the outcome; let go once called. */
  done: Done<TIn>;
  /** Monotonic time at which the request times out; meaningful while `deadlines` is set. */
  deadline: number;
  /** The deadline list holding the request, and its neighbours in it. */
  deadlines: DeadlineList<TIn, TOut, Q> | undefined;
  prev: Request<TIn, TOut, Q> | undefined;
  next: Request<TIn, TOut, Q> | undefined;
  abort: (() => void) | undefined;
}

/**
 * The requests sharing one timeout, oldest first: with equal timeouts, insertion order is
 * deadline order, so one timer for the head serves the whole list (as Node's own timer lists
 * do), instead of a timer and a closure per request.
 */
interface DeadlineList<TIn, TOut, Q> {
  readonly timeoutMs: number;
  head: Request<TIn, TOut, Q> | undefined;
  tail: Request<TIn, TOut, Q> | undefined;
  timer: TimerHandle | undefined;
  /**
   * Its timer fired late, at this time, and waits one more turn before it judges the requests
   * due by then (see `#expire`); undefined when it did not.
   */
  lateAt: number | undefined;
}

/** Runs a step as one transition (the emitter's `run`). */
export interface Transitions {
  run<T, A extends unknown[]>(self: T, step: (this: T, ...args: A) => void, ...args: A): void;
}

/** What a request that has left holds in place of its `done`. */
const SETTLED = (): void => {};

/**
 * Lets go of what a request that has left held (its body, frame and `done`, and through `done`
 * its caller's promise) and returns its `done` to call. A request still pending after two
 * young-generation collections has been moved to the old generation, where, once dead, it stays
 * until the next full collection; what it still pointed to then survived every young collection
 * in between and was promoted in turn, and the next requests with it. In a process with a
 * larger heap (300,000 other small objects) that promoted most of every request: 136 MB per
 * 200,000 requests at 100 in flight and 0.7x the throughput, 48 MB once let go here.
 */
function release<TIn>(request: Request<TIn, unknown, unknown>): Done<TIn> {
  const { done } = request;
  request.done = SETTLED;
  request.body = undefined;
  request.data = "";
  return done;
}

/** A deadline list's timer while its expired requests are being rejected. */
const EXPIRING: TimerHandle = Symbol("expiring");

/** How a request's caller learns its outcome: an error, or the response. */
export type Done<TIn> = (error: Error | undefined, response: TIn | undefined) => void;

/** What a new request needs. */
export interface RequestInit<TIn, TOut> {
  body: TOut;
  id: MessageKey | undefined;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  retryOnReconnect: boolean;
  data: Data;
  done: Done<TIn>;
}

/**
 * Pending requests with their deadlines and abort signals: each settles exactly once.
 * A request that settles while still queued is cancelled in `queue`, so its frame is never sent.
 */
export class PendingRequests<TIn, TOut, Q = unknown> {
  readonly #index = new PendingRegistry<TOut, Request<TIn, TOut, Q>>();
  readonly #clock: Clock;
  readonly #queue: { cancel(queued: Q): void };
  #seq = 0;
  /** One list and one timer per distinct timeout in use; created on first use. */
  #deadlines: Map<number, DeadlineList<TIn, TOut, Q>> | undefined;

  readonly #steps: Transitions;

  /**
   * @param steps - runs each timeout and abort as one transition (the connection's emitter), so
   *   the callbacks they fire are announced once every due request has settled.
   */
  constructor(clock: Clock, queue: { cancel(queued: Q): void }, steps: Transitions) {
    this.#clock = clock;
    this.#queue = queue;
    this.#steps = steps;
  }

  get size(): number {
    return this.#index.size;
  }

  hasId(id: MessageKey): boolean {
    return this.#index.hasId(id);
  }

  /** Registers a request, starts its timeout and listens to its signal. */
  add(init: RequestInit<TIn, TOut>): Request<TIn, TOut, Q> {
    const request: Request<TIn, TOut, Q> = {
      body: init.body,
      id: init.id,
      seq: this.#seq++,
      queued: undefined,
      sent: false,
      retryOnReconnect: init.retryOnReconnect,
      data: init.data,
      done: init.done,
      deadline: 0,
      deadlines: undefined,
      prev: undefined,
      next: undefined,
      abort: undefined,
    };
    this.#index.add(request);
    // 0 and Infinity both mean no timeout: no deadline, no timer.
    if (init.timeoutMs > 0 && Number.isFinite(init.timeoutMs)) this.#track(request, init.timeoutMs);
    const { signal } = init;
    if (signal !== undefined) {
      const onAbort = () => {
        const error = new EvtWebSocketError(ErrorCode.ABORTED, "request aborted by its signal", {
          cause: signal.reason,
        });
        this.#steps.run(this, this.reject, request, error);
      };
      allowManyListeners(signal);
      signal.addEventListener("abort", onAbort, { once: true });
      request.abort = () => signal.removeEventListener("abort", onAbort);
    }
    return request;
  }

  /** The request a response settles, or undefined. */
  find(id: MessageKey | undefined, matches: ((request: TOut) => boolean) | undefined) {
    return this.#index.find(id, matches);
  }

  /** Settles a request with its response. */
  resolve(request: Request<TIn, TOut, Q>, response: TIn): void {
    if (this.#leave(request)) release(request)(undefined, response);
  }

  /** Forgets a request without settling it: its caller gets a throw instead. */
  discard(request: Request<TIn, TOut, Q>): void {
    if (this.#leave(request)) release(request);
  }

  /** Settles a request with an error. */
  reject(request: Request<TIn, TOut, Q>, error: Error): void {
    if (this.#leave(request)) release(request)(error, undefined);
  }

  /** Every pending request, oldest first. */
  entries(): Request<TIn, TOut, Q>[] {
    return this.#index.entries();
  }

  #leave(request: Request<TIn, TOut, Q>): boolean {
    if (!this.#index.has(request)) return false;
    this.#index.remove(request);
    if (request.deadlines !== undefined) this.#untrack(request);
    request.abort?.();
    request.abort = undefined;
    if (request.queued !== undefined) {
      this.#queue.cancel(request.queued);
      request.queued = undefined;
    }
    return true;
  }

  #track(request: Request<TIn, TOut, Q>, timeoutMs: number): void {
    this.#deadlines ??= new Map();
    const lists = this.#deadlines;
    let list = lists.get(timeoutMs);
    if (list === undefined) {
      list = { timeoutMs, head: undefined, tail: undefined, timer: undefined, lateAt: undefined };
      lists.set(timeoutMs, list);
    }
    request.deadline = this.#clock.now() + timeoutMs;
    request.deadlines = list;
    request.prev = list.tail;
    if (list.tail === undefined) list.head = request;
    else list.tail.next = request;
    list.tail = request;
    if (list.timer === undefined) this.#arm(list, timeoutMs);
  }

  /**
   * Unlinks a request. An emptied list keeps its timer: with one request at a time, clearing and
   * setting a timer per request cost more than the request's own bookkeeping. The timer drops
   * the list when it fires empty, and {@link stopTimers} clears it when the connection ends.
   */
  #untrack(request: Request<TIn, TOut, Q>): void {
    const list = request.deadlines!;
    if (request.prev === undefined) list.head = request.next;
    else request.prev.next = request.next;
    if (request.next === undefined) list.tail = request.prev;
    else request.next.prev = request.prev;
    request.deadlines = undefined;
    request.prev = undefined;
    request.next = undefined;
  }

  /** Clears every deadline timer (the connection ended): nothing outlives the last request. */
  stopTimers(): void {
    const lists = this.#deadlines;
    if (lists === undefined) return;
    for (const list of lists.values()) {
      if (list.timer !== undefined && list.timer !== EXPIRING) this.#clock.clearTimeout(list.timer);
      list.timer = undefined;
    }
    lists.clear();
  }

  #arm(list: DeadlineList<TIn, TOut, Q>, delayMs: number): void {
    list.timer = this.#clock.setTimeout(
      () => this.#steps.run(this, this.#expire, list),
      Math.max(0, delayMs),
    );
  }

  /**
   * Times out every request whose deadline passed, then re-arms for the new head. A timer that
   * fires after the head's deadline (a starved process; Node runs due timers before it reads the
   * sockets, so an answer that came in time may still be unread) first waits one more turn, a
   * zero-delay timer that runs after the sockets are read, as the heartbeat's verdict does.
   */
  #expire(list: DeadlineList<TIn, TOut, Q>): void {
    const now = this.#clock.now();
    if (list.lateAt === undefined && list.head !== undefined && now > list.head.deadline) {
      list.lateAt = now;
      this.#arm(list, 0);
      return;
    }
    // After a late timer's extra turn, only the requests due when it fired: one whose deadline
    // passed since (this turn ran late for it too) gets an extra turn of its own, below.
    const due = list.lateAt ?? now;
    list.lateAt = undefined;
    // While the loop runs, a request added by a callback it fires (a send callback's onError)
    // must not arm the list's timer for its own, later deadline: the loop re-arms for the head.
    list.timer = EXPIRING;
    for (let r = list.head; r !== undefined && r.deadline <= due; r = list.head) {
      const where = r.sent ? "no response" : "still queued, never sent";
      const message = `request timed out after ${list.timeoutMs} ms (${where})`;
      this.reject(r, evtError(ErrorCode.REQUEST_TIMEOUT, message));
    }
    if (list.head === undefined) {
      // Nothing left with this timeout: forget the list (a new request makes a new one).
      if (this.#deadlines?.get(list.timeoutMs) === list) this.#deadlines.delete(list.timeoutMs);
    } else if (list.timer === EXPIRING) {
      if (now > list.head.deadline) list.lateAt = now;
      this.#arm(list, list.head.deadline - now);
    }
    if (list.timer === EXPIRING) list.timer = undefined;
  }
}
