/**
 * `--on-connect <msg>` (repeatable) and `-w/--wait <s>` (issue 16, part 4): the on-connect
 * messages go out after every connect and reconnect, before any line; `-w` keeps printing what
 * arrives after the last response, then closes with 1000 and exits 0. A real `ws` server on
 * 127.0.0.1 port 0 records the order in which messages arrive.
 */

import { describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { idReply, runCli, startCli, startWsServerForTest, useSourceBundle, waitFor } from "./helpers.js";

useSourceBundle();

const AUTH = '{"op":"auth","token":"t"}';
const SUB = '{"op":"subscribe","topic":"prices"}';

describe("--on-connect", () => {
  it("sends its messages first on every connection, the piped lines after them", async () => {
    const server = await startWsServerForTest(idReply);
    const peer = server;
    const cli = startCli([
      "-q",
      "--responses-only",
      "--max-attempts",
      "50",
      "--min-delay",
      "20",
      "--max-delay",
      "100",
      "--on-connect",
      AUTH,
      "--on-connect",
      SUB,
      peer.url,
    ]);
    try {
      cli.send('{"id":1}');
      await cli.waitFor("stdout", /"id":1,"ok":true/);
      expect(peer.received).toEqual([AUTH, SUB, '{"id":1}']);
      // The server goes away; lines typed while it is down wait for the next connection.
      await peer.stop();
      cli.send('{"id":2}');
      cli.send('{"id":3}');
      await peer.start();
      await cli.waitFor("stdout", /"id":3,"ok":true/);
      expect(peer.received).toEqual([AUTH, SUB, '{"id":1}', AUTH, SUB, '{"id":2}', '{"id":3}']);
      expect(cli.stdout()).toBe('{"id":1,"ok":true}\n{"id":2,"ok":true}\n{"id":3,"ok":true}\n');
    } finally {
      cli.kill();
    }
  });

  it("goes before -x messages, and a message that is not JSON under --json exits 2 unsent", async () => {
    const server = await startWsServerForTest(idReply);
    const run = await runCli(["-q", "--responses-only", "--on-connect", AUTH, "-x", '{"id":7}', server.url]);
    expect(run.code).toBe(0);
    expect(server.received).toEqual([AUTH, '{"id":7}']);
    expect(run.stdout).toBe('{"id":7,"ok":true}\n');
    const bad = await runCli(["--json", "--on-connect", "auth", "-x", '{"id":8}', server.url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("evtws: --on-connect message 1: not sent: --json is on and this is not JSON\n");
    expect(server.handshakes).toHaveLength(1);
  });
});

describe("-w/--wait", () => {
  it("keeps printing what arrives after the -x response, then closes with 1000 and exits 0", async () => {
    const codes: number[] = [];
    // The server answers, and pushes two updates only once the answer is out.
    const server = await startWsServerForTest(
      (text, _binary, ws) => {
        const reply = idReply(text, false, ws);
        setImmediate(() => {
          ws.send('{"update":1}');
          ws.send('{"update":2}');
        });
        return reply;
      },
      (ws: WebSocket) => ws.on("close", (code) => codes.push(code)),
    );
    const run = await runCli(["-q", "-w", "1.5", "-x", '{"id":1}', server.url]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('{"id":1,"ok":true}\n{"update":1}\n{"update":2}\n');
    await waitFor("the server to see the close", () => codes.length === 1);
    expect(codes).toEqual([1000]);
  });

  it("ends early, with the close reported, when the server closes during the wait", async () => {
    const server = await startWsServerForTest((text, _binary, ws) => {
      setImmediate(() => ws.close(4001, "go away"));
      return idReply(text, false, ws);
    });
    const run = await runCli(["-q", "-w", "60", "-x", '{"id":1}', server.url]);
    expect(run.stdout).toBe('{"id":1,"ok":true}\n');
    expect(run.stderr).toBe("evtws: closed 4001 go away\n");
    expect(run.code).toBe(1);
  });

  it("a close by the server with 1000 during the wait is the stream's normal end: exit 0, as with -n", async () => {
    // Before: "evtws: closed 1000 done" and exit 1, though every request was answered.
    const server = await startWsServerForTest((text, _binary, ws) => {
      setImmediate(() => {
        ws.send('{"update":1}');
        ws.close(1000, "done");
      });
      return idReply(text, false, ws);
    });
    const run = await runCli(["-q", "-w", "60", "-x", '{"id":1}', server.url]);
    expect(run.stdout).toBe('{"id":1,"ok":true}\n{"update":1}\n');
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
  });

  it.each([
    ["-n", ["-n"], "hi\n"],
    ["-w", ["-w", "60", "-x", "hi"], ""],
  ])(
    "%s: a close with 1000 before a request was answered is reported, exit 1",
    async (_name, args, input) => {
      // Before (-n): exit 1 and nothing on stderr; the request's ERR_DISCONNECTED is left to the
      // connection's close report, which the normal end skipped.
      const server = await startWsServerForTest((_text, _binary, ws) => {
        ws.close(1000, "done");
        return undefined;
      });
      const run = await runCli(["-q", ...args, server.url], { input });
      expect(run.stdout).toBe("");
      expect(run.stderr).toBe("evtws: closed 1000 done\n");
      expect(run.code).toBe(1);
    },
  );

  it("does not go with -n (which already waits for the end)", async () => {
    const run = await runCli(["-n", "-w", "1", "ws://127.0.0.1:9/"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/option '-w, --wait <s>' cannot be used with option '-n, --no-close'/);
  });
});
