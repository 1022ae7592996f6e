/**
 * Flow control of one connection, made on its first use: `drained()` and the `"drain"` event
 * (backpressure.ts), and the `messages()` iterators (message-stream.ts), wired to the
 * connection's current link, its outgoing queue and its end for good. A connection that uses
 * neither has no `Flow` and pays nothing per message.
 *
 * It decides nothing about what a message is or whether a send is queued (conn.ts, outbox.ts);
 * it only tells links to report their writes, pauses their reading, and settles its waiters
 * and iterators when the lifecycle shuts down.
 */

import { Backpressure } from "./backpressure.js";
import type { AnyConn } from "./conn.js";
import type { Emitter } from "./emitter.js";
import { ErrorCode, type EvtWebSocketError, evtError } from "./errors.js";
import type { Lifecycle } from "./lifecycle.js";
import type { Link } from "./link.js";
import { MessageStreams, type MessagesOptions, resolveMessagesOptions } from "./message-stream.js";
import type { Outbox } from "./outbox.js";
import type { ResolvedOptions } from "./resolve-options.js";
import { State } from "./state.js";

type ConnLink = Link<AnyConn>;

/** The flow control of one connection; see the module header. */
export class Flow<T> {
  readonly #life: Lifecycle;
  // biome-ignore lint/suspicious/noExplicitAny: the facade's typed emitter, seen without its message types.
  readonly #events: Emitter<any, AnyConn>;
  // biome-ignore lint/suspicious/noExplicitAny: as above.
  readonly #out: Outbox<any, any>;
  readonly #o: ResolvedOptions<unknown, unknown>;
  readonly #owner: AnyConn;
  #bp: Backpressure | undefined;
  #streams: MessageStreams<T> | undefined;
  /** A full iterator wants reading paused (applied to every new socket). */
  #readPaused: boolean | undefined;
  /** The last socket opened could not pause: the next one, of the same transport, cannot either. */
  #cannotPause: boolean | undefined;

  constructor(
    owner: AnyConn,
    life: Lifecycle,
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    events: Emitter<any, AnyConn>,
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    out: Outbox<any, any>,
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    o: ResolvedOptions<any, any>,
  ) {
    this.#owner = owner;
    this.#life = life;
    this.#events = events;
    this.#out = out;
    this.#o = o;
    life.onShutdown = (reason) => this.#shutdown(reason);
    // Checked once the caller is done: a message dropped as oldest makes room for a new one.
    out.onEmpty = () => queueMicrotask(() => this.ended());
  }

  /** A link opened, before the connection announces it: it inherits the pause and the watch. */
  opening(link: ConnLink): void {
    this.#cannotPause = !link.canPause;
    if (this.#readPaused) link.setPaused(true);
    if (this.#bp?.watching) link.watchWrites = true;
  }

  /** A link opened and was announced (and may have sent the queue). */
  opened(link: ConnLink): void {
    if (this.#bp !== undefined && link === this.#life.openLink) this.#bp.update(link, this.#out.queued, true);
  }

  /** A watched link sent a frame (`flushed` false) or wrote what it had been asked about. */
  written(link: ConnLink, flushed: boolean): void {
    if (link === this.#life.link) this.#bp?.update(link, this.#out.queued, flushed);
  }

  /**
   * A link ended, or the queue emptied unsent: with nothing queued, `drained()` waits no more for
   * what a dead socket held (a WHATWG socket's poll stops with it) nor for messages gone unsent.
   */
  ended(): void {
    if (this.#out.queued === 0) this.#bp?.emptied(this.#life.openLink);
  }

  /**
   * A `"drain"` listener is being added. Once no listener and no waiter is left, the next
   * watched send stops the watch (backpressure's `update`): a connection that listened once
   * pays one read after the last listener left, not one per send for good.
   */
  listenDrain(): void {
    this.#backpressure().listen(this.#life.openLink);
  }

  /** `conn.drained()`; the caller has checked the connection is not closed. */
  drained(): Promise<void> {
    return this.#backpressure().wait(this.#life.openLink, this.#out.queued);
  }

  /** `conn.messages()`: an iterator that is over at once when the connection is closed. */
  messages(options: MessagesOptions | undefined): AsyncIterableIterator<T> {
    const resolved = resolveMessagesOptions(options);
    this.#streams ??= new MessageStreams<T>({
      subscribe: (listener) => this.#events.on("message", listener),
      // No socket: the message's was dropped by an earlier listener (reconnect()).
      canPause: () => this.#life.link?.canPause ?? !this.#cannotPause,
      setPaused: (paused) => {
        this.#readPaused = paused;
        this.#life.link?.setPaused(paused);
      },
      report: (error) => this.#events.emit("error", error, this.#owner),
    });
    if (this.#life.state !== State.CLOSED) return this.#streams.open(resolved);
    return this.#streams.open(resolved, { error: streamError(this.#life.endReason) });
  }

  #backpressure(): Backpressure {
    this.#bp ??= new Backpressure(
      this.#o.lowWaterMark,
      this.#o.highWaterMark,
      () => this.#events.emit("drain", this.#owner),
      () => this.#events.has("drain"),
    );
    return this.#bp;
  }

  /** The connection ended for good: waiters reject, iterators end after what they buffered. */
  #shutdown(reason: EvtWebSocketError | undefined): void {
    this.#readPaused = false;
    this.#bp?.fail(reason ?? evtError(ErrorCode.DISCONNECTED, "connection ended and will not reconnect"));
    this.#streams?.end(streamError(reason));
  }
}

/** What an iterator throws at the end: nothing after `close()` or a clean end, else the reason. */
function streamError(reason: EvtWebSocketError | undefined): EvtWebSocketError | undefined {
  return reason?.code === ErrorCode.CLOSED ? undefined : reason;
}
