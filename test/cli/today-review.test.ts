/**
 * Adversarial review of the tenth pass's CLI changes (today-review), run as the built command
 * against real servers.
 */

import { afterEach, describe, expect, it } from "vitest";
import { runCli, startWsServer, useSourceBundle, type WsServer } from "./helpers.js";

useSourceBundle();

let server: WsServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const ECHO = ["--match", "echo", "-x", "hi"];

describe("-H, joined by name", () => {
  it('-H "__proto__: x" is sent, as any token-named header (joining into an object dropped it)', async () => {
    server = await startWsServer();
    const run = await runCli([...["-H", "__proto__: x", "-H", "X-A: 1"], ...ECHO, server.url]);
    expect(run.code).toBe(0);
    const raw = server.handshakes[0]?.rawHeaders ?? [];
    const lines = raw.flatMap((v, i) => (i % 2 === 0 ? [`${v}: ${raw[i + 1]}`] : []));
    expect(lines.filter((l) => /^(__proto__|x-a):/i.test(l))).toEqual(["__proto__: x", "X-A: 1"]);
  });
});

describe("a URL that does not parse, quoted in the usage error", () => {
  it.each([
    ["a / in the password", "ws://alice:S3/CRET@example.com:99999/", '"ws://…@example.com:99999/"'],
    ["a # in the password", "wss://alice:S3#CRET@example.com:99999/", '"wss://…@example.com:99999/"'],
    ["an @ in the password, no scheme", "alice:S3@CRET@example.com:99999", '"…@example.com:99999"'],
  ])("%s: no part of the credentials shown", async (_, url, shown) => {
    // Before: the credentials were hidden only up to a /, ? or #: "S3/CRET" showed its end and
    // "S3#CRET" whole. A password with such a character is what makes the URL fail to parse.
    const run = await runCli(["-x", "hi", url]);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toMatch(/S3|CRET|alice/);
    expect(run.stderr).toBe(`evtws: ${shown} is not a URL: use ws://host[:port][/path] or wss://…\n`);
  });
});
