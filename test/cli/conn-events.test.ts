/**
 * The CLI's event lines: the backoff line says when the server set the wait, unit by unit and
 * from a real `evtws` process against a server that answers the handshake 503 with a Retry-After.
 */

import { afterEach, describe, expect, it } from "vitest";
import { describeReconnecting } from "../../src/cli/conn-events.js";
import { upgradeServer } from "../helpers/upgrade-server.js";
import { type CliProcess, startCli, useSourceBundle } from "./helpers.js";

useSourceBundle();

const running: CliProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill();
});

describe("the reconnecting line", () => {
  it.each([
    [{ attempt: 1, delayMs: 563.6 }, "reconnecting in 564 ms, attempt 1"],
    [
      { attempt: 2, delayMs: 2412, serverDelayMs: 2000 },
      "reconnecting in 2412 ms, attempt 2 (the server asked for 2000 ms)",
    ],
  ])("%j -> %s", (info, line) => {
    expect(describeReconnecting(info)).toBe(line);
  });

  it("evtws against a handshake refused with 503 and Retry-After: 1 says the server set the wait, then connects", async () => {
    const s = await upgradeServer((n) =>
      n === 0 ? "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1" : undefined,
    );
    const client = startCli(["--max-attempts", "3", "--min-delay", "10ms", s.url]);
    running.push(client);
    await client.waitFor("stderr", /\* connected to/);
    expect(client.stderr()).toMatch(/\* reconnecting in \d+ ms, attempt 1 \(the server asked for 1000 ms\)/);
    expect(s.arrivals).toHaveLength(2);
  });
});
