/**
 * Security review against hostile peers on 127.0.0.1: the attacks of the reliability plan's
 * security and hostile-peer rows that no other test pinned in this form. Slowloris handshakes
 * (a 101, and a proxy's answer to CONNECT, dribbled a byte at a time), frame headers that
 * announce more than any buffer could hold (2^63, 2^53, the default limit plus one), a message
 * whose fragments are each small but whose total is over the limit, a flood of the smallest
 * frames while a `messages()` consumer is stalled, and a peer that keeps talking after our close
 * frame. Every peer is a hand-written `net` server writing the bytes the test chose
 * (test/helpers/raw-server.ts); the map from each plan row to its tests is in the report of
 * this review.
 * Also the keys of Node's http.request that ws hands on from the tls object, refused in turn.
 */

import type { Socket } from "node:net";
import * as tls from "node:tls";
import { describe, expect, it } from "vitest";
import type { CloseInfo, EvtWebSocketError } from "../src/index.js";
import { createTestServer } from "../src/testing/index.js";
import { mintChain } from "./helpers/cert.js";
import { conn, onCleanup, server, sleep } from "./helpers/harness.js";
import { parseAll, rawServer, switchingProtocols, tcpServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";
import { upgradeServer } from "./helpers/upgrade-server.js";

/** The close codes in the close frames `bytes` (what a client sent) hold, in order. */
function closeCodesIn(bytes: Buffer): number[] {
  return parseAll(bytes)
    .filter((f) => f.opcode === 8)
    .map((f) => (f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005));
}

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

describe("F-10 / S-5: a flood of the smallest frames while a messages() consumer is stalled", () => {
  it("128 Ki empty text frames (256 KiB): delivery stops at the buffer plus what one socket read held, the rest waits in TCP, and none is lost once the consumer reads", async () => {
    const raw = await rawServer();
    const total = 128 * 1024;
    let heard = 0;
    const c = conn({ reconnect: false, onMessage: () => void heard++ });
    const stream = c.messages({ bufferSize: 16 });
    await c.dial(raw.url);
    raw.write(Buffer.alloc(total * 2).fill(Buffer.from([0x81, 0x00])));
    // Reading stopped: no more arrive over three polls.
    let last = -1;
    for (let same = 0; same < 3; same = heard === last ? same + 1 : 0) {
      last = heard;
      await sleep(30);
    }
    // A socket read is at most 64 KiB, 32,768 of these frames: a quarter of those sent.
    expect(heard).toBeLessThanOrEqual(16 + 32 * 1024);
    expect(heard).toBeGreaterThanOrEqual(16);
    // Reading resumes as the consumer catches up, and every frame arrives, in order, once.
    let read = 0;
    let other = 0;
    for await (const m of stream) {
      if (m !== "") other++;
      if (++read === total) break;
    }
    expect(other).toBe(0);
    expect(heard).toBe(total);
    raw.hangUp();
  });
});

describe("close() against a peer that keeps talking and never answers our close frame", () => {
  it("pings and messages every 5 ms after close(): none is delivered, close() completes (the close timeout ends it), the socket is closed", async () => {
    const raw = await rawServer();
    const messages: unknown[] = [];
    const c = conn({ reconnect: false, onMessage: (m) => void messages.push(m) });
    await c.dial(raw.url);
    // A ping (our pong keeps being due) and a one-byte text message, over and over.
    const chatter = setInterval(() => raw.write(Buffer.from([0x89, 0x00, 0x81, 0x01, 0x61])), 5);
    try {
      await until(() => messages.length > 0, "the chatter to arrive");
      const closing = c.close();
      const before = messages.length;
      await closing;
      expect(messages.length).toBe(before);
      expect(closeCodesIn(raw.connectionBytes(0))).toEqual([1000]);
      expect(c.state).toBe("closed");
    } finally {
      clearInterval(chatter);
    }
  });
});

describe("S-4, S-7, F-5: ws's own options smuggled in through the tls object are refused, not honoured", () => {
  // tls was spread whole into ws's options: { followRedirects: true } there (a JavaScript caller,
  // or a settings object read from a file) made the client follow a redirect to another server.
  it("tls.followRedirects: ERR_INVALID_OPTION naming it, before any socket; the redirect target never sees the client", async () => {
    const target = await server();
    const redirecting = await upgradeServer(() => `HTTP/1.1 302 Found\r\nLocation: ${target.url}/`);
    const c = conn({ reconnect: false, tls: { followRedirects: true } as never });
    const error = (await c.dial(redirecting.url).catch((e: unknown) => e)) as EvtWebSocketError;
    expect(error.code).toBe("ERR_INVALID_OPTION");
    expect(error.message).toMatch(/option tls\.followRedirects /);
    expect(redirecting.arrivals).toEqual([]);
    expect(target.connections).toBe(0);
  });

  it.each([
    ["maxRedirects", 5],
    ["generateMask", () => {}],
    ["perMessageDeflate", true],
    ["skipUTF8Validation", true],
    ["maxPayload", 0],
    ["autoPong", false],
    ["finishRequest", () => {}],
    ["headers", { Origin: "x" }],
    ["origin", "http://localhost/"],
    ["handshakeTimeout", 1],
    ["createConnection", () => {}],
    // ws 8.23's own options reached ws: with maxFragments 1, a message in two fragments failed
    // the connection with 1008.
    ["maxFragments", 1],
    ["maxBufferedChunks", 1],
    ["maxPendingAutoPongs", 1],
  ])("tls.%s: ERR_INVALID_OPTION naming it", async (key, value) => {
    const c = conn({ reconnect: false, tls: { [key]: value } as never });
    const error = (await c.dial("ws://127.0.0.1:9/").catch((e: unknown) => e)) as EvtWebSocketError;
    expect(error.code).toBe("ERR_INVALID_OPTION");
    expect(error.message).toContain(`option tls.${key} `);
  });

  it("TLS settings beyond the typed ones still reach TLS: checkServerIdentity accepts a certificate for another name", async () => {
    const pki = await mintChain("DNS:localhost"); // dialled by IP below: the name check fails by default
    onCleanup(async () => pki.remove());
    const s = await createTestServer({ tls: { cert: pki.serverCert, key: pki.serverKey } });
    onCleanup(() => s.close());
    const strict = conn({ reconnect: false, tls: { ca: pki.ca } });
    const refused = (await strict.dial(s.url).catch((e: unknown) => e)) as EvtWebSocketError;
    expect((refused.cause as NodeJS.ErrnoException).code).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
    const pinned = conn({
      reconnect: false,
      tls: { ca: pki.ca, minVersion: "TLSv1.2", checkServerIdentity: () => undefined } as never,
    });
    await pinned.dial(s.url);
    expect(s.connections).toBe(1);
  });
});

describe("tls: keys of Node's http.request, which ws hands on with its own, are refused too", () => {
  // Each changed the handshake before: auth sent a Basic Authorization header made from it,
  // setHost: false sent no Host, maxHeaderSize: 10 failed the server's 101 as a header overflow.
  it.each([
    ["auth", "user:secret"],
    ["setHost", false],
    ["maxHeaderSize", 10],
  ])("tls.%s: ERR_INVALID_OPTION naming it, before any handshake reaches the server", async (key, value) => {
    const s = await server();
    const c = conn({ reconnect: false, tls: { [key]: value } as never });
    const error = (await c.dial(s.url).catch((e: unknown) => e)) as EvtWebSocketError | undefined;
    expect(s.handshakes.map((h) => [h.headers.host, h.headers.authorization])).toEqual([]);
    expect(error?.code).toBe("ERR_INVALID_OPTION");
    expect(error?.message).toContain(`option tls.${key} `);
  });

  it.each([
    ["insecureHTTPParser", true],
    ["joinDuplicateHeaders", true],
    ["uniqueHeaders", ["x-a"]],
    ["setDefaultHeaders", false],
    ["method", "POST"],
    ["hostname", "localhost"],
    ["socketPath", "/tmp/none.sock"],
    ["protocol", "http:"],
    ["defaultPort", 1],
  ])("tls.%s: ERR_INVALID_OPTION naming it", async (key, value) => {
    const c = conn({ reconnect: false, tls: { [key]: value } as never });
    const error = (await c.dial("ws://127.0.0.1:9/").catch((e: unknown) => e)) as EvtWebSocketError;
    expect(error.code).toBe("ERR_INVALID_OPTION");
    expect(error.message).toContain(`option tls.${key} `);
  });

  it("tls.connect's own keys all still pass: a wss: dial with each of them opens", async () => {
    const pki = await mintChain("IP:127.0.0.1");
    onCleanup(async () => pki.remove());
    const s = await createTestServer({ tls: { cert: pki.serverCert, key: pki.serverKey } });
    onCleanup(() => s.close());
    const all: Record<string, unknown> = {
      ca: pki.ca,
      servername: "",
      ALPNProtocols: ["http/1.1"],
      ciphers: tls.DEFAULT_CIPHERS,
      ecdhCurve: "auto",
      minVersion: "TLSv1.2",
      maxVersion: "TLSv1.3",
      honorCipherOrder: false,
      sessionTimeout: 300,
      minDHSize: 1024,
      highWaterMark: 16384,
      checkServerIdentity: tls.checkServerIdentity,
      rejectUnauthorized: true,
      family: 4,
      hints: 0,
      localAddress: "127.0.0.1",
      noDelay: true,
      keepAlive: false,
      timeout: 0,
      host: "ignored.invalid",
      port: 9,
      path: "/ignored",
    };
    for (const [key, value] of Object.entries(all)) {
      const c = conn({ reconnect: false, tls: { ca: pki.ca, [key]: value } as never });
      await c.dial(s.url);
      await c.close();
    }
    const c = conn({
      reconnect: false,
      tls: { secureContext: tls.createSecureContext({ ca: pki.ca }) } as never,
    });
    await c.dial(s.url);
    await c.close();
    expect(s.connections).toBe(Object.keys(all).length + 1);
  });
});
