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
