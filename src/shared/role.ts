/**
 * A tab's role in a shared connection, and the election that changes it: the one state
 * machine of `evtwebsocket/shared`.
 *
 * Election. Every tab asks the Web Locks API for the lock `evtwebsocket:<name>` and holds it
 * for its life; the tab that has it is the leader and owns the one real socket, the others are
 * followers. When the leader's page closes, crashes or calls `close()`, the lock passes to the
 * next tab in the lock's queue. A leader whose page is frozen or enters the back/forward cache
 * steps down: it releases the lock, and queues for it again (as a follower) when the page runs
 * again. Where Web Locks or `BroadcastChannel` is missing, the tab is "alone" for its life.
 *
 * The transitions (`NEXT`); a step not in a row changes nothing:
 *
 * | from         | lead   | stepDown     | close  |
 * | ------------ | ------ | ------------ | ------ |
 * | alone        |        |              | closed |
 * | follower     | leader |              | closed |
 * | leader       |        | stepped-down | closed |
 * | stepped-down | leader |              | closed |
 * | closed       |        |              |        |
 *
 * A stepped-down tab's own socket is no longer the shared one: its end is not the shared
 * connection's news (see {@link TabRole.leaving}). This module decides no more than the role:
 * what a tab does as leader or follower is `leader.ts`'s and `follower.ts`'s.
 */

import type { Role } from "./types.js";
import type { Locks } from "./wire.js";

/** Where a tab is in its life: a {@link Role}, or past one. */
type Phase = Role | "stepped-down" | "closed";

/** What moves a tab: the lock granted, the page frozen or cached, `close()`. */
type Step = "lead" | "stepDown" | "close";

/** The allowed transitions; a step missing from a row is refused (changes nothing). */
const NEXT: Record<Phase, Partial<Record<Step, Phase>>> = {
  alone: { close: "closed" },
  follower: { lead: "leader", close: "closed" },
  leader: { stepDown: "stepped-down", close: "closed" },
  "stepped-down": { lead: "leader", close: "closed" },
  closed: {},
};

/** A tab's role and its place in the lock's queue; see the module header. */
export class TabRole {
  #phase: Phase;
  /** The role as last announced; a closed tab keeps the one it had. */
  #role: Role;
  readonly #name: string;
  /** Set while this tab queues for (or holds) the lock. */
  #abortLock: AbortController | undefined;
  #release: (() => void) | undefined;

  /**
   * @param name - the lock's name.
   * @param alone - true where Web Locks or BroadcastChannel is missing.
   */
  constructor(name: string, alone: boolean) {
    this.#name = name;
    this.#phase = this.#role = alone ? "alone" : "follower";
  }

  /** "leader", "follower" (stepped down too) or "alone"; after close, the one this tab had. */
  get role(): Role {
    return this.#role;
  }

  /** This tab called close(). */
  get closed(): boolean {
    return this.#phase === "closed";
  }

  /**
   * This tab's own Conn is not the shared one now (it stepped down, or closed): its events are
   * not the other tabs' news.
   */
  get leaving(): boolean {
    return this.#phase === "stepped-down" || this.#phase === "closed";
  }

  /** A leader stepped down and not closed: its old socket's end is not this tab's news either. */
  get steppedDown(): boolean {
    return this.#phase === "stepped-down";
  }

  /** True while this tab serves the others (a leader, not stepped down nor closed). */
  get leads(): boolean {
    return this.#phase === "leader";
  }

  /** Takes `step` when the table allows it; false (nothing changed) when it does not. */
  to(step: Step): boolean {
    const next = NEXT[this.#phase][step];
    if (next === undefined) return false;
    this.#phase = next;
    if (next !== "closed") this.#role = next === "stepped-down" ? "follower" : next;
    return true;
  }

  /**
   * Queues for the lock; `granted` runs when this tab gets it. False when it already queues, or
   * closed.
   */
  elect(granted: () => void): boolean {
    if (this.closed || this.#abortLock !== undefined) return false;
    const abort = new AbortController();
    this.#abortLock = abort;
    const locks = (navigator as unknown as { locks: Locks }).locks;
    locks
      .request(this.#name, { signal: abort.signal }, () => {
        // Closed (or stepped down) after the grant but before this call: an abort no longer
        // applies, so the lock is handed straight on instead of held for the page's life.
        if (abort.signal.aborted) return Promise.resolve();
        granted();
        return new Promise<void>((resolve) => {
          this.#release = resolve;
        });
      })
      .catch(() => {}); // aborted before the lock came
    return true;
  }

  /** Stops queueing for the lock; a leader steps down and lets it go. False unless it led. */
  stepDown(): boolean {
    this.#abortLock?.abort();
    this.#abortLock = undefined;
    if (!this.to("stepDown")) return false;
    this.#release?.();
    return true;
  }

  /** close(): queues no more. The lock, if held, goes with {@link release}. */
  close(): void {
    this.to("close");
    this.#abortLock?.abort();
  }

  /** Lets the lock go (a leader that closed its socket). */
  release(): void {
    this.#release?.();
  }
}
