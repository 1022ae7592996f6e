/**
 * The model-based test of `Conn` (issue 15, part 3): random sequences of calls, socket events,
 * late timers and re-entrant callbacks against a small model of the contract, on an in-memory
 * transport and a hand-driven clock. See test/model/ and docs/testing.md ("The model-based
 * suite") for how it works, how to run a long search and how to replay a failure.
 *
 * Properties still awaiting a fix on main (test/model/properties.ts, AWAITING_FIX) are skipped
 * unless MODEL_STRICT=1. A failure prints the shrunk script and the command that replays it.
 */

import { describe, expect, it } from "vitest";
import { AWAITING_FIX } from "./model/properties.js";
import { runModel } from "./model/property.js";

const strict = process.env.MODEL_STRICT === "1";
const FIXED_SEED = 15;
const randomSeed = (Math.random() * 0x7fffffff) | 0;

async function check(seed: number, numRuns: number): Promise<void> {
  const result = await runModel({ strict, seed, numRuns });
  if (!result.ok) throw new Error(result.report);
  expect(result.runs).toBe(numRuns);
}

describe("Conn against the model", () => {
  if (!strict) {
    const skipped = Object.keys(AWAITING_FIX);
    if (skipped.length > 0) {
      console.log(
        `model: skipping ${skipped.join(", ")} (awaiting fixes on main; MODEL_STRICT=1 checks them)`,
      );
    }
  }

  it("keeps the contract over 2,000 random sequences (fixed seed)", { timeout: 60_000 }, async () => {
    await check(FIXED_SEED, 2000);
  });

  it(`keeps the contract over 2,000 random sequences (random seed ${randomSeed})`, {
    timeout: 60_000,
  }, async () => {
    const again = `npm run model -- --seed ${randomSeed} --runs 2000${strict ? "" : " --lenient"}`;
    console.log(`model: random seed ${randomSeed} (${again} runs it again)`);
    await check(randomSeed, 2000);
  });
});
