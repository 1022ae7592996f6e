/**
 * The read path (src/transport/ws-reader.ts) over real TCP (plain, TLS, a CONNECT proxy, a SOCKS
 * agent) with inputs its in-process tests do not try: a `Conn` must behave the same with the path
 * and without it (`fastRead.enabled = false`), event for event and frame for frame (see
 * test/helpers/ws-reader-same.ts): text that is not UTF-8, a close frame with data after it, every
 * length encoding, maxMessageBytes at its edges, messages() holding reading paused, the
 * heartbeat, and frames that came with the 101. Most scenarios also check that the path, not ws,
 * read the messages (ws's receiver raised no `message`), so a ws that stops the path from being
 * installed is noticed here too (CI runs this file against the newest ws 8). Handlers that call
 * back mid-chunk are in transport-ws-reader-reentrancy.test.ts.
 */

import { SocksProxyAgent } from "socks-proxy-agent";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Conn } from "../src/index.js";
import { fastRead } from "../src/transport/ws-reader.js";
import { WsSocket } from "../src/transport/ws-socket.js";
import { mintSelfSigned } from "./helpers/cert.js";
import { proxyChain, socks5 } from "./helpers/proxy.js";
import {
  serverFrame as frame,
  parseAll,
  rawServer,
  switchingProtocols,
  tcpServer,
} from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";
import { close, closed, ended, messages, type Raw, same, text } from "./helpers/ws-reader-same.js";

afterEach(() => {
  fastRead.enabled = true;
  vi.restoreAllMocks();
});

describe("the read path against ws alone, over real TCP", () => {
  it("messages in one chunk are the path's, not ws's", async () => {
    const seen = await same({
      chunks: [Buffer.concat([text("a"), text("b"), frame(2, Buffer.from([1, 2]))])],
      done: (_c, log) => messages(log) >= 3,
    });
    expect(seen.wsMessages).toBe(0);
  });

  it("text that is not UTF-8 (1007), then more frames in the same chunk and the next", async () => {
    await same({
      chunks: [
        Buffer.concat([text("a"), frame(1, Buffer.from([0xc3, 0x28])), text("b"), frame(9, "p"), text("c")]),
        Buffer.concat([text("d"), close(1000)]),
      ],
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
});
