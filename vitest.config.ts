import { defineConfig } from "vitest/config";

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
    // In CI, also write a machine-readable summary that .ci/run turns into one closing line.
    reporters: process.env.CI ? ["default", ["json", { outputFile: "test-results.json" }]] : ["default"],
    // Fails the run unless the tests really load the ws in wsDir, and prints its version.
    ...(wsDir ? { setupFiles: ["test/helpers/ws-version.ts"] } : {}),
  },
});
