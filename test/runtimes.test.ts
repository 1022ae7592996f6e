/**
 * Runs the runtime smoke suite (test/runtimes/run.mjs) once per runtime: Node 20 (this
 * machine's), Node 24 with `ws` and with its global WebSocket, Bun and Deno. The runtimes are
 * installed from the npm registry on first use into test/runtimes/node_modules and reused after
 * that. When they cannot be installed (no registry, nothing cached) their tests are skipped, or
 * fail under CI=true (test/helpers/tools.ts); this machine's Node runs either way.
 */

import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { requireTools } from "./helpers/tools.js";

const run = fileURLToPath(new URL("./runtimes/run.mjs", import.meta.url));
// run.mjs lists this machine's node first; the others come from the registry.
const [local, ...fromRegistry] = execFileSync(process.execPath, [run, "--list"], { encoding: "utf8" })
  .trim()
  .split("\n") as [string, ...string[]];

function smoke(name: string): void {
  const result = spawnSync(process.execPath, [run, "--only", name], { encoding: "utf8", timeout: 120_000 });
  const output = `${result.stdout}${result.stderr}`.trim();
  console.log(output);
  expect(result.status, output).toBe(0);
}

describe("the smoke suite in every runtime", () => {
  it(local, { timeout: 150_000 }, () => smoke(local));

  it.each(fromRegistry)("%s", { ...requireTools("node 24, bun and deno"), timeout: 150_000 }, smoke);
});
