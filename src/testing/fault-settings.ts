/**
 * The faults of a fault proxy, per direction: set and lifted with their arguments checked
 * (Toxiproxy's upstream and downstream toxics), and what a lifted fault still held re-timed.
 *
 * It does not move bytes (fault-pipe.ts reads these settings as each chunk comes), and does not
 * touch connections or listening (fault-proxy.ts does, `reset`, `refuse` and the closes a
 * blackhole hides included).
 */

import { EvtWebSocketError } from "../errors.js";
import { shown } from "../option-checks.js";
import type { Faults, Way } from "./fault-pipe.js";

/**
 * Which way a fault applies: `"upstream"` is client to server, `"downstream"` server to
 * client, `"both"` each way (Toxiproxy's `upstream`/`downstream` toxics).
 */
export type FaultDirection = "upstream" | "downstream" | "both";

/** Where a fault applies. */
export interface FaultScope {
  /** The direction the fault affects. @default "both" */
  direction?: FaultDirection;
}

const WAYS = {
  upstream: ["upstream"],
  downstream: ["downstream"],
  both: ["upstream", "downstream"],
} as const;

/**
 * The directions `scope` names.
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` for a direction that is not upstream, downstream or both.
 */
function directions(fault: string, scope: FaultScope | undefined): readonly Way[] {
  const direction = scope?.direction ?? "both";
  if (!Object.hasOwn(WAYS, direction)) {
    throw new EvtWebSocketError(
      "ERR_INVALID_OPTION",
      `option direction of ${fault}() must be "upstream", "downstream" or "both", got ${JSON.stringify(direction)}`,
    );
  }
  return WAYS[direction];
}

/** No fault in either direction ("upstream" is client to server, "downstream" server to client). */
export function createFaults(): Faults {
  return {
    latencyMs: { upstream: 0, downstream: 0 },
    bytesPerSecond: { upstream: 0, downstream: 0 },
    blackholed: { upstream: false, downstream: false },
    releases: { upstream: new Set(), downstream: new Set() },
  };
}

/** Re-times what `ways` still delay under the faults left there (a fault was set to 0). */
function release(faults: Faults, ways: readonly Way[]): void {
  for (const way of ways) for (const retime of faults.releases[way]) retime();
}

/**
 * The proxy's `latency(ms, scope)`: 0 lifts the delay.
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` for a bad direction, or an `ms` outside 0 to 2147483647.
 */
export function setLatency(faults: Faults, ms: number, scope: FaultScope | undefined): void {
  const ways = directions("latency", scope);
  // A timer takes at most 2^31-1 ms: a longer one fires at once, over and over.
  if (typeof ms !== "number" || !(ms >= 0 && ms <= 2_147_483_647))
    throw new EvtWebSocketError(
      "ERR_INVALID_OPTION",
      `option ms of latency() must be a number from 0 to 2147483647, got ${shown(ms)}`,
    );
  for (const way of ways) faults.latencyMs[way] = ms;
  if (ms === 0) release(faults, ways);
}

/**
 * The proxy's `bandwidth(rate, scope)`, in bytes per second: 0 lifts the limit.
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` for a bad direction, or a `rate` that is not a number >= 0.
 */
export function setBandwidth(faults: Faults, rate: number, scope: FaultScope | undefined): void {
  const ways = directions("bandwidth", scope);
  if (typeof rate !== "number" || !(rate >= 0))
    throw new EvtWebSocketError(
      "ERR_INVALID_OPTION",
      `option bytesPerSecond of bandwidth() must be a number >= 0, got ${shown(rate)}`,
    );
  for (const way of ways) faults.bytesPerSecond[way] = rate;
  if (rate === 0) release(faults, ways);
}

/**
 * The proxy's `blackhole(scope)`: bytes of those directions are dropped.
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` for a bad direction.
 */
export function setBlackhole(faults: Faults, scope: FaultScope | undefined): void {
  for (const way of directions("blackhole", scope)) faults.blackholed[way] = true;
}

/** Lifts every fault both ways; what latency or bandwidth still held goes on at once, in order. */
export function clearFaults(faults: Faults): void {
  for (const way of ["upstream", "downstream"] as const) {
    faults.latencyMs[way] = 0;
    faults.bytesPerSecond[way] = 0;
    faults.blackholed[way] = false;
  }
  release(faults, ["upstream", "downstream"]);
}
