/**
 * Runs the runtime smoke suite (test/runtimes/run.mjs) once per runtime: Node 20 (this
 * machine's), Node 24 with `ws` and with its global WebSocket, Bun and Deno. The runtimes are
 * installed from the npm registry on first use into test/runtimes/node_modules.
 */

import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const run = fileURLToPath(new URL("./runtimes/run.mjs", import.meta.url));
const names = execFileSync(process.execPath, [run, "--list"], { encoding: "utf8" }).trim().split("\n");

describe("the smoke suite in every runtime", () => {
  beforeAll(() => {
    const install = spawnSync(process.execPath, [run, "--install"], { encoding: "utf8" });
    expect(install.status, `installing the runtimes failed:\n${install.stdout}${install.stderr}`).toBe(0);
  }, 600_000);

  it.each(names)(
    "%s",
    (name) => {
      const result = spawnSync(process.execPath, [run, "--only", name], {
        encoding: "utf8",
        timeout: 120_000,
      });
      const output = `${result.stdout}${result.stderr}`.trim();
      console.log(output);
      expect(result.status, output).toBe(0);
    },
    150_000,
  );
});
