import { defineConfig } from "vitest/config";
import ToolsReporter from "./test/helpers/tools-reporter.js";

/** Set by scripts/test-ws-latest.sh: a ws package to test against instead of the pinned one. */
const wsDir = process.env.EVTWS_WS_DIR;

export default defineConfig({
  // Every import of "ws" (the transport's and the test servers') resolves to wsDir.
  ...(wsDir ? { resolve: { alias: { ws: wsDir } } } : {}),
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
    // Fails the run unless the tests really load the ws in wsDir, and prints its version.
    ...(wsDir ? { setupFiles: ["test/helpers/ws-version.ts"] } : {}),
  },
});
