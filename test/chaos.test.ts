/**
 * The CI-sized chaos run: 100 random fault cycles and a 50-client restart storm, with every
 * invariant checked (see chaos/). `npm run chaos -- --cycles 2000` is the full run. A failure
 * prints the seed: `npm run chaos -- --cycles 100 --seed <seed>` replays the same faults.
 */

import { describe, expect, it } from "vitest";
import { runChaos } from "../chaos/cycles.js";
import { formatReport } from "../chaos/report.js";
import { runStorm } from "../chaos/storm.js";

const cycles = Number(process.env.CHAOS_CYCLES ?? 100);

describe("chaos", () => {
  it(`${cycles} random fault cycles: no invariant violated, nothing leaked, no canary seen`, async () => {
    const report = await runChaos({ cycles });
    const summary = `seed ${report.seed}\n${formatReport(report)}`;
    expect(report.violations, summary).toEqual([]);
    expect(report.canaryHits, summary).toBe(0);
    expect(report.leaks, summary).toEqual([]);
    expect(report.maxLiveSockets, summary).toBe(1);
    expect(report.falseDeadDetections, summary).toBe(0);
    expect(report.requests.sent, summary).toBeGreaterThan(0);
  }, 240_000);

  it("50 clients on a server that restarts: retries spread out, none faster than the policy, all recover", async () => {
    const { storm, violations } = await runStorm({ clients: 50 });
    expect(violations, JSON.stringify(storm)).toEqual([]);
    expect(storm.recovered).toBe(50);
    expect(storm.tooFast).toBe(0);
    expect(storm.maxLivePerClient).toBe(1);
  }, 120_000);
});
