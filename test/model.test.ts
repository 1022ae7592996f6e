/**
 * The model-based test of `Conn` (issue 15, part 3): random sequences of calls, socket events,
 * late timers and re-entrant callbacks against a small model of the contract, on an in-memory
 * transport and a hand-driven clock. See test/model/ and docs/testing.md ("The model-based
 * suite") for how it works, how to run a long search and how to replay a failure.
 *
 * Properties still awaiting a fix on main (test/model/properties.ts, AWAITING_FIX) are skipped
 * unless MODEL_STRICT=1. A failure prints the shrunk script and the command that replays it.
 */

import { describe, expect, it } from "vitest";
import type { TransportEvents } from "../src/transport/types.js";
import { ModelClock } from "./model/clock.js";
import { type MemorySocket, MemoryTransport } from "./model/memory-transport.js";
import { AWAITING_FIX } from "./model/properties.js";
import { runModel } from "./model/property.js";

const strict = process.env.MODEL_STRICT === "1";
const FIXED_SEED = 15;
const randomSeed = (Math.random() * 0x7fffffff) | 0;

async function check(seed: number, numRuns: number, sent = false): Promise<void> {
  const result = await runModel({ strict, seed, numRuns, sent });
  if (!result.ok) throw new Error(result.report);
  expect(result.runs).toBe(numRuns);
}

describe("Conn against the model", () => {
  if (!strict) {
    const skipped = Object.keys(AWAITING_FIX);
    if (skipped.length > 0) {
      console.log(
        `model: skipping ${skipped.join(", ")} (awaiting fixes on main; MODEL_STRICT=1 checks them)`,
      );
    }
  }

  it("keeps the contract over 2,000 random sequences (fixed seed)", { timeout: 60_000 }, async () => {
    await check(FIXED_SEED, 2000);
  });

  // Failures found by long searches, replayed (each was a bug of the library or a wrong
  // expectation of the model; the comment says which). A replay reproduces its case only on the
  // commands of its day: `--sent` runs generate apart, so the others stay the same.
  const REPLAYS: { name: string; seed: number; path: string; replayPath: string; sent?: boolean }[] = [
    // A random seed's failure, replayed: a send queued from onError (telling of a message dropped
    // as oldest) dropped another one as oldest, its report still to come; an abort of their shared
    // signal then took the newest out of the queue, and the model had guessed the oldest.
    {
      name: "seed 1474669012: an abort from onError after a drop-oldest whose report is still to come",
      seed: 1474669012,
      path: "501:1:1:1:1:4:7:7:12:16:17:16:16:16:20",
      replayPath: "ABABAAEAAAABBCBAAABDDAEAFABFAE/O/m:qqqqqM",
    },
    // The 100,000-sequence search at seed 20261207 (2026-12-07): an onMessage handler closed the
    // connection while an iterator of bufferSize 1 held a message; the same dispatch then pushed
    // the message into the ended iterator, which paused reading, and the next dial's socket
    // started paused with no iterator left to release it.
    {
      name: "seed 20261207: close() from onMessage, then a push into the ended iterator paused the next socket",
      seed: 20261207,
      path: "93686:0:1:1:1:1:1:1:1:5:5:8:0:7:15:18:21:22:19:17:17:17:17:17:17:17:18:18:18:18:18:18:18:18",
      replayPath: "AAACAAABBGABACBABBCBq4A//+:qqqqD",
    },
    // The 100,000-sequence search at seed 20261208: inside a flush, a message past its deadline
    // expired (its report to come after the flush) and the frame after it went out; an abort from
    // that send took the due message behind it out of the queue, and the model had guessed the
    // expired one (the model's book, not the library, was wrong).
    {
      name: "seed 20261208: an abort during a flush takes the due message behind the frame, not the one that expired before it",
      seed: 20261208,
      path: "20029:0:0:0:0:0:0:1:0:0:0:0:0:0:0:0:0:0:0:0:0:0:1:0:0:0:0:0:0:0:0:0:0:0:0:6:8:8:8:16:24:25:23:23:28:28:28:28:28:28",
      replayPath: "BFAAABBBIAD/H//e:VVO",
    },
    // The 100,000-sequence search at seed 20261210: an onError telling of the end dialled again and
    // made a new iterator before the "closed" state event was delivered; the model took that event
    // as the new iterator's end and called its (rightful) pause a stuck one. The model's book was
    // wrong, not the library.
    {
      name: "seed 20261210: an iterator made after a dial() from onError outlives the close announced after it",
      seed: 20261210,
      path: "82671:0:0:0:0:0:0:3:2:4:5:8:14:19:23:22:26:21:18:15:15:15:15:15:15:15:16:16:16:16:16:16:17:16:16:17",
      replayPath:
        "DBACCAAAAABACCEDBABBAACBDABAABECACCAEDFBABBABAGABEJABCBBC6MAFA/HACADABA/////+:VVVVVVVVVVtqf",
    },
    // The 100,000-sequence search at seed 20261211: a drop held behind paused reading came once
    // return() resumed it, after that step's check; its onClose called close(), which drops the
    // drop's report (as documented), but the model judged the end in the next step, its flag for
    // "a callback closed" already reset. The model's book was wrong, not the library.
    {
      name: "seed 20261211: an end held behind a pause, delivered after its step, whose onClose closes",
      seed: 20261211,
      path: "5832:0:0:1:1:1:1:1:1:1:4:4:5:10:13:14:14:13:16:15:15:15:15:15:15:15:15:16:16:16:16:16",
      replayPath: "BAAACBADCAHAAABACAABAAAACyBA///Y:VVVV1D",
    },
    // With a message:sent subscriber that may call back (--sent), and the drop-settles rule: the
    // search that found a queued request left neither queued nor in flight by a reconnect() from
    // its own message:sent (fixed in src/outbox.ts), as the re-entrancy review had by hand.
    {
      name: "seed 1 with a message:sent subscriber: reconnect() from a queued request's own message:sent",
      seed: 1,
      path: "1884:1:1:1:1:1:1:1:1:1:1:4:3:12:14:11:10:9:9:10:10:10:10:10:10",
      replayPath: "DAEABADACABAAADBB/nABBAAABACA/X:VVVqqB",
      sent: true,
    },
    // Found by the --sent runs, though no sent event takes part: under overflow "reject", an abort
    // from the logger's line inside a send() that is being refused (queue full) took the queued
    // message, and the model had guessed the refused one (never queued).
    {
      name: "seed 535302213 with --sent: an abort from the line of a send() refused as the queue is full",
      seed: 535302213,
      path: "549:0:0:1:0:0:0:1:0:0:2:0:0:0:1:2:0:0:0:0:1:0:1:0:11:12:15:0:0:0:0:13:12:11:11:13:13:15:13:15:14:14:13:13",
      replayPath: "CAABDABCABABACABAABA/7mD/O:qqqSD",
      sent: true,
    },
    // The same seed's search again, once that was fixed: the dial() that was made first (from
    // idle) returned last, after its on('state') callback had closed and onError had dialled again
    // and made an iterator; counted on return, it gave that iterator the first dial's number.
    {
      name: "seed 20261210 again: a dial() from onError inside another dial() call, and the iterator made after it",
      seed: 20261210,
      path: "96999:0:0:0:0:0:0:0:0:0:0:3:3:4:7:8:12:18:17:20:16:16:17:17:17:17:17:18:17:18",
      replayPath: "ADAAAAADBDECBBBAACABAAAABDADBAACBEAAAAADBAAAAMCBBAABBBBAAL///7:VVVVVVVVV1D",
    },
    // Once more: a close() before any dial announced idle → closed, which the model had counted
    // as a dial's announcement, so the close announced later ended the next dial's iterator.
    {
      name: "seed 20261210 a third time: a close() from idle is no dial",
      seed: 20261210,
      path: "96999:0:0:0:0:0:0:0:0:0:0:5:5:9:11:15:14:17:18:22:22:23:21:24:17:17:18:20:21:21:21:21:21:22:21:22",
      replayPath: "ADAAAAADBDECBBBAACABAAAABDADBAACBEAAAAADBAAAAMCBBAABBBBAAM//////u:VVVVVVVVV1f",
    },
  ];
  for (const { name, seed, path, replayPath, sent } of REPLAYS) {
    it(`replays ${name}`, async () => {
      const result = await runModel({ strict, seed, numRuns: 1, path, replayPath, sent: sent === true });
      if (!result.ok) throw new Error(result.report);
    });
  }

  it(`keeps the contract over 2,000 random sequences (random seed ${randomSeed})`, {
    timeout: 60_000,
  }, async () => {
    const again = `npm run model -- --seed ${randomSeed} --runs 2000${strict ? "" : " --lenient"}`;
    console.log(`model: random seed ${randomSeed} (${again} runs it again)`);
    await check(randomSeed, 2000);
  });

  it(`keeps the contract over 2,000 random sequences with a message:sent subscriber that calls back (random seed ${randomSeed})`, {
    timeout: 60_000,
  }, async () => {
    const again = `npm run model -- --seed ${randomSeed} --runs 2000 --sent${strict ? "" : " --lenient"}`;
    console.log(`model: random seed ${randomSeed} with --sent (${again} runs it again)`);
    await check(randomSeed, 2000, true);
  });
});

/** The parts the model stands on: if they lie, every run above passes for nothing. */
describe("the model's transport and clock", () => {
  const events = () => {
    const seen: string[] = [];
    const record: TransportEvents = {
      onOpen: (p) => void seen.push(`open ${p}`),
      onMessage: (d) => void seen.push(`message ${String(d)}`),
      onPong: () => void seen.push("pong"),
      onPing: () => void seen.push("ping"),
      onClosing: (code) => void seen.push(`closing ${code}`),
      onClose: (info) => void seen.push(`close ${info.code} ${info.wasClean} ${info.closedBy}`),
    };
    return { seen, record };
  };
  const options = { protocols: [], headers: undefined, tls: undefined, maxMessageBytes: 1000 };

  it("refuses data frames once the peer's close frame arrived, and reports the clean close when TCP ends", () => {
    const { seen, record } = events();
    const socket = new MemoryTransport().open("ws://a/", options, record) as MemorySocket;
    socket.open("");
    expect(socket.send("é")).toBe(2);
    socket.peerClose(1000, "");
    expect(socket.send("x")).toBe(-1);
    socket.endTcp();
    expect(seen).toEqual(["open ", "closing 1000", "close 1000 true server"]);
  });

  it("reports our close answered as closed by the client, and nothing after terminate()", () => {
    const { seen, record } = events();
    const transport = new MemoryTransport();
    const ours = transport.open("ws://a/", options, record) as MemorySocket;
    ours.open("");
    ours.close(4000, "bye");
    expect(ours.send("x")).toBe(-1);
    ours.peerClose(4000, "bye");
    ours.endTcp();
    const gone = transport.open("ws://a/", options, record) as MemorySocket;
    gone.terminate();
    expect([gone.open(""), gone.message("x"), gone.endTcp()]).toEqual([false, false, false]);
    expect(seen).toEqual(["open ", "close 4000 true client"]);
    expect(transport.liveSockets).toEqual([]);
  });

  it("fires every timer late by at most maxLateMs, in order, and counts the live ones", () => {
    const clock = new ModelClock(50, 7);
    const fired: number[] = [];
    for (let i = 0; i < 20; i++) clock.setTimeout(() => fired.push(clock.now() - i * 10), i * 10);
    const cleared = clock.setTimeout(() => fired.push(-1), 5);
    clock.clearTimeout(cleared);
    expect(clock.live).toBe(20);
    clock.advance(1000);
    expect(clock.live).toBe(0);
    expect(fired).toHaveLength(20);
    expect(fired.every((late) => late >= 0 && late <= 50)).toBe(true);
  });
});
