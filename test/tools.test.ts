/**
 * The missing-tool path of test/helpers/tools.ts and its reporter, end to end: a nested vitest
 * runs test/netns.test.ts with EVTWS_SKIP_NETNS=1, which makes its tool missing on any machine,
 * once as a developer's run and once with CI=true.
 */

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "evtws-tools-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs vitest on the netns suite with its tool switched off; resolves with exit code and output. */
function runNetnsSuite(ci: boolean): Promise<{ code: number | null; lines: string[] }> {
  const env: NodeJS.ProcessEnv = { ...process.env, EVTWS_SKIP_NETNS: "1", NO_COLOR: "1", FORCE_COLOR: "0" };
  delete env.CI;
  if (ci) env.CI = "true";
  const args = ["node_modules/vitest/vitest.mjs", "run", "test/netns.test.ts"];
  // Keep a nested CI run from overwriting the outer run's test-results.json.
  args.push(`--outputFile.json=${join(scratch, `results-${ci}.json`)}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, lines: output.trimEnd().split("\n") }));
  });
}

describe("a suite whose tool is missing", () => {
  it("is skipped outside CI, and the run's last lines name the tool and its install command", async () => {
    const { code, lines } = await runNetnsSuite(false);
    const text = lines.join("\n");
    expect(code, text).toBe(0);
    // Every test of the suite is skipped (its count grows as tests are added there).
    const skipped = /Tests\s+(\d+) skipped \((\d+)\)/.exec(text);
    expect(skipped, text).not.toBeNull();
    expect(skipped![1], text).toBe(skipped![2]);
    const count = skipped![1];
    // Which tool is named depends on the machine (root, ip, nft, or network namespaces).
    const header = lines.indexOf("Skipped for missing tools (with CI=true these fail the run):");
    const tools = lines.slice(header + 1);
    expect(header, text).toBeGreaterThan(0);
    expect(tools.length).toBeGreaterThan(0);
    for (const line of tools)
      expect(line).toMatch(
        new RegExp(`^ {2}\\S.*: \\S.* {2}\\(${count} tests in test/netns\\.test\\.ts; .+\\)$`),
      );
  });

  it("fails the run under CI=true, naming the tool and its install command", async () => {
    const { code, lines } = await runNetnsSuite(true);
    const text = lines.join("\n");
    expect(code, text).toBe(1);
    expect(text).toContain(
      "MissingToolsError: CI=true, so a missing tool fails its suite instead of skipping it",
    );
    expect(text).toMatch(
      /Failed for missing tools \(CI=true, so nothing is skipped\):\n {2}.+: .+ {2}\(test\/netns\.test\.ts; /,
    );
    expect(text).not.toMatch(/\d+ skipped/);
  });
});
