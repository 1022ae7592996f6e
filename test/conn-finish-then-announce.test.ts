/**
 * The connection finishes a transition before it tells anyone (state, timers, queue and
 * requests first, then the callbacks), writes nothing after a close frame, and says which side
 * closed and why. Each test here failed before its fix (issue 15's bugs 1, 5, 6, 7 and 8), against
 * a real `ws` server or a hand-written one on 127.0.0.1.
 * Also, from later reviews: close() against a peer that answers our close frame and holds TCP
 * open, calls in the window before TCP ends, one writer while pings flood, an abort racing its response.
 * Also sends after the peer's close frame with no reconnect to come (ws and WHATWG), reported once the socket ends.
 */

import { createHash } from "node:crypto";
import * as net from "node:net";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { CloseInfo, EvtWebSocketError } from "../src/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, fast, onCleanup, server, sleep } from "./helpers/harness.js";
import { parseAll, rawServer, silentServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

/** A server frame (unmasked) with a payload under 126 bytes. */
function frame(opcode: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]);
}

function closeFrame(code: number, reason = ""): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return frame(8, payload);
}

/** A server ping frame carrying `n`. */
function pingFrame(n: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(n, 0);
  return frame(9, payload);
}

describe("finish, then announce", () => {
  it("dial() from onError while close() fails a queued send: every promise settles, the new dial opens", async () => {
    const hanging = await silentServer();
    const s = await server();
    const errors: string[] = [];
    let redial: Promise<void> | undefined;
    const c = conn<string, string>({
      matchMsg: () => true,
      onError: (e, cc) => {
        errors.push(`${e.code} ${cc.state}`);
        redial ??= cc.dial(s.url);
      },
    });
    let first: string | undefined;
    c.dial(hanging).then(
      () => {
        first = "resolved";
      },
      (e: EvtWebSocketError) => {
        first = `rejected ${e.code}`;
      },
    );
    c.send("queued while connecting", () => {});
    const closed = c.close();
    expect(closed).toBeInstanceOf(Promise);
    await closed;
    await until(() => first !== undefined, "the first dial() settled");
    expect(first).toBe("rejected ERR_CLOSED");
    // onError saw the finished close(): the connection was closed, so dial() was allowed.
    expect(errors).toEqual(["ERR_CLOSED closed"]);
    await expect(redial).resolves.toBeUndefined();
    expect(c.state).toBe("open");
    expect(c.isConnected()).toBe(true);
    c.send("after the redial");
    await until(() => s.received.includes("after the redial"), "sent on the new connection");
  });

  it("inside onClose the connection is not connected: reconnecting (a send is queued) or closed", async () => {
    const s = await server();
    const seen: string[] = [];
    const c = conn({
      reconnect: fast,
      onClose: (info, cc) => {
        seen.push(`${cc.state} ${cc.isConnected()} willReconnect=${info.willReconnect}`);
        if (info.willReconnect) cc.send("sent from onClose");
      },
    });
    await c.dial(s.url);
    s.dropAll();
    await until(
      () => s.received.includes("sent from onClose"),
      "the send from onClose went out after the reconnect",
    );
    expect(c.stats.messagesSent).toBe(1);
    await c.close();
    expect(seen).toEqual(["reconnecting false willReconnect=true", "closed false willReconnect=false"]);
  });
});

describe("timeouts and aborts are transitions too", () => {
  it("requests due at the same moment all time out before an onError that closes runs", async () => {
    const s = await server({ onMessage: () => {} });
    const clock = new FakeClock();
    const errors: string[] = [];
    const c = conn<string, string>({
      clock,
      reconnect: false,
      matchMsg: () => true,
      requestTimeoutMs: 1000,
      onError: (e, cc) => {
        errors.push(`${e.code} ${cc.state}`);
        void cc.close();
      },
    });
    await c.dial(s.url);
    c.send("a", () => {});
    c.send("b", () => {});
    clock.advance(1000);
    expect(errors).toEqual(["ERR_REQUEST_TIMEOUT open", "ERR_REQUEST_TIMEOUT closed"]);
  });
});

describe("an abort racing a response in the same turn (both in one TCP chunk)", () => {
  /** A server text frame. */
  const text = (t: string) => frame(1, Buffer.from(t));

  it.each([
    [
      "the message before the response aborts the request: it rejects ERR_ABORTED once, its response reaches onMessage",
      false,
    ],
    ["the message after the response aborts it: the request has resolved, the abort changes nothing", true],
  ] as const)("%s", async (_, responseFirst) => {
    const raw = await rawServer();
    const errors: string[] = [];
    const messages: string[] = [];
    const controller = new AbortController();
    const c = conn<string, string>({
      reconnect: false,
      matchMsg: (req, resp) => resp === `${req}:ok`,
      onError: (e) => void errors.push(e.code),
      onMessage: (m) => {
        messages.push(m);
        if (m === "news") controller.abort();
      },
    });
    await c.dial(raw.url);
    const settled: string[] = [];
    const request = c.request("q1", { signal: controller.signal }).then(
      (r) => void settled.push(`resolved ${r}`),
      (e: EvtWebSocketError) => void settled.push(e.code),
    );
    await until(() => parseAll(raw.connectionBytes(0)).length === 1, "the request at the server");
    raw.write(Buffer.concat(responseFirst ? [text("q1:ok"), text("news")] : [text("news"), text("q1:ok")]));
    await request;
    await until(() => messages.length === (responseFirst ? 1 : 2), "the messages");
    await new Promise((r) => setImmediate(r));
    expect(settled).toEqual([responseFirst ? "resolved q1:ok" : "ERR_ABORTED"]);
    expect(messages).toEqual(responseFirst ? ["news"] : ["news", "q1:ok"]);
    expect(errors).toEqual([]);
    expect(c.stats.pendingRequests).toBe(0);
    raw.hangUp();
  });
});

describe("one writer per socket", () => {
  it("a send after the peer's close frame (TCP still open) is queued, not counted, and goes out on the next connection", async () => {
    const raw = await rawServer({ allowHalfOpen: true });
    const closes: CloseInfo[] = [];
    const c = conn<string, string>({ reconnect: fast, onClose: (i) => void closes.push(i) });
    await c.dial(raw.url);
    raw.write(closeFrame(1001, "going away"));
    // Our side answers the close frame; the server keeps its side of TCP open.
    const first = () => parseAll(raw.connectionBytes(0));
    await until(() => first().some((f) => f.opcode === 8), "our close frame answered theirs");
    c.send("late");
    expect(c.stats.messagesSent).toBe(0);
    expect(c.stats.queuedMessages).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.state).toBe("open");
    expect(first().map((f) => f.opcode)).toEqual([8]);
    expect(first()[0]!.payload.readUInt16BE(0)).toBe(1001);
    raw.hangUp();
    const second = () => parseAll(raw.connectionBytes(1));
    await until(() => second().some((f) => f.payload.toString() === "late"), "sent after the reconnect");
    expect(c.stats.messagesSent).toBe(1);
    expect(first().map((f) => f.opcode)).toEqual([8]);
    expect(closes).toEqual([
      { code: 1001, reason: "going away", wasClean: true, willReconnect: true, closedBy: "server" },
    ]);
    const closing = c.close();
    raw.hangUp(); // it never answers our close frame
    await closing;
  });

  it("the server floods pings while bursts of coalesced sends, ping() and close() go out: every byte is part of a whole frame, the data in order, nothing after our close frame", async () => {
    const raw = await rawServer({ allowHalfOpen: true });
    const c = conn<string, string>({ reconnect: false, pingIntervalMs: 5, pongTimeoutMs: 60_000 });
    await c.dial(raw.url);
    let n = 0;
    const pinger = setInterval(() => raw.write(Buffer.concat([pingFrame(n++), pingFrame(n++)])), 1);
    const sent: string[] = [];
    for (let round = 0; round < 200; round++) {
      // From 1 to 70 frames a tick (a batch is written every 64), small and up to 600 bytes.
      for (let i = 0; i < 1 + (round % 70); i++) {
        const message = `${round}:${i}:${"x".repeat((round * 7 + i) % 600)}`;
        expect(c.send(message)).toBe("sent");
        sent.push(message);
      }
      if (round % 10 === 0) c.ping();
      if (round % 3 === 0) await new Promise((r) => setImmediate(r));
      if (round % 17 === 0) await sleep(2);
    }
    const closing = c.close(1000, "bye");
    clearInterval(pinger);
    await until(() => parseAll(raw.connectionBytes(0)).some((f) => f.opcode === 8), "our close frame");
    raw.write(closeFrame(1000));
    raw.hangUp();
    await closing;
    const bytes = raw.connectionBytes(0);
    const frames = parseAll(bytes);
    expect(
      frames.reduce((sum, f) => sum + f.size, 0),
      "every byte is part of a whole frame",
    ).toBe(bytes.length);
    expect(frames.every((f) => f.fin && f.masked && f.rsv === 0)).toBe(true);
    expect(frames.filter((f) => f.opcode === 1).map((f) => f.payload.toString())).toEqual(sent);
    expect(frames.findIndex((f) => f.opcode === 8)).toBe(frames.length - 1);
    // Each pong answers a ping the server sent (the latest one when several waited).
    const pongs = frames.filter((f) => f.opcode === 0xa).map((f) => f.payload.readUInt32BE(0));
    expect(pongs.length).toBeGreaterThan(0);
    expect(pongs.every((p) => p < n)).toBe(true);
    expect(pongs).toEqual([...pongs].sort((a, b) => a - b));
    expect(c.stats.messagesSent).toBe(sent.length);
  }, 30_000);
});

describe("a peer that closes first and then holds TCP open", () => {
  it("is cut off at the close timeout; the closing handshake it started and we answered is clean: its code, no error", async () => {
    const raw = await rawServer({ allowHalfOpen: true });
    const clock = new FakeClock();
    const closes: CloseInfo[] = [];
    const errors: string[] = [];
    const c = conn<string, string>({
      clock,
      reconnect: false,
      onClose: (i) => void closes.push(i),
      onError: (e) => void errors.push(e.code),
    });
    await c.dial(raw.url);
    raw.write(closeFrame(1000, "bye"));
    await until(() => parseAll(raw.connectionBytes(0)).some((f) => f.opcode === 8), "our answer");
    expect(closes).toEqual([]);
    clock.advance(3000); // the close timeout: the server never ends TCP
    await until(() => closes.length === 1, "the close timeout's end");
    expect(closes).toEqual([
      { code: 1000, reason: "bye", wasClean: true, willReconnect: false, closedBy: "server" },
    ]);
    expect(errors).toEqual([]);
    expect(c.state).toBe("closed");
  });
});

describe("the window between the peer's close frame and TCP's end (the peer holds TCP)", () => {
  it.each([false, true])(
    "reconnect %s: send(), send with a callback, request() and ping() in it write nothing and settle; close() there ends it at the close timeout",
    async (reconnect) => {
      const raw = await rawServer({ allowHalfOpen: true });
      const clock = new FakeClock();
      const errors: string[] = [];
      const closes: CloseInfo[] = [];
      const c = conn<string, string>({
        clock,
        reconnect: reconnect ? fast : false,
        pingIntervalMs: 100,
        matchMsg: () => false,
        onError: (e) => void errors.push(e.code),
        onClose: (i) => void closes.push(i),
      });
      await c.dial(raw.url);
      raw.write(closeFrame(1001, "going away"));
      const ours = () => parseAll(raw.connectionBytes(0));
      await until(() => ours().some((f) => f.opcode === 8), "our answer to its close frame");
      const request = c.request("q").then(
        () => "resolved",
        (e: EvtWebSocketError) => e.code,
      );
      expect(c.send("x")).toBe("queued");
      let called = false;
      expect(
        c.send("y", () => {
          called = true;
        }),
      ).toBe("queued");
      c.ping(); // the heartbeat stopped with the closing: nothing goes out
      clock.advance(1000); // pings would be due: the heartbeat is stopped
      expect(c.stats).toMatchObject({ messagesSent: 0, queuedMessages: 3, pendingRequests: 2 });
      expect(c.state).toBe("open");
      const closing = c.close();
      clock.advance(3000); // the close timeout: the peer never ends TCP
      await closing;
      expect(await request).toBe("ERR_CLOSED");
      expect(called).toBe(false);
      // The send callback's failure and the unsent message, each once.
      expect(errors).toEqual(["ERR_CLOSED", "ERR_CLOSED"]);
      expect(closes).toEqual([
        { code: 1001, reason: "going away", wasClean: true, willReconnect: false, closedBy: "server" },
      ]);
      expect(ours().map((f) => f.opcode)).toEqual([8]);
      expect(clock.pending).toBe(0);
    },
  );
});

/**
 * A WebSocket peer on raw TCP that answers our close frame with 4000 "ok" and keeps its side of
 * TCP open; `ended()` is true once the client has ended its side (it read the answer).
 */
async function answeringHolder(): Promise<{ url: string; ended: () => boolean }> {
  let ended = false;
  const sockets: net.Socket[] = [];
  const srv = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    let head = Buffer.alloc(0);
    let upgraded = false;
    socket.on("error", () => {});
    socket.on("end", () => {
      ended = true;
    });
    socket.on("data", (chunk: Buffer) => {
      if (upgraded) {
        // Our close frame (opcode 8; a masked client frame): answer it, keep TCP open.
        if ((chunk[0]! & 0x0f) === 8) socket.write(Buffer.of(0x88, 4, 0x0f, 0xa0, 0x6f, 0x6b));
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
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  onCleanup(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => srv.close(r));
  });
  return { url: `ws://127.0.0.1:${(srv.address() as net.AddressInfo).port}/`, ended: () => ended };
}

describe("close() against a peer that answers and then holds TCP open", () => {
  it("is cut off at the close timeout, and reports the closing handshake it completed: its code, clean", async () => {
    const peer = await answeringHolder();
    const clock = new FakeClock();
    const closes: unknown[] = [];
    const c = conn({ clock, reconnect: false, onClose: (i) => void closes.push(i) });
    await c.dial(peer.url);
    const closed = c.close(4000, "bye");
    await until(peer.ended, "the client to read the answer and end its side");
    expect(closes).toEqual([]);
    clock.advance(3000); // the close timeout
    await closed;
    expect(closes).toEqual([
      { code: 4000, reason: "ok", wasClean: true, willReconnect: false, closedBy: "client" },
    ]);
    expect(clock.pending).toBe(0);
  });
});

/** A connection without reconnect that records its errors and close events. */
function recordingConn() {
  const errors: EvtWebSocketError[] = [];
  const closes: CloseInfo[] = [];
  const c = conn({
    reconnect: false,
    onError: (e) => void errors.push(e),
    onClose: (i) => void closes.push(i),
  });
  return { c, errors, closes };
}

describe("close codes say who closed and why", () => {
  it("the code ws sends when it fails the connection is the code reported (1009 for a 2^53+ length, not 1002)", async () => {
    const raw = await rawServer();
    const { c, errors, closes } = recordingConn();
    await c.dial(raw.url);
    // A text frame announcing a 2^63-byte payload: ws refuses it with 1009 (WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH).
    raw.write(Buffer.from([0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]));
    await until(() => c.state === "closed", "closed");
    const sent = parseAll(raw.bytes()).find((f) => f.opcode === 8)!;
    expect(sent.payload.readUInt16BE(0)).toBe(1009);
    expect(closes).toMatchObject([{ code: 1009, wasClean: false, closedBy: "client" }]);
    expect(errors[0]).toMatchObject({
      code: "ERR_MESSAGE_TOO_BIG",
      details: { closeCode: 1009, closedBy: "client" },
    });
  });

  it.each([
    [1009, /refused a message of ours as too big \(close code 1009, closed by server\)/],
    [1007, /refused a message of ours as invalid data/],
    [1008, /refused a message of ours as against its policy/],
  ])(
    "a %i from the server means it refused a message of ours: ERR_DISCONNECTED, not ERR_MESSAGE_TOO_BIG",
    async (code, message) => {
      const s = await server({ onMessage: (ws) => ws.close(code, "no") });
      const { c, errors, closes } = recordingConn();
      await c.dial(s.url);
      c.send("x".repeat(1000));
      await until(() => c.state === "closed", "closed");
      expect(closes).toEqual([
        { code, reason: "no", wasClean: true, willReconnect: false, closedBy: "server" },
      ]);
      expect(errors.map((e) => e.code)).toEqual(["ERR_DISCONNECTED"]);
      expect(errors[0]!.message).toMatch(message);
      expect(errors[0]!.details).toEqual({ closeCode: code, closedBy: "server" });
    },
  );
});

describe("one writer per socket, with no reconnect to come", () => {
  it.each([
    ["ws", undefined],
    ["a WHATWG WebSocket (ws's, injected)", WebSocket],
  ])(
    "sends after the peer's close frame (TCP still open) are not written; when the socket ends they are reported ERR_DISCONNECTED (onError for the callback form, a rejection for request()): %s",
    async (_transport, WebSocketOption) => {
      const raw = await rawServer({ allowHalfOpen: true });
      const errors: EvtWebSocketError[] = [];
      const closes: CloseInfo[] = [];
      const c = conn<string, string>({
        ...(WebSocketOption === undefined ? {} : { WebSocket: WebSocketOption as never }),
        reconnect: false,
        matchMsg: () => false,
        onError: (e) => void errors.push(e),
        onClose: (i) => void closes.push(i),
      });
      await c.dial(raw.url);
      raw.write(closeFrame(1001, "going away"));
      const frames = () => parseAll(raw.connectionBytes(0));
      await until(() => frames().some((f) => f.opcode === 8), "our close frame answered theirs");
      const answers: string[] = [];
      expect(c.send("with a callback", () => void answers.push("answered"))).toBe("queued");
      expect(c.send("plain")).toBe("queued");
      let rejected: EvtWebSocketError | undefined;
      c.request("a request").catch((e: EvtWebSocketError) => {
        rejected = e;
      });
      expect(c.stats.messagesSent).toBe(0);
      expect(errors).toEqual([]);
      raw.hangUp();
      await until(() => c.state === "closed" && rejected !== undefined, "closed, the request settled");
      expect(rejected).toMatchObject({ code: "ERR_DISCONNECTED" });
      expect(errors.map((e) => e.code)).toEqual(["ERR_DISCONNECTED", "ERR_DISCONNECTED"]);
      // One for the callback form's request, one for the plain message: "1 unsent".
      expect(errors.map((e) => (e.details as { unsent?: number }).unsent)).toContain(1);
      expect(answers).toEqual([]);
      expect(c.stats.messagesSent).toBe(0);
      expect(frames().map((f) => f.opcode)).toEqual([8]);
      expect(closes).toMatchObject([{ code: 1001, closedBy: "server", willReconnect: false }]);
    },
  );
});

/** A server text frame (unmasked) with a payload under 126 bytes. */
const textFrame = (text: string) => frame(1, Buffer.from(text));

describe("an abort racing a response, both in one read", () => {
  it.each([
    [
      "abort first: the push before the response aborts it",
      ["push", "resp-B"],
      "rejected ERR_ABORTED",
      ["push", "resp-B"],
    ],
    ["response first: the abort after it changes nothing", ["resp-B", "push"], "resolved resp-B", ["push"]],
  ])("%s; the request settles once", async (_name, order, outcome, messages) => {
    const raw = await rawServer();
    const ac = new AbortController();
    const seen: string[] = [];
    const errors: string[] = [];
    const c = conn<string, string>({
      reconnect: false,
      matchMsg: (req, resp) => resp === `resp-${req}`,
      onMessage: (m) => {
        seen.push(m);
        if (m === "push") ac.abort();
      },
      onError: (e) => void errors.push(e.code),
    });
    await c.dial(raw.url);
    const outcomes: string[] = [];
    c.request("B", { signal: ac.signal }).then(
      (v) => void outcomes.push(`resolved ${v}`),
      (e: EvtWebSocketError) => void outcomes.push(`rejected ${e.code}`),
    );
    const frames = () => parseAll(raw.connectionBytes(0));
    await until(() => frames().some((f) => f.payload.toString() === "B"), "the request on the wire");
    raw.write(Buffer.concat(order.map(textFrame)));
    await until(() => seen.includes("push") && outcomes.length > 0, "the push and the outcome");
    await new Promise((r) => setTimeout(r, 20));
    expect(outcomes).toEqual([outcome]);
    expect(seen).toEqual(messages);
    expect(errors).toEqual([]);
    expect(c.stats.pendingRequests).toBe(0);
    expect(c.state).toBe("open");
    const closing = c.close();
    raw.hangUp(); // it never answers our close frame
    await closing;
  });
});
