import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests open real sockets; two forks match the two cores of CI.
    pool: "forks",
    maxWorkers: 2,
  },
});
