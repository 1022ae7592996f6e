/** Small helpers of the chaos run: sleeping, polling with a deadline, counting active resources. */

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 5 ms; resolves true when it holds, false when `timeoutMs` passed first. */
export async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

/** `process.getActiveResourcesInfo()` as counts per resource type. */
export function resourceCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/** What `now` holds beyond `baseline` ("Timeout +1, TCPSocketWrap +2"), or "" when nothing. */
export function leakDiff(baseline: Map<string, number>, now: Map<string, number>): string {
  const extra: string[] = [];
  for (const [type, count] of now) {
    const more = count - (baseline.get(type) ?? 0);
    if (more > 0) extra.push(`${type} +${more}`);
  }
  return extra.join(", ");
}

/** min, median and max of `values` (NaN when empty). */
export function quantiles(values: readonly number[]): { min: number; median: number; max: number } {
  if (values.length === 0) return { min: Number.NaN, median: Number.NaN, max: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0]!, median: sorted[Math.floor(sorted.length / 2)]!, max: sorted.at(-1)! };
}
