/**
 * Text the `ws` transport receives must be UTF-8 (RFC 6455 §8.1): a text message or a close
 * reason that is not fails the connection with 1007, and nothing after it in the same read is
 * delivered. The transport checks this itself while it decodes (ws's own check would read every
 * text message twice), so these tests pin the behaviour ws gave: the close frame we send, the
 * close the connection reports, the error and its cause, and an end that does not wait on a
 * peer that never answers the closing handshake. The peer is a hand-written server on 127.0.0.1
 * (test/helpers/raw-server.ts), so nothing in between forgives a bad frame.
 */
import { expect, it } from "vitest";
import { ErrorCode, type EvtWebSocketError, State } from "../src/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn } from "./helpers/harness.js";
import { parseAll, rawServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

/** An unmasked server frame. */
function frame(opcode: number, payload: Buffer, fin = true): Buffer {
  if (payload.length > 125) throw new Error("short frames only");
  return Buffer.concat([Buffer.of((fin ? 0x80 : 0) | opcode, payload.length), payload]);
}
const text = (s: string | Buffer) => frame(1, Buffer.from(s));
const INVALID = [
  Buffer.of(0xff, 0xfe),
  Buffer.of(0xed, 0xa0, 0x80), // a UTF-16 surrogate, encoded
  Buffer.of(0xc0, 0x80), // an overlong NUL
  Buffer.of(0xf4, 0x90, 0x80, 0x80), // above U+10FFFF
  Buffer.of(0x61, 0xe2, 0x82), // cut short at the end
];

async function opened() {
  const server = await rawServer();
  const seen: string[] = [];
  const errors: EvtWebSocketError[] = [];
  const closes: { code: number; reason: string; wasClean: boolean }[] = [];
  const c = conn({
    reconnect: false,
    pingIntervalMs: 0,
    onMessage: (m) => seen.push(m),
    onError: (e) => errors.push(e),
    onClose: (e) => closes.push({ code: e.code, reason: e.reason, wasClean: e.wasClean }),
  });
  await c.dial(server.url);
  return { server, c, seen, errors, closes };
}

/** What the connection reports, and the one close frame it wrote (a raw server never answers it). */
async function expectFailed(o: Awaited<ReturnType<typeof opened>>) {
  // The hand-written server never answers a closing handshake: the end must not wait for it.
  await until(() => o.c.state === State.CLOSED, "closed", 2000);
  expect(o.closes).toEqual([{ code: 1007, reason: "", wasClean: false }]);
  expect(o.errors).toHaveLength(1);
  expect(o.errors[0]).toMatchObject({
    code: ErrorCode.DISCONNECTED,
    details: { closeCode: 1007, closedBy: "client" },
  });
  expect(o.errors[0]!.message).toMatch(/broke the protocol \(close code 1007, closed by client\)/);
  expect((o.errors[0]!.cause as Error).message).toMatch(/invalid UTF-8/);
  const sent = parseAll(o.server.connectionBytes(0)).filter((f) => f.opcode === 8);
  expect(sent).toHaveLength(1);
  expect(sent[0]!.payload.readUInt16BE(0)).toBe(1007);
}

it.each(INVALID.map((b) => [b.toString("hex"), b]))(
  "a text message that is not UTF-8 (%s) fails the connection with 1007, and the messages read with it after it are not delivered",
  async (_hex, bad) => {
    const o = await opened();
    o.server.write(Buffer.concat([text("before"), text(bad as Buffer), text("after")]));
    await expectFailed(o);
    expect(o.seen).toEqual(["before"]);
  },
);

it("a fragmented text message is checked whole: a character split across fragments is delivered, bad bytes in a continuation fail it", async () => {
  const ok = await opened();
  const euro = Buffer.from("a€b"); // 61 e2 82 ac 62
  ok.server.write(Buffer.concat([frame(1, euro.subarray(0, 2), false), frame(0, euro.subarray(2))]));
  await until(() => ok.seen.length === 1, "the message");
  expect(ok.seen).toEqual(["a€b"]);
  expect(ok.errors).toEqual([]);
  ok.server.hangUp();

  const bad = await opened();
  bad.server.write(Buffer.concat([frame(1, Buffer.from("ab"), false), frame(0, Buffer.of(0x80, 0x63))]));
  await expectFailed(bad);
  expect(bad.seen).toEqual([]);
});

it("a valid message that holds U+FFFD itself (and other non-ASCII text) is delivered as sent", async () => {
  const o = await opened();
  const sent = ["\uFFFD", "x\uFFFDy", "中文 \u{1F600} é", "\uFEFFbom"];
  o.server.write(Buffer.concat(sent.map(text)));
  await until(() => o.seen.length === sent.length, "every message");
  expect(o.seen).toEqual(sent);
  expect(o.errors).toEqual([]);
  expect(o.c.state).toBe(State.OPEN);
  o.server.hangUp();
});

it("a close frame whose reason is not UTF-8 fails the connection with 1007 instead of being echoed", async () => {
  const o = await opened();
  o.server.write(frame(8, Buffer.concat([Buffer.of(0x0f, 0xa0), Buffer.of(0x6f, 0x6b, 0xff)]))); // 4000 "ok\xff"
  await expectFailed(o);
});

it("a close frame with a UTF-8 reason is echoed with its code, and the close is clean", async () => {
  const o = await opened();
  o.server.write(frame(8, Buffer.concat([Buffer.of(0x0f, 0xa0), Buffer.from("bye é")]))); // 4000
  await until(() => parseAll(o.server.connectionBytes(0)).some((f) => f.opcode === 8), "the echo");
  o.server.hangUp();
  await until(() => o.c.state === State.CLOSED, "closed");
  const echo = parseAll(o.server.connectionBytes(0)).find((f) => f.opcode === 8)!;
  expect(echo.payload.readUInt16BE(0)).toBe(4000);
  expect(o.closes).toEqual([{ code: 4000, reason: "bye é", wasClean: true }]);
});

it("a reply to our own close frame whose reason is not UTF-8 is not reported as a clean close with that reason (1006, as ws gave)", async () => {
  const o = await opened();
  const closing = o.c.close(4001, "bye");
  await until(() => parseAll(o.server.connectionBytes(0)).some((f) => f.opcode === 8), "our close frame");
  o.server.write(frame(8, Buffer.concat([Buffer.of(0x0f, 0xa0), Buffer.of(0x6f, 0x6b, 0xff)]))); // 4000 "ok\xff"
  await closing;
  expect(o.closes).toEqual([{ code: 1006, reason: "", wasClean: false }]);
  expect(o.errors).toEqual([]); // the close was ours: no error
  const sent = parseAll(o.server.connectionBytes(0)).filter((f) => f.opcode === 8);
  expect(sent).toHaveLength(1);
  expect(sent[0]!.payload.readUInt16BE(0)).toBe(4001);
});

it("text that is not UTF-8, read while a messages() consumer has paused reading, still ends the connection without waiting for the consumer", async () => {
  const o = await opened();
  // Never read: its buffer of one is full at the first message, and reading pauses.
  const stream = o.c.messages({ bufferSize: 1 });
  o.server.write(Buffer.concat([text("a"), text("b"), text(Buffer.of(0xff)), text("after")]));
  await expectFailed(o);
  expect(o.seen).toEqual(["a", "b"]);
  // The consumer still gets what was read before the failure, then the connection's end.
  expect((await stream.next()).value).toBe("a");
});

it("a peer that holds TCP open after our 1007 close frame is cut off at the close timeout, the heartbeat stopped, and the failure is what is reported", async () => {
  const server = await rawServer({ allowHalfOpen: true });
  const clock = new FakeClock();
  const errors: EvtWebSocketError[] = [];
  const closes: { code: number; reason: string; wasClean: boolean }[] = [];
  const c = conn({
    clock,
    reconnect: false,
    pingIntervalMs: 1000,
    onError: (e) => errors.push(e),
    onClose: (e) => closes.push({ code: e.code, reason: e.reason, wasClean: e.wasClean }),
  });
  await c.dial(server.url);
  server.write(text(Buffer.of(0xff)));
  await until(() => parseAll(server.connectionBytes(0)).some((f) => f.opcode === 8), "our 1007 close frame");
  // The socket takes no more data from here: no ping goes out, no pong is awaited.
  clock.advance(2999);
  expect(errors).toEqual([]);
  expect(c.state).toBe(State.OPEN);
  clock.advance(1); // the close timeout (3 s)
  await until(() => c.state === State.CLOSED, "closed at the close timeout", 2000);
  expect(closes).toEqual([{ code: 1007, reason: "", wasClean: false }]);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatchObject({
    code: ErrorCode.DISCONNECTED,
    details: { closeCode: 1007, closedBy: "client" },
  });
  expect((errors[0]!.cause as Error).message).toMatch(/invalid UTF-8/);
  const frames = parseAll(server.connectionBytes(0));
  expect(frames.filter((f) => f.opcode === 9)).toEqual([]); // no ping after the close frame
  expect(frames.filter((f) => f.opcode === 8)).toHaveLength(1);
});
