/**
 * `-v/--verbose` and `--trace`, driven as a child process against a real `ws` server: the
 * library's logger lines on stderr, message sizes with `--trace`, stdout unchanged.
 */

import { describe, expect, it } from "vitest";
import { runCli, startWsServerForTest, useSourceBundle } from "./helpers.js";

useSourceBundle();

describe("evtws -v / --trace", () => {
  it("-v prints the connection's life on stderr, one line per event, and leaves stdout to the data", async () => {
    const server = await startWsServerForTest();
    const run = await runCli(["-v", "--match", "echo", "-x", "hello", `${server.url}?token=secret123`]);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe("hello");
    const lines = run.stderr.split("\n").filter((l) => l.startsWith("evtwebsocket["));
    expect(lines.map((l) => l.split(" ")[1])).toEqual(["attempt", "open", "close"]);
    expect(lines[0]).toMatch(/^evtwebsocket\[c1\] attempt attempt=1 url="ws:\/\/127\.0\.0\.1:\d+"$/);
    expect(run.stderr).not.toContain("secret123");
    expect(run.stderr).not.toContain("bytes=");
  });

  it("--trace also prints the size of each message sent and received", async () => {
    const server = await startWsServerForTest();
    const run = await runCli(["--trace", "--match", "echo", "-x", "hello", server.url]);
    expect(run.code).toBe(0);
    const lines = run.stderr.split("\n").filter((l) => l.startsWith("evtwebsocket["));
    expect(lines).toContain("evtwebsocket[c1] sent bytes=5");
    expect(lines).toContain("evtwebsocket[c1] received bytes=5");
    expect(lines.map((l) => l.split(" ")[1])).toEqual(["attempt", "open", "sent", "received", "close"]);
  });

  it("without -v, stderr has no logger line", async () => {
    const server = await startWsServerForTest();
    const run = await runCli(["--match", "echo", "-x", "hello", server.url]);
    expect(run.code).toBe(0);
    expect(run.stderr).not.toContain("evtwebsocket[");
  });
});
