/**
 * Reliability-plan catalogue, sections E (request/response matching), F (bad inbound data) and
 * G (outbound side and API misuse): the scenarios no other test pinned (the map is
 * /work/briefs/catalogue-2-map.md). Every test talks to a real peer on 127.0.0.1: a `ws` server,
 * or a hand-written one (test/helpers/raw-server.ts) that writes crafted frames and records
 * every byte the client sends. Each test's name starts with its scenario ID.
 * Also F-3: frame headers announcing more than the limit, and fragments whose total is over it.
 */

import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { type CloseInfo, type EvtWebSocketError, json, State } from "../src/index.js";
import { createFaultProxy } from "../src/testing/index.js";
import { conn, fast, onCleanup, server, uncaughtExceptions } from "./helpers/harness.js";
import { closeCodesIn, parseAll, rawServer, switchingProtocols, tcpServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

/** A server frame (unmasked) with a payload under 126 bytes; `first` is the whole first byte. */
function rawFrame(first: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.from([first, payload.length]), payload]);
}

/** A masked text frame from the server: RFC 6455 §5.1 forbids a server to mask. */
function maskedServerFrame(): Buffer {
  const key = Buffer.from([1, 2, 3, 4]);
  const payload = Buffer.from("hi");
  for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), key, payload]);
}

describe("F-6: a server that breaks RFC 6455 framing", () => {
  const cases: Array<[string, Buffer, string]> = [
    ["a masked server frame", maskedServerFrame(), "WS_ERR_UNEXPECTED_MASK"],
    ["RSV1 set with no extension negotiated", rawFrame(0xc1, Buffer.from("hi")), "WS_ERR_UNEXPECTED_RSV_1"],
    ["RSV2 and RSV3 set", rawFrame(0xb1, Buffer.from("hi")), "WS_ERR_UNEXPECTED_RSV_2_3"],
    ["reserved data opcode 0x3", rawFrame(0x83), "WS_ERR_INVALID_OPCODE"],
    ["reserved control opcode 0xB", rawFrame(0x8b), "WS_ERR_INVALID_OPCODE"],
    [
      "a 126-byte ping (control frames hold at most 125)",
      Buffer.concat([Buffer.from([0x89, 126, 0, 126]), Buffer.alloc(126, 0x50)]),
      "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH",
    ],
    ["a fragmented ping (FIN clear)", rawFrame(0x09, Buffer.from("p")), "WS_ERR_EXPECTED_FIN"],
    [
      "a continuation frame with no message started",
      rawFrame(0x80, Buffer.from("hi")),
      "WS_ERR_INVALID_OPCODE",
    ],
    [
      "a new text frame inside a fragmented message",
      Buffer.concat([rawFrame(0x01, Buffer.from("part")), rawFrame(0x81, Buffer.from("new"))]),
      "WS_ERR_INVALID_OPCODE",
    ],
  ];

  it.each(cases)(
    "F-6: %s: we close with 1002, report ERR_DISCONNECTED with ws's code as cause, deliver nothing, and reconnect",
    async (_name, bytes, wsCode) => {
      const raw = await rawServer();
      const messages: unknown[] = [];
      const errors: EvtWebSocketError[] = [];
      const closes: CloseInfo[] = [];
      let opens = 0;
      const c = conn({
        reconnect: fast,
        onConnected: () => void opens++,
        onMessage: (m) => void messages.push(m),
        onError: (e) => void errors.push(e),
        onClose: (i) => void closes.push(i),
      });
      await c.dial(raw.url);
      raw.write(bytes);
      // The hand-written peer never answers a close frame: hang up once ours arrived.
      await until(() => closeCodesIn(raw.connectionBytes(0)).length > 0, "our close frame");
      expect(closeCodesIn(raw.connectionBytes(0))).toEqual([1002]);
      raw.hangUp();
      await until(() => opens === 2, "the reconnect");
      expect(closes).toEqual([
        { code: 1002, reason: "", wasClean: false, willReconnect: true, closedBy: "client" },
      ]);
      expect(errors.map((e) => e.code)).toEqual(["ERR_DISCONNECTED"]);
      expect(errors[0]!.details).toEqual({ closeCode: 1002, closedBy: "client" });
      expect(errors[0]!.message).toMatch(/broke the protocol \(close code 1002, closed by client\)/);
      expect((errors[0]!.cause as { code?: string }).code).toBe(wsCode);
      expect(messages).toEqual([]);
      expect(c.state).toBe("open");
      await closeAgainst(raw, c, 1);
    },
  );
});

/**
 * Closes `c`, whose socket is connection `i` of the hand-written peer (which never answers a
 * close frame): hangs up once our close frame arrived, instead of waiting out the close timeout.
 */
async function closeAgainst(
  raw: Awaited<ReturnType<typeof rawServer>>,
  c: { close(): Promise<void> },
  i: number,
): Promise<void> {
  const closing = c.close();
  await until(() => closeCodesIn(raw.connectionBytes(i)).length > 0, "our close frame");
  raw.hangUp();
  await closing;
}

/** A connection to a hand-written peer that records what it hears; reconnecting quickly. */
async function recorded(
  options: { maxMessageBytes?: number; pingIntervalMs?: number; pongTimeoutMs?: number } = {},
) {
  const raw = await rawServer();
  const messages: unknown[] = [];
  const errors: EvtWebSocketError[] = [];
  const closes: CloseInfo[] = [];
  const opens = { count: 0 };
  const c = conn({
    reconnect: fast,
    ...options,
    onConnected: () => void opens.count++,
    onMessage: (m) => void messages.push(m),
    onError: (e) => void errors.push(e),
    onClose: (i) => void closes.push(i),
  });
  await c.dial(raw.url);
  return { raw, c, messages, errors, closes, opens };
}

describe("F-3, F-4, F-5: inbound limits", () => {
  it("F-3: a frame header announcing maxMessageBytes + 1, with no body sent, is refused at once: 1009, ERR_MESSAGE_TOO_BIG", async () => {
    const { raw, c, messages, errors, closes, opens } = await recorded({ maxMessageBytes: 1024 });
    // A binary frame announcing 1025 bytes (16-bit length); not one payload byte follows.
    raw.write(Buffer.from([0x82, 126, 0x04, 0x01]));
    await until(() => closeCodesIn(raw.connectionBytes(0)).length > 0, "our close frame");
    expect(closeCodesIn(raw.connectionBytes(0))).toEqual([1009]);
    raw.hangUp();
    await until(() => opens.count === 2, "the reconnect");
    expect(closes).toEqual([
      { code: 1009, reason: "", wasClean: false, willReconnect: true, closedBy: "client" },
    ]);
    expect(errors.map((e) => e.code)).toEqual(["ERR_MESSAGE_TOO_BIG"]);
    expect(messages).toEqual([]);
    await closeAgainst(raw, c, 1);
  });

  it("F-4: a flood of empty continuation frames is cut off (1008, ws's fragment limit), nothing delivered, and the client reconnects", async () => {
    const { raw, c, messages, errors, closes, opens } = await recorded();
    // A text message started and never finished: 20,000 empty continuation frames (ws's client
    // limit is 16,384 fragments per message; without it each one is a buffered part).
    raw.write(Buffer.concat([Buffer.from([0x01, 0x00]), Buffer.alloc(2 * 20_000)]));
    await until(() => closeCodesIn(raw.connectionBytes(0)).length > 0, "our close frame");
    expect(closeCodesIn(raw.connectionBytes(0))).toEqual([1008]);
    raw.hangUp();
    await until(() => opens.count === 2, "the reconnect");
    expect(closes).toEqual([
      { code: 1008, reason: "", wasClean: false, willReconnect: true, closedBy: "client" },
    ]);
    expect(errors.map((e) => e.code)).toEqual(["ERR_DISCONNECTED"]);
    expect((errors[0]!.cause as { code?: string }).code).toBe("WS_ERR_TOO_MANY_BUFFERED_PARTS");
    expect(messages).toEqual([]);
    await closeAgainst(raw, c, 1);
  });

  it("F-5: the client offers no permessage-deflate, and a server that turns it on anyway is refused at the handshake", async () => {
    const s = await server();
    const c = conn({ reconnect: false });
    await c.dial(s.url);
    expect(s.handshakes[0]!.headers["sec-websocket-extensions"]).toBeUndefined();
    await c.close();

    // A server that answers 101 with permessage-deflate nobody asked for (it would then send
    // compressed frames: a 64 MiB bomb in 64 KiB): ws fails the handshake, no frame is read.
    const { port } = await tcpServer((socket) => {
      socket.on("error", () => {});
      socket.once("data", (head: Buffer) => {
        const ok = switchingProtocols(head.toString());
        socket.write(`${ok.slice(0, -2)}Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n`);
      });
    });
    const d = conn({ reconnect: false });
    await expect(d.dial(`ws://127.0.0.1:${port}/`)).rejects.toMatchObject({ code: "ERR_DIAL_FAILED" });
    expect(d.state).toBe("closed");
  });
});

/** The payloads of the pongs in what a client sent, in order. */
function pongsIn(bytes: Buffer): string[] {
  return parseAll(bytes)
    .filter((f) => f.opcode === 0xa)
    .map((f) => f.payload.toString("hex"));
}

/** A server ping frame carrying `payload` (at most 125 bytes). */
const ping = (payload: Buffer) => Buffer.concat([Buffer.from([0x89, payload.length]), payload]);

describe("F-7, F-8: pings and pongs from the server", () => {
  it("F-7: pings of 0 and 125 bytes get pongs that echo their payload", async () => {
    const { raw, c, errors } = await recorded();
    const big = Buffer.alloc(125);
    for (let i = 0; i < big.length; i++) big[i] = i;
    raw.write(ping(Buffer.alloc(0)));
    await until(() => pongsIn(raw.connectionBytes(0)).length === 1, "the first pong");
    raw.write(ping(big));
    await until(() => pongsIn(raw.connectionBytes(0)).length === 2, "two pongs");
    expect(pongsIn(raw.connectionBytes(0))).toEqual(["", big.toString("hex")]);
    expect(errors).toEqual([]);
    await closeAgainst(raw, c, 0);
  });

  it("F-7: unsolicited pongs reach no callback and count as the peer being alive; when they stop, the peer is found dead", async () => {
    const pingIntervalMs = 300;
    const pongTimeoutMs = 300;
    const { raw, messages, errors, closes } = await recorded({ pingIntervalMs, pongTimeoutMs });
    // The peer never answers our pings; it sends a pong of its own every 50 ms instead.
    let sent = 0;
    const beat = setInterval(() => {
      raw.write(Buffer.from([0x8a, 0x00]));
      sent++;
    }, 50);
    onCleanup(async () => clearInterval(beat));
    // Pongs for three times the detection bound (counted in pongs sent, not read off a clock).
    await until(
      () => sent >= (3 * (pingIntervalMs + pongTimeoutMs)) / 50,
      "three detection bounds of pongs",
      30_000,
    );
    expect(errors).toEqual([]);
    expect(closes).toEqual([]);
    expect(messages).toEqual([]);
    clearInterval(beat);
    await until(() => errors.length > 0, "the verdict once the pongs stop", 30_000);
    expect(errors[0]!.code).toBe("ERR_PONG_TIMEOUT");
    raw.hangUp();
  });

  it("F-7: a burst of 100 pings read in one chunk is answered with the latest ping's payload, and the connection stays up", async () => {
    const { raw, c, errors, closes } = await recorded();
    const pings: Buffer[] = [];
    for (let i = 0; i < 100; i++) pings.push(ping(Buffer.from([i >> 8, i & 0xff])));
    raw.write(Buffer.concat(pings));
    raw.write(Buffer.from([0x81, 0x04, ...Buffer.from("done")]));
    await until(() => pongsIn(raw.connectionBytes(0)).at(-1) === "0063", "a pong for the last ping");
    expect(errors).toEqual([]);
    expect(closes).toEqual([]);
    expect(c.state).toBe("open");
    await closeAgainst(raw, c, 0);
  });

  it("F-7: pings that queued up in TCP while a messages() consumer held reading paused are answered on resume, and the connection stays up", async () => {
    const { raw, c, errors, closes, opens } = await recorded();
    const it = c.messages({ bufferSize: 1 });
    const text = (s: string) => Buffer.concat([Buffer.from([0x81, s.length]), Buffer.from(s)]);
    raw.write(Buffer.concat([text("one"), text("two")]));
    await until(() => c.stats.messagesReceived === 2, "both read; then reading pauses");
    // A server that pings every few seconds, while the consumer is busy for minutes.
    for (let i = 0; i < 100; i++) {
      raw.write(ping(Buffer.from([i >> 8, i & 0xff])));
      await new Promise((r) => setImmediate(r));
    }
    raw.write(text("three"));
    expect((await it.next()).value).toBe("one");
    expect((await it.next()).value).toBe("two");
    // The consumer caught up: reading resumes, and the 100 pings are read in one chunk.
    const third = it.next();
    await until(() => closes.length > 0 || c.stats.messagesReceived === 3, "the third message, or a close");
    expect(closes).toEqual([]);
    expect((await third).value).toBe("three");
    await until(() => pongsIn(raw.connectionBytes(0)).at(-1) === "0063", "a pong for the last ping");
    expect(errors).toEqual([]);
    expect(closes).toEqual([]);
    expect(opens.count).toBe(1);
    await closeAgainst(raw, c, 0);
  });

  it("F-7: a ping and the server's close frame read in one chunk: the close is answered, and no frame follows it", async () => {
    const { raw, closes } = await recorded();
    raw.write(Buffer.concat([ping(Buffer.from("p")), Buffer.from([0x88, 0x02, 0x03, 0xe8])]));
    await until(() => closeCodesIn(raw.connectionBytes(0)).length > 0, "the answer to the close");
    raw.hangUp();
    await until(() => closes.length === 1, "closed");
    const frames = parseAll(raw.connectionBytes(0));
    expect(frames.at(-1)!.opcode).toBe(8);
    expect(frames.filter((f) => f.opcode === 8).length).toBe(1);
    expect(closes[0]).toMatchObject({ code: 1000, closedBy: "server" });
  });

  it("F-7: server pings that keep coming while our writes are backed up (a 32 MiB send the server reads late) are answered once the backlog drains; the connection stays up", async () => {
    const big = new Uint8Array(32 * 1024 * 1024).fill(7);
    let serverSide: WebSocket | undefined;
    let pongs = 0;
    let bigLength = 0;
    const s = await server({
      onConnection: (ws) => {
        serverSide = ws;
        ws.on("pong", () => void pongs++);
        (ws as unknown as { _socket: Socket })._socket.pause(); // reads nothing yet
      },
      onMessage: (_ws, data) => {
        bigLength = (data as Buffer).length;
      },
    });
    const errors: EvtWebSocketError[] = [];
    const closes: CloseInfo[] = [];
    const c = conn<string, Uint8Array>({
      onError: (e) => void errors.push(e),
      onClose: (i) => void closes.push(i),
    });
    await c.dial(s.url);
    c.send(big); // most of it waits in our socket's write buffer: the server does not read
    // 100 pings, each in its own chunk: each pong would wait behind the 32 MiB.
    for (let i = 0; i < 100 && closes.length === 0; i++) {
      serverSide!.ping();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(closes).toEqual([]);
    (serverSide as unknown as { _socket: Socket })._socket.resume();
    await until(() => bigLength > 0 && pongs > 0, "the message and a pong at the server", 20_000);
    expect(bigLength).toBe(big.length);
    expect(errors).toEqual([]);
    expect(closes).toEqual([]);
    expect(c.state).toBe(State.OPEN);
  });

  it("F-8: a ping between the fragments of a 300-byte text message is answered mid-message; the message arrives whole, once", async () => {
    const { raw, c, messages, errors } = await recorded();
    const first = "a".repeat(150);
    const last = "b".repeat(150);
    // Text frame without FIN (16-bit length), a ping "P", then the final continuation frame.
    raw.write(Buffer.concat([Buffer.from([0x01, 126, 0, 150]), Buffer.from(first), ping(Buffer.from("P"))]));
    await until(() => pongsIn(raw.connectionBytes(0)).length === 1, "the pong, before the message ends");
    expect(pongsIn(raw.connectionBytes(0))).toEqual([Buffer.from("P").toString("hex")]);
    expect(messages).toEqual([]);
    raw.write(Buffer.concat([Buffer.from([0x80, 126, 0, 150]), Buffer.from(last)]));
    await until(() => messages.length === 1, "the message");
    expect(messages).toEqual([first + last]);
    expect(errors).toEqual([]);
    await closeAgainst(raw, c, 0);
  });
});

type Msg = { id?: number; v?: unknown };

describe("E-1: a flood of requests in flight", () => {
  it("E-1: 100,000 requests in flight, answered in shuffled order (windows of 1,000): each settles once with its own response, promise and callback forms alike", async () => {
    const n = 100_000;
    // Holds each window of 1,000 requests, then answers it shuffled (a fixed-seed shuffle).
    let held: string[] = [];
    let seed = 7;
    const s = await server({
      onMessage: (ws, data) => {
        held.push(data.toString());
        if (held.length < 1000) return;
        const window = held;
        held = [];
        for (let i = window.length - 1; i > 0; i--) {
          seed = (seed * 1103515245 + 12345) % 2 ** 31;
          const j = seed % (i + 1);
          [window[i], window[j]] = [window[j]!, window[i]!];
        }
        for (const m of window) ws.send(m.replace('"id"', '"re":true,"id"'));
      },
    });
    const unmatched: unknown[] = [];
    const c = conn<Msg & { re?: boolean }, Msg>({
      codec: json(),
      messageId: (m) => m.id,
      maxPendingRequests: n,
      onMessage: (m) => void unmatched.push(m),
    });
    await c.dial(s.url);
    const settled = new Array<number>(n).fill(0);
    const wrong: number[] = [];
    const check = (i: number, r: Msg & { re?: boolean }) => {
      settled[i]!++;
      if (r.id !== i || r.v !== i * 3 || r.re !== true) wrong.push(i);
    };
    const promises: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) promises.push(c.request({ id: i, v: i * 3 }).then((r) => check(i, r)));
      else c.send({ id: i, v: i * 3 }, (r) => check(i, r));
    }
    expect(c.stats.pendingRequests).toBe(n);
    await Promise.all(promises);
    await until(() => c.stats.pendingRequests === 0, "every callback");
    expect(wrong).toEqual([]);
    expect(settled.every((k) => k === 1)).toBe(true);
    expect(unmatched).toEqual([]);
  }, 120_000);
});

describe("E-3: a drop with many requests in flight", () => {
  it("E-3: 1,000 requests in flight over a TCP RST all reject ERR_DISCONNECTED before the reconnect opens; none is left pending or sent again", async () => {
    const s = await server({ onMessage: () => {} }); // hears the requests, never answers
    const proxy = await createFaultProxy(s.url);
    onCleanup(() => proxy.close());
    const settledBeforeReopen: number[] = [];
    let settled = 0;
    let opens = 0;
    const c = conn<Msg, Msg>({
      codec: json<Msg, Msg>(),
      messageId: (m) => m.id,
      requestTimeoutMs: 600_000, // a timeout cannot be what settles them
      reconnect: fast,
      onConnected: () => {
        if (++opens === 2) settledBeforeReopen.push(settled);
      },
    });
    await c.dial(proxy.url);
    const replies = Array.from({ length: 1000 }, (_, i) =>
      c.request({ id: i }).then(
        () => "resolved",
        (e: EvtWebSocketError) => {
          settled++;
          return e.code;
        },
      ),
    );
    await until(() => s.received.length === 1000, "all 1,000 at the server");
    await proxy.reset();
    const codes = await Promise.all(replies);
    expect(new Set(codes)).toEqual(new Set(["ERR_DISCONNECTED"]));
    await until(() => opens === 2, "the reconnect");
    expect(settledBeforeReopen).toEqual([1000]);
    expect(c.stats.pendingRequests).toBe(0);
    // At most once: nothing was sent again on the new connection.
    expect(s.received.length).toBe(1000);
    await expect(c.request({ id: 1 }, { timeoutMs: 50 })).rejects.toMatchObject({
      code: "ERR_REQUEST_TIMEOUT",
    });
  });
});

describe("E-6: close() with requests pending", () => {
  it("E-6: 100 pending requests reject ERR_CLOSED at once, before the closing handshake ends; a response read during it reaches no callback", async () => {
    const raw = await rawServer(); // answers nothing by itself
    const heard: string[] = [];
    const c = conn({
      matchMsg: (req, resp) => resp === req,
      onMessage: (m) => void heard.push(`message ${m}`),
      onError: (e) => void heard.push(`error ${e.code}`),
    });
    await c.dial(raw.url);
    const codes: string[] = [];
    for (let i = 0; i < 100; i++) {
      c.request(`r${i}`, { timeoutMs: 600_000 }).then(
        () => codes.push("resolved"),
        (e: EvtWebSocketError) => codes.push(e.code),
      );
    }
    c.send("cb", (resp) => heard.push(`callback ${resp}`));
    await until(() => parseAll(raw.connectionBytes(0)).length === 101, "all 101 at the server");
    let closed = false;
    const closing = c.close().then(() => {
      closed = true;
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(codes.length).toBe(100);
    expect(new Set(codes)).toEqual(new Set(["ERR_CLOSED"]));
    // The peer answers two requests and the callback before its close frame: too late.
    const text = (s: string) => Buffer.concat([Buffer.from([0x81, s.length]), Buffer.from(s)]);
    raw.write(Buffer.concat([text("r1"), text("r2"), text("cb"), Buffer.from([0x88, 0x02, 0x03, 0xe8])]));
    await closing;
    expect(closed).toBe(true);
    raw.hangUp();
    expect(codes.length).toBe(100);
    expect(heard.filter((h) => !h.startsWith("error"))).toEqual([]);
    expect(heard).toEqual(["error ERR_CLOSED"]); // the callback request, reported once
  });
});

describe("F-9: malformed application payloads over a real connection (json codec)", () => {
  it("F-9: deep nesting, __proto__ keys, random bytes and text that is not JSON: each is delivered or ERR_DECODE, nothing escapes, the connection stays", async () => {
    const depth = 10_000;
    const payloads: Array<[string | Buffer, boolean]> = [
      [`${"[".repeat(depth)}${"]".repeat(depth)}`, false],
      ['{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"id":7}', false],
      ["{", false],
      ["", false],
      ["\u0000\uffff", false],
      [JSON.stringify("x".repeat(1 << 20)), false],
    ];
    // Random bytes as binary frames, and random (valid UTF-8) text, from a fixed seed.
    let seed = 2026;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 200; i++) {
      const bytes = Buffer.alloc(Math.floor(rand() * 64));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256);
      payloads.push([bytes, true]);
      payloads.push([String.fromCodePoint(...Array.from(bytes, (b) => 0x20 + b * 7)), false]);
    }
    const s = await server({
      onMessage: (ws) => {
        for (const [p, binary] of payloads) ws.send(p, { binary });
        ws.send(JSON.stringify({ id: 1, v: "last" }));
      },
    });
    const delivered: unknown[] = [];
    const errors: EvtWebSocketError[] = [];
    const c = conn<Msg, Msg>({
      codec: json<Msg, Msg>(),
      messageId: (m) => (m !== null && typeof m === "object" ? m.id : undefined),
      onMessage: (m) => void delivered.push(m),
      onError: (e) => void errors.push(e),
    });
    await c.dial(s.url);
    const last = c.request({ id: 1 });
    await expect(last).resolves.toEqual({ id: 1, v: "last" });
    expect(delivered.length + errors.length).toBe(payloads.length);
    expect(new Set(errors.map((e) => e.code))).toEqual(new Set(["ERR_DECODE"]));
    expect(delivered.length).toBeGreaterThan(2); // the nested array, the __proto__ object, the long string
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
    expect(c.state).toBe(State.OPEN);
    expect(s.connections).toBe(1);
  });
});

describe("G-6: close() twice writes one close frame", () => {
  it.each(["twice in a row", "again inside onClose"] as const)(
    "G-6: close() %s: one close frame on the wire, one onClose",
    async (how) => {
      const raw = await rawServer();
      let closes = 0;
      const c = conn({
        reconnect: false,
        onClose: () => {
          closes++;
          if (how === "again inside onClose") void c.close();
        },
      });
      await c.dial(raw.url);
      const first = c.close();
      const second = how === "twice in a row" ? c.close() : first;
      await until(() => closeCodesIn(raw.connectionBytes(0)).length > 0, "our close frame");
      raw.write(Buffer.from([0x88, 0x02, 0x03, 0xe8])); // the answer: 1000
      await Promise.all([first, second]);
      raw.hangUp();
      expect(closeCodesIn(raw.connectionBytes(0))).toEqual([1000]);
      expect(closes).toBe(1);
    },
  );
});

describe("F-13, G-3: big messages, both ways", () => {
  it("F-13: a 2 MiB message through a proxy that hands it over in small pieces (a bandwidth limit) arrives whole, in one onMessage", async () => {
    const big = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const s = await server({ onMessage: (ws) => ws.send(big) });
    const proxy = await createFaultProxy(s.url);
    onCleanup(() => proxy.close());
    await proxy.bandwidth(16 * 1024 * 1024, { direction: "downstream" });
    const got: Uint8Array[] = [];
    const c = conn<Uint8Array | string, string>({ onMessage: (m) => void got.push(m as Uint8Array) });
    await c.dial(proxy.url);
    c.send("go");
    await until(() => got.length > 0, "the message");
    await proxy.heal();
    expect(got.length).toBe(1);
    expect(Buffer.from(got[0]!).equals(big)).toBe(true);
    expect(c.stats.messagesReceived).toBe(1);
  });

  it("G-3: a 24 MiB binary message (a 64-bit frame length past 2^24) reaches a ws server intact: same length, same SHA-256", async () => {
    const { createHash, randomFillSync } = await import("node:crypto");
    const big = randomFillSync(new Uint8Array(24 * 1024 * 1024));
    const want = createHash("sha256").update(big).digest("hex");
    const s = await server({
      onMessage: (ws, data) =>
        ws.send(
          `${(data as Buffer).length} ${createHash("sha256")
            .update(data as Buffer)
            .digest("hex")}`,
        ),
    });
    const c = conn<string, Uint8Array | string>({ matchMsg: () => true });
    await c.dial(s.url);
    await expect(c.request(big)).resolves.toBe(`${big.length} ${want}`);
    expect(c.bufferedAmount).toBe(0);
  });
});

describe("G-5: close() during the TLS handshake", () => {
  it("G-5: a wss: server that never answers the ClientHello: close() rejects dial() ERR_CLOSED, no event, no uncaught error, the TCP socket is closed", async () => {
    const ended: boolean[] = [];
    const { port } = await tcpServer((socket) => {
      socket.on("error", () => {});
      socket.once("data", () => ended.push(false)); // the ClientHello, never answered
      socket.on("close", () => ended.push(true));
    });
    const uncaught = uncaughtExceptions();
    const events: string[] = [];
    const c = conn({
      reconnect: false,
      onConnected: () => void events.push("connected"),
      onClose: () => void events.push("close"),
      onError: (e) => void events.push(`error ${e.code}`),
    });
    const dialing = c.dial(`wss://127.0.0.1:${port}/`);
    await until(() => ended.length === 1, "the ClientHello");
    await c.close();
    await expect(dialing).rejects.toMatchObject({ code: "ERR_CLOSED" });
    await until(() => ended.includes(true), "the server sees the socket closed");
    expect(events).toEqual([]);
    expect(uncaught).toEqual([]);
    expect(c.state).toBe(State.CLOSED);
  });
});

describe("G-9: user functions that throw on the inbound path", () => {
  it("G-9: isPong and messageId throwing on a message, and shouldReconnect throwing on a drop: each reported once as ERR_CALLBACK_THREW; the connection goes on and comes back", async () => {
    // Echoes everything but "hold", which it never answers.
    const s = await server({
      onMessage: (ws, data) => void (data.toString() === "hold" || ws.send(data.toString())),
    });
    const errors: EvtWebSocketError[] = [];
    const messages: string[] = [];
    let opens = 0;
    const c = conn({
      isPong: (m) => {
        if (m === "boom-pong") throw new Error("isPong bug");
        return false;
      },
      messageId: (m) => {
        if (m === "boom-id") throw new Error("messageId bug");
        return undefined;
      },
      matchMsg: (req, resp) => resp === req,
      reconnect: {
        ...fast,
        shouldReconnect: () => {
          throw new Error("shouldReconnect bug");
        },
      },
      onConnected: () => void opens++,
      onMessage: (m) => void messages.push(m),
      onError: (e) => void errors.push(e),
    });
    await c.dial(s.url);
    // messageId is asked only while a request is pending.
    const held = c.request("hold", { timeoutMs: 600_000 }).catch((e: EvtWebSocketError) => e.code);
    c.send("boom-pong");
    c.send("boom-id");
    await until(() => errors.length === 2, "two reports");
    expect(messages).toEqual(["boom-pong", "boom-id"]);
    expect(errors.map((e) => [e.code, (e.cause as Error).message])).toEqual([
      ["ERR_CALLBACK_THREW", "isPong bug"],
      ["ERR_CALLBACK_THREW", "messageId bug"],
    ]);
    s.dropAll();
    expect(await held).toBe("ERR_DISCONNECTED");
    await until(() => opens === 2, "the reconnect (a throw counts as no answer: retry)");
    const thrown = errors
      .filter((e) => e.code === "ERR_CALLBACK_THREW")
      .map((e) => (e.cause as Error).message);
    expect(thrown).toEqual(["isPong bug", "messageId bug", "shouldReconnect bug"]);
    await expect(c.request("x", { timeoutMs: 10_000 })).resolves.toBe("x");
    expect(c.state).toBe(State.OPEN);
  });
});

/** A connection to a hand-written peer, recording what the client reports. */
async function hostile(options: { maxMessageBytes?: number } = {}) {
  const raw = await rawServer();
  const messages: unknown[] = [];
  const errors: EvtWebSocketError[] = [];
  const closes: CloseInfo[] = [];
  const c = conn({
    reconnect: false,
    ...options,
    onMessage: (m) => void messages.push(m),
    onError: (e) => void errors.push(e),
    onClose: (i) => void closes.push(i),
  });
  await c.dial(raw.url);
  return { raw, c, messages, errors, closes };
}

const tooBig: CloseInfo = {
  code: 1009,
  reason: "",
  wasClean: false,
  willReconnect: false,
  closedBy: "client",
};

describe("F-3: frame headers that announce more than the limit are refused before any payload is buffered", () => {
  it.each([
    ["2^63 (the top bit of the 64-bit length, which RFC 6455 forbids)", [0x80, 0, 0, 0, 0, 0, 0, 0]],
    ["2^53 (past what a JavaScript number holds exactly)", [0, 0x20, 0, 0, 0, 0, 0, 0]],
    [
      "16 MiB + 1 with the default maxMessageBytes (16 MiB, not ws's 100 MiB)",
      [0, 0, 0, 0, 0x01, 0, 0, 0x01],
    ],
  ])(
    "a binary frame announcing %s, with no payload sent: 1009 on the wire, ERR_MESSAGE_TOO_BIG, nothing delivered",
    async (_name, length) => {
      const { raw, c, messages, errors, closes } = await hostile();
      raw.write(Buffer.from([0x82, 127, ...length]));
      await until(() => closeCodesIn(raw.connectionBytes(0)).length > 0, "our close frame");
      expect(closeCodesIn(raw.connectionBytes(0))).toEqual([1009]);
      raw.hangUp(); // it never answers a closing handshake
      await until(() => c.state === "closed", "closed");
      expect(closes).toEqual([tooBig]);
      expect(errors.map((e) => e.code)).toEqual(["ERR_MESSAGE_TOO_BIG"]);
      expect(messages).toEqual([]);
    },
  );

  it("the default limit lets a message of exactly 16 MiB through (so the row above fails for its size only)", async () => {
    const { raw, c, messages, errors } = await hostile();
    const size = 16 * 1024 * 1024;
    raw.write(Buffer.concat([Buffer.from([0x82, 127, 0, 0, 0, 0, 0x01, 0, 0, 0]), Buffer.alloc(size, 7)]));
    await until(() => messages.length === 1, "the 16 MiB message");
    expect((messages[0] as Uint8Array).byteLength).toBe(size);
    expect(errors).toEqual([]);
    expect(c.state).toBe("open");
    raw.hangUp();
  });

  it("a text message of 22 fragments of 100 bytes with maxMessageBytes 1000: each fragment fits, the total does not: 1009, nothing delivered", async () => {
    const { raw, c, messages, errors, closes } = await hostile({ maxMessageBytes: 1000 });
    const part = Buffer.alloc(100, 0x61);
    const fragment = (first: number) => Buffer.concat([Buffer.from([first, part.length]), part]);
    const frames = [fragment(0x01), ...Array.from({ length: 20 }, () => fragment(0x00)), fragment(0x80)];
    raw.write(Buffer.concat(frames));
    await until(() => closeCodesIn(raw.connectionBytes(0)).length > 0, "our close frame");
    expect(closeCodesIn(raw.connectionBytes(0))).toEqual([1009]);
    raw.hangUp();
    await until(() => c.state === "closed", "closed");
    expect(closes).toEqual([tooBig]);
    expect(errors.map((e) => e.code)).toEqual(["ERR_MESSAGE_TOO_BIG"]);
    expect(messages).toEqual([]);
  });
});
