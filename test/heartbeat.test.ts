import { describe, expect, it } from "vitest";
import { Heartbeat } from "../src/heartbeat.js";
import { FakeClock } from "./helpers/fake-clock.js";

function setup(intervalMs = 1000, pongTimeoutMs = 500) {
  const clock = new FakeClock();
  const log: string[] = [];
  const hb = new Heartbeat(
    clock,
    { pingIntervalMs: intervalMs, pongTimeoutMs },
    { sendPing: () => log.push(`ping@${clock.now()}`), onDead: () => log.push(`dead@${clock.now()}`) },
  );
  return { clock, log, hb };
}

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
