/**
 * The data frames the `ws` transport builds itself (src/transport/frame.ts), checked against
 * RFC 6455 §5.2 by a parser written here: FIN set, no RSV bits, the right opcode, the MASK bit,
 * the shortest length encoding, a fresh key per frame, and a payload that unmasks to the bytes
 * sent. First `buildFrame` alone over every length and alignment case, then the bytes a `Conn`
 * puts on a real TCP connection (a hand-written handshake, so nothing between the client and
 * the parser forgives a mistake), then a real `ws` server receiving a mixed sequence in order.
 */
import { execFileSync } from "node:child_process";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BINARY, buildFrame, headerBytes, masking, TEXT } from "../src/transport/frame.js";
import { conn, server } from "./helpers/harness.js";
import { type Parsed, parseAll, parseFrame, rawServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

const LENGTHS = [0, 1, 3, 4, 5, 63, 64, 65, 67, 125, 126, 127, 1000, 4099, 65_535, 65_536, 65_537, 200_003];

// Read before any frame is built in this file: the add-on must not have been looked for yet.
const loadedAtImport = masking.loaded;
buildFrame(TEXT, "a".repeat(1023), 1023);
const smallFrameLoads = masking.loaded;
buildFrame(TEXT, "a".repeat(1024), 1024);
// bufferutil is a devDependency: the native mask is present unless WS_NO_BUFFER_UTIL turns it off.
const native = masking.native;
afterEach(() => {
  masking.native = native;
});

it("ws's optional native add-on is loaded on the first frame of 1 KiB or more, not at import", () => {
  expect(loadedAtImport).toBe(false);
  expect(smallFrameLoads).toBe(false);
  expect(masking.loaded).toBe(true);
});

it("importing the frame module loads no native add-on and reads no window (a child process with a window trap)", () => {
  const script = `
    let windowRead = false;
    Object.defineProperty(globalThis, "window", { configurable: true, get() { windowRead = true; return undefined; } });
    const { createRequire } = await import("node:module");
    await import(${JSON.stringify(new URL("../src/transport/frame.ts", import.meta.url).href)});
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => /bufferutil|node-gyp-build/.test(k));
    console.log(JSON.stringify({ windowRead, loaded }));
  `;
  const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    env: { ...process.env, WS_NO_BUFFER_UTIL: "" },
    encoding: "utf8",
  });
  expect(JSON.parse(out.trim().split("\n").at(-1) ?? "")).toEqual({ windowRead: false, loaded: [] });
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
