import { describe, expect, it } from "vitest";
import { gridStep, Heartbeat } from "../src/heartbeat.js";
import { type Sleeper, sharedTimers } from "../src/shared-timers.js";
import { FakeClock } from "./helpers/fake-clock.js";

function setup(intervalMs = 1000, pongTimeoutMs = 500, lateByMs = 0) {
  const clock = new FakeClock();
  clock.lateByMs = lateByMs;
  const log: string[] = [];
  const hb = new Heartbeat(
    clock,
    { pingIntervalMs: intervalMs, pongTimeoutMs },
    { sendPing: () => log.push(`ping@${clock.now()}`), onDead: () => log.push(`dead@${clock.now()}`) },
  );
  return { clock, log, hb };
}

// Intervals here are multiples of their grid step (1000: 50), so pings fall on exact times.
describe("Heartbeat", () => {
  it("pings after intervalMs of silence in both directions", () => {
    const { clock, log } = setup();
    clock.advance(999);
    expect(log).toEqual([]);
    clock.advance(1);
    expect(log).toEqual(["ping@1000"]);
  });

  it("pings when nothing was received for intervalMs even while sending (liveness probe)", () => {
    const { clock, log, hb } = setup();
    for (let t = 0; t < 10; t++) {
      clock.advance(100);
      hb.noteSent();
    }
    expect(log).toEqual(["ping@1000"]);
  });

  it("pings when nothing was sent for intervalMs even while receiving (keep-alive)", () => {
    const { clock, log, hb } = setup();
    for (let t = 0; t < 10; t++) {
      clock.advance(100);
      hb.noteReceived();
    }
    expect(log).toEqual(["ping@1000"]);
  });

  it("does not ping while traffic flows both ways", () => {
    const { clock, log, hb } = setup();
    for (let t = 0; t < 50; t++) {
      clock.advance(100);
      hb.noteSent();
      hb.noteReceived();
    }
    expect(log).toEqual([]);
  });

  it("bytes of a message still arriving keep the peer alive at the deadline; silent from its last byte, it is dead within 2 x pongTimeoutMs", () => {
    const clock = new FakeClock();
    const log: string[] = [];
    let read = 0;
    new Heartbeat(
      clock,
      { pingIntervalMs: 1000, pongTimeoutMs: 500 },
      {
        sendPing: () => log.push(`ping@${clock.now()}`),
        onDead: () => log.push(`dead@${clock.now()}`),
        bytesRead: () => read,
      },
    );
    clock.advance(1000);
    expect(log).toEqual(["ping@1000"]);
    // A large frame trickles in: no whole message, but bytes at every step.
    for (let t = 0; t < 30; t++) {
      read += 100;
      clock.advance(100);
    }
    expect(log).toEqual(["ping@1000"]); // alive at every deadline, no second ping while one is out
    // Its last byte came at 3900: the deadline at 4000 finds bytes since the one before, the
    // next (4500) none.
    clock.advance(1000);
    expect(log).toEqual(["ping@1000", "dead@4500"]);
  });

  it("suspended (reading paused), it neither pings nor declares the peer dead; resumed, an outstanding ping gets a fresh pongTimeoutMs", () => {
    const { clock, log, hb } = setup();
    clock.advance(1000);
    expect(log).toEqual(["ping@1000"]);
    hb.suspend();
    clock.advance(10_000); // 20 pong timeouts
    hb.noteReceived(); // what the socket had read before the pause still counts, but arms nothing
    hb.noteReceived();
    expect(log).toEqual(["ping@1000"]);
    hb.resume();
    expect(log).toEqual(["ping@1000"]);
  });

  it("resumed after a pause with a ping out, the deadline counts from the resume", () => {
    const { clock, log, hb } = setup();
    clock.advance(1000);
    hb.suspend();
    clock.advance(10_000);
    hb.resume();
    clock.advance(499);
    expect(log).toEqual(["ping@1000"]);
    clock.advance(1);
    expect(log).toEqual(["ping@1000", "dead@11500"]);
  });

  it("declares the peer dead pongTimeoutMs after a ping with nothing received", () => {
    const { clock, log } = setup();
    clock.advance(1499);
    expect(log).toEqual(["ping@1000"]);
    clock.advance(1);
    expect(log).toEqual(["ping@1000", "dead@1500"]);
    expect(clock.pending).toBe(0);
  });

  it("any inbound data after a ping proves the peer alive", () => {
    const { clock, log, hb } = setup();
    clock.advance(1200);
    hb.noteReceived(false);
    clock.advance(400);
    expect(log).toEqual(["ping@1000"]);
  });

  it("a peer that goes silent right after answering a ping is declared dead within intervalMs + pongTimeoutMs of its last byte", () => {
    const { clock, log, hb } = setup(150, 800);
    clock.advance(150);
    clock.advance(10);
    hb.noteReceived(true);
    clock.advance(3000);
    const deadAt = Number(log.find((l) => l.startsWith("dead@"))!.slice(5));
    expect(deadAt - 160).toBeLessThanOrEqual(950);
  });

  it("a pong deadline that fires late after a freeze sends a fresh ping instead of declaring death", () => {
    const { clock, log, hb } = setup(1000, 500);
    clock.advance(1000); // ping@1000, deadline 1500
    clock.sleep(5000); // frozen; the pong is waiting unread in the socket
    expect(log).toEqual(["ping@1000", "ping@6000"]);
    hb.noteReceived(true);
    clock.advance(400);
    expect(log.some((l) => l.startsWith("dead"))).toBe(false);
  });

  it("a pong returns the round-trip time", () => {
    const { clock, hb } = setup();
    clock.advance(1000);
    clock.advance(42);
    expect(hb.noteReceived(true)).toBe(42);
    expect(hb.noteReceived(true)).toBeUndefined();
  });

  it("a pong after other data still gives the RTT (a busy line)", () => {
    const { clock, hb } = setup();
    clock.advance(1000);
    clock.advance(5);
    expect(hb.noteReceived(false)).toBeUndefined();
    clock.advance(10);
    expect(hb.noteReceived(true)).toBe(15);
  });

  it("the RTT keeps the clock's fraction of a ms; schedules are in whole ms", () => {
    // The heartbeat keeps its times in whole ms (no number boxes), but not the RTT: loopback
    // and LAN round trips are a fraction of a ms.
    const { clock, hb, log } = setup();
    clock.advance(0.25);
    hb.noteSent();
    clock.advance(999.75);
    expect(log).toEqual(["ping@1000"]);
    clock.advance(0.375);
    expect(hb.noteReceived(true)).toBe(0.375);
  });

  it("a pong with no ping out gives no RTT", () => {
    const { clock, hb } = setup();
    clock.advance(10);
    expect(hb.noteReceived(true)).toBeUndefined();
  });

  it("a silent peer is detected within intervalMs + pongTimeoutMs of the last byte", () => {
    const { clock, log, hb } = setup(1000, 500);
    clock.advance(300);
    hb.noteReceived();
    // The client keeps sending: only the receive side is silent, the worst case for detection.
    for (let t = 0; t < 20 && !log.some((l) => l.startsWith("dead")); t++) {
      clock.advance(100);
      hb.noteSent();
    }
    expect(log).toEqual(["ping@1300", "dead@1800"]);
  });

  it("after a long sleep it sends one ping, not a burst, and judges the deadline afterwards", () => {
    const { clock, log } = setup();
    clock.sleep(30_000);
    expect(log).toEqual(["ping@30000"]);
    clock.advance(500);
    expect(log).toEqual(["ping@30000", "dead@30500"]);
  });

  it("probe() sends a ping now and not twice", () => {
    const { clock, log, hb } = setup();
    clock.advance(10);
    hb.probe();
    hb.probe();
    expect(log).toEqual(["ping@10"]);
  });

  it("stop() leaves no timer", () => {
    const { clock, hb } = setup();
    hb.stop();
    expect(clock.pending).toBe(0);
  });
});

/**
 * A heartbeat (interval 1000 ms, pong timeout 500 ms) on a clock whose every timer fires
 * `lateMs` late, and a peer that answers each ping 10 ms later, or never when `silent`. With
 * `readAfterWake`, the socket is read only right after a timer fired (a starved process: Node
 * runs due timers before it reads the sockets); otherwise as each pong arrives.
 */
function lateTimers(lateMs: number, peer: { silent?: boolean; readAfterWake?: boolean } = {}) {
  const { clock, log, hb } = setup(1000, 500, lateMs);
  const arrivals: number[] = [];
  const pings = () => log.filter((l) => l.startsWith("ping@")).length;
  const deadAt = () => {
    const dead = log.find((l) => l.startsWith("dead@"));
    return dead === undefined ? undefined : Number(dead.slice(5));
  };
  /** Runs 1 ms at a time until `untilMs` or the verdict. */
  const run = (untilMs: number) => {
    let seen = pings();
    while (clock.now() < untilMs && deadAt() === undefined) {
      const fired = clock.fired;
      clock.advance(1);
      for (; seen < pings(); seen++) if (!peer.silent) arrivals.push(clock.now() + 10);
      const reading = !peer.readAfterWake || clock.fired > fired;
      while (reading && arrivals.length > 0 && arrivals[0]! <= clock.now()) {
        arrivals.shift();
        hb.noteReceived(true);
      }
    }
  };
  return { log, run, pings, deadAt };
}

describe("Heartbeat with late timers (a throttled tab, a starved container)", () => {
  it("when every timer fires late, a silent peer is declared dead within 2 x (intervalMs + pongTimeoutMs) plus the lateness of its four timers", () => {
    // I = 1000, T = 500. Below min(I, T) = 500 the chain is ping, deadline, deferred verdict
    // (I + T + 3L); above it the deadline sends one fresh ping first (I + 2T + 4L).
    for (const [lateMs, expected] of [
      [0, 1500],
      [50, 1650],
      [500, 3000],
      [600, 4400],
      [1000, 6000],
      [60_000, 242_000],
    ] as const) {
      const { run, deadAt } = lateTimers(lateMs, { silent: true });
      run(100 * (1000 + 500 + 4 * lateMs));
      expect(deadAt(), `${lateMs} ms late`).toBe(expected);
      expect(expected).toBeLessThanOrEqual(2 * (1000 + 500) + 4 * lateMs);
    }
  });

  it("when every timer fires late, a peer that answers every ping is never declared dead, even when its pongs are read only after the timers ran", () => {
    for (const lateMs of [1, 300, 501, 1000, 5000]) {
      for (const readAfterWake of [false, true]) {
        const { run, pings, deadAt } = lateTimers(lateMs, { readAfterWake });
        run(60_000);
        const how = `${lateMs} ms late, ${readAfterWake ? "read after each wake" : "read on arrival"}`;
        expect(deadAt(), how).toBeUndefined();
        expect(pings()).toBeGreaterThan(60_000 / (1000 + 2 * lateMs) - 2);
      }
    }
  });

  it("a late pong deadline sends at most one fresh ping per unanswered ping: two freezes in a row with nothing received end in a verdict", () => {
    const { clock, log } = setup(1000, 500);
    clock.advance(1000);
    clock.sleep(5000);
    clock.sleep(5000);
    expect(log).toEqual(["ping@1000", "ping@6000", "dead@11000"]);
  });

  it("an answer resets the reprieve: the next freeze gets a fresh ping of its own", () => {
    const { clock, log, hb } = setup(1000, 500);
    clock.advance(1000);
    clock.sleep(5000);
    clock.advance(10);
    hb.noteReceived(true); // the fresh ping's pong
    clock.advance(990); // next ping at 7000
    clock.sleep(5000);
    expect(log).toEqual(["ping@1000", "ping@6000", "ping@7000", "ping@12000"]);
    hb.noteReceived(true);
    clock.advance(400);
    expect(log.some((l) => l.startsWith("dead"))).toBe(false);
  });

  it("a verdict on a late wake waits one turn of the event loop: a pong that came in while the process was frozen still counts", () => {
    // Timers 1 ms late, as Node's shortest timer: a zero-delay one runs after the sockets are read.
    const { clock, log, hb } = setup(1000, 500, 1);
    clock.advance(1001); // ping@1001
    clock.sleep(5000); // the deadline wakes 4.5 s late: a fresh ping
    clock.sleep(5000); // frozen again; the fresh ping's pong came in meanwhile
    expect(log).toEqual(["ping@1001", "ping@6001"]);
    hb.noteReceived(true); // read before the deferred verdict
    clock.advance(10);
    // Alive: no verdict, and nothing sent for 5 s, so a keep-alive ping goes out at once.
    expect(log).toEqual(["ping@1001", "ping@6001", "ping@11002"]);
  });

  it("a deadline that wakes less than a millisecond late still waits one turn: a pong read right after the timers counts", () => {
    // Node runs due timers before it reads the sockets, so a pong that came in a fraction of a
    // millisecond before the deadline's timer ran is still unread when it runs.
    const { clock, log, hb } = setup(1000, 500, 0.5);
    clock.advance(200);
    hb.probe(); // a ping at 200: its deadline, 700, wakes at 700.5
    clock.advance(500.5);
    expect(log).toEqual(["ping@200"]);
    hb.noteReceived(true); // the pong, read after the timers
    clock.advance(10);
    expect(log).toEqual(["ping@200"]);
    clock.advance(3000); // a silent peer is still judged: the next ping, its deadline, the verdict
    expect(log).toEqual(["ping@200", "ping@1201", "dead@1702"]);
  });
});

/** A heartbeat pinging every 1000 ms with a 1000 ms pong deadline; `pings` logs ping times, -1 for dead. */
function quietLine(clock: FakeClock) {
  const pings: number[] = [];
  const hb = new Heartbeat(
    clock,
    { pingIntervalMs: 1000, pongTimeoutMs: 1000 },
    { sendPing: () => pings.push(clock.now()), onDead: () => pings.push(-1) },
  );
  return { hb, pings };
}

describe("Heartbeat grid", () => {
  it("the step is the largest whole divisor of the interval up to a sixteenth of it, if at least a 64th", () => {
    expect(gridStep(5000)).toBe(250);
    expect(gridStep(1000)).toBe(50);
    expect(gridStep(30_000)).toBe(1875);
    expect(gridStep(15_000)).toBe(750);
    expect(gridStep(25_000)).toBe(1250);
    expect(gridStep(160)).toBe(10);
    expect(gridStep(997)).toBe(1); // prime: no grid
    expect(gridStep(871)).toBe(1); // 13 x 67: 13 is below a 64th
    expect(gridStep(2_147_483_647)).toBe(1); // a large prime: at most 49 tries, not n / 16
    expect(gridStep(20)).toBe(1);
    expect(gridStep(1500.5)).toBe(1);
  });

  it("a ping is never late and at most one step early, whenever the line fell quiet", () => {
    for (let start = 0; start < 120; start += 7) {
      const clock = new FakeClock();
      clock.advance(start);
      const { hb, pings } = quietLine(clock);
      clock.advance(1000);
      expect(pings).toHaveLength(1);
      expect(pings[0]).toBeLessThanOrEqual(start + 1000);
      expect(pings[0]).toBeGreaterThan(start + 1000 - 50);
      expect((pings[0] ?? 1) % 50).toBe(0);
      hb.stop();
    }
  });

  it("on a quiet line only the first ping is early: the next follow intervalMs apart", () => {
    const clock = new FakeClock();
    clock.advance(30);
    const { hb, pings } = quietLine(clock);
    for (let i = 0; i < 4; i++) {
      clock.advance(1000);
      clock.advance(3);
      hb.noteReceived(true);
    }
    expect(pings).toEqual([1000, 2000, 3000, 4000]);
    hb.stop();
    expect(clock.pending).toBe(0);
  });

  it("heartbeats started at different moments share one clock timer per due time", () => {
    const clock = new FakeClock();
    const lines: ReturnType<typeof quietLine>[] = [];
    for (let i = 0; i < 100; i++) {
      lines.push(quietLine(clock)); // started at 0, 1, ..., 99 ms
      clock.advance(1);
    }
    expect(clock.pending).toBe(2); // due at 1000 (started 0-49 ms) and 1050 (50-99 ms)
    expect(sharedTimers(clock).armed).toBe(2);
    for (let cycle = 0; cycle < 3; cycle++) {
      clock.advance(1000 - 100);
      for (let t = 0; t < 100; t++) {
        clock.advance(1);
        for (const line of lines)
          if (line.pings.length === cycle + 1 && line.pings[cycle] === clock.now() - 2)
            line.hb.noteReceived(true);
      }
      // Every line pinged once this cycle and had its pong 2 ms later: armed again on two due times.
      expect(lines.every((l) => l.pings.length === cycle + 1)).toBe(true);
      expect(clock.pending).toBe(2);
    }
    const firstPings = new Set(lines.map((l) => l.pings[0]));
    expect([...firstPings].sort()).toEqual([1000, 1050]);
    expect(clock.created).toBeLessThan(40); // one per due time (pings and pong deadlines), not one per line per ping
    for (const line of lines) line.hb.stop();
    expect(clock.pending).toBe(0);
    expect(sharedTimers(clock).armed).toBe(0);
  });

  it("a stopped heartbeat leaves the others' shared timer armed, and the last one clears it", () => {
    const clock = new FakeClock();
    const a = quietLine(clock);
    const b = quietLine(clock);
    expect(clock.pending).toBe(1);
    a.hb.stop();
    expect(clock.pending).toBe(1);
    clock.advance(1000);
    expect(a.pings).toEqual([]);
    expect(b.pings).toEqual([1000]);
    b.hb.stop();
    expect(clock.pending).toBe(0);
  });

  it("a heartbeat that dies in a shared wake-up does not stop the others in it", () => {
    const clock = new FakeClock();
    const a = quietLine(clock);
    const b = quietLine(clock);
    clock.advance(1000); // both ping
    clock.advance(10);
    b.hb.noteReceived(true); // only b is answered
    clock.advance(990); // a's deadline (2000) is b's next ping
    expect(a.pings).toEqual([1000, -1]);
    expect(b.pings).toEqual([1000, 2000]);
    b.hb.stop();
    expect(clock.pending).toBe(0);
  });

  it("a probe moves the heartbeat to the probe's deadline and leaves nothing behind", () => {
    const clock = new FakeClock();
    const { hb, pings } = quietLine(clock);
    clock.advance(1000);
    hb.noteReceived(true);
    clock.advance(300);
    hb.probe();
    clock.advance(10);
    hb.noteReceived(true);
    clock.advance(3000);
    expect(pings).toEqual([1000, 1300, 2300, -1]); // the 2300 ping gets no answer: dead at 3300
    expect(clock.pending).toBe(0);
  });
});

/** A sleeper for the SharedTimers tests. */
function sleeper(wake: (at: number) => void): Sleeper {
  return { wake, sleepSlot: undefined, sleepPrev: undefined, sleepNext: undefined };
}

/** Shared timers on a fresh clock, and sleepers that log `name@at` to `woken` when woken. */
function setupTimers() {
  const clock = new FakeClock();
  const timers = sharedTimers(clock);
  const woken: string[] = [];
  const named = (name: string) => sleeper((at) => woken.push(`${name}@${at}`));
  return { clock, timers, woken, named };
}

describe("SharedTimers", () => {
  it("wakes every sleeper due at a time, in the order added, even when one throws, then lets the error surface", () => {
    const { clock, timers, woken, named } = setupTimers();
    const b = sleeper((at) => {
      woken.push(`b@${at}`);
      throw new Error("boom");
    });
    for (const s of [named("a"), b, named("c")]) timers.add(s, 100, 0);
    expect(clock.pending).toBe(1);
    expect(() => clock.advance(100)).toThrow("boom");
    expect(woken).toEqual(["a@100", "b@100", "c@100"]);
    expect(timers.armed).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it("add() moves a sleeper; delete() of the last one clears the clock timer; unknown sleepers are ignored", () => {
    const { clock, timers, woken, named } = setupTimers();
    const a = named("a");
    const b = named("b");
    const c = named("c");
    timers.add(a, 50, 0);
    timers.add(b, 50, 0);
    timers.add(c, 50, 0);
    timers.delete(sleeper(() => {}));
    timers.add(b, 70, 0); // out of the middle of 50's list
    expect(clock.pending).toBe(2);
    timers.delete(a);
    timers.delete(a);
    expect(clock.pending).toBe(2);
    timers.delete(c);
    expect(clock.pending).toBe(1); // 50 had no one left
    clock.advance(100);
    expect(woken).toEqual(["b@70"]);
    expect(timers.armed).toBe(0);
  });

  it("adding a sleeper again for the time it is due at keeps its place and its timer", () => {
    const { clock, timers, woken, named } = setupTimers();
    const a = named("a");
    const b = named("b");
    timers.add(a, 30, 0);
    timers.add(a, 30, 5); // alone in its list: leaving it first would take the timer with it
    expect(clock.created).toBe(1);
    timers.add(b, 30, 5);
    timers.add(a, 30, 6); // still ahead of b
    clock.advance(30);
    expect(woken).toEqual(["a@30", "b@30"]);
  });

  it("a wake that stops or moves sleepers further down the list is honoured", () => {
    const { clock, timers, woken, named } = setupTimers();
    const c = named("c");
    const d = named("d");
    const a = sleeper((at) => {
      woken.push(`a@${at}`);
      timers.delete(c);
      timers.add(d, 90, at);
    });
    const b = named("b");
    for (const s of [a, b, c, d]) timers.add(s, 40, 0);
    clock.advance(40);
    expect(woken).toEqual(["a@40", "b@40"]);
    clock.advance(50);
    expect(woken).toEqual(["a@40", "b@40", "d@90"]);
    expect(clock.pending).toBe(0);
  });
});
