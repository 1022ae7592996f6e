/**
 * An adversarial review of the read path (src/transport/ws-reader.ts): a `Conn` over real TCP
 * (plain, TLS, a CONNECT proxy, a SOCKS agent) with the path and without it
 * (`fastRead.enabled = false`) must behave the same: event for event what it reports (messages,
 * errors, the close, stats, `message:received` sizes) and frame for frame what it sends back
 * (pongs: each answers the server's pings in order; see {@link same}), for inputs and re-entrant
 * handlers the path's own tests do not try. Most scenarios also check that the path, not ws,
 * read the messages (ws's receiver raised no `message`), so a ws that stops the path from being
 * installed is noticed here too (CI runs this file against the newest ws 8).
 */

import { subscribe, unsubscribe } from "node:diagnostics_channel";
import fc from "fast-check";
import { SocksProxyAgent } from "socks-proxy-agent";
import { afterEach, describe, expect, it, vi } from "vitest";
import * as ws from "ws";
import type { Conn, ConnOptions } from "../src/index.js";
import { fastRead } from "../src/transport/ws-reader.js";
import { WsSocket } from "../src/transport/ws-socket.js";
import { mintSelfSigned } from "./helpers/cert.js";
import { conn } from "./helpers/harness.js";
import { proxyChain, socks5 } from "./helpers/proxy.js";
import {
  serverFrame as frame,
  parseAll,
  rawServer,
  switchingProtocols,
  tcpServer,
} from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

afterEach(() => {
  fastRead.enabled = true;
  vi.restoreAllMocks();
});

const text = (s: string, o?: { fin?: boolean; wide?: number }) => frame(1, s, o);
const close = (code: number, reason = "") => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return frame(8, Buffer.concat([b, Buffer.from(reason)]));
};

const RECEIVED = "evtwebsocket:message:received";

/** What one run saw: events in order, then what the client wrote back. */
interface Seen {
  log: string[];
  sent: string[];
  wsMessages: number;
}

type Raw = Awaited<ReturnType<typeof rawServer>>;

interface Scenario<A = string, B = string> {
  /** The server (default: a plain rawServer). */
  server?: () => Promise<Raw>;
  /** Connection options that need the server's URL (`proxy`). */
  more?: () => Promise<ConnOptions<A, B, Conn<A, B>>>;
  options?: ConnOptions<A, B, Conn<A, B>>;
  /** Called once connected, with a log to write to; returns what the server writes, chunk by chunk. */
  chunks: Buffer[];
  /** Set up handlers (runs before dial); may return what to add to the log at the end. */
  setup?: (c: Conn<A, B>, log: string[]) => (() => Promise<string[]>) | undefined | void;
  /** After each chunk is written (and read): may add more. */
  after?: (c: Conn<A, B>, log: string[], srv: Raw) => Promise<void> | void;
  /** The run is over. */
  done: (c: Conn<A, B>, log: string[], srv: Raw) => boolean;
}

const show = (m: unknown) =>
  typeof m === "string"
    ? `text ${m.length > 40 ? `${m.slice(0, 20)}…(${m.length})` : m}`
    : m instanceof Uint8Array
      ? `binary ${Buffer.from(m).toString("hex").slice(0, 40)}(${m.byteLength})`
      : `json ${JSON.stringify(m)}`;

/** `p`, or a failure naming `what` if it has not settled within 10 s (a hang, not a timing). */
async function bounded<T>(p: Promise<T>, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung: ${what()}`)), 10_000);
  });
  try {
    return await Promise.race([p, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** The server of the run under way. */
let currentUrl = "";

async function run<A = string, B = string>(fast: boolean, s: Scenario<A, B>): Promise<Seen> {
  fastRead.enabled = fast;
  const wsEmit = vi.spyOn(
    (ws as unknown as { Receiver: { prototype: { emit: () => boolean } } }).Receiver.prototype,
    "emit",
  );
  const srv = await (s.server ?? rawServer)();
  currentUrl = srv.url;
  const log: string[] = [];
  const sizes = (m: unknown) => void log.push(`received ${(m as { bytes: number }).bytes}`);
  subscribe(RECEIVED, sizes);
  try {
    const c = conn<A, B>({
      reconnect: false,
      ...s.options,
      ...(await s.more?.()),
      onMessage: (m, cc) => {
        log.push(`message ${show(m)}`);
        s.options?.onMessage?.(m, cc);
      },
      onError: (e, cc) => {
        log.push(
          `error ${(e as { code?: string }).code} ${e.message.replace(/127\.0\.0\.1:\d+/g, "server")}`,
        );
        s.options?.onError?.(e, cc);
      },
      onClose: (e) => {
        log.push(`close ${e.code} ${e.reason} ${e.wasClean} ${e.closedBy ?? ""}`);
      },
    });
    const report = s.setup?.(c, log);
    await bounded(c.dial(srv.url), () => "dial()");
    for (const chunk of s.chunks) {
      srv.write(chunk);
      await new Promise((r) => setTimeout(r, 5));
      await s.after?.(c, log, srv);
    }
    await until(() => s.done(c, log, srv), "the scenario's end");
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    const st = c.stats;
    log.push(`stats ${st.messagesReceived} ${st.bytesReceived} state ${c.state}`);
    const sent = parseAll(srv.bytes()).map((f) => `${f.opcode} ${f.payload.toString("hex")}`);
    const snapshot = [...log];
    srv.hangUp();
    await bounded(
      c.close().catch(() => {}),
      () => `close() settles (state ${c.state}, log ${log.join(" | ")})`,
    );
    // What the scenario reports once the connection is closed (an iterator ends there).
    if (report)
      snapshot.push(
        ...(await bounded(report(), () => `the report (state ${c.state}, log ${log.join(" | ")})`)),
      );
    const wsMessages = wsEmit.mock.calls.filter((a) => (a as unknown[])[0] === "message").length;
    return { log: snapshot, sent, wsMessages };
  } finally {
    unsubscribe(RECEIVED, sizes);
    wsEmit.mockRestore();
  }
}

/** The payloads (hex) of the pings in a server's byte stream, in order. */
function pings(stream: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at + 2 <= stream.length; ) {
    let len = stream[at + 1]! & 0x7f;
    let head = 2;
    if (len === 126 && at + 4 <= stream.length) [len, head] = [stream.readUInt16BE(at + 2), 4];
    else if (len === 127 && at + 10 <= stream.length) [len, head] = [stream.readUInt32BE(at + 6), 10];
    else if (len >= 126) break;
    if ((stream[at]! & 0x0f) === 9) out.push(stream.subarray(at + head, at + head + len).toString("hex"));
    at += head + len;
  }
  return out;
}

/** True when `part` is `whole` with some items left out, in order. */
function inOrder(part: string[], whole: string[]): boolean {
  let i = 0;
  for (const p of part) {
    while (i < whole.length && whole[i] !== p) i++;
    if (i++ >= whole.length) return false;
  }
  return true;
}

/**
 * Runs `s` with the path and without it: the same events, the same frames sent back; returns the
 * run with the path. Pongs are the exception: pings read in one tick get one pong, for the latest
 * (ws-socket.ts), and none after a close frame, so which pings get their own pong depends on how
 * TCP and TLS cut the stream, with or without the path. Each run's pongs must answer the
 * server's pings in order.
 */
async function same<A = string, B = string>(s: Scenario<A, B>): Promise<Seen> {
  const fast = await run(true, s);
  const plain = await run(false, s);
  expect(fast.log).toEqual(plain.log);
  const notPong = (sent: string[]) => sent.filter((f) => !f.startsWith("10 "));
  expect(notPong(fast.sent)).toEqual(notPong(plain.sent));
  const theirs = pings(Buffer.concat(s.chunks));
  for (const { sent } of [fast, plain]) {
    const pongs = sent.filter((f) => f.startsWith("10 ")).map((f) => f.slice(3));
    if (s.after === undefined)
      expect(inOrder(pongs, theirs), `pongs ${pongs} for pings ${theirs}`).toBe(true);
  }
  return fast;
}

const messages = (log: string[]) => log.filter((l) => l.startsWith("message")).length;
const closed = (c: Conn<unknown, unknown>) => c.state === "closed";

describe("the read path against ws alone, over real TCP", () => {
  it("messages in one chunk are the path's, not ws's", async () => {
    const seen = await same({
      chunks: [Buffer.concat([text("a"), text("b"), frame(2, Buffer.from([1, 2]))])],
      done: (_c, log) => messages(log) >= 3,
    });
    expect(seen.wsMessages).toBe(0);
  });

  it("close() then dial() from a handler mid-chunk", async () => {
    const seen = await same({
      options: {
        onMessage: (m, c) => {
          if (m === "2") {
            void c.close(1000, "again").then(() => c.dial(currentUrl));
          }
        },
      },
      chunks: [
        Buffer.concat(["1", "2", "3", "4"].map((x) => text(x))),
        Buffer.concat([close(1000, "ok"), text("5")]),
      ],
      done: (_c, log) => log.some((l) => l.startsWith("close")),
    });
    expect(seen.log.slice(0, 4)).toEqual(["received 1", "message text 1", "received 1", "message text 2"]);
  });

  it("reconnect() from a handler mid-chunk", async () => {
    await same({
      options: {
        reconnect: { minDelayMs: 5, maxDelayMs: 5, jitter: 0 },
        onMessage: (m, c) => {
          if (m === "2") c.reconnect(4000, "again");
        },
      },
      // One write: the raw server writes to every connection, the next one's too.
      chunks: [Buffer.concat([...["1", "2", "3", "4"].map((x) => text(x)), close(4000, "ok"), text("5")])],
      done: (c, log) =>
        log.some((l) => l.startsWith("close")) && c.state === "open" && c.stats.reconnects === 1,
    });
  });

  it("a request sent from a handler is answered by the next frame of the same chunk", async () => {
    const seen = await same({
      options: {
        matchMsg: (req, resp) => resp === `answer:${req}`,
      },
      setup: (c, log) => {
        c.on("message", (m) => {
          if (m === "go")
            c.request("q", { timeoutMs: 5000 }).then(
              (r) => log.push(`answered ${r}`),
              (e) => log.push(`request failed ${(e as { code: string }).code}`),
            );
        });
      },
      chunks: [Buffer.concat([text("go"), text("answer:q"), text("after")])],
      done: (_c, log) => log.some((l) => l.startsWith("answered") || l.startsWith("request failed")),
    });
    expect(seen.log).toContain("answered answer:q");
  });

  it("a handler that throws, an onError that closes", async () => {
    await same({
      options: {
        onMessage: (m) => {
          if (m === "2") throw new Error("boom");
        },
        onError: (_e, c) => void c.close(4001, "on error"),
      },
      chunks: [Buffer.concat(["1", "2", "3"].map((x) => text(x))), Buffer.concat([close(4001), text("4")])],
      done: (_c, log) => log.some((l) => l.startsWith("close")),
    });
  });

  it("isPong, codec and matchMsg that throw or close", async () => {
    await same<unknown, unknown>({
      options: {
        codec: {
          encode: (m: unknown) => JSON.stringify(m),
          decode: (d: unknown) => {
            if (d === "bad") throw new Error("undecodable");
            return JSON.parse(typeof d === "string" ? d : Buffer.from(d as Uint8Array).toString());
          },
        },
        isPong: (m: unknown) => {
          if ((m as { t?: string }).t === "pongthrow") throw new Error("isPong");
          return (m as { t?: string }).t === "pong";
        },
        matchMsg: (_req: unknown, resp: unknown) => {
          if ((resp as { t?: string }).t === "closing") throw new Error("matchMsg");
          return (resp as { t?: string }).t === "resp";
        },
      },
      setup: (c) => {
        c.on("connected", () => {
          c.request({ q: 1 }, { timeoutMs: 5000 }).catch(() => {});
        });
        c.on("message", (m) => {
          if ((m as { t?: string }).t === "stop") void c.close(1000);
        });
      },
      chunks: [
        Buffer.concat([
          text('{"t":"a"}'),
          text("bad"),
          text('{"t":"pongthrow"}'),
          text('{"t":"pong"}'),
          text('{"t":"closing"}'),
          text('{"t":"resp"}'),
          text('{"t":"stop"}'),
          text('{"t":"after"}'),
          close(1000),
        ]),
      ],
      done: (c) => closed(c as Conn<unknown, unknown>),
    });
  });

  for (const who of ["codec", "isPong", "messageId", "matchMsg"] as const) {
    it(`${who} that closes the connection mid-chunk (and messageId that throws)`, async () => {
      let self: Conn<string, string> | undefined;
      const closeAt = (m: string) => {
        if (m === "close-here") self?.close(4006, who).catch(() => {});
      };
      await same({
        options: {
          codec: {
            encode: (m: string) => m,
            decode: (d: unknown) => {
              const m = typeof d === "string" ? d : "binary";
              if (who === "codec") closeAt(m);
              return m;
            },
          },
          isPong: (m: string) => {
            if (who === "isPong") closeAt(m);
            return m === "pong";
          },
          messageId: (m: string) => {
            if (who === "messageId") closeAt(m);
            if (m === "id-throws") throw new Error("messageId");
            return m.startsWith("id:") ? m.slice(3) : undefined;
          },
          matchMsg: (_req: string, resp: string) => {
            if (who === "matchMsg") closeAt(resp);
            return resp === "match";
          },
        },
        setup: (c, log) => {
          self = c;
          c.on("connected", () => {
            c.request("r1", { timeoutMs: 5000 }).then(
              (r) => log.push(`r1 ${r}`),
              (e) => log.push(`r1 failed ${(e as { code: string }).code}`),
            );
          });
        },
        chunks: [
          Buffer.concat(
            ["a", "id-throws", "pong", "close-here", "match", "id:x", "after"]
              .map((x) => text(x))
              .concat([close(4006)]),
          ),
        ],
        done: ended,
      });
    });
  }

  it("text that is not UTF-8 (1007), then more frames in the same chunk and the next", async () => {
    await same({
      chunks: [
        Buffer.concat([text("a"), frame(1, Buffer.from([0xc3, 0x28])), text("b"), frame(9, "p"), text("c")]),
        Buffer.concat([text("d"), close(1000)]),
      ],
      done: (c) => closed(c as Conn<unknown, unknown>),
    });
  });

  it("a peer's close frame in the chunk our close() was called from", async () => {
    await same({
      options: {
        onMessage: (m, c) => {
          if (m === "2") void c.close(1000, "mine");
        },
      },
      chunks: [Buffer.concat([text("1"), text("2"), text("3"), close(4002, "theirs"), text("4")])],
      done: (c) => closed(c as Conn<unknown, unknown>),
    });
  });

  it("a close frame, then data in the same chunk and the next", async () => {
    await same({
      chunks: [Buffer.concat([text("1"), close(4003, "bye"), text("2")]), text("3")],
      done: (c) => closed(c as Conn<unknown, unknown>),
    });
  });

  it("empty frames, 16-bit lengths below 126, a 64-bit length, 65535 bytes", async () => {
    await same({
      options: { maxMessageBytes: 65_535 },
      chunks: [
        Buffer.concat([
          text(""),
          frame(2, Buffer.alloc(0)),
          text("short", { wide: 16 }),
          frame(2, Buffer.from([7]), { wide: 16 }),
          text("sixty-four", { wide: 64 }),
          text("x".repeat(65_535)),
          text("y".repeat(65_536)),
        ]),
      ],
      done: (c) => closed(c as Conn<unknown, unknown>),
    });
  });

  for (const max of [1, 2, 125, 126, 127]) {
    it(`maxMessageBytes ${max}: frames at, below and above it`, async () => {
      await same({
        options: { maxMessageBytes: max },
        chunks: [
          Buffer.concat([
            ...[max - 1, max].filter((n) => n > 0).map((n) => text("z".repeat(n))),
            ...[max - 1, max].filter((n) => n > 0).map((n) => text("w".repeat(n), { wide: 16 })),
            text("v".repeat(max + 1)),
            text("after"),
          ]),
        ],
        done: (c) => closed(c as Conn<unknown, unknown>),
      });
    });
  }

  it("messages() whose buffer fills mid-chunk: reading pauses, every message arrives, in order", async () => {
    const all = Array.from({ length: 40 }, (_, i) => `m${i}`);
    await same({
      setup: (c, log) => {
        void (async () => {
          let n = 0;
          for await (const m of c.messages({ bufferSize: 2 })) {
            log.push(`iterated ${m}`);
            await new Promise((r) => setTimeout(r, 1));
            if (++n === all.length + 1) break;
          }
        })();
      },
      chunks: [
        Buffer.concat(all.slice(0, 20).map((x) => text(x))),
        Buffer.concat(all.slice(20).map((x) => text(x))),
        text("last"),
      ],
      done: (_c, log) => log.filter((l) => l.startsWith("iterated")).length === all.length + 1,
    });
  });

  it("a handler closes the connection at the message before a cut frame", async () => {
    const big = text("b".repeat(3000));
    await same({
      options: {
        onMessage: (m, c) => {
          if (m === "1") void c.close(1000);
        },
      },
      chunks: [
        Buffer.concat([text("1"), big.subarray(0, 100)]),
        Buffer.concat([big.subarray(100), text("2"), close(1000)]),
      ],
      done: (c) => closed(c as Conn<unknown, unknown>),
    });
  });

  /** Frames of every kind: sizes around each length encoding, binary, pings, fragments; a close last. */
  function mixed(): Buffer {
    const parts: Buffer[] = [];
    for (let i = 0; i < 120; i++) {
      const size = [1, 33, 125, 126, 4000, 20_000, 65_535, 70_000][i % 8]!;
      parts.push(i % 5 === 2 ? frame(2, Buffer.alloc(size, i)) : text(`${i}:`.padEnd(size, "é")));
      if (i % 17 === 4) parts.push(frame(9, `ping${i}`));
      if (i % 23 === 7) parts.push(text(`frag${i}-`, { fin: false }), frame(9, "in"), frame(0, "end"));
    }
    parts.push(close(4010, "done"));
    return Buffer.concat(parts);
  }
  const ended = (c: Conn<string, string>) => c.state === "closed";

  it("over TLS (frames cut by TLS records): the same, and most messages are the path's", async () => {
    const cert = await mintSelfSigned();
    const seen = await same({
      server: () => rawServer({ tls: cert }),
      options: { tls: { ca: cert.cert } },
      chunks: [mixed()],
      done: ended,
    });
    expect(seen.log.filter((l) => l.startsWith("message")).length).toBeGreaterThan(120);
    expect(seen.wsMessages).toBeLessThan(60);
  });

  it("through an HTTP CONNECT proxy (proxy option), ws: and wss:", async () => {
    const cert = await mintSelfSigned();
    for (const secure of [false, true]) {
      const seen = await same({
        server: () => (secure ? rawServer({ tls: cert }) : rawServer()),
        more: async () => ({
          proxy: (await proxyChain()).url,
          ...(secure ? { tls: { ca: cert.cert } } : {}),
        }),
        chunks: [mixed()],
        done: ended,
      });
      expect(seen.wsMessages).toBeLessThan(60);
    }
  });

  it("through a SOCKS5 proxy (the agent option)", async () => {
    const seen = await same({
      more: async () => ({ agent: new SocksProxyAgent((await socks5()).url) }),
      chunks: [mixed()],
      done: ended,
    });
    expect(seen.wsMessages).toBeLessThan(60);
  });

  it("the heartbeat: a pong among messages in one chunk answers the ping; pings read there are answered", async () => {
    const pinged = (srv: Raw) => parseAll(srv.bytes()).filter((f) => f.opcode === 9);
    const seen = await same({
      options: { pingIntervalMs: 300, pongTimeoutMs: 60_000 },
      setup: (c, log) => {
        c.on("pong", () => void log.push("pong event"));
      },
      chunks: [text("first")],
      after: async (_c, _log, srv) => {
        await until(() => pinged(srv).length === 1, "our ping");
        const ping = pinged(srv)[0]!.payload;
        srv.write(Buffer.concat([text("a"), frame(10, ping), frame(9, "theirs"), text("b")]));
      },
      done: (_c, log, srv) =>
        log.includes("pong event") &&
        log.includes("message text b") &&
        parseAll(srv.bytes()).some((f) => f.opcode === 10),
    });
    expect(seen.sent).toEqual([expect.stringMatching(/^9 /), `10 ${Buffer.from("theirs").toString("hex")}`]);
    expect(seen.log).toContain("pong event");
  });

  it("a message:received subscriber that closes the connection mid-chunk", async () => {
    let seenBytes = 0;
    const closer = (m: unknown) => {
      const { conn: c, bytes } = m as { conn: Conn<string, string>; bytes: number };
      if (++seenBytes === 2) c.close(4005, "subscriber").catch(() => {});
      void bytes;
    };
    subscribe(RECEIVED, closer);
    try {
      await same({
        setup: () => {
          seenBytes = 0;
        },
        chunks: [Buffer.concat([text("1"), text("2"), text("3")]), Buffer.concat([close(4005), text("4")])],
        done: ended,
      });
    } finally {
      unsubscribe(RECEIVED, closer);
    }
  });

  it("megabytes of frames while messages() holds reading paused: every message, in order, none stalls", async () => {
    const parts: Buffer[] = [];
    const want: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const body = `${i}:`.padEnd([3, 200, 20_000, 40][i % 4]!, "q");
      parts.push(text(body));
      want.push(`${i}:${body.length}`);
    }
    const stream = Buffer.concat(parts);
    const pauses = vi.spyOn(WsSocket.prototype, "pause");
    const seen = await same({
      setup: (c) => {
        const got: string[] = [];
        const consumed = (async () => {
          let n = 0;
          for await (const m of c.messages({ bufferSize: 5 })) {
            got.push(`${m.slice(0, m.indexOf(":"))}:${m.length}`);
            if (++n % 7 === 0) await new Promise((r) => setImmediate(r));
            if (n === want.length) break;
          }
        })();
        return async () => {
          await consumed;
          return [
            got.length === want.length && got.every((g, i) => g === want[i])
              ? "all in order"
              : "LOST OR REORDERED",
          ];
        };
      },
      // Large writes: reading pauses and resumes many times while frames wait in TCP.
      chunks: Array.from({ length: Math.ceil(stream.length / 1_000_000) }, (_, i) =>
        stream.subarray(i * 1_000_000, (i + 1) * 1_000_000),
      ),
      done: (c) => c.stats.messagesReceived === want.length,
    });
    expect(seen.log.at(-1)).toBe("all in order");
    expect(pauses.mock.calls.length).toBeGreaterThan(10); // reading did pause, many times
  }, 60_000);

  it("frames that came with the 101 answer (ws's head), then more", async () => {
    const head = Buffer.concat([
      text("with the 101"),
      frame(2, Buffer.from([1, 2, 3])),
      text("cut").subarray(0, 3),
    ]);
    const server = async (): Promise<Raw> => {
      const got: Buffer[] = [];
      const { port, sockets } = await tcpServer((socket) => {
        let upgraded = false;
        let buf = Buffer.alloc(0);
        socket.on("data", (chunk: Buffer) => {
          if (upgraded) return void got.push(chunk);
          buf = Buffer.concat([buf, chunk]);
          const end = buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          upgraded = true;
          socket.write(
            Buffer.concat([Buffer.from(switchingProtocols(buf.subarray(0, end).toString())), head]),
          );
        });
        socket.on("error", () => {});
      });
      return {
        url: `ws://127.0.0.1:${port}/`,
        bytes: () => Buffer.concat(got),
        connectionBytes: () => Buffer.concat(got),
        hangUp: () => {
          for (const x of sockets) x.destroy();
        },
        write: (b) => {
          for (const x of sockets) x.write(b);
        },
      };
    };
    const seen = await same({
      server,
      chunks: [Buffer.concat([text("cut").subarray(3), text("after"), close(1000)])],
      done: ended,
    });
    expect(seen.log.filter((l) => l.startsWith("message"))).toEqual([
      "message text with the 101",
      "message binary 010203(3)",
      "message text cut",
      "message text after",
    ]);
  });

  it("random frames, cut into random writes, with a handler that closes, reconnects, throws or pauses at a random message: the same with the path as without it", async () => {
    const item = fc.oneof(
      { weight: 6, arbitrary: fc.string({ maxLength: 30 }).map((x) => text(x)) },
      { weight: 2, arbitrary: fc.integer({ min: 120, max: 52_000 }).map((n) => text("t".repeat(n))) },
      { weight: 3, arbitrary: fc.uint8Array({ maxLength: 30 }).map((a) => frame(2, Buffer.from(a))) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 6 }).map((a) => frame(1, Buffer.from(a))) }, // often not UTF-8
      { weight: 2, arbitrary: fc.string({ maxLength: 10 }).map((x) => frame(9, x)) },
      { weight: 1, arbitrary: fc.string({ maxLength: 10 }).map((x) => frame(10, x)) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }))
          .map(([a, b]) => Buffer.concat([text(a, { fin: false }), frame(9, "x"), frame(0, b)])),
      },
      {
        weight: 1,
        arbitrary: fc.constantFrom(text(""), text("sixteen", { wide: 16 }), text("x".repeat(2000))),
      },
    );
    const action = fc.constantFrom(
      "none",
      "close",
      "reconnect",
      "throw",
      "pause",
      "request",
      "pause-close",
      "pause-reconnect",
    );
    let runs = 0;
    let compared = 0;
    let byPath = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(item, { minLength: 1, maxLength: 25 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 }),
        // Cuts a few bytes into a frame: within its header, which the path keeps until its size is known.
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 5 })), { maxLength: 4 }),
        action,
        fc.integer({ min: 1, max: 25 }),
        async (items, cuts, inHeader, act, at) => {
          const stream = Buffer.concat([...items, close(4020, "end")]);
          const starts = items.map((_, i) => items.slice(0, i).reduce((n, b) => n + b.length, 0));
          const points = [
            ...new Set([
              ...cuts.map((x) => Math.floor(x * stream.length)),
              ...inHeader.map(([i, k]) => starts[i % starts.length]! + k),
            ]),
          ].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let from = 0;
          // With reconnects on, one write: the raw server writes to every connection, and a later
          // write would reach the next one, maybe before its 101 (the server's mistake, not ours).
          for (const to of act.endsWith("reconnect") ? [stream.length] : [...points, stream.length]) {
            if (to > from) chunks.push(stream.subarray(from, to));
            from = Math.max(from, to);
          }
          let n = 0;
          runs++;
          const seen = await same({
            options: {
              reconnect: act.endsWith("reconnect") ? { minDelayMs: 5, maxDelayMs: 5, jitter: 0 } : false,
              maxMessageBytes: 50_000,
              matchMsg: (req, resp) => resp === req,
              onMessage: (_m, c) => {
                if (++n !== at) return;
                if (act === "close" || act === "pause-close") c.close(1000, "handler").catch(() => {});
                if (act === "reconnect" || act === "pause-reconnect") c.reconnect(4000, "handler");
                if (act === "throw") throw new Error("handler");
                if (act === "request") c.request("x", { timeoutMs: 2000 }).catch(() => {});
              },
            },
            setup: (c) => {
              n = 0;
              // What the consumer iterated, in order (when, against the close, is a race of timers).
              const iterated: string[] = [];
              const consumed = act.startsWith("pause")
                ? (async () => {
                    for await (const m of c.messages({ bufferSize: 1 })) {
                      iterated.push(`iterated ${m.length}`);
                      await new Promise((r) => setTimeout(r, 1));
                    }
                  })().then(
                    () => iterated.push("iterator done"),
                    (e) => iterated.push(`iterator failed ${(e as { code?: string }).code}`),
                  )
                : undefined;
              return async () => {
                await consumed;
                // A handler's close() or reconnect(): whether the iterator still gets the message
                // being dispatched depends on whether it was waiting for one (ws alone too), so
                // only how it ended is compared then.
                return act === "pause" ? iterated : iterated.filter((l) => l.startsWith("iterator "));
              };
            },
            chunks,
            done: (c) =>
              c.state === "closed" ||
              (act.endsWith("reconnect") && c.state === "open" && c.stats.reconnects > 0),
          });
          compared += seen.log.length;
          byPath += seen.log.filter((l) => l.startsWith("message")).length - seen.wsMessages;
        },
      ),
      {
        numRuns: Number(process.env.FUZZ_RUNS ?? 40),
        ...(process.env.FUZZ_SEED
          ? { seed: Number(process.env.FUZZ_SEED), path: process.env.FUZZ_PATH, verbose: 2 }
          : {}),
      },
    );
    // Not vacuous: every run compared events, many messages were the path's.
    expect(compared).toBeGreaterThan(runs * 3);
    expect(byPath).toBeGreaterThan(runs / 2);
  }, 120_000);
});
