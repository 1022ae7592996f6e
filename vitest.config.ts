import { defineConfig } from "vitest/config";
import ToolsReporter from "./test/helpers/tools-reporter.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests open real sockets; two forks match the two cores of CI.
    pool: "forks",
    maxWorkers: 2,
    // In CI, also write a machine-readable summary that .ci/run turns into one closing line
    // (its path is here, not in the reporter's options, so `--outputFile.json` can move it).
    // The tools reporter comes last: its list of missing tools ends the run.
    reporters: process.env.CI ? ["default", "json", new ToolsReporter()] : ["default", new ToolsReporter()],
    outputFile: { json: "test-results.json" },
  },
});
