import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Heartbeat } from "../src/heartbeat.js";
import { FakeClock } from "./helpers/fake-clock.js";

/** Every rule below holds with a plain clock and with one whose fired timers can be restarted (Node's). */
let restartable = false;
let lastClock: FakeClock | undefined;

function setup(intervalMs = 1000, pongTimeoutMs = 500) {
  const clock = new FakeClock({ restartable });
  lastClock = clock;
  const log: string[] = [];
  const hb = new Heartbeat(
    clock,
    { pingIntervalMs: intervalMs, pongTimeoutMs },
    { sendPing: () => log.push(`ping@${clock.now()}`), onDead: () => log.push(`dead@${clock.now()}`) },
  );
  return { clock, log, hb };
}

describe.each([
  ["a plain clock", false],
  ["a clock with restart()", true],
])("Heartbeat with %s", (_name, withRestart) => {
  beforeEach(() => {
    restartable = withRestart;
  });
  afterEach(({ task }) => {
    // A cleared timer is never restarted (Node's refresh() would silently not revive it).
    if (task.result?.state === "pass") expect(lastClock?.restartsOfCleared ?? 0).toBe(0);
  });

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

describe("Heartbeat timers", () => {
  it("on a quiet line with restart(), re-arms the same timer for every ping: no timer per ping", () => {
    const clock = new FakeClock({ restartable: true });
    const { hb, pings } = quietLine(clock);
    for (let i = 0; i < 10; i++) {
      clock.advance(1000); // ping goes out
      clock.advance(5);
      hb.noteReceived(true); // its pong
    }
    expect(pings).toEqual([1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000]);
    expect(clock.created).toBe(1);
    expect(clock.restarted).toBe(10); // re-armed after each ping
    expect(clock.restartsOfCleared).toBe(0);
    hb.stop();
    expect(clock.pending).toBe(0);
  });

  it("without restart() the same pings need a timer each, and a pong re-arms nothing when the deadline is the next ping time", () => {
    const clock = new FakeClock();
    const { hb, pings } = quietLine(clock);
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      clock.advance(5);
      hb.noteReceived(true);
    }
    expect(pings).toEqual([1000, 2000, 3000]);
    expect(clock.created).toBe(4); // the first and one per ping, none per pong
  });

  it("a probe clears the armed timer and never restarts it", () => {
    const clock = new FakeClock({ restartable: true });
    const { hb, pings } = quietLine(clock);
    clock.advance(1000);
    hb.noteReceived(true);
    clock.advance(300);
    hb.probe(); // clears the armed timer, arms a new one
    clock.advance(10);
    hb.noteReceived(true);
    clock.advance(3000);
    expect(pings).toEqual([1000, 1300, 2300, -1]); // the 2300 ping gets no answer: dead at 3300
    expect(clock.restartsOfCleared).toBe(0);
    hb.stop();
    expect(clock.pending).toBe(0);
  });
});
