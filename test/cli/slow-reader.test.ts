/**
 * `evtws` into a reader slower than what comes (`evtws URL | slow`, a pager): evtws reads the
 * socket and stdin no faster than stdout drains, so the server or the input is held back and
 * memory stays bounded, yet nothing is lost, every line comes in order, no request in flight
 * times out behind the held socket, and `-w` still prints all that came during its wait. Each
 * test pauses the CLI's stdout, then reads it all; against a real `ws` server on 127.0.0.1
 * port 0.
 */

import { describe, expect, it } from "vitest";
import {
  idReply,
  peakRssMb,
  readLinesFrom,
  startCli,
  startWsServerForTest,
  useSourceBundle,
} from "./helpers.js";

useSourceBundle();

describe("a feed into a slow reader", () => {
  it("is read from the socket no faster than stdout drains: the server is held back, nothing is lost", async () => {
    // 60,000 pushes of 1 KB, sent as fast as the socket takes them (the server keeps under 1 MB
    // of its own buffered). The test does not read evtws's stdout at first: a reader that is
    // behind. Before, evtws read the socket regardless and held every push in memory for stdout
    // (the server sent all 60 MB; RSS 329 MB after 3 s of a faster feed).
    const TOTAL = 60_000;
    const pad = "x".repeat(1000);
    let sent = 0;
    const server = await startWsServerForTest(undefined, (ws) => {
      const pump = () => {
        while (ws.bufferedAmount < 1 << 20 && sent < TOTAL) ws.send(JSON.stringify({ tick: ++sent, pad }));
        if (sent < TOTAL && ws.readyState === ws.OPEN) setTimeout(pump, 1);
        else if (sent === TOTAL) ws.close(1000, "done");
      };
      pump();
    });
    const cli = startCli(["-q", "-n", server.url]);
    cli.child.stdin.end();
    cli.child.stdout.pause();
    // Wait until the server is held back (no progress in 500 ms), or has sent two thirds.
    const deadline = Date.now() + 60_000;
    for (let last = -1; sent !== last && sent < (TOTAL * 2) / 3; ) {
      if (Date.now() > deadline) throw new Error(`the server neither stalled nor sent two thirds: ${sent}`);
      last = sent;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const heldAt = sent;
    const peak = peakRssMb(cli.child.pid);
    console.log(`server had sent ${heldAt} of ${TOTAL} pushes; evtws peak RSS ${peak?.toFixed(0)} MB`);
    expect(heldAt).toBeLessThan((TOTAL * 2) / 3);
    // Now read: every push comes, in order, and the server's 1000 ends the run with 0.
    let lines = 0;
    let inOrder = true;
    readLinesFrom(cli, (line) => {
      lines++;
      if ((JSON.parse(line) as { tick: number }).tick !== lines) inOrder = false;
    });
    expect(await cli.exited).toBe(0);
    expect(lines).toBe(TOTAL);
    expect(inOrder).toBe(true);
    expect(cli.stderr()).toBe("");
  }, 120_000);
});

describe("piped requests into a slow reader", () => {
  it("no more lines are sent while stdout is behind: memory is bounded, nothing is lost", async () => {
    // 40,000 lines of 1 KB into an echo server; the test does not read evtws's stdout at first.
    // Before, answers were written to stdout whatever it held, so every line was read, sent
    // and answered at once and the 40 MB waited in evtws's memory (197 MB RSS for 300,000
    // lines of 500 B).
    const TOTAL = 40_000;
    const pad = "y".repeat(1000);
    const server = await startWsServerForTest();
    const cli = startCli(["-q", server.url]);
    cli.child.stdout.pause();
    let written = 0;
    const feed = () => {
      while (written < TOTAL) {
        if (!cli.child.stdin.write(`${++written} ${pad}\n`)) return void cli.child.stdin.once("drain", feed);
      }
      cli.child.stdin.end();
    };
    feed();
    const deadline = Date.now() + 60_000;
    for (let last = -1; server.received.length !== last && server.received.length < (TOTAL * 2) / 3; ) {
      if (Date.now() > deadline) throw new Error(`the run neither stalled nor sent two thirds: ${last}`);
      last = server.received.length;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const heldAt = server.received.length;
    console.log(
      `server had received ${heldAt} of ${TOTAL} lines; evtws peak RSS ${peakRssMb(cli.child.pid)?.toFixed(0)} MB`,
    );
    expect(heldAt).toBeLessThan((TOTAL * 2) / 3);
    let lines = 0;
    let inOrder = true;
    readLinesFrom(cli, (line) => {
      lines++;
      if (line !== `${lines} ${pad}`) inOrder = false;
    });
    expect(await cli.exited).toBe(0);
    expect(lines).toBe(TOTAL);
    expect(inOrder).toBe(true);
    expect(cli.stderr()).toBe("");
  }, 120_000);
});

describe("requests and a feed into a slow reader", () => {
  it("requests in flight when stdout falls behind are answered, not timed out behind a held socket", async () => {
    // A server that pushes 1 KB messages without end and answers each {"id":n} request. The
    // reader pauses for longer than --timeout (1 s). The socket may be held only once no
    // request waits: before that check, answers in flight sat behind the held socket and
    // their requests failed with ERR_REQUEST_TIMEOUT.
    const pad = "z".repeat(1000);
    const server = await startWsServerForTest(idReply, (ws) => {
      let tick = 0;
      const pump = () => {
        if (ws.readyState !== ws.OPEN) return;
        // At most 256 a turn: the socket may take each at once, and the test's loop must run.
        for (let i = 0; i < 256 && ws.bufferedAmount < 1 << 20; i++)
          ws.send(JSON.stringify({ tick: ++tick, pad }));
        setTimeout(pump, 1);
      };
      pump();
    });
    const TOTAL = 3000;
    const cli = startCli(["-q", "--timeout", "1s", server.url]);
    cli.child.stdout.pause();
    let input = "";
    for (let i = 1; i <= TOTAL; i++) input += `{"id":${i}}\n`;
    cli.child.stdin.end(input);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const answers: number[] = [];
    readLinesFrom(cli, (line) => {
      const msg = JSON.parse(line) as { id?: number; ok?: boolean };
      if (msg.ok === true) answers.push(msg.id ?? -1);
    });
    expect(await cli.exited).toBe(0);
    expect(cli.stderr()).toBe("");
    expect(answers).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
  }, 120_000);
});

describe("-w/--wait into a slow reader", () => {
  it("prints what the server sent during the wait, though the reader is slower than the wait", async () => {
    // 3,000 pushes of 1 KB right after the answer; the reader pauses for 4 s, longer than -w 2.
    // Before, evtws held the socket for the reader during the wait, the server was held back
    // after a few thousand, and when the wait ran out the rest were never read: a reader that
    // keeps up got all 3,000.
    const TOTAL = 3000;
    const pad = "x".repeat(1000);
    const server = await startWsServerForTest((text, _binary, ws) => {
      if (text !== '{"id":1}') return undefined;
      ws.send('{"id":1,"ok":true}');
      let sent = 0;
      const pump = () => {
        if (ws.readyState !== ws.OPEN) return;
        while (ws.bufferedAmount < 1 << 20 && sent < TOTAL) ws.send(JSON.stringify({ tick: ++sent, pad }));
        if (sent < TOTAL) setTimeout(pump, 1);
      };
      pump();
      return undefined;
    });
    const cli = startCli(["-q", "-x", '{"id":1}', "-w", "2", server.url]);
    cli.child.stdout.pause();
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const ticks: number[] = [];
    let answers = 0;
    readLinesFrom(cli, (line) => {
      const msg = JSON.parse(line) as { tick?: number; ok?: boolean };
      if (msg.ok === true) answers++;
      else ticks.push(msg.tick ?? -1);
    });
    expect(await cli.exited).toBe(0);
    expect(cli.stderr()).toBe("");
    expect(answers).toBe(1);
    expect(ticks).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
  }, 60_000);
});
