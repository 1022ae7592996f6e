/**
 * `evtws serve`, the test server with fault injection, run as a child process and probed by
 * the CLI itself in scripted mode. Its log shows a client's control characters escaped, and it
 * goes on serving when the log's reader goes away.
 */

import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { freePort } from "../helpers/server.js";
import { type CliProcess, runCli, startCli, useSourceBundle } from "./helpers.js";

useSourceBundle();

const running: CliProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill();
});

/** Starts `evtws serve args…` and returns it with the URL it printed. */
async function serve(args: string[]): Promise<{ server: CliProcess; url: string }> {
  const server = startCli(["serve", ...args]);
  running.push(server);
  const out = await server.waitFor("stdout", /listening on ws:\/\/\S+/);
  const url = /listening on (ws:\/\/\S+)/.exec(out)?.[1];
  if (url === undefined) throw new Error(`no URL in ${out}`);
  return { server, url };
}

describe("evtws serve", () => {
  it("echoes by default, and stops with exit 0 on SIGTERM", async () => {
    const { server, url } = await serve([]);
    const run = await runCli(["--match", "echo", "-x", "hello", "-x", "world", url]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("hello\nworld\n");
    await server.waitFor("stdout", /#1 connected from 127\.0\.0\.1:\d+/);
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });

  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    it(`${signal} closes each connection with 1001 (going away) before it stops`, async () => {
      // Before: the connections were cut without a close frame, and clients saw 1006.
      const { server, url } = await serve([]);
      const client = new WebSocket(url);
      await new Promise((resolve) => client.once("open", resolve));
      const closed = new Promise<[number, string]>((resolve) =>
        client.once("close", (code, reason) => resolve([code, reason.toString()])),
      );
      server.child.kill(signal);
      expect(await closed).toEqual([1001, "server stopping"]);
      expect(await server.exited).toBe(0);
    });
  }

  it("SIGTERM still stops it when a connection cannot answer the close (--stall-after 0)", async () => {
    const { server, url } = await serve(["--stall-after", "0"]);
    const client = new WebSocket(url);
    await new Promise((resolve) => client.once("open", resolve));
    await server.waitFor("stdout", /#1 stalled/);
    const closed = new Promise<number>((resolve) => client.once("close", (code) => resolve(code)));
    server.child.kill("SIGTERM");
    // The server sent its close frame but does not read the answer: it cuts the line after 1 s.
    expect(await server.exited).toBe(0);
    expect(await closed).toBe(1001);
  });

  it("--echo sends binary frames back as binary", async () => {
    const { url } = await serve(["--echo"]);
    const run = await runCli(["--binary", "--match", "echo", "-x", "ab", url]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("61 62\n");
  });

  it("--port listens on the port given", async () => {
    const port = await freePort();
    const { url } = await serve(["--port", String(port)]);
    expect(url).toBe(`ws://127.0.0.1:${port}/`);
  });

  it("--id-reply answers a JSON id with the same id, and anything else with an error object", async () => {
    const { url } = await serve(["--id-reply"]);
    const run = await runCli(["-x", '{"id":3,"op":"x"}', url]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ id: 3, ok: true, echo: { id: 3, op: "x" } });
    const other = await runCli(["-x", "plain text", url]);
    expect(JSON.parse(other.stdout)).toEqual({ ok: false, error: 'expected a JSON object with an "id"' });
  });

  it("--delay holds each reply: a shorter --timeout fails, a longer one gets the reply", async () => {
    const { url } = await serve(["--id-reply", "--delay", "1500"]);
    const short = await runCli(["--timeout", "0.2", "-x", '{"id":1}', url]);
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/ERR_REQUEST_TIMEOUT/);
    const long = await runCli(["--timeout", "10", "-x", '{"id":1}', url]);
    expect(long.code).toBe(0);
    expect(JSON.parse(long.stdout)).toMatchObject({ id: 1, ok: true });
  });

  it("--drop-every cuts connections on a timer, and the client reconnects", async () => {
    const { server, url } = await serve(["--drop-every", "0.3"]);
    const client = startCli(["--max-attempts", "20", "--min-delay", "50ms", url]);
    running.push(client);
    await client.waitFor("stderr", /\* connected to/, 2);
    expect(client.stderr()).toMatch(/\* closed 1006, not clean, will reconnect/);
    expect(client.stderr()).toMatch(/\* reconnecting in \d+ ms, attempt 1/);
    expect(server.stdout()).toMatch(/dropping 1 connection\(s\) \(--drop-every\)/);
  });

  it("--drop-every 0 is off, and the banner does not claim to drop every 0 ms", async () => {
    // Before: "listening on … (echo, drop every 0 ms)" while nothing was ever dropped.
    const { server } = await serve(["--drop-every", "0"]);
    expect(server.stdout()).toMatch(/listening on ws:\/\/\S+ \(echo\); Ctrl-C stops/);
  });

  it("--stall-after stops answering pings, so the client's heartbeat declares it dead", async () => {
    const { server, url } = await serve(["--stall-after", "0.3"]);
    const client = startCli(["-v", "--ping-interval", "0.2", "--pong-timeout", "0.3", url]);
    running.push(client);
    await client.waitFor("stderr", /\* pong, RTT/);
    expect(await client.exited).toBe(1);
    expect(client.stderr()).toMatch(/ERR_PONG_TIMEOUT/);
    expect(server.stdout()).toMatch(/#1 stalled/);
  });

  it("a /drop message makes the server cut that connection", async () => {
    const { server, url } = await serve([]);
    const client = startCli(["--max-attempts", "5", "--min-delay", "50ms", url]);
    running.push(client);
    await client.waitFor("stderr", /\* connected to/);
    client.send("/drop");
    await client.waitFor("stderr", /\* connected to/, 2);
    expect(server.stdout()).toMatch(/#1 asked for \/drop: cutting the connection/);
  });
});

describe("evtws serve as a test peer", () => {
  it("logs a message's control characters escaped, on one line: a client cannot clear its terminal", async () => {
    // Before: the text went to the log raw, "\x1b[2J" cleared the server's screen and the
    // newline started a line that looked like the server's own.
    const { server: peer, url } = await serve([]);
    const nasty = "a\x1b[2J\x1b[Hb\n12:00:00.000 #9 forged\r";
    const run = await runCli(["--match", "echo", "-x", nasty, url]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${nasty}\n`);
    const log = await peer.waitFor("stdout", /#1 closed 1000/);
    expect(log).not.toContain("\x1b");
    expect(log).not.toContain("\r");
    expect(log).toContain(String.raw`#1 < a\x1b[2J\x1b[Hb\n12:00:00.000 #9 forged\r`);
    expect(log).not.toMatch(/^12:00:00\.000/m);
  });

  it("goes on serving when its log's reader goes away (`evtws serve | head -1`)", async () => {
    // Before: the next log line failed with EPIPE, unheard, and the server died with a stack
    // trace as the first client connected.
    const { server: peer, url } = await serve([]);
    peer.child.stdout.destroy();
    for (const message of ["one", "two"]) {
      const run = await runCli(["-q", "--match", "echo", "-x", message, url]);
      expect(run).toEqual({ code: 0, stdout: `${message}\n`, stderr: "" });
    }
    // A raw client too, closed by the server when it stops: it is still there.
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    const closed = new Promise<number>((resolve) => ws.once("close", resolve));
    peer.child.kill("SIGTERM");
    expect(await closed).toBe(1001);
    expect(await peer.exited).toBe(0);
    expect(peer.stderr()).toBe("");
  });
});
