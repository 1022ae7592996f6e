/**
 * `evtws` ends cleanly on SIGINT and SIGTERM (issue 20, part 6): whatever it is doing (a piped
 * script waiting on stdin, a request in flight, `-n` streaming, dialling), it sends a close
 * frame with 1000, waits for the answer at most 1 s, and exits 130 or 143 as a shell expects.
 * Each test spawns the CLI, sends the signal with `kill`, and asserts the exit status and the
 * close code the server saw, against `ws` and against Python `websockets`. A signal ends the
 * run even when nothing reads stdout any more (`timeout 60 evtws -n URL | stuck`, a pager left
 * open).
 */

import { type AddressInfo, createServer, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { createTestServer } from "../../src/testing/index.js";
import { requireTools } from "../helpers/tools.js";
import {
  type CliProcess,
  idReply,
  type PythonServer,
  startCli,
  startPythonServer,
  startWsServerForTest,
  useSourceBundle,
  type WsServer,
  waitFor,
} from "./helpers.js";

useSourceBundle();

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A server answering JSON ids that records the close code of every connection. */
async function recordingServer(reply = idReply): Promise<{ server: WsServer; codes: number[] }> {
  const codes: number[] = [];
  const started = await startWsServerForTest(reply, (ws: WebSocket) =>
    ws.on("close", (code) => codes.push(code)),
  );
  return { server: started, codes };
}

const SIGNALS = [
  ["SIGINT", 130],
  ["SIGTERM", 143],
  // The terminal went away (window closed, ssh dropped). Before: no handler, the server saw 1006.
  ["SIGHUP", 129],
] as const;

describe("SIGINT, SIGTERM and SIGHUP close with 1000 and exit 130 / 143 / 129", () => {
  for (const [signal, status] of SIGNALS) {
    it(`${signal} in a pipeline waiting on stdin`, async () => {
      const rec = await recordingServer();
      const server = rec.server;
      const cli = startCli(["-q", server.url]);
      try {
        cli.send('{"id":1}');
        await cli.waitFor("stdout", /"id":1,"ok":true/);
        cli.child.kill(signal);
        expect(await cli.exited).toBe(status);
        await waitFor("the server to see the close", () => rec.codes.length === 1);
        expect(rec.codes).toEqual([1000]);
        expect(cli.stdout()).toBe('{"id":1,"ok":true}\n');
        expect(cli.stderr()).toBe("");
      } finally {
        cli.kill();
      }
    });

    it(`${signal} with a -x request in flight that the server never answers`, async () => {
      const rec = await recordingServer(() => undefined);
      const server = rec.server;
      const cli = startCli(["-q", "-x", '{"id":1}', server.url]);
      try {
        await waitFor("the request to arrive", () => server.received.length === 1);
        cli.child.kill(signal);
        expect(await cli.exited).toBe(status);
        await waitFor("the server to see the close", () => rec.codes.length === 1);
        expect(rec.codes).toEqual([1000]);
      } finally {
        cli.kill();
      }
    });
  }

  it("SIGINT while dialling a server that never answers the handshake exits 130 at once", async () => {
    // A TCP listener that never answers the opening handshake, and tells when it is dialled.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket.on("error", () => {})));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });
    const url = `ws://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
    // Without the signal, this dial would wait out the 60 s connect timeout.
    const cli = startCli(["-q", "--connect-timeout", "60", "-x", "hi", url]);
    try {
      await waitFor("the dial to reach the listener", () => sockets.length === 1);
      cli.child.kill("SIGINT");
      expect(await cli.exited).toBe(130);
      expect(cli.stderr()).toBe("");
    } finally {
      cli.kill();
    }
  });

  it("SIGTERM while the server does not answer the close frame still exits 143", async () => {
    // The server stops reading once the message arrives: no close frame comes back, and evtws
    // still leaves with 143 (after its 1 s wait; how long is not asserted, tests time nothing).
    const stalling = await createTestServer({ onMessage: () => void stalling.stall() });
    cleanups.push(() => stalling.close());
    const cli = startCli(["-q", "-n", stalling.url]);
    try {
      cli.send("hello");
      await waitFor("the server to stall", () => stalling.stalled);
      cli.child.kill("SIGTERM");
      expect(await cli.exited).toBe(143);
    } finally {
      cli.kill();
    }
  });
});

describe("a signal while stdout's reader has stopped reading", () => {
  // The run of the test, killed after it if the test failed before it ended.
  let cli: CliProcess | undefined;
  afterEach(() => {
    cli?.kill();
    cli = undefined;
  });

  for (const [signal, status] of [
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const) {
    it(`${signal} still ends the run (${status}, close 1000), though stdout holds output nobody reads`, async () => {
      // A feed of 1 KB pushes, far more than the pipe and stdout's buffer hold. Before, evtws
      // closed with 1000 and then waited, without end, for the reader to take what stdout held.
      const pad = "x".repeat(1000);
      let sent = 0;
      const closes: number[] = [];
      const server = await startWsServerForTest(undefined, (ws) => {
        ws.on("close", (code) => closes.push(code));
        const pump = () => {
          if (ws.readyState !== ws.OPEN) return;
          for (let i = 0; i < 256 && ws.bufferedAmount < 1 << 20; i++)
            ws.send(JSON.stringify({ tick: ++sent, pad }));
          setTimeout(pump, 1);
        };
        pump();
      });
      const run = startCli(["-q", "-n", server.url]);
      cli = run;
      run.child.stdin.end();
      run.child.stdout.pause();
      // Far more than the pipe (64 KB) and stdout's buffer hold: evtws's stdout is behind.
      const deadline = Date.now() + 30_000;
      while (sent < 1000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(sent).toBeGreaterThanOrEqual(1000);
      run.child.kill(signal);
      // The reader never reads again; the run must end anyway.
      const ended = await Promise.race([
        run.exited,
        new Promise<string>((r) => setTimeout(() => r("still running 20 s after the signal"), 20_000)),
      ]);
      expect(ended).toBe(status);
      expect(closes).toEqual([1000]);
      expect(run.stderr()).toBe("");
    }, 60_000);
  }
  it("SIGTERM after the run is over, while stdout waits for its reader, exits 143", async () => {
    // One answer of 2 MB, far more than the pipe and stdout's buffer hold: the run ends (the
    // server sees its 1000) and evtws waits for the reader to take the rest of stdout.
    const closes: number[] = [];
    const server = await startWsServerForTest(
      () => JSON.stringify({ id: 1, pad: "y".repeat(2 << 20) }),
      (ws) => ws.on("close", (code) => closes.push(code)),
    );
    const run = startCli(["-q", "-x", '{"id":1}', server.url]);
    cli = run;
    run.child.stdout.pause();
    const deadline = Date.now() + 30_000;
    while (closes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(closes).toEqual([1000]);
    run.child.kill("SIGTERM");
    const ended = await Promise.race([
      run.exited,
      new Promise<string>((r) => setTimeout(() => r("still running 20 s after the signal"), 20_000)),
    ]);
    expect(ended).toBe(143);
    expect(run.stderr()).toBe("");
  }, 60_000);
});

describe("signals against Python websockets", requireTools("python3-websockets"), () => {
  let py: PythonServer;
  beforeAll(async () => {
    py = await startPythonServer();
  }, 20_000);
  afterAll(() => py?.stop());

  for (const [signal, status] of SIGNALS) {
    it(`${signal} during -n streaming: Python sees close code 1000, evtws exits ${status}`, async () => {
      const before = py.closes().length;
      const cli = startCli(["-n", "-s", "chat.v2", `${py.base}/feed`]);
      try {
        cli.child.stdin.end();
        await cli.waitFor("stdout", /py text/);
        // The subprotocol the Python server chose is on the connected line.
        expect(cli.stderr()).toMatch(
          /\* connected to ws:\/\/127\.0\.0\.1:\d+\/feed \(subprotocol chat\.v2\)/,
        );
        cli.child.kill(signal);
        expect(await cli.exited).toBe(status);
        await waitFor("Python to report the close", () => py.closes().length > before);
        expect(py.closes().slice(before)).toEqual([{ path: "/feed", code: 1000 }]);
      } finally {
        cli.kill();
      }
    });
  }
});
