/**
 * The data frames the `ws` transport builds itself (src/transport/frame.ts), checked against
 * RFC 6455 §5.2 by a parser written here: FIN set, no RSV bits, the right opcode, the MASK bit,
 * the shortest length encoding, a fresh key per frame, and a payload that unmasks to the bytes
 * sent. First `buildFrame` alone over every length and alignment case, then the bytes a `Conn`
 * puts on a real TCP connection (a hand-written handshake, so nothing between the client and
 * the parser forgives a mistake), then a real `ws` server receiving a mixed sequence in order.
 */
import { createHash } from "node:crypto";
import net from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BINARY, buildFrame, headerBytes, masking, TEXT } from "../src/transport/frame.js";
import { conn, onCleanup, server } from "./helpers/harness.js";
import { until } from "./helpers/server.js";

interface Parsed {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  key: Buffer;
  payload: Buffer;
  /** Bytes the frame took. */
  size: number;
}

/** Parses one client frame at the start of `buf`, or returns undefined when it is incomplete. */
function parseFrame(buf: Buffer): Parsed | undefined {
  if (buf.length < 2) return undefined;
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  let len = b1 & 0x7f;
  let at = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    expect(len, "16-bit length only for 126..65535").toBeGreaterThanOrEqual(126);
    at = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    expect(buf.readUInt32BE(2) & 0x80000000, "64-bit length has its top bit clear").toBe(0);
    len = buf.readUInt32BE(2) * 0x100000000 + buf.readUInt32BE(6);
    expect(len, "64-bit length only above 65535").toBeGreaterThan(0xffff);
    at = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  const key = masked ? buf.subarray(at, at + 4) : Buffer.alloc(4);
  if (masked) at += 4;
  if (buf.length < at + len) return undefined;
  const payload = Buffer.from(buf.subarray(at, at + len));
  for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
  return {
    fin: (b0 & 0x80) !== 0,
    rsv: (b0 >> 4) & 7,
    opcode: b0 & 0x0f,
    masked,
    key: Buffer.from(key),
    payload,
    size: at + len,
  };
}

const LENGTHS = [0, 1, 3, 4, 5, 63, 64, 65, 67, 125, 126, 127, 1000, 4099, 65_535, 65_536, 65_537, 200_003];

// bufferutil is a devDependency: the native mask is present unless WS_NO_BUFFER_UTIL turns it off.
const native = masking.native;
afterEach(() => {
  masking.native = native;
});

it("ws's optional native add-on is found and used, as ws finds it", () => {
  if (process.env.WS_NO_BUFFER_UTIL) expect(native).toBeUndefined();
  else expect(native).toBeTypeOf("function");
});

describe.each([
  ["the word loop", () => undefined],
  ["the native add-on", () => native],
])("buildFrame, masking with %s", (_name, pick) => {
  beforeEach(() => {
    masking.native = pick();
    if (_name === "the native add-on" && !process.env.WS_NO_BUFFER_UTIL) expect(masking.native).toBeDefined();
  });

  it.each(LENGTHS)(
    "a %i-byte text payload: final, unreserved, masked, shortest length, unmasks to its UTF-8",
    (n) => {
      // A 3-byte character first puts the ASCII rest at every alignment across the lengths.
      const text = n >= 3 ? `€${"a".repeat(n - 3)}` : "a".repeat(n);
      const bytes = Buffer.byteLength(text);
      const frame = buildFrame(TEXT, text, bytes);
      const f = parseFrame(frame)!;
      expect(f).toMatchObject({ fin: true, rsv: 0, opcode: 1, masked: true, size: frame.length });
      expect(f.payload.toString()).toBe(text);
      expect(frame.length - headerBytes(bytes)).toBe(bytes);
    },
  );

  it("binary payloads at every start offset are masked correctly and the caller's bytes are left alone", () => {
    const backing = Buffer.alloc(70_000);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 7 + 3) & 0xff;
    const copy = Buffer.from(backing);
    for (const n of LENGTHS.filter((l) => l <= 65_537)) {
      for (let offset = 0; offset < 4; offset++) {
        const view = new Uint8Array(
          backing.buffer,
          backing.byteOffset + offset,
          Math.min(n, backing.length - offset),
        );
        const f = parseFrame(buildFrame(BINARY, view, view.byteLength))!;
        expect(f.opcode).toBe(2);
        expect(f.payload.equals(Buffer.from(view)), `length ${n} at offset ${offset}`).toBe(true);
      }
    }
    expect(backing.equals(copy)).toBe(true);
  });

  it("every frame gets a fresh random key, also after the key pool refills", () => {
    // 10,000 frames use 40,000 key bytes: the 8 KiB pool refills four times.
    const keys = new Set<string>();
    for (let i = 0; i < 10_000; i++) keys.add(parseFrame(buildFrame(TEXT, "k", 1))!.key.toString("hex"));
    // Random 32-bit keys repeat among 10,000 about once in 86 runs, and three repeats about
    // once in 4 million: a key pool that is not advanced or not refilled fails by thousands.
    expect(keys.size).toBeGreaterThanOrEqual(9998);
  });
});

/** A TCP server that completes the WebSocket handshake by hand and keeps every byte after it. */
async function rawServer(): Promise<{
  url: string;
  bytes: () => Buffer;
  hangUp: () => void;
  /** Writes raw bytes (server frames are unmasked) to every connection. */
  write: (bytes: Buffer) => void;
}> {
  const chunks: Buffer[] = [];
  const sockets: net.Socket[] = [];
  const srv = net.createServer((socket) => {
    sockets.push(socket);
    let head = Buffer.alloc(0);
    let upgraded = false;
    socket.on("data", (chunk: Buffer) => {
      if (upgraded) {
        chunks.push(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      const key = /sec-websocket-key: *(\S+)/i.exec(head.subarray(0, end).toString())![1]!;
      const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      upgraded = true;
      if (head.length > end + 4) chunks.push(head.subarray(end + 4));
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  onCleanup(() => new Promise((r) => srv.close(r)));
  const { port } = srv.address() as net.AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/`,
    bytes: () => Buffer.concat(chunks),
    // It never answers a closing handshake: hang up instead of letting close() wait it out.
    hangUp: () => {
      for (const s of sockets) s.destroy();
    },
    write: (bytes) => {
      for (const s of sockets) s.write(bytes);
    },
  };
}

function parseAll(buf: Buffer): Parsed[] {
  const frames: Parsed[] = [];
  for (let rest = buf; rest.length > 0; ) {
    const f = parseFrame(rest);
    if (f === undefined) break;
    frames.push(f);
    rest = rest.subarray(f.size);
  }
  return frames;
}

describe("frames on the wire (Conn over the ws transport)", () => {
  it("texts, binaries and a ping sent in one tick arrive as RFC 6455 client frames, in order", async () => {
    const raw = await rawServer();
    const c = conn<string | Uint8Array, string | Uint8Array>({ reconnect: false, pingIntervalMs: 60_000 });
    await c.dial(raw.url);
    const big = "z".repeat(70_000);
    const bin = new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2, 1]).subarray(1);
    c.send("a".repeat(125));
    c.send("b".repeat(126));
    c.send(bin);
    c.ping();
    c.send(big);
    c.send("ü");
    const want = 6;
    await until(() => parseAll(raw.bytes()).length >= want, "six frames");
    const frames = parseAll(raw.bytes());
    expect(frames.map((f) => [f.opcode, f.fin, f.rsv, f.masked])).toEqual([
      [1, true, 0, true],
      [1, true, 0, true],
      [2, true, 0, true],
      [9, true, 0, true], // ws's own ping, between the data frames where it was asked for
      [1, true, 0, true],
      [1, true, 0, true],
    ]);
    expect(frames[0]!.payload.toString()).toBe("a".repeat(125));
    expect(frames[1]!.payload.toString()).toBe("b".repeat(126));
    expect([...frames[2]!.payload]).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    expect(frames[4]!.payload.toString()).toBe(big);
    expect(frames[5]!.payload.toString()).toBe("ü");
    expect(new Set(frames.map((f) => f.key.toString("hex"))).size).toBe(6);
    expect(c.stats.bytesSent).toBe(125 + 126 + 8 + 70_000 + 2);
    raw.hangUp();
  });

  it("a ws server receives a mixed sequence intact and in order", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn<string | Uint8Array, string | Uint8Array>();
    await c.dial(s.url);
    const sent: Array<string | Uint8Array> = [];
    for (let i = 0; i < 40; i++) {
      const n = [0, 1, 125, 126, 65_535, 65_536, 100_001][i % 7]!;
      const m =
        i % 3 === 0
          ? Buffer.alloc(n, i).subarray(i % 4 === 1 ? 0 : Math.min(1, n))
          : "€".repeat(n / 3) + "q".repeat(n % 3);
      sent.push(m);
      c.send(m);
    }
    await until(() => s.received.length === sent.length, "every message");
    expect(s.received).toEqual(
      sent.map((m) => (typeof m === "string" ? m : `bin:${Buffer.from(m).toString("hex")}`)),
    );
  });

  // A burst's small frames after its first are built into one batch buffer and handed to the
  // socket at the end of the tick; frames ws writes itself must not overtake them.
  const GO = Buffer.from([0x81, 0x02, 0x67, 0x6f]); // text "go", unmasked (server to client)

  /**
   * A client that answers "go" with three messages, sent "go" and then `control` in one write;
   * returns the first four frames it puts on the wire.
   */
  async function burstThen(control: number[], what: string): Promise<Parsed[]> {
    const raw = await rawServer();
    const c = conn({ reconnect: false });
    c.on("message", () => {
      for (let i = 0; i < 3; i++) c.send(`m${i}`);
    });
    await c.dial(raw.url);
    raw.write(Buffer.concat([GO, Buffer.from(control)]));
    await until(() => parseAll(raw.bytes()).length >= 4, what);
    const frames = parseAll(raw.bytes());
    raw.hangUp();
    return frames;
  }

  it("an automatic pong to a ping that arrives mid-burst follows the burst's data frames", async () => {
    const frames = await burstThen([0x89, 0x01, 0x50], "three messages and a pong"); // ping "P"
    expect(frames.map((f) => [f.opcode, f.payload.toString()])).toEqual([
      [1, "m0"],
      [1, "m1"],
      [1, "m2"],
      [10, "P"],
    ]);
  });

  it("a server's close that arrives mid-burst is answered after the burst's data frames, never before", async () => {
    const frames = await burstThen([0x88, 0x02, 0x03, 0xe8], "three messages and the close reply"); // close 1000
    expect(frames.map((f) => f.opcode)).toEqual([1, 1, 1, 8]);
    expect(frames.slice(0, 3).map((f) => f.payload.toString())).toEqual(["m0", "m1", "m2"]);
    expect(frames[3]!.payload.readUInt16BE(0)).toBe(1000);
  });
});
