/**
 * What one tab sees of a shared connection it does not hold (a follower): `messages()`
 * iterators over this tab's `"message"` event, and the counters of `stats`.
 *
 * The iterators are Conn's own (`message-stream.ts`), over a host that cannot pause: messages
 * reach a follower over a `BroadcastChannel`, which cannot push back on the leader's socket,
 * so a full buffer does what `overflow` says. They span handovers and end when this tab
 * closes (done) or the shared connection gives up (they throw its reason). The counters are
 * this tab's: messages it handed to a leader and the leader acknowledged, messages and pongs
 * it heard, reconnects it saw. This module neither posts nor receives anything itself.
 */

import type { ConnStats, EvtWebSocketError } from "../index.js";
import { MessageStreams, type MessagesOptions, resolveMessagesOptions } from "../message-stream.js";
import { checked, rebrand } from "./public-error.js";

/** A follower's iterators and counters; see the module header. */
export class TabView<T> {
  readonly #subscribe: (listener: (msg: T) => void) => () => void;
  readonly #report: (error: EvtWebSocketError) => void;
  #streams: MessageStreams<T> | undefined;
  /** Sends and requests a leader acknowledged. */
  sent = 0;
  /** Messages heard (those the `"message"` event got) and responses to this tab's requests. */
  received = 0;
  /** Times the shared state went to "reconnecting". */
  reconnects = 0;
  /** The last pong's round trip, in ms, as the leader measured it; NaN before the first. */
  lastRttMs = NaN;

  constructor(
    subscribe: (listener: (msg: T) => void) => () => void,
    report: (error: EvtWebSocketError) => void,
  ) {
    this.#subscribe = subscribe;
    this.#report = report;
  }

  /** A new iterator; one that is already done when `closed`. */
  messages(options: MessagesOptions | undefined, closed: boolean): AsyncIterableIterator<T> {
    const o = checked(() => resolveMessagesOptions(options));
    this.#streams ??= new MessageStreams<T>({
      subscribe: this.#subscribe,
      canPause: () => false,
      setPaused() {},
      report: (error) => this.#report(rebrand(error)),
    });
    const stream = this.#streams.open(o, closed ? { error: undefined } : undefined);
    const next = stream.next.bind(stream);
    // A buffer that overflows ends the iterator with an error of the bundled class: made public.
    stream.next = () => next().catch((error: unknown) => Promise.reject(rebrand(error)));
    return stream;
  }

  /** The connection ended for good: every iterator ends after what it buffered (throwing `error`, if any). */
  end(error: EvtWebSocketError | undefined): void {
    this.#streams?.end(error);
  }

  /** This tab's counters, with the requests and sends it holds. */
  stats(pendingRequests: number, queuedMessages: number): ConnStats {
    const stats: ConnStats = {
      messagesSent: this.sent,
      messagesReceived: this.received,
      bytesSent: 0,
      bytesReceived: 0,
      reconnects: this.reconnects,
      pendingRequests,
      queuedMessages,
    };
    if (!Number.isNaN(this.lastRttMs)) stats.lastRttMs = this.lastRttMs;
    return stats;
  }
}
