/**
 * What the parts of one tab's shared connection share: the role, the shared state as this tab
 * tells it, the sends and requests it holds, and how it posts to the other tabs and tells its
 * own listeners. `shared-conn.ts` makes one per tab and hands it to `leader.ts` and
 * `follower.ts`. A type only: no behaviour here.
 */

import type { UrlSource } from "../index.js";
import type { Outgoing } from "./outgoing.js";
import type { FollowerRequests } from "./requests.js";
import type { TabRole } from "./role.js";
import type { Emit, SharedState } from "./shared-state.js";
import type { TabView } from "./tab-view.js";
import type { SharedConnOptions } from "./types.js";
import type { Wire } from "./wire.js";

/** One tab's parts; see the module header. */
export interface Tab<TIn, TOut> {
  /** This tab's id: what the leader addresses its acknowledgements and responses to. */
  readonly id: string;
  readonly options: SharedConnOptions<TIn, TOut>;
  readonly role: TabRole;
  readonly shared: SharedState<TIn, TOut>;
  /** This tab's sends that no leader acknowledged yet, by sequence number (in order). */
  readonly unacked: Outgoing;
  /** This tab's requests waiting for a response through the leader. */
  readonly waiting: FollowerRequests;
  /** A follower's iterators and counters. */
  readonly view: TabView<TIn>;
  /** The URL and subprotocol of this tab's last dial(): a tab that becomes leader dials them. */
  url: UrlSource | undefined;
  sub: string | string[] | undefined;
  /** The last sequence number this tab gave a send or request. */
  seq: number;
  /** Posts to the other tabs; throws `ERR_INVALID_OPTION` for a send or request that cannot be cloned. */
  post(message: Wire): void;
  emit: Emit<TIn, TOut>;
  /** Runs `fn`; what it throws goes to the `error` event (`what` says what failed). */
  guard(fn: () => void, what?: string): void;
}
