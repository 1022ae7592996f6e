/**
 * Adversarial review of the eleventh pass's CLI changes, against a real server where a run is
 * needed: --json in a pipeline stays byte-exact after the terminal's DEL/C1 escaping, and the
 * usage error for a URL that does not parse, cut at ? # & ; =, keeps every secret out. All held.
 */

import { describe, expect, it } from "vitest";
import { parseUrl } from "../../src/cli/parse.js";
import { runCli, startWsServerForTest, useSourceBundle } from "./helpers.js";

useSourceBundle();

describe("--json in a pipeline after 06fc03c: DEL and C1 controls inside JSON strings leave as sent", () => {
  it("a response and a pushed line keep U+0085, U+009B and DEL raw (UTF-8), not as \\u escapes", async () => {
    const hostile = '{"id":1,"a\u0085":"x\u009b2J\u007f"}';
    const server = await startWsServerForTest(
      () => hostile,
      (ws) => ws.send('{"push":"\u009b"}'),
    );
    const run = await runCli(["-q", "--json", "-w", "1", server.url], { input: '{"id":1}\n' });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('"a\u0085": "x\u009b2J\u007f"');
    expect(run.stdout).toContain('{"push":"\u009b"}');
    expect(run.stdout).not.toContain("\\u009b");
  });
});

describe("parseUrl's usage error (ad55eff and after): no secret of a URL that does not parse is quoted", () => {
  it.each([
    ["ws://alice:s3cr3t@host:99999/", "s3cr3t"],
    ["ws://alice:pa/ss@host:99999/", "pa/ss"],
    ["ws://host:99999/feed?user=me@x&token=s3cr3t", "s3cr3t"],
    ["ws://host:99999/feed#access_token=s3cr3t", "s3cr3t"],
    ["ws://host:99999/feed;jsessionid=s3cr3t", "s3cr3t"],
    ["ws://host:99999/feed&token=s3cr3t", "s3cr3t"],
    ["alice:s3cr3t@host:99999", "s3cr3t"],
    ["WS://ALICE:S3CR3T@HOST:99999", "S3CR3T"],
    [" ws://alice:s3cr3t@host:99999", "s3cr3t"],
    ["ws://host:99999/a\n?token=s3cr3t", "s3cr3t"],
  ])("%j: the message names the URL without %j", (url, secret) => {
    let message = "";
    try {
      parseUrl(url);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/is not a URL/);
    expect(message).not.toContain(secret);
  });
});
