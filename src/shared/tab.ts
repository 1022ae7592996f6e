/**
 * What the parts of one tab's shared connection share: the role, the shared state as this tab
 * tells it, the sends and requests it holds, the channel to the other tabs, and how it tells
 * its own listeners. `shared-conn.ts` makes one per tab and hands it to `leader.ts` and
 * `follower.ts`. It decides nothing: what is posted, and when, is theirs.
 */

import type { UrlSource } from "../index.js";
import { Outgoing } from "./outgoing.js";
import { EvtWebSocketError, evtError } from "./public-error.js";
import { FollowerRequests, type Waiting } from "./requests.js";
import type { TabRole } from "./role.js";
import { type Emit, SharedState } from "./shared-state.js";
import type { TabView } from "./tab-view.js";
import type { SharedConnOptions } from "./types.js";
import { post, type Wire } from "./wire.js";

/** One tab's parts; see the module header. */
export class Tab<TIn, TOut> {
  /** This tab's id: what the leader addresses its acknowledgements and responses to. */
  readonly id = Math.random().toString(36).slice(2);
  readonly options: SharedConnOptions<TIn, TOut>;
  readonly emit: Emit<TIn, TOut>;
  readonly role: TabRole;
  /** A follower's iterators and counters. */
  readonly view: TabView<TIn>;
  readonly shared: SharedState<TIn, TOut>;
  /** This tab's sends that no leader acknowledged yet, by sequence number (in order). */
  readonly unacked: Outgoing;
  /** This tab's requests waiting for a response through the leader. */
  readonly waiting: FollowerRequests;
  /** The channel to the other tabs; none when alone, or closed. */
  channel: BroadcastChannel | undefined;
  /** The URL and subprotocol of this tab's last dial(): a tab that becomes leader dials them. */
  url: UrlSource | undefined;
  sub: string | string[] | undefined;
  /** The last sequence number this tab gave a send or request. */
  seq = 0;
  /** The leadership this tab holds, or (following) last heard of: its posts are addressed to it. */
  lead: string | undefined;

  /** @param forward - posts a waiting request to the leader (`Follower.forward`). */
  constructor(
    options: SharedConnOptions<TIn, TOut>,
    emit: Emit<TIn, TOut>,
    role: TabRole,
    view: TabView<TIn>,
    forward: (seq: number, w: Waiting) => void,
  ) {
    this.options = options;
    this.emit = emit;
    this.role = role;
    this.view = view;
    this.shared = new SharedState(emit, view, role);
    this.unacked = new Outgoing({
      post: (seq, body, o) =>
        this.post(
          o === undefined
            ? { t: "send", from: this.id, seq, body, l: this.lead }
            : { t: "send", from: this.id, seq, body, o, l: this.lead },
        ),
      expired: (body) =>
        emit(
          "error",
          new EvtWebSocketError("ERR_QUEUE_EXPIRED", "a queued message expired (maxAgeMs) and was dropped", {
            details: { message: body },
          }),
        ),
    });
    this.waiting = new FollowerRequests(forward);
  }

  /** Posts to the other tabs; throws `ERR_INVALID_OPTION` for a send or request that cannot be cloned (`wire.ts`). */
  post(message: Wire): void {
    post(this.channel, message);
  }

  /** Runs `fn`; what it throws goes to the `error` event (`what` says what failed). */
  guard(fn: () => void, what = "send failed"): void {
    try {
      fn();
    } catch (error) {
      this.emit(
        "error",
        error instanceof EvtWebSocketError ? error : evtError("ERR_CALLBACK_THREW", what, error),
      );
    }
  }
}
