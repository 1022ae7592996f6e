/**
 * The reliability plan's catalogue, sections C (close codes and the reconnect policy) and D
 * (reconnect dynamics): the rows no other test pinned, each named by its scenario ID, against
 * real `ws` servers and hand-written peers on 127.0.0.1. The plan's "fatal by default" rows are
 * decided otherwise here (docs/concepts.md § Reconnect and backoff): every close is retried
 * unless `shouldReconnect` says no, so the rows below expect a reconnect.
 */

import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { CloseInfo, EvtWebSocketError } from "../src/index.js";
import { conn, fast, server, sleep } from "./helpers/harness.js";
import { heldUpgradeServer } from "./helpers/held-upgrade.js";
import { parseAll, rawServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

/** A server frame (unmasked) with a payload under 126 bytes. */
function frame(opcode: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]);
}

describe("C. close codes", () => {
  // Every code a server may send, with the plan's proposed default beside it: ours retries all;
  // a few again with a WHATWG WebSocket (ws's, injected).
  const codes = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4001, 4999];
  it.each([
    ...codes.map((code) => ["ws", code] as const),
    ...[1000, 1001, 1008, 1011, 1013, 4001].map((code) => ["WHATWG", code] as const),
  ])(
    "C-1 (%s transport): a server close with %i: onClose once with its code and reason, the code echoed, the request in flight rejected at once, then a reconnect",
    async (transport, code) => {
      const echoed: number[] = [];
      const s = await server({
        onMessage: (ws) => {
          ws.on("close", (c) => void echoed.push(c));
          ws.close(code, "r");
        },
      });
      const closes: CloseInfo[] = [];
      const c = conn<string, string>({
        ...(transport === "WHATWG" ? { WebSocket: WebSocket as never } : {}),
        // 1013 waits maxDelayMs (20 ms here) before the next attempt.
        reconnect: fast,
        matchMsg: () => true,
        onClose: (i) => void closes.push(i),
      });
      await c.dial(s.url);
      // No request timeout (the default is Infinity): only the close can settle it.
      const failure = (await c.request("x").catch((e: unknown) => e)) as EvtWebSocketError;
      expect(failure.code).toBe("ERR_DISCONNECTED");
      expect(failure.details).toMatchObject({ closeCode: code });
      await until(() => s.connections === 2 && c.isConnected(), "reconnected");
      await until(() => echoed.length === 1, "the server saw the client's close frame");
      expect(echoed).toEqual([code]);
      expect(closes).toEqual([
        { code, reason: "r", wasClean: true, willReconnect: true, closedBy: "server" },
      ]);
    },
  );

  it.each([
    ["code 0", Buffer.from([0x00, 0x00]), "WS_ERR_INVALID_CLOSE_CODE"],
    ["code 999", Buffer.from([0x03, 0xe7]), "WS_ERR_INVALID_CLOSE_CODE"],
    ["code 1004", Buffer.from([0x03, 0xec]), "WS_ERR_INVALID_CLOSE_CODE"],
    ["code 1005", Buffer.from([0x03, 0xed]), "WS_ERR_INVALID_CLOSE_CODE"],
    ["code 1006", Buffer.from([0x03, 0xee]), "WS_ERR_INVALID_CLOSE_CODE"],
    ["code 1015", Buffer.from([0x03, 0xf7]), "WS_ERR_INVALID_CLOSE_CODE"],
    ["code 1016", Buffer.from([0x03, 0xf8]), "WS_ERR_INVALID_CLOSE_CODE"],
    ["code 2999", Buffer.from([0x0b, 0xb7]), "WS_ERR_INVALID_CLOSE_CODE"],
    ["code 5000", Buffer.from([0x13, 0x88]), "WS_ERR_INVALID_CLOSE_CODE"],
    ["a 1-byte body", Buffer.from([0x03]), "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH"],
  ])(
    "C-2: a close frame with %s fails the connection: 1002 on the wire, reported as ours with ws's error as cause, then a reconnect",
    async (_name, payload, wsCode) => {
      const raw = await rawServer();
      const errors: EvtWebSocketError[] = [];
      const closes: CloseInfo[] = [];
      let opens = 0;
      const c = conn({
        reconnect: fast,
        onError: (e) => void errors.push(e),
        onClose: (i) => void closes.push(i),
        onConnected: () => void opens++,
      });
      await c.dial(raw.url);
      raw.write(frame(8, payload));
      await until(
        () => parseAll(raw.connectionBytes(0)).some((f) => f.opcode === 8),
        "the client's close frame",
      );
      const sent = parseAll(raw.connectionBytes(0)).find((f) => f.opcode === 8)!;
      expect(sent.payload.readUInt16BE(0)).toBe(1002);
      raw.hangUp(); // it never answers a closing handshake
      await until(() => opens === 2, "reconnected");
      expect(closes).toEqual([
        { code: 1002, reason: "", wasClean: false, willReconnect: true, closedBy: "client" },
      ]);
      expect(errors.map((e) => e.code)).toEqual(["ERR_DISCONNECTED"]);
      expect((errors[0]!.cause as { code?: string }).code).toBe(wsCode);
      raw.hangUp();
    },
  );

  it("C-3: close() sends 1000 and 3000-4999 with a reason of up to 123 bytes; 1001-2999 are refused and nothing is sent", async () => {
    const codes: Array<[number, string]> = [];
    const s = await server({
      onConnection: (ws) => ws.on("close", (code, reason) => void codes.push([code, reason.toString()])),
    });
    for (const code of [1001, 1004, 1011, 1015, 2999]) {
      const c = conn({ reconnect: false });
      await c.dial(s.url);
      await expect(c.close(code)).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
      expect(c.state).toBe("open");
      await c.close();
    }
    await until(() => codes.length === 5, "five closes");
    expect(codes).toEqual(Array(5).fill([1000, ""]));
    const sentOk: Array<[number, string]> = [
      [1000, "a".repeat(123)],
      [3000, ""],
      [4999, "é".repeat(61)],
    ];
    for (const [code, reason] of sentOk) {
      const c = conn({ reconnect: false });
      await c.dial(s.url);
      await c.close(code, reason);
    }
    await until(() => codes.length === 8, "three more closes");
    expect(codes.slice(5)).toEqual(sentOk);
  });
});

describe("C-4. a server that accepts, then closes at once", () => {
  it("C-4: with 4401 (auth-like) and the documented shouldReconnect opt-out: exactly one connection, then closed", async () => {
    const s = await server({ onConnection: (ws) => ws.close(4401, "unauthorized") });
    const closes: CloseInfo[] = [];
    const c = conn({
      reconnect: { ...fast, shouldReconnect: ({ code }) => code !== 4401 },
      onClose: (i) => void closes.push(i),
    });
    await c.dial(s.url);
    await until(() => c.state === "closed", "closed");
    await sleep(10 * fast.maxDelayMs);
    expect(s.connections).toBe(1);
    expect(closes).toEqual([
      { code: 4401, reason: "unauthorized", wasClean: true, willReconnect: false, closedBy: "server" },
    ]);
  });

  it.each([1008, 4401])(
    "C-4: with %i and no shouldReconnect (retried by default): the backoff keeps growing, no tight loop",
    async (code) => {
      const s = await server({ onConnection: (ws) => ws.close(code) });
      const delays: number[] = [];
      const c = conn({
        reconnect: { minDelayMs: 5, maxDelayMs: 1000, factor: 2, jitter: 0 },
        onReconnecting: (i) => void delays.push(i.delayMs),
      });
      await c.dial(s.url);
      await until(() => delays.length >= 5, "five waits");
      expect(delays.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
    },
  );
});

describe("D. reconnect dynamics", () => {
  it("D-7: a WHATWG WebSocket fires error then close for each refused handshake: one retry is scheduled per failure", async () => {
    const held = await heldUpgradeServer((n) =>
      n < 3 ? { holdMs: 0, refuse: "HTTP/1.1 503 Service Unavailable" } : { holdMs: 0 },
    );
    const attempts: number[] = [];
    const errors: string[] = [];
    const c = conn({
      WebSocket: WebSocket as never,
      reconnect: fast,
      onReconnecting: (i) => void attempts.push(i.attempt),
      onError: (e) => void errors.push(e.code),
    });
    await c.dial(held.url);
    expect(attempts).toEqual([1, 2, 3]);
    expect(errors).toEqual(["ERR_DIAL_FAILED", "ERR_DIAL_FAILED", "ERR_DIAL_FAILED"]);
    // A second retry scheduled for any failure would show as a fifth handshake.
    await sleep(10 * fast.maxDelayMs);
    expect(held.arrivals.length).toBe(4);
    expect(held.accepted.length).toBe(1);
    expect(c.isConnected()).toBe(true);
  });

  it("D-8: attempt 1 fails at once, attempt 2 opens after attempt 1's connect deadline would have passed: no spurious timeout or close", async () => {
    const connectTimeoutMs = 1000;
    const minDelayMs = 400;
    // Attempt 2 arrives at least minDelayMs after attempt 1 and is answered 700 ms later: past
    // attempt 1's deadline (connectTimeoutMs after it began), well within its own.
    const held = await heldUpgradeServer((n) =>
      n === 0 ? { holdMs: 0, refuse: "HTTP/1.1 503 Service Unavailable" } : { holdMs: 700 },
    );
    const errors: string[] = [];
    const closes: CloseInfo[] = [];
    const c = conn({
      connectTimeoutMs,
      reconnect: { minDelayMs, maxDelayMs: minDelayMs, jitter: 0 },
      onError: (e) => void errors.push(e.code),
      onClose: (i) => void closes.push(i),
    });
    const started = performance.now();
    await c.dial(held.url);
    expect(held.answered[1]! - started).toBeGreaterThan(connectTimeoutMs);
    // Past attempt 2's own deadline too: a deadline left armed by either attempt would have fired.
    await sleep(connectTimeoutMs + 200);
    expect(errors).toEqual(["ERR_DIAL_FAILED"]);
    expect(closes).toEqual([]);
    expect(c.isConnected()).toBe(true);
    expect(held.arrivals.length).toBe(2);
  });

  it("D-11: over 20 reconnects every server frame reaches onMessage exactly once", async () => {
    const s = await server({ onConnection: (ws) => ws.send(`hello ${s.connections}`) });
    const got: string[] = [];
    const c = conn({ reconnect: fast, onMessage: (m) => void got.push(String(m)) });
    await c.dial(s.url);
    for (let i = 1; i <= 20; i++) {
      await until(() => got.length === i && c.isConnected(), `hello ${i}`);
      s.dropAll(i % 2 === 0 ? 1001 : undefined);
    }
    await until(() => got.length === 21 && c.isConnected(), "hello 21");
    c.send("echo me");
    await until(() => got.length === 22, "the echo");
    await sleep(50);
    expect(got).toEqual([...Array.from({ length: 21 }, (_, i) => `hello ${i + 1}`), "echo me"]);
    expect(c.stats.reconnects).toBe(20);
  });
});
