/**
 * The reliability plan's catalogue, sections A (connecting) and B (faults on an established
 * connection): the rows no other test pinned, each named by its scenario ID, against real `ws`
 * servers, hand-written peers on 127.0.0.1 and the testing kit's fault proxy. A refused or
 * malformed handshake is retried under the normal rules here (docs/concepts.md § Reconnect and
 * backoff), where the plan proposed "fatal" for some.
 * Also A-4 as slowloris: a 101, interim answers or a proxy's answer to CONNECT trickling in.
 */

import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import net, { type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { CloseInfo, EvtWebSocketError } from "../src/index.js";
import { conn, fast, onCleanup, server, sleep } from "./helpers/harness.js";
import { heldUpgradeServer } from "./helpers/held-upgrade.js";
import { kitProxy, kitServer } from "./helpers/kit.js";
import { startNginx } from "./helpers/nginx.js";
import { parseAll, rawServer, switchingProtocols, tcpServer } from "./helpers/raw-server.js";
import { freePort, until } from "./helpers/server.js";
import { requireTools } from "./helpers/tools.js";
import { upgradeServer } from "./helpers/upgrade-server.js";

/** A server frame (unmasked), FIN set. */
function frame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head =
    n < 126
      ? Buffer.from([0x80 | opcode, n])
      : n < 65536
        ? Buffer.from([0x80 | opcode, 126, n >> 8, n & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 127]), uint32(Math.floor(n / 2 ** 32)), uint32(n)]);
  return Buffer.concat([head, payload]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/**
 * A TCP listener that reads each connection's opening handshake and hands the socket and the
 * request's header block to `onHandshake` (connection `n`, 0 first).
 */
async function handshakeServer(onHandshake: (socket: net.Socket, head: string, n: number) => void) {
  let n = 0;
  const closed: number[] = [];
  const { port, sockets } = await tcpServer((socket) => {
    const mine = n++;
    let head = "";
    socket.on("error", () => {});
    socket.on("close", () => void closed.push(mine));
    const onData = (chunk: Buffer) => {
      head += chunk.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      onHandshake(socket, head.slice(0, end), mine);
    };
    socket.on("data", onData);
  });
  return { url: `ws://127.0.0.1:${port}/`, sockets, closed, accepted: () => n };
}

/** close() against a peer that never answers a closing handshake, without waiting out the close timeout. */
async function hangUpAndClose(c: { close(): Promise<void> }, sockets: net.Socket[]): Promise<void> {
  const closing = c.close();
  for (const socket of sockets) socket.destroy();
  await closing;
}

describe("A. connecting", () => {
  it("A-1: a refused port: one ERR_DIAL_FAILED with ECONNREFUSED as cause per attempt (onError, the last as the give-up's cause), no onConnected", async () => {
    const port = await freePort();
    const errors: EvtWebSocketError[] = [];
    let connected = 0;
    const c = conn({
      reconnect: { ...fast, maxAttempts: 3 },
      onError: (e) => void errors.push(e),
      onConnected: () => void connected++,
    });
    const failure = (await c.dial(`ws://127.0.0.1:${port}`).catch((e: unknown) => e)) as EvtWebSocketError;
    expect(failure.code).toBe("ERR_RECONNECT_EXHAUSTED");
    const perAttempt = [...errors, failure.cause as EvtWebSocketError];
    expect(perAttempt.map((e) => e.code)).toEqual(Array(4).fill("ERR_DIAL_FAILED"));
    for (const e of perAttempt) expect((e.cause as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
    expect(connected).toBe(0);
  });

  it("A-2: a name that does not resolve (ENOTFOUND from an injected lookup, no DNS query): ERR_DIAL_FAILED per attempt, retried", async () => {
    const looked: string[] = [];
    class NoDnsAgent extends http.Agent {
      override createConnection(options: net.NetConnectOpts): net.Socket {
        return net.connect({
          ...options,
          lookup: (host: string, _o: unknown, cb: (err: Error) => void) => {
            looked.push(host);
            cb(
              Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), {
                code: "ENOTFOUND",
                hostname: host,
              }),
            );
          },
        } as net.NetConnectOpts);
      }
    }
    const errors: EvtWebSocketError[] = [];
    const c = conn({
      agent: new NoDnsAgent(),
      reconnect: { ...fast, maxAttempts: 2 },
      onError: (e) => void errors.push(e),
    });
    const failure = (await c.dial("ws://no-such-host.test/").catch((e: unknown) => e)) as EvtWebSocketError;
    expect(failure.code).toBe("ERR_RECONNECT_EXHAUSTED");
    expect(looked).toEqual(["no-such-host.test", "no-such-host.test", "no-such-host.test"]);
    const perAttempt = [...errors, failure.cause as EvtWebSocketError];
    expect(perAttempt.map((e) => e.code)).toEqual(Array(3).fill("ERR_DIAL_FAILED"));
    for (const e of perAttempt) expect((e.cause as NodeJS.ErrnoException).code).toBe("ENOTFOUND");
  });

  it("A-4: TCP accepted, handshake never answered: each attempt ends with ERR_CONNECT_TIMEOUT and its socket is closed", async () => {
    const silent = await handshakeServer(() => {});
    const errors: EvtWebSocketError[] = [];
    const c = conn({
      connectTimeoutMs: 200,
      reconnect: { ...fast, maxAttempts: 2 },
      onError: (e) => void errors.push(e),
    });
    const failure = (await c.dial(silent.url).catch((e: unknown) => e)) as EvtWebSocketError;
    expect(failure.code).toBe("ERR_RECONNECT_EXHAUSTED");
    const perAttempt = [...errors, failure.cause as EvtWebSocketError];
    expect(perAttempt.map((e) => e.code)).toEqual(Array(3).fill("ERR_CONNECT_TIMEOUT"));
    expect(silent.accepted()).toBe(3);
    await until(() => silent.closed.length === 3, "the server saw every attempt's socket close");
  });

  it("A-4: the same with a WHATWG WebSocket (ws's, injected): ERR_CONNECT_TIMEOUT, and the server sees the socket close", async () => {
    const silent = await handshakeServer(() => {});
    const c = conn({ WebSocket: WebSocket as never, connectTimeoutMs: 200, reconnect: false });
    const failure = (await c.dial(silent.url).catch((e: unknown) => e)) as EvtWebSocketError;
    expect(failure.code).toBe("ERR_CONNECT_TIMEOUT");
    await until(() => silent.closed.length === 1, "the server saw the socket close");
  });

  it("A-5: a handshake answered at 0.7 x connectTimeoutMs opens, and no timeout fires after it", async () => {
    const connectTimeoutMs = 2000;
    const held = await heldUpgradeServer(() => ({ holdMs: 1400 }));
    const errors: string[] = [];
    const closes: CloseInfo[] = [];
    const c = conn({
      connectTimeoutMs,
      reconnect: false,
      onError: (e) => void errors.push(e.code),
      onClose: (i) => void closes.push(i),
    });
    await c.dial(held.url);
    await sleep(connectTimeoutMs);
    expect(errors).toEqual([]);
    expect(closes).toEqual([]);
    expect(c.state).toBe("open");
    expect(held.accepted.length).toBe(1);
  });

  const goodHead = (head: string) => switchingProtocols(head).replace(/\r\n\r\n$/, "");
  it.each([
    [
      "a wrong Sec-WebSocket-Accept",
      (h: string) => goodHead(h).replace(/Accept: .*/, "Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ],
    ["no Upgrade header", (h: string) => goodHead(h).replace("Upgrade: websocket\r\n", "")],
    ["a subprotocol that was not offered", (h: string) => `${goodHead(h)}\r\nSec-WebSocket-Protocol: chat`],
    [
      "an extension that was not offered",
      (h: string) => `${goodHead(h)}\r\nSec-WebSocket-Extensions: permessage-deflate`,
    ],
  ])(
    "A-8: a 101 with %s fails the attempt with ERR_DIAL_FAILED, closes its socket, and is retried under the normal rules",
    async (_name, answer) => {
      const s = await handshakeServer((socket, head) => socket.write(`${answer(head)}\r\n\r\n`));
      const errors: EvtWebSocketError[] = [];
      let connected = 0;
      const c = conn({
        reconnect: { ...fast, maxAttempts: 1 },
        onError: (e) => void errors.push(e),
        onConnected: () => void connected++,
      });
      const failure = (await c.dial(s.url).catch((e: unknown) => e)) as EvtWebSocketError;
      expect(failure.code).toBe("ERR_RECONNECT_EXHAUSTED");
      const perAttempt = [...errors, failure.cause as EvtWebSocketError];
      expect(perAttempt.map((e) => e.code)).toEqual(["ERR_DIAL_FAILED", "ERR_DIAL_FAILED"]);
      expect(connected).toBe(0);
      expect(s.accepted()).toBe(2);
      await until(() => s.closed.length === 2, "both sockets closed");
    },
  );

  it("A-9: a 101 whose headers exceed Node's limit (one 32 KiB line) fails with ERR_DIAL_FAILED", async () => {
    const s = await handshakeServer((socket, head) =>
      socket.write(`${goodHead(head)}\r\nX-Big: ${"a".repeat(32 * 1024)}\r\n\r\n`),
    );
    const c = conn({ reconnect: false });
    const failure = (await c.dial(s.url).catch((e: unknown) => e)) as EvtWebSocketError;
    expect(failure.code).toBe("ERR_DIAL_FAILED");
    expect((failure.cause as NodeJS.ErrnoException).code).toBe("HPE_HEADER_OVERFLOW");
    await until(() => s.closed.length === 1, "the socket closed");
  });

  it("A-9: headers that never end fail the attempt at Node's header limit, well under 1 MiB read, not at the connect timeout", async () => {
    let written = 0;
    const s = await handshakeServer((socket) => {
      socket.write("HTTP/1.1 101 Switching Protocols\r\n");
      const more = () => {
        if (socket.destroyed || !socket.writable) return;
        written += 1024;
        socket.write(`X-More: ${"b".repeat(1014)}\r\n`, () => setImmediate(more));
      };
      more();
    });
    const c = conn({ reconnect: false, connectTimeoutMs: 60_000 });
    const failure = (await c.dial(s.url).catch((e: unknown) => e)) as EvtWebSocketError;
    expect(failure.code).toBe("ERR_DIAL_FAILED");
    expect((failure.cause as NodeJS.ErrnoException).code).toBe("HPE_HEADER_OVERFLOW");
    await until(() => s.closed.length === 1, "the socket closed");
    // Node's limit is 16 KiB; the client read and gave up long before a megabyte was offered.
    expect(written).toBeGreaterThan(16 * 1024);
    expect(written).toBeLessThan(1024 * 1024);
  });

  it.each([301, 302, 307, 308])(
    "A-10: a %i redirect is not followed: ERR_DIAL_FAILED with the status, the target never dialled",
    async (status) => {
      const target = await server();
      const redirecting = await upgradeServer(() => `HTTP/1.1 ${status} Moved\r\nLocation: ${target.url}/`);
      const c = conn({ reconnect: false });
      const failure = (await c.dial(redirecting.url).catch((e: unknown) => e)) as EvtWebSocketError;
      expect(failure).toMatchObject({ code: "ERR_DIAL_FAILED", details: { status } });
      await sleep(50);
      expect(target.connections).toBe(0);
      expect(redirecting.arrivals.length).toBe(1);
    },
  );
});

describe("B. faults on an established connection", () => {
  it("B-7: latency above pongTimeoutMs for a few cycles is detected as a dead connection; once it is lifted the connection recovers and stays up", async () => {
    const s = await kitServer();
    const proxy = await kitProxy(s.url);
    const errors: string[] = [];
    let pongs = 0;
    const c = conn<string, string>({
      pingIntervalMs: 100,
      pongTimeoutMs: 200,
      connectTimeoutMs: 10_000,
      reconnect: fast,
      matchMsg: (req, resp) => req === resp,
      onError: (e) => void errors.push(e.code),
    });
    c.on("pong", () => void pongs++);
    await c.dial(proxy.url);
    await until(() => pongs >= 2, "pongs before the spike");
    // A round trip of 1.2 s, six times pongTimeoutMs.
    await proxy.latency(600);
    const during = c.request("during the spike").then(
      () => "resolved",
      (e: EvtWebSocketError) => e.code,
    );
    await until(() => errors.includes("ERR_PONG_TIMEOUT"), "the spike detected");
    await proxy.latency(0);
    await until(() => c.isConnected(), "open again");
    const settled = await during;
    expect(["resolved", "ERR_DISCONNECTED"]).toContain(settled);
    // Healthy again: five pongs in a row with no new verdict.
    const before = errors.length;
    const pongsBefore = pongs;
    await until(() => pongs >= pongsBefore + 5 && c.isConnected(), "five pongs after the spike");
    expect(errors.slice(before)).toEqual([]);
    expect(await c.request("after")).toBe("after");
  });

  it("B-5: a peer that goes silent is terminated on the pong deadline, without a close frame to wait on; the request in flight rejects ERR_DISCONNECTED", async () => {
    const peer = await rawServer(); // reads everything, answers nothing (no pong)
    const errors: string[] = [];
    const closes: CloseInfo[] = [];
    const c = conn<string, string>({
      pingIntervalMs: 100,
      pongTimeoutMs: 200,
      reconnect: fast,
      matchMsg: (req, resp) => req === resp,
      onError: (e) => void errors.push(e.code),
      onClose: (i) => void closes.push(i),
    });
    await c.dial(peer.url);
    const failure = (await c.request("lost").catch((e: unknown) => e)) as EvtWebSocketError;
    const opcodes = parseAll(peer.connectionBytes(0)).map((f) => f.opcode);
    expect(opcodes).toContain(9); // pinged
    expect(opcodes).not.toContain(8); // no closing handshake started with a dead peer
    expect(failure.code).toBe("ERR_DISCONNECTED");
    expect(errors[0]).toBe("ERR_PONG_TIMEOUT");
    expect(closes[0]).toEqual({
      code: 1006,
      reason: "",
      wasClean: false,
      willReconnect: true,
      closedBy: "client",
    });
    const closing = c.close();
    peer.hangUp();
    await closing;
  });

  it("B-6: a round trip of 0.8 x pongTimeoutMs, longer than pingIntervalMs: no pong timeout and no reconnect over ten pongs", async () => {
    const s = await kitServer();
    const proxy = await kitProxy(s.url);
    const errors: string[] = [];
    const rtts: number[] = [];
    const c = conn({
      pingIntervalMs: 300,
      pongTimeoutMs: 500,
      reconnect: fast,
      onError: (e) => void errors.push(e.code),
    });
    c.on("pong", ({ rttMs }) => void rtts.push(rttMs));
    await proxy.latency(200); // 400 ms a round trip
    await c.dial(proxy.url);
    await until(() => rtts.length >= 10 || errors.length > 0, "ten pongs", 30_000);
    expect(errors).toEqual([]);
    expect(c.stats.reconnects).toBe(0);
    expect(Math.min(...rtts)).toBeGreaterThanOrEqual(400);
  }, 40_000);

  it("B-8: a 256 KiB message over a 64 KB/s line takes seconds, far longer than pingIntervalMs + pongTimeoutMs: no pong timeout, and it arrives intact", async () => {
    const payload = randomBytes(256 * 1024);
    const s = await kitServer({ onConnection: (client) => client.send(payload) });
    const proxy = await kitProxy(s.url);
    await proxy.bandwidth(64 * 1024, { direction: "downstream" });
    const errors: string[] = [];
    const got: Uint8Array[] = [];
    const c = conn<Uint8Array, string>({
      pingIntervalMs: 200,
      pongTimeoutMs: 200,
      reconnect: fast,
      onError: (e) => void errors.push(e.code),
      onMessage: (m) => void got.push(m),
    });
    const started = performance.now();
    await c.dial(proxy.url);
    await until(() => got.length === 1 || errors.length > 0, "the message", 30_000);
    expect(errors).toEqual([]);
    // The pong of every ping sent meanwhile queued behind the message: bytes kept the line alive.
    expect(performance.now() - started).toBeGreaterThan(2 * (200 + 200));
    const digest = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
    expect(digest(got[0]!)).toBe(digest(payload));
    expect(c.stats.reconnects).toBe(0);
  }, 40_000);

  it("B-9: frames that arrive one byte per TCP write are reassembled byte-exact; text split inside a code point is delivered whole", async () => {
    const text = "héllo €uro 😀 ".repeat(20);
    const binary = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff));
    const s = await handshakeServer((socket, head) => {
      socket.setNoDelay(true);
      const bytes = Buffer.concat([
        Buffer.from(switchingProtocols(head)),
        frame(1, Buffer.from(text)),
        frame(2, binary),
        frame(1, Buffer.from("ok")),
      ]);
      let i = 0;
      const next = () => {
        if (i < bytes.length && !socket.destroyed)
          socket.write(bytes.subarray(i, ++i), () => setImmediate(next));
      };
      next();
    });
    const got: Array<string | Uint8Array> = [];
    const c = conn<string | Uint8Array, string>({ reconnect: false, onMessage: (m) => void got.push(m) });
    await c.dial(s.url);
    await until(() => got.length === 3, "three messages");
    expect(got[0]).toBe(text);
    expect(Buffer.from(got[1] as Uint8Array).equals(binary)).toBe(true);
    expect(got[2]).toBe("ok");
    expect(s.accepted()).toBe(1);
    await hangUpAndClose(c, s.sockets);
  });

  it("B-11: a connection cut halfway through a 64 KiB frame delivers no part of it: 1006 closed by the network, ERR_DISCONNECTED, then a reconnect", async () => {
    const s = await handshakeServer((socket, head, n) => {
      socket.write(switchingProtocols(head));
      if (n > 0) {
        socket.write(frame(1, Buffer.from("after")));
        return;
      }
      socket.write(frame(1, Buffer.from("whole")));
      const big = frame(2, Buffer.alloc(64 * 1024, 0x61));
      socket.end(big.subarray(0, big.length / 2));
    });
    const got: unknown[] = [];
    const errors: string[] = [];
    const closes: CloseInfo[] = [];
    const c = conn({
      reconnect: fast,
      onMessage: (m) => void got.push(m),
      onError: (e) => void errors.push(e.code),
      onClose: (i) => void closes.push(i),
    });
    await c.dial(s.url);
    await until(() => got.length === 2, "the message after the reconnect");
    expect(got).toEqual(["whole", "after"]);
    expect(closes).toEqual([
      { code: 1006, reason: "", wasClean: false, willReconnect: true, closedBy: "network" },
    ]);
    expect(errors).toEqual(["ERR_DISCONNECTED"]);
    expect(c.stats.reconnects).toBe(1);
    await hangUpAndClose(c, s.sockets);
  });
});

describe("B. behind a reverse proxy that restarts", requireTools("nginx"), () => {
  it("B-14: an nginx reload and an nginx stop-and-start each cost one reconnect, and one upstream connection is left", async () => {
    const upstream = await kitServer();
    const nginx = await startNginx(upstream.port, { shutdownTimeoutS: 1 });
    onCleanup(() => nginx.close());
    let opens = 0;
    const closes: CloseInfo[] = [];
    const c = conn<string, string>({
      reconnect: { ...fast, maxDelayMs: 100 },
      matchMsg: (req, resp) => req === resp,
      onConnected: () => void opens++,
      onClose: (i) => void closes.push(i),
    });
    await c.dial(nginx.url);
    // Reload: the old worker keeps the connection until worker_shutdown_timeout (1 s), then cuts it.
    nginx.reload();
    await until(() => opens === 2, "back after the reload", 15_000);
    expect(await c.request("after the reload")).toBe("after the reload");
    // Stop (fast shutdown cuts the connection), then start again on the same port.
    await nginx.stop();
    await until(() => c.state === "reconnecting", "the stop noticed");
    await nginx.start();
    await until(() => opens === 3, "back after the restart", 15_000);
    expect(await c.request("after the restart")).toBe("after the restart");
    expect(closes.map((i) => i.willReconnect)).toEqual([true, true]);
    expect(c.stats.reconnects).toBe(2);
    await until(() => upstream.clients.size === 1, "one upstream connection");
  }, 30_000);
});

/** Writes `text` to `socket` one byte every `everyMs`, then `tail` for ever, until the socket is gone. */
function dribble(socket: Socket, text: string, tail: string, everyMs: number): { written: () => number } {
  let at = 0;
  let written = 0;
  const next = () => {
    if (socket.destroyed || !socket.writable) return;
    const piece = at < text.length ? text[at++]! : tail;
    written += piece.length;
    socket.write(piece);
    setTimeout(next, everyMs);
  };
  next();
  return { written: () => written };
}

describe("A-4 (slowloris): a handshake answer that trickles in never holds an attempt past connectTimeoutMs", () => {
  it("a 101 written a byte at a time, its headers never ending (far under Node's header limit): ERR_CONNECT_TIMEOUT, the socket closed", async () => {
    let trickle: { written: () => number } | undefined;
    const closed: Socket[] = [];
    const { port } = await tcpServer((socket) => {
      socket.on("error", () => {});
      socket.on("close", () => void closed.push(socket));
      socket.once("data", (head: Buffer) => {
        // The right 101 (its accept value matches), without the blank line that ends it.
        trickle = dribble(socket, switchingProtocols(head.toString()).slice(0, -2), "X-A: b\r\n", 10);
      });
    });
    const c = conn({ reconnect: false, connectTimeoutMs: 300 });
    const failure = (await c.dial(`ws://127.0.0.1:${port}/`).catch((e: unknown) => e)) as EvtWebSocketError;
    expect(failure.code).toBe("ERR_CONNECT_TIMEOUT");
    await until(() => closed.length === 1, "the server saw the socket close");
    // The timer ended it, not Node's 16 KiB header limit: bytes kept arriving all along.
    expect(trickle!.written()).toBeGreaterThan(0);
    expect(trickle!.written()).toBeLessThan(16 * 1024);
    expect(c.state).toBe("closed");
  });

  it("interim answers (102 Processing) sent without end, each under any header limit: ERR_CONNECT_TIMEOUT, the socket closed", async () => {
    let sent = 0;
    const closed: Socket[] = [];
    const { port } = await tcpServer((socket) => {
      socket.on("error", () => {});
      socket.on("close", () => void closed.push(socket));
      socket.once("data", () => {
        const answers = "HTTP/1.1 102 Processing\r\n\r\n".repeat(1000);
        const more = () => {
          if (socket.destroyed || !socket.writable) return;
          sent += 1000;
          socket.write(answers, () => setImmediate(more));
        };
        more();
      });
    });
    const c = conn({ reconnect: false, connectTimeoutMs: 300 });
    const failure = (await c.dial(`ws://127.0.0.1:${port}/`).catch((e: unknown) => e)) as EvtWebSocketError;
    expect(failure.code).toBe("ERR_CONNECT_TIMEOUT");
    await until(() => closed.length === 1, "the server saw the socket close");
    expect(sent).toBeGreaterThan(1000); // Node read past many of them: only the deadline ended it
  });

  it("a proxy's answer to CONNECT written a byte at a time: ERR_CONNECT_TIMEOUT, the proxy's socket closed", async () => {
    let trickle: { written: () => number } | undefined;
    const closed: Socket[] = [];
    const { port } = await tcpServer((socket) => {
      socket.on("error", () => {});
      socket.on("close", () => void closed.push(socket));
      socket.once("data", () => {
        trickle = dribble(socket, "HTTP/1.1 200 Connection established\r\nX-A: ", "b", 10);
      });
    });
    const c = conn({ reconnect: false, proxy: `http://127.0.0.1:${port}`, connectTimeoutMs: 300 });
    const failure = (await c.dial("ws://127.0.0.1:9/").catch((e: unknown) => e)) as EvtWebSocketError;
    expect(failure.code).toBe("ERR_CONNECT_TIMEOUT");
    await until(() => closed.length === 1, "the proxy saw the socket close");
    expect(trickle!.written()).toBeLessThan(16 * 1024); // under the proxy answer's own bound
  });
});
