/**
 * A vitest reporter that ends the run with one line per missing outside tool: what is missing,
 * how many tests it cost and in which files, and the command that installs it. The records
 * come from the test workers on the tests themselves (`meta.missingTools` on the tests of a
 * suite `requireTools()` skipped) or, under CI=true, on the `MissingToolsError` that failed a
 * file, so nothing has to be collected across processes by hand.
 *
 * It prints nothing when no tool was missing, and it does not replace the default reporter:
 * list it after "default" so its lines are the last of the run.
 */

import { relative } from "node:path";
import type { Reporter, SerializedError, TestModule, Vitest } from "vitest/node";
import type { MissingTool } from "./tools.js";

interface Tally {
  missing: MissingTool;
  tests: number;
  files: Set<string>;
}

export default class ToolsReporter implements Reporter {
  #vitest: Vitest | undefined;

  onInit(vitest: Vitest): void {
    this.#vitest = vitest;
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const skipped = new Map<string, Tally>();
    const failed = new Map<string, Tally>();
    const add = (into: Map<string, Tally>, missing: MissingTool, file: string, tests: number) => {
      const tally = into.get(missing.tool) ?? { missing, tests: 0, files: new Set<string>() };
      tally.tests += tests;
      tally.files.add(file);
      into.set(missing.tool, tally);
    };
    for (const module of testModules) {
      const file = relative(this.#vitest?.config.root ?? process.cwd(), module.moduleId);
      for (const test of module.children.allTests()) {
        if (test.result().state !== "skipped") continue;
        for (const missing of test.meta().missingTools ?? []) add(skipped, missing, file, 1);
      }
      for (const error of module.errors() as Array<SerializedError & { missingTools?: MissingTool[] }>) {
        for (const missing of error.missingTools ?? []) add(failed, missing, file, 0);
      }
    }
    const log = (line: string) => (this.#vitest ? this.#vitest.logger.log(line) : console.log(line));
    if (skipped.size > 0) {
      log("");
      log("Skipped for missing tools (with CI=true these fail the run):");
      for (const t of skipped.values()) log(`  ${summarize(t)}`);
    }
    if (failed.size > 0) {
      log("");
      log("Failed for missing tools (CI=true, so nothing is skipped):");
      for (const t of failed.values()) log(`  ${summarize(t)}`);
    }
  }
}

function summarize({ missing, tests, files }: Tally): string {
  const cost = tests > 0 ? `${tests} test${tests === 1 ? "" : "s"} in ` : "";
  return `${missing.tool}: ${missing.install}  (${cost}${[...files].join(", ")}; ${missing.reason})`;
}
