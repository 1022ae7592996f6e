/**
 * The model-based property of `Conn`, and the runner that reports a failure as a replayable
 * script. Used by test/model.test.ts (a fixed and a random seed) and by `npm run model` (long
 * searches and replays).
 */

import fc from "fast-check";
import { commandArbsFor } from "./commands.js";
import { configArb } from "./config.js";
import { ModelRun } from "./harness.js";
import { verdicts } from "./properties.js";

export interface ModelOptions {
  /** Check every property, the ones awaiting a fix on main included. */
  strict: boolean;
  /** Properties to ignore (a violation neither fails nor stops the run). */
  ignore?: readonly string[];
  /** Commands per sequence, at most. @default 200 */
  maxCommands?: number;
  /** fast-check's size for the command sequences. @default "xlarge" */
  size?: fc.SizeForArbitrary;
  /** fast-check's replay hint for `fc.commands`, from a failure report. */
  replayPath?: string;
  /** Filled in as runs end: how many ran, and how many stopped at a known bug (by property). */
  tally?: Tally;
  /**
   * Subscribe to `evtwebsocket:message:sent` and let actions be armed there (a subscriber runs
   * inside the connection's send, as an observer's code does). @default false
   */
  sent?: boolean;
}

export interface Tally {
  runs: number;
  commands: number;
  /** Runs stopped early by a known bug. */
  stopped: number;
  /** Runs that violated each property awaiting a fix. */
  hit: Map<string, number>;
}

export function newTally(): Tally {
  return { runs: 0, commands: 0, stopped: 0, hit: new Map() };
}

/** The property: any configuration, any sequence of commands, then the closing sequence. */
export function modelProperty(options: ModelOptions) {
  const verdict = verdicts(options.strict, options.ignore);
  const sent = options.sent === true;
  const commands = fc.commands(commandArbsFor(sent), {
    maxCommands: options.maxCommands ?? 200,
    size: options.size ?? "xlarge",
    ...(options.replayPath === undefined ? {} : { replayPath: options.replayPath }),
  });
  return fc.asyncProperty(configArb, commands, async (config, cmds) => {
    const run = new ModelRun(config, verdict, sent);
    try {
      await fc.asyncModelRun(() => ({ model: run, real: run }), cmds);
      await run.finish();
    } finally {
      run.dispose();
      const tally = options.tally;
      if (tally !== undefined) {
        tally.runs++;
        tally.commands += run.commandsRun;
        for (const p of run.ignored) tally.hit.set(p, (tally.hit.get(p) ?? 0) + 1);
        if (run.stoppedAt !== undefined) tally.stopped++;
      }
    }
  });
}

export interface ModelResult {
  ok: boolean;
  runs: number;
  ms: number;
  seed: number;
  /** On failure: how to replay, and the shrunk script with the violations. */
  report?: string;
}

/** Runs the property; on failure the report holds the seed, path, replayPath and script. */
export async function runModel(
  options: ModelOptions & { numRuns: number; seed: number; path?: string },
): Promise<ModelResult> {
  const started = performance.now();
  const details = await fc.check(modelProperty(options), {
    numRuns: options.numRuns,
    seed: options.seed,
    ...(options.path === undefined ? {} : { path: options.path }),
    endOnFailure: options.path !== undefined,
  });
  const ms = Math.round(performance.now() - started);
  if (!details.failed) return { ok: true, runs: details.numRuns, ms, seed: options.seed };
  const commands = String(details.counterexample?.[1] ?? "");
  const replayPath = /replayPath="([^"]*)"/.exec(commands)?.[1];
  const error = details.errorInstance;
  const message = error instanceof Error ? error.message : String(error);
  const replay = [
    `npm run model -- --seed ${details.seed} --path ${details.counterexamplePath}`,
    replayPath === undefined ? "" : ` --replay-path ${replayPath}`,
    options.strict ? "" : " --lenient",
    options.ignore === undefined || options.ignore.length === 0
      ? ""
      : ` --ignore ${options.ignore.join(",")}`,
    options.maxCommands === undefined ? "" : ` --max-commands ${options.maxCommands}`,
    options.sent === true ? " --sent" : "",
  ].join("");
  const report = [
    `model-based test of Conn failed after ${details.numRuns} run(s), shrunk ${details.numShrinks} time(s)`,
    `replay: ${replay}`,
    `fast-check: { seed: ${details.seed}, path: "${details.counterexamplePath}" }${replayPath === undefined ? "" : `, replayPath "${replayPath}"`}`,
    "",
    message,
  ].join("\n");
  return { ok: false, runs: details.numRuns, ms, seed: options.seed, report };
}
