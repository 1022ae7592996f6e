import { describe, expect, it } from "vitest";
import { type Data, type EvtWebSocketError, json, type Sendable } from "../src/index.js";
import { conn, server, sleep } from "./helpers/harness.js";
import { until } from "./helpers/server.js";

describe("messages", () => {
  it("a 5 MiB message arrives whole, in one onMessage", async () => {
    const big = "x".repeat(5 * 1024 * 1024);
    const s = await server({ onConnection: (ws) => ws.send(big) });
    const got: string[] = [];
    const c = conn({ onMessage: (m) => void got.push(m) });
    await c.dial(s.url);
    await until(() => got.length === 1, "the big message");
    await sleep(20);
    expect(got).toHaveLength(1);
    expect(got[0]?.length).toBe(big.length);
    expect(c.stats.bytesReceived).toBe(big.length);
  });

  it("text in, string out; binary in, Uint8Array out", async () => {
    const s = await server({
      onConnection: (ws) => {
        ws.send("text");
        ws.send(Buffer.from([0, 1, 255]), { binary: true });
      },
    });
    const got: Array<string | Uint8Array> = [];
    const c = conn<string | Uint8Array, string | Uint8Array>({ onMessage: (m) => void got.push(m) });
    await c.dial(s.url);
    await until(() => got.length === 2, "two");
    expect(typeof got[0]).toBe("string");
    expect(got[1]).toBeInstanceOf(Uint8Array);
    expect([...(got[1] as Uint8Array)]).toEqual([0, 1, 255]);
  });

  it("a Uint8Array is sent as a binary frame, a string as text", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn<string | Uint8Array, string | Uint8Array>();
    await c.dial(s.url);
    c.send(new Uint8Array([9, 8]));
    c.send("t");
    await until(() => s.received.length === 2, "two");
    expect(s.received).toEqual(["bin:0908", "t"]);
  });

  it("an ArrayBuffer, a DataView or a typed array is sent as a binary frame of exactly the bytes it spans, queued or open", async () => {
    // What a WHATWG WebSocket and ws take; a user of either tries it first.
    const got: Uint8Array[] = [];
    const s = await server({
      onMessage: (_ws, data, isBinary) =>
        void got.push(isBinary ? new Uint8Array(data as Buffer) : new Uint8Array()),
    });
    const c = conn<Data, Sendable>();
    const bytes = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(c.send(bytes.buffer)).toBe("queued");
    await c.dial(s.url);
    expect(c.send(new DataView(bytes.buffer, 1, 2))).toBe("sent");
    c.send(new Uint16Array(bytes.buffer, 4, 2));
    await until(() => got.length === 3, "three binary frames");
    expect(got.map((b) => [...b])).toEqual([
      [1, 2, 3, 4, 5, 6, 7, 8],
      [2, 3],
      [5, 6, 7, 8],
    ]);
    expect(c.stats.bytesSent).toBe(14);
  });

  it("send() of an unsupported type throws ERR_INVALID_OPTION and the connection stays usable", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn();
    await c.dial(s.url);
    expect(() => c.send({ a: 1 } as never)).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
    c.send("fine");
    await until(() => s.received.length === 1, "fine");
  });

  it("json(): decodes text frames; an undecodable frame goes to onError(ERR_DECODE) and the connection stays", async () => {
    const s = await server({
      onConnection: (ws) => {
        ws.send("{broken");
        ws.send('{"ok":true}');
      },
    });
    const got: unknown[] = [];
    const errors: EvtWebSocketError[] = [];
    const c = conn<unknown, unknown>({
      codec: json(),
      onMessage: (m) => void got.push(m),
      onError: (e) => void errors.push(e),
    });
    await c.dial(s.url);
    await until(() => got.length === 1, "the good one");
    expect(got).toEqual([{ ok: true }]);
    expect(errors.map((e) => e.code)).toEqual(["ERR_DECODE"]);
    expect(errors[0]?.cause).toBeInstanceOf(SyntaxError);
    expect(c.isConnected()).toBe(true);
  });

  it("a message over maxMessageBytes closes with 1009 and reconnect follows", async () => {
    const s = await server({ onConnection: (ws) => ws.send("y".repeat(2048)) });
    const closes: number[] = [];
    const errors: EvtWebSocketError[] = [];
    const c = conn({
      maxMessageBytes: 1024,
      reconnect: { minDelayMs: 1000, jitter: 0 },
      onError: (e) => void errors.push(e),
    });
    c.on("close", (i) => void closes.push(i.code));
    await c.dial(s.url);
    await until(() => closes.length === 1, "closed");
    expect(closes[0]).toBe(1009);
    expect(errors.map((e) => e.code)).toEqual(["ERR_MESSAGE_TOO_BIG"]);
    expect(c.state).toBe("reconnecting");
  });

  it("a maxMessageBytes of 2^31 or more bounds as the largest ws can (it wrapped: 2^32 + 10 refused a 20-byte message)", async () => {
    const s = await server({ onConnection: (ws) => ws.send("z".repeat(20)) });
    const got: string[] = [];
    const errors: EvtWebSocketError[] = [];
    const c = conn({ maxMessageBytes: 2 ** 32 + 10, reconnect: false, onError: (e) => void errors.push(e) });
    c.on("message", (m) => void got.push(m));
    await c.dial(s.url);
    await until(() => got.length === 1 || errors.length > 0, "the message or an error");
    expect(errors.map((e) => e.code)).toEqual([]);
    expect(got).toEqual(["z".repeat(20)]);
  });

  it("bufferedAmount rises after a large send and falls back to 0 once written; 0 while not open", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn();
    expect(c.bufferedAmount).toBe(0);
    await c.dial(s.url);
    c.send("x".repeat(4 * 1024 * 1024));
    expect(c.bufferedAmount).toBeGreaterThan(0);
    await until(() => c.bufferedAmount === 0, "the buffer drained");
    await until(() => s.received.length === 1, "the message arrived");
  });

  it("stats count messages and bytes in both directions", async () => {
    const s = await server();
    const c = conn();
    await c.dial(s.url);
    c.send("héllo");
    await until(() => c.stats.messagesReceived === 1, "echo");
    expect(c.stats).toMatchObject({ messagesSent: 1, messagesReceived: 1, bytesSent: 6, bytesReceived: 6 });
  });

  it("bytesSent is each long string's UTF-8 size, across the frame header's 16-bit and 64-bit lengths", async () => {
    // Exact for ASCII, 2-, 3- and 4-byte characters and lone surrogates, at 65,535 bytes (16-bit
    // length) and 65,536 (64-bit), and intact at the server.
    const texts = [
      "x".repeat(1025),
      "é".repeat(700),
      "€".repeat(21845), // 65,535 bytes
      `${"€".repeat(21845)}x`, // 65,536 bytes
      "😀".repeat(30000), // surrogate pairs, 120,000 bytes
      `a${"\ud800"}b`.repeat(400), // lone surrogates: sent as U+FFFD, 3 bytes each
      "y".repeat(300_000),
    ];
    const s = await server({ onMessage: () => {} });
    const c = conn();
    await c.dial(s.url);
    for (const t of texts) c.send(t);
    await until(() => s.received.length === texts.length, "every text");
    const expected = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
    expect(c.stats.bytesSent).toBe(expected);
    expect(s.received).toEqual(texts.map((t) => Buffer.from(t).toString()));
  });
});

describe("user callbacks that throw never break the client", () => {
  it.each(["onConnected", "onMessage", "onClose", "onReconnecting"])(
    "%s throwing is reported as ERR_CALLBACK_THREW",
    async (name) => {
      const s = await server();
      const errors: EvtWebSocketError[] = [];
      const c = conn({
        reconnect: { minDelayMs: 5, jitter: 0 },
        [name]: () => {
          throw new Error(`${name} bug`);
        },
        onError: (e) => void errors.push(e),
      });
      await c.dial(s.url);
      c.send("hi");
      await until(() => c.stats.messagesReceived === 1, "echo");
      s.dropAll();
      await until(() => s.connections === 2 && c.isConnected(), "reconnected");
      const thrown = errors.filter((e) => e.code === "ERR_CALLBACK_THREW");
      expect(thrown.length).toBeGreaterThanOrEqual(1);
      expect(thrown[0]?.cause).toMatchObject({ message: `${name} bug` });
    },
  );

  it("an onConnected that rejects is reported and the queue still flushes", async () => {
    const s = await server({ onMessage: () => {} });
    const errors: EvtWebSocketError[] = [];
    const c = conn({
      onConnected: async () => {
        throw new Error("async bug");
      },
      onError: (e) => void errors.push(e),
    });
    c.send("queued");
    await c.dial(s.url);
    await until(() => s.received.length === 1, "flushed");
    expect(errors[0]?.code).toBe("ERR_CALLBACK_THREW");
  });

  it("a request callback that throws is reported; other requests still settle", async () => {
    const s = await server();
    const errors: EvtWebSocketError[] = [];
    const c = conn({ matchMsg: (a, b) => a === b, onError: (e) => void errors.push(e) });
    await c.dial(s.url);
    c.send("a", () => {
      throw new Error("cb bug");
    });
    await expect(c.request("b")).resolves.toBe("b");
    await until(() => errors.length === 1, "reported");
    expect(errors[0]?.code).toBe("ERR_CALLBACK_THREW");
  });

  it("an onError that throws is reported with console.error once and swallowed", async () => {
    const s = await server();
    const logged: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args);
    try {
      const c = conn({
        onMessage: () => {
          throw new Error("first");
        },
        onError: () => {
          throw new Error("second");
        },
      });
      await c.dial(s.url);
      c.send("x");
      await until(() => logged.length === 1, "logged");
      await sleep(20);
      expect(logged).toHaveLength(1);
      expect(c.isConnected()).toBe(true);
    } finally {
      console.error = original;
    }
  });

  it("library code raises no unhandled rejection through a full life cycle with failures", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown) => void unhandled.push(r);
    process.on("unhandledRejection", onUnhandled);
    try {
      const s = await server();
      const c = conn({ reconnect: { minDelayMs: 5, jitter: 0, maxAttempts: 2 }, matchMsg: () => false });
      c.send("queued", () => {});
      await c.dial(s.url);
      c.send("cb", () => {});
      await s.stop();
      await until(() => c.state === "closed", "gave up");
      await sleep(20);
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});
