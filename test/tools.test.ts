/**
 * The missing-tool path of test/helpers/tools.ts and its reporter, end to end: a nested vitest
 * runs test/netns.test.ts with EVTWS_SKIP_NETNS=1, which makes its tool missing on any machine,
 * once as a developer's run and once with CI=true.
 * Also what npm test needs with only Node and npm: certificates minted without openssl, the README's tool table.
 */

import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { mintChain, mintExpired, mintPathTooLong, mintSelfSigned } from "./helpers/cert.js";

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

describe("npm test on a machine with only Node and npm", () => {
  it("the test certificates are minted without any outside tool (no openssl CLI): an empty PATH still gives valid ones", async () => {
    const path = process.env.PATH;
    process.env.PATH = "";
    try {
      const self = await mintSelfSigned();
      const chain = await mintChain("IP:127.0.0.1,DNS:localhost");
      const expired = await mintExpired();
      const tooLong = await mintPathTooLong();
      const x = (pem: string) => new X509Certificate(pem);
      expect(x(self.cert).subjectAltName).toBe("IP Address:127.0.0.1");
      expect(x(self.cert).verify(x(self.cert).publicKey)).toBe(true);
      const ca = x(chain.ca);
      const serverCert = x(chain.serverCert);
      const clientCert = x(readFileSync(chain.files.clientCert, "utf8"));
      expect(ca.ca).toBe(true);
      expect(serverCert.checkIssued(ca) && serverCert.verify(ca.publicKey)).toBe(true);
      expect(serverCert.subjectAltName).toBe("IP Address:127.0.0.1, DNS:localhost");
      expect(clientCert.checkIssued(ca) && clientCert.subject).toBe("CN=evtws test client");
      expect(readFileSync(chain.files.clientKeyEncrypted, "utf8")).toContain("BEGIN ENCRYPTED PRIVATE KEY");
      expect(new Date(x(expired.cert).validTo).getTime()).toBeLessThan(Date.now());
      expect(tooLong.cert.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
      for (const m of [self, chain, expired, tooLong]) m.remove();
    } finally {
      process.env.PATH = path;
    }
  });

  it("the README's table of outside tools has a row for every package test/helpers/tools.ts tells how to install", () => {
    const tools = readFileSync(new URL("./helpers/tools.ts", import.meta.url), "utf8");
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const table = readme.slice(readme.indexOf("| tool | suite |"));
    const rows = table.slice(0, table.indexOf("\n\n"));
    const packages = [...tools.matchAll(/install: "apt-get install ([^"]+)"/g)].flatMap((m) =>
      m[1]!.split(" "),
    );
    expect(packages.length).toBeGreaterThan(5);
    for (const p of packages)
      expect(rows, `a row installs ${p}`).toMatch(new RegExp(`apt-get install [^|]*\\b${p}\\b`));
  });
});
