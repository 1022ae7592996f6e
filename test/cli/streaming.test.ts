/**
 * `evtws` streams a server's pushes (issue 20, part 3): in a pipeline, every message that
 * answers no request is one line on stdout (compact JSON with `--json`), `--responses-only`
 * keeps them off stdout, `-n/--no-close` keeps the stream open after stdin ends, and a
 * reconnect keeps it going until `--max-attempts` runs out (`--max-attempts 0` asks for no
 * retry: a close ends the stream as with `--no-reconnect`, no give-up). Each test spawns the CLI against a real `ws` server on 127.0.0.1
 * port 0; stdout is a pipe, as in `evtws URL | jq`.
 */

import { describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { createTestServer } from "../../src/testing/index.js";
import {
  type CliProcess,
  idReply,
  runCli,
  startCli,
  startWsServerForTest,
  useSourceBundle,
  type WsServer,
  waitFor,
} from "./helpers.js";

useSourceBundle();

const PUSHES = ['{"tick": 1,  "px": [1, 2]}', '{"tick": 2}', '{"tick": 3}'];

/** Sends {@link PUSHES} to a new connection at once. */
function pushOnConnect(ws: WebSocket): void {
  for (const push of PUSHES) ws.send(push);
}

describe("evtws streams pushes in a pipeline", () => {
  it("prints each message that answers no request on stdout, one line each, even with -q", async () => {
    // Before: pushes went to stderr as `(unmatched)`, and -q dropped them.
    const server = await startWsServerForTest(idReply, pushOnConnect);
    const run = await runCli(["-q", "-x", '{"id":1}', server.url]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${PUSHES.join("\n")}\n{"id":1,"ok":true}\n`);
    expect(run.stderr).toBe("");
  });

  it("keeps events on stderr and pushes on stdout without -q", async () => {
    const server = await startWsServerForTest(idReply, pushOnConnect);
    const run = await runCli(["-x", '{"id":1}', server.url]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${PUSHES.join("\n")}\n{"id":1,"ok":true}\n`);
    expect(run.stderr).toMatch(/\* connected to/);
    expect(run.stderr).not.toMatch(/unmatched/);
  });

  it("--json prints each push as compact JSON, one line each", async () => {
    const server = await startWsServerForTest(idReply, pushOnConnect);
    const run = await runCli(["-q", "--json", "-x", '{"id":1}', server.url]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines.slice(0, 3)).toEqual(['{"tick":1,"px":[1,2]}', '{"tick":2}', '{"tick":3}']);
    expect(lines.slice(0, 3).map((line) => JSON.parse(line))).toEqual(PUSHES.map((p) => JSON.parse(p)));
  });

  it("--responses-only prints responses alone on stdout; pushes go to stderr as (unmatched)", async () => {
    const server = await startWsServerForTest(idReply, pushOnConnect);
    const quiet = await runCli(["-q", "--responses-only", "-x", '{"id":1}', server.url]);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toBe('{"id":1,"ok":true}\n');
    expect(quiet.stderr).toBe("");
    const loud = await runCli(["--responses-only", "-x", '{"id":1}', server.url]);
    expect(loud.stdout).toBe('{"id":1,"ok":true}\n');
    expect(loud.stderr).toMatch(/< \(unmatched\) \{"tick": 3\}/);
  });
});

/** Starts `evtws args…` with stdin at EOF at once, as `</dev/null` does. */
function startWithoutInput(args: string[]): CliProcess {
  const cli = startCli(args);
  cli.child.stdin.end();
  return cli;
}

/** Whether `cli` is still running `ms` from now. */
async function stillRunningAfter(cli: CliProcess, ms: number): Promise<boolean> {
  const exited = await Promise.race([
    cli.exited.then(() => true),
    new Promise((r) => setTimeout(() => r(false), ms)),
  ]);
  return !exited;
}

/** Closes every client of `server` with a close frame (`code`). */
function closeClients(server: WsServer, code = 1000): void {
  for (const ws of server.clients) ws.close(code, "bye");
}

describe("-n/--no-close keeps the stream open after stdin ends", () => {
  it("prints the pushes, one per line, stays until the server closes with 1000, then exits 0", async () => {
    // Before: -n was an unknown option (exit 2), and with stdin at EOF evtws left once connected.
    const server = await startWsServerForTest(idReply, pushOnConnect);
    const cli = startWithoutInput(["-q", "-n", server.url]);
    try {
      await cli.waitFor("stdout", /tick": 3/);
      expect(await stillRunningAfter(cli, 500)).toBe(true);
      expect(cli.stdout()).toBe(`${PUSHES.join("\n")}\n`);
      closeClients(server);
      expect(await cli.exited).toBe(0);
      expect(cli.stderr()).toBe("");
    } finally {
      cli.kill();
    }
  });

  it("with --json prints compact JSON; with --responses-only nothing", async () => {
    const server = await startWsServerForTest(idReply, pushOnConnect);
    const json = startWithoutInput(["-q", "-n", "--json", server.url]);
    const only = startWithoutInput(["-q", "-n", "--responses-only", server.url]);
    try {
      await json.waitFor("stdout", /tick":3/);
      const peer = server;
      await waitFor("both clients connected", () => peer.clients.size === 2);
      closeClients(server);
      expect(await json.exited).toBe(0);
      expect(await only.exited).toBe(0);
      expect(json.stdout()).toBe('{"tick":1,"px":[1,2]}\n{"tick":2}\n{"tick":3}\n');
      expect(only.stdout()).toBe("");
    } finally {
      json.kill();
      only.kill();
    }
  });

  it("answers piped requests, then keeps streaming after stdin ends", async () => {
    const server = await startWsServerForTest(idReply);
    const cli = startCli(["-q", "-n", server.url]);
    try {
      cli.child.stdin.end('{"id":1}\n');
      await cli.waitFor("stdout", /"id":1,"ok":true/);
      await new Promise((r) => setTimeout(r, 300));
      for (const ws of server.clients) ws.send("later");
      await cli.waitFor("stdout", /later/);
      closeClients(server);
      expect(await cli.exited).toBe(0);
      expect(cli.stdout()).toBe('{"id":1,"ok":true}\nlater\n');
    } finally {
      cli.kill();
    }
  });

  it("a server that closes every connection with 1000 until --max-attempts runs out: exit 1, both told", async () => {
    // Before: the last close's 1000 read as the stream's normal end: nothing said, exit 0.
    const server = await startWsServerForTest(idReply, (ws) => setTimeout(() => ws.close(1000, "bye"), 20));
    const cli = startWithoutInput(["-q", "-n", "--max-attempts", "2", "--min-delay", "10", server.url]);
    try {
      expect(await cli.exited).toBe(1);
      expect(cli.stderr()).toBe(
        "evtws: ERR_RECONNECT_EXHAUSTED: gave up after 2 reconnect attempts: closed 1000 bye\n",
      );
    } finally {
      cli.kill();
    }
  });

  it("a close by the server with another code is still reported, exit 1", async () => {
    const server = await startWsServerForTest(idReply, pushOnConnect);
    const cli = startWithoutInput(["-q", "-n", server.url]);
    try {
      await cli.waitFor("stdout", /tick": 3/);
      closeClients(server, 4001);
      expect(await cli.exited).toBe(1);
      expect(cli.stderr()).toBe("evtws: closed 4001 bye\n");
    } finally {
      cli.kill();
    }
  });

  for (const [signal, status] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    it(`${signal} closes the connection with 1000 and exits ${status}`, async () => {
      const codes: number[] = [];
      const server = await startWsServerForTest(idReply, (ws) => {
        ws.on("close", (code) => codes.push(code));
        pushOnConnect(ws);
      });
      const cli = startWithoutInput(["-q", "-n", server.url]);
      try {
        await cli.waitFor("stdout", /tick": 3/);
        cli.child.kill(signal);
        expect(await cli.exited).toBe(status);
        await new Promise((r) => setTimeout(r, 200));
        expect(codes).toEqual([1000]);
        expect(cli.stdout()).toBe(`${PUSHES.join("\n")}\n`);
      } finally {
        cli.kill();
      }
    });
  }
});
describe("arrival order", () => {
  it("pushes and a response that arrive in one read print in the order they came", async () => {
    /** An unmasked server text frame (payload under 126 bytes). */
    const frame = (text: string) =>
      Buffer.concat([Buffer.from([0x81, Buffer.byteLength(text)]), Buffer.from(text)]);
    const kit = await createTestServer({
      // One TCP write: a push, the response, another push.
      onMessage: () =>
        kit.sendRaw(Buffer.concat([frame("before"), frame('{"id":1,"ok":true}'), frame("after")])),
    });
    try {
      const run = await runCli(["-q", "-x", '{"id":1}', "-w", "0.5", kit.url]);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe('before\n{"id":1,"ok":true}\nafter\n');
    } finally {
      await kit.close();
    }
  });
});

describe("reconnects keep streaming", () => {
  it("pushes after a reconnect still reach stdout (with --max-attempts)", async () => {
    const server = await startWsServerForTest(idReply, pushOnConnect);
    const cli = startWithoutInput([
      "-q",
      "-n",
      "--max-attempts",
      "20",
      "--min-delay",
      "50",
      "--max-delay",
      "200",
      server.url,
    ]);
    try {
      await cli.waitFor("stdout", /tick": 3/);
      await server.stop();
      await server.start();
      await cli.waitFor("stdout", /tick": 3/, 2);
      expect(cli.stdout()).toBe(`${PUSHES.join("\n")}\n${PUSHES.join("\n")}\n`);
      // With reconnects on, a close by the server is followed by a reconnect: a signal ends it.
      cli.child.kill("SIGTERM");
      expect(await cli.exited).toBe(143);
    } finally {
      cli.kill();
    }
  });
});

describe("--max-attempts 0 under -n/-w: no retry asked for, so no give-up (as --no-reconnect)", () => {
  it.each([[["-q", "-n", "--max-attempts", "0"]], [["-q", "-w", "2", "--max-attempts", "0"]]])(
    "%j, the server closing with 1000: exit 0, nothing said, as with --no-reconnect",
    async (args) => {
      // Before: "evtws: ERR_RECONNECT_EXHAUSTED: gave up after 0 reconnect attempts: closed 1000
      // bye", exit 1, for no retry asked for and none made (--no-reconnect ended with 0).
      const server = await startWsServerForTest(idReply, (ws) => setTimeout(() => ws.close(1000, "bye"), 50));
      const run = await runCli([...args, server.url]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(server.handshakes).toHaveLength(1);
    },
  );

  it("-n --max-attempts 0 without -q: the event lines are --no-reconnect's, no give-up among them", async () => {
    // Before (with the exit fixed alone): "! ERR_RECONNECT_EXHAUSTED: gave up after 0 reconnect
    // attempts" among the events of a run that exits 0.
    const server = await startWsServerForTest(idReply, (ws) => setTimeout(() => ws.close(1000, "bye"), 50));
    const runs = [];
    for (const flag of ["--max-attempts", "--no-reconnect"])
      runs.push(await runCli(["-n", ...(flag === "--no-reconnect" ? [flag] : [flag, "0"]), server.url]));
    const events = runs.map((run) => run.stderr.replace(/^[\d:.]+ /gm, "").replace(/:\d+\//g, ":PORT/"));
    expect(runs.map((run) => run.code)).toEqual([0, 0]);
    expect(events[0]).toBe(events[1]);
    expect(events[0]).not.toMatch(/gave up|EXHAUSTED/);
  });

  it("--max-attempts 1, the server closing every connection with 1000: one retry made, then exit 1 and both told (held)", async () => {
    const server = await startWsServerForTest(idReply, (ws) => setTimeout(() => ws.close(1000, "bye"), 50));
    const run = await runCli(["-q", "-n", "--max-attempts", "1", "--min-delay", "10", server.url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      "evtws: ERR_RECONNECT_EXHAUSTED: gave up after 1 reconnect attempts: closed 1000 bye\n",
    );
    expect(server.handshakes).toHaveLength(2);
  });

  it("--max-attempts 0, the server closing with 4001: reported as the close, exit 1, as with --no-reconnect", async () => {
    // Before: "gave up after 0 reconnect attempts: closed 4001 go away".
    const server = await startWsServerForTest(idReply, (ws) =>
      setTimeout(() => ws.close(4001, "go away"), 50),
    );
    const run = await runCli(["-q", "-n", "--max-attempts", "0", server.url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe("evtws: closed 4001 go away\n");
  });
});
