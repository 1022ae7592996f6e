/**
 * `npm run model -- [--runs N] [--seed S] [--path P --replay-path R] [--lenient] [--ignore a,b]
 *   [--max-commands N] [--sent]`
 *
 * A long search with the model-based property of `Conn` (default 100,000 runs, a random seed),
 * or the replay of one failure from the seed, path and replay path its report printed. Every
 * property is checked unless `--lenient` (then the ones awaiting a fix on main are skipped, as
 * in `npm test`); `--ignore` names properties to ignore (to look past one bug at the next);
 * `--sent` also arms actions in a `message:sent` subscriber (diagnostics_channel).
 * Exits 1 on a failure, after printing the shrunk script.
 */

import { parseArgs } from "node:util";
import { AWAITING_FIX, PROPERTIES } from "./properties.js";
import { newTally, runModel } from "./property.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string" },
    seed: { type: "string" },
    path: { type: "string" },
    "replay-path": { type: "string" },
    lenient: { type: "boolean", default: false },
    ignore: { type: "string" },
    "max-commands": { type: "string" },
    sent: { type: "boolean", default: false },
  },
});

const seed = values.seed === undefined ? (Math.random() * 0x7fffffff) | 0 : Number(values.seed);
const numRuns = values.runs === undefined ? (values.path === undefined ? 100_000 : 1) : Number(values.runs);
const strict = !values.lenient;
const ignore = values.ignore === undefined ? [] : values.ignore.split(",");
const unknown = ignore.filter((p) => !(p in PROPERTIES));
if (unknown.length > 0) throw new Error(`--ignore: no such property: ${unknown.join(", ")}`);
const what = values.path === undefined ? `${numRuns} runs` : `replay of path ${values.path}`;
console.log(
  `model: ${what}, seed ${seed}, ${strict ? "every property" : `skipping ${Object.keys(AWAITING_FIX).join(", ")}`}` +
    (ignore.length > 0 ? `, ignoring ${ignore.join(", ")}` : "") +
    (values.sent ? ", with a message:sent subscriber" : ""),
);
const tally = newTally();
const result = await runModel({
  strict,
  ignore,
  tally,
  numRuns,
  seed,
  ...(values.path === undefined ? {} : { path: values.path }),
  ...(values["replay-path"] === undefined ? {} : { replayPath: values["replay-path"] }),
  ...(values["max-commands"] === undefined ? {} : { maxCommands: Number(values["max-commands"]) }),
  sent: values.sent,
});
const hit = [...tally.hit].map(([p, n]) => `${p} ${n}`).join(", ");
console.log(
  `model: ${tally.runs} runs executed, ${(tally.commands / Math.max(1, tally.runs)).toFixed(1)} commands each` +
    (hit === "" ? "" : `; known bugs hit (runs): ${hit}; ${tally.stopped} runs stopped early`),
);
if (result.ok) {
  console.log(`model: ${result.runs} runs passed in ${(result.ms / 1000).toFixed(1)} s`);
} else {
  console.log(result.report);
  console.log(`model: failed after ${(result.ms / 1000).toFixed(1)} s`);
  process.exitCode = 1;
}
