/**
 * The read path in front of ws's receiver (src/transport/ws-reader.ts) must change nothing but
 * speed. First a differential property against ws's own `Receiver` (the real one, in process):
 * any server frame sequence (whole, cut, fragmented, control, empty, masked, RSV, oversized,
 * 64-bit, close then more), cut into chunks anywhere, with a handler that stops the path after
 * any message, gives the same events in the same order with the path as without it. Then the
 * same over real TCP with a `Conn`: a raw server writes frames cut into small writes, and the
 * client receives what ws alone gives, in order, with pings answered.
 */

import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import * as ws from "ws";
import { fastRead, installReader } from "../src/transport/ws-reader.js";
import { conn } from "./helpers/harness.js";
import { serverFrame as frame, parseAll, rawServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

afterEach(() => {
  fastRead.enabled = true;
});

const MAX = 1000;
/** A whole text frame's bytes ("x"), repeated as other frames' payloads. */
const LOOKALIKE = Buffer.from([0x81, 0x01, 0x78]);

/** ws's own receiver (exported by ws, not by its types). */
type WsReceiver = import("node:stream").Writable & { _errored: boolean; write(chunk: Buffer): boolean };
const { Receiver } = ws as unknown as {
  Receiver: new (options: { skipUTF8Validation: boolean; maxPayload: number }) => WsReceiver;
};

const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }).map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 20 }).map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)) }, // often not UTF-8
  { weight: 1, arbitrary: fc.integer({ min: 100, max: MAX + 10 }).map((n) => Buffer.alloc(n, 0x61)) },
  { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 70_000 }).map((n) => Buffer.alloc(n, 0x62)) },
);
const bytes = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)) },
  // Payloads that look like frames: a path that read inside another frame's payload would show it.
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 70_000 }).map((n) => Buffer.alloc(n, LOOKALIKE)) },
);
const control = fc.oneof(
  fc.uint8Array({ maxLength: 125 }).map((a) => Buffer.from(a)),
  fc.integer({ min: 1, max: 125 }).map((n) => Buffer.alloc(n, LOOKALIKE)),
);

/** One item of a server's byte stream. */
const item: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 24, arbitrary: text.map((p) => frame(1, p)) },
  { weight: 12, arbitrary: bytes.map((p) => frame(2, p)) },
  { weight: 3, arbitrary: text.map((p) => frame(1, p, { wide: 16 })) },
  { weight: 3, arbitrary: bytes.map((p) => frame(2, p, { wide: 64 })) },
  { weight: 6, arbitrary: control.map((p) => frame(9, p)) },
  { weight: 3, arbitrary: control.map((p) => frame(10, p)) },
  {
    weight: 6,
    arbitrary: fc
      .tuple(text, text, fc.boolean())
      .map(([a, b, ping]) =>
        Buffer.concat([
          frame(1, a, { fin: false }),
          ...(ping ? [frame(9, Buffer.from("p"))] : []),
          frame(0, b),
        ]),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      frame(1, Buffer.from("masked"), { mask: true }),
      frame(9, Buffer.from("p"), { mask: true }), // its second byte, 0x81, looks like a text frame's first
      frame(1, Buffer.from("rsv"), { rsv: 4 }),
      frame(3, Buffer.from("op3")),
      frame(0, Buffer.from("lone continuation")),
      frame(9, Buffer.from("fragmented ping"), { fin: false }),
      frame(1, Buffer.from("unfinished"), { fin: false }), // then a data frame: ws fails it
      frame(1, Buffer.alloc(0)),
      frame(2, Buffer.alloc(0)),
      frame(8, Buffer.concat([Buffer.from([0x0f, 0xa1]), Buffer.from("bye")])),
      frame(8, Buffer.from([0x03, 0xe8, 0xff])), // a close reason that is not UTF-8
      frame(8, Buffer.from([0x00, 0x01])), // an invalid close code
    ),
  },
);

/** When the connection stops reading: after that many messages, or before that chunk (-1: never). */
interface Stop {
  afterMessage: number;
  beforeChunk: number;
}
const NEVER: Stop = { afterMessage: -1, beforeChunk: -1 };

/** The events ws's real receiver gives for `chunks`, with or without the read path in front. */
async function events(
  chunks: Buffer[],
  fast: boolean,
  stop: Stop,
): Promise<{ log: string[]; taken: number; later: number }> {
  const log: string[] = [];
  const r = new Receiver({ skipUTF8Validation: true, maxPayload: MAX });
  let reading = true;
  let seen = 0;
  let taken = 0;
  let later = 0;
  const record = (data: string | Buffer, binary: boolean) => {
    log.push(binary ? `binary ${(data as Buffer).toString("hex")}` : `text ${data as string}`);
    if (++seen === stop.afterMessage) reading = false; // a handler closed the connection
  };
  r.on("message", (data: Buffer, binary: boolean) => record(binary ? data : data.toString("utf8"), binary));
  r.on("ping", (d: Buffer) => log.push(`ping ${d.toString("hex")}`));
  r.on("pong", (d: Buffer) => log.push(`pong ${d.toString("hex")}`));
  let ended = false;
  r.on("conclude", (code: number, reason: Buffer) => {
    log.push(`close ${code} ${reason.toString("hex")}`);
    ended = true;
  });
  r.on("error", (e: Error & { code?: string }) => log.push(`error ${e.code}`));
  if (fast) {
    const sink = {
      get reading() {
        return reading;
      },
      frame(chunk: Buffer, start: number, end: number, binary: boolean) {
        // The socket hands nothing on once it stopped reading (ws's path drops it there too).
        if (!reading) log.push("a message handed on after reading stopped");
        taken++;
        if (chunk !== chunks[0]) later++; // read after a cut, whose rest ws was handed first
        record(binary ? chunk.subarray(start, end) : chunk.toString("utf8", start, end), binary);
      },
    };
    expect(installReader(r, sink)).toBe(true);
  }
  for (const [i, chunk] of chunks.entries()) {
    // ws's socket listener stops handing chunks over at a close frame or an error.
    if (ended || r._errored) break;
    if (i === stop.beforeChunk) reading = false; // closed between two reads (a timer, another socket's handler)
    r.write(chunk);
  }
  await new Promise((resolve) => setImmediate(resolve)); // a receiver's error is emitted on a tick
  return { log, taken, later };
}

/**
 * `stream` cut at `cuts` (fractions of its length), or, given a number, into pieces of that many
 * bytes (at most 300 pieces).
 */
function cutAt(stream: Buffer, cuts: number[] | number): Buffer[] {
  if (typeof cuts === "number") {
    const size = Math.max(cuts, Math.ceil(stream.length / 300));
    cuts = Array.from({ length: Math.ceil(stream.length / size) }, (_, i) => (i * size) / stream.length);
  }
  const at = [...new Set(cuts.map((c) => Math.floor(c * stream.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const to of [...at, stream.length]) {
    if (to > from) chunks.push(stream.subarray(from, to));
    from = Math.max(from, to);
  }
  return chunks;
}

describe("against ws's own receiver, in process", () => {
  it("any frames, cut anywhere, stopped after any message: the same events in the same order with the read path as without it", async () => {
    let taken = 0;
    let later = 0;
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(item, { minLength: 1, maxLength: 30, size: "large" }),
        fc.oneof(
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
          fc.integer({ min: 1, max: 64 }),
        ),
        fc.oneof(
          fc.constant(NEVER),
          fc.record({ afterMessage: fc.integer({ min: 1, max: 30 }), beforeChunk: fc.constant(-1) }),
          fc.record({ afterMessage: fc.constant(-1), beforeChunk: fc.integer({ min: 1, max: 12 }) }),
        ),
        async (items, cuts, stop) => {
          const stream = Buffer.concat(items);
          const chunks = cutAt(stream, cuts);
          const plain = await events(chunks, false, stop);
          const fast = await events(chunks, true, stop);
          expect(fast.log).toEqual(plain.log);
          taken += fast.taken;
          later += fast.later;
          compared += fast.log.length;
        },
      ),
      { numRuns: 400 },
    );
    // Not vacuous: the path took many frames, many of them from a chunk after the first.
    expect(taken).toBeGreaterThan(600);
    expect(later).toBeGreaterThan(50);
    expect(compared).toBeGreaterThan(2000);
  });

  it("a frame cut by a chunk's end is ws's; the path takes the whole frames after it in the next chunk", async () => {
    const whole = [frame(1, Buffer.from("héllo")), frame(2, Buffer.from([0, 1, 2, 255]))];
    const cut = frame(1, Buffer.alloc(300, 0x62)); // a 16-bit length: its header is 4 bytes
    const after = [frame(1, Buffer.from("after")), frame(2, Buffer.from([9]))];
    const expected = ["text héllo", "binary 000102ff", `text ${"b".repeat(300)}`, "text after", "binary 09"];
    // Cut within the header (after 1 and 3 bytes) and within the payload (after 100 bytes).
    for (const cutAfter of [1, 3, 100]) {
      const chunks = [
        Buffer.concat([...whole, cut.subarray(0, cutAfter)]),
        Buffer.concat([cut.subarray(cutAfter), ...after]),
      ];
      const fast = await events(chunks, true, NEVER);
      expect(fast.log).toEqual(expected);
      expect(fast.taken).toBe(4); // all but the cut frame, which ws read
      expect(fast.log).toEqual((await events(chunks, false, NEVER)).log);
    }
    // Every byte a chunk of its own: ws reads every frame, in order.
    const bytes = Buffer.concat([...whole, cut, ...after]);
    const oneByteChunks = Array.from(bytes, (b) => Buffer.from([b]));
    expect((await events(oneByteChunks, true, NEVER)).log).toEqual(expected);
  });

  it("a frame ws holds the first byte of is ws's to finish: a masked ping cut there fails as with ws alone", async () => {
    const ping = frame(9, Buffer.from("p"), { mask: true }); // 0x89 0x81 …: the 0x81 is no frame
    const chunks = [Buffer.concat([frame(1, Buffer.from("a")), ping.subarray(0, 1)]), ping.subarray(1)];
    const fast = await events(chunks, true, NEVER);
    expect(fast.log).toEqual(["text a", "error WS_ERR_UNEXPECTED_MASK"]);
    expect(fast.log).toEqual((await events(chunks, false, NEVER)).log);
  });

  it("a frame over maxPayload goes to ws, which fails it (1009) as soon as its header is read", async () => {
    const big = frame(1, Buffer.alloc(MAX + 1, 0x61));
    const fast = await events([frame(1, Buffer.from("a")), big.subarray(0, 10)], true, NEVER);
    expect(fast.log).toEqual(["text a", "error WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"]);
  });
});

describe("a Conn over real TCP", () => {
  /** Server frames of every kind the path takes or leaves, and what a client must receive of them. */
  function script(): { stream: Buffer; expected: string[]; pings: number } {
    const parts: Buffer[] = [];
    const expected: string[] = [];
    let pings = 0;
    for (let i = 0; i < 400; i++) {
      const size = [1, 5, 33, 125, 126, 200, 4000, 65_535][i % 8]!;
      const body = `${i}:`.padEnd(size, "é".charAt(i % 3 === 0 ? 0 : 1) || "x");
      if (i % 7 === 3) {
        const b = Buffer.alloc(size, i & 0xff);
        parts.push(frame(2, b));
        expected.push(`binary ${size} ${i & 0xff}`);
      } else {
        parts.push(frame(1, Buffer.from(body)));
        expected.push(`text ${body}`);
      }
      if (i % 50 === 10) {
        parts.push(frame(9, Buffer.from(`ping${i}`)));
        pings++;
      }
      if (i % 97 === 5) {
        parts.push(frame(1, Buffer.from(`frag${i}-`), { fin: false }), frame(0, Buffer.from("end")));
        expected.push(`text frag${i}-end`);
      }
    }
    return { stream: Buffer.concat(parts), expected, pings };
  }

  async function receive(fast: boolean, chunk: number): Promise<{ got: string[]; pongs: string[] }> {
    fastRead.enabled = fast;
    const srv = await rawServer();
    const got: string[] = [];
    const c = conn<string | Uint8Array>({
      reconnect: false,
      onMessage: (m) => got.push(typeof m === "string" ? `text ${m}` : `binary ${m.byteLength} ${m[0]}`),
    });
    await c.dial(srv.url);
    const { stream, expected, pings } = script();
    // Small writes, each its own tick: the client reads the frames cut at many places.
    for (let at = 0; at < stream.length; at += chunk) {
      srv.write(stream.subarray(at, at + chunk));
      await new Promise((r) => setImmediate(r));
    }
    await until(() => got.length >= expected.length, "every message");
    await until(() => parseAll(srv.bytes()).some((f) => f.opcode === 10), "a pong");
    expect(got).toEqual(expected);
    const pongs = parseAll(srv.bytes())
      .filter((f) => f.opcode === 10)
      .map((f) => f.payload.toString());
    expect(pongs.length).toBeGreaterThanOrEqual(1);
    expect(pongs.length).toBeLessThanOrEqual(pings);
    srv.hangUp();
    return { got, pongs };
  }

  it.each([101, 4096, 70_000])(
    "frames written in pieces of %i bytes arrive whole and in order, as ws alone gives them, pings answered",
    async (chunk) => {
      const fast = await receive(true, chunk);
      const plain = await receive(false, chunk);
      expect(fast.got).toEqual(plain.got);
    },
  );

  it("a handler that closes the connection mid-chunk: what follows in that chunk is handled as ws alone handles it", async () => {
    const run = async (fast: boolean) => {
      fastRead.enabled = fast;
      const srv = await rawServer();
      const got: string[] = [];
      const c = conn({
        reconnect: false,
        onMessage: (m) => {
          got.push(m);
          if (m === "3") void c.close(1000, "enough");
        },
      });
      await c.dial(srv.url);
      srv.write(Buffer.concat(["1", "2", "3", "4", "5"].map((s) => frame(1, Buffer.from(s)))));
      await until(() => parseAll(srv.bytes()).some((f) => f.opcode === 8), "our close frame");
      srv.write(frame(8, Buffer.from([0x03, 0xe8])));
      await until(() => c.state === "closed", "closed");
      return got;
    };
    const fast = await run(true);
    const plain = await run(false);
    expect(fast.slice(0, 3)).toEqual(["1", "2", "3"]);
    expect(fast).toEqual(plain);
  });

  it("a close frame in the same chunk as the messages before it: every message, then the peer's code and reason", async () => {
    const srv = await rawServer();
    const got: string[] = [];
    let closed: { code: number; reason: string } | undefined;
    const c = conn({
      reconnect: false,
      onMessage: (m) => got.push(m),
      onClose: (e) => {
        closed = { code: e.code, reason: e.reason };
      },
    });
    await c.dial(srv.url);
    srv.write(
      Buffer.concat([
        frame(1, Buffer.from("a")),
        frame(1, Buffer.from("b")),
        frame(8, Buffer.concat([Buffer.from([0x0f, 0xa1]), Buffer.from("go away")])),
        frame(1, Buffer.from("after the close frame")),
      ]),
    );
    await until(() => closed !== undefined, "the close");
    expect(got).toEqual(["a", "b"]);
    expect(closed).toEqual({ code: 4001, reason: "go away" });
  });
});
