/**
 * A fresh handshake for each attempt: the URL and headers functions get the attempt's context,
 * a headers function is called once per attempt (counted on the server), one that fails fails
 * only that attempt, one still pending when close() is called never dials; and `conn.handshake`
 * describes the open connection. Real servers throughout; the clock is injected only where a
 * test must see that no timer (no link) was made.
 * Also a URL function that throws or rejects: only that attempt fails, and the policy retries.
 */

import { describe, expect, it } from "vitest";
import type { AttemptContext, EvtWebSocketError, Handshake, ReconnectingInfo } from "../src/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, fast, server, uncaughtExceptions } from "./helpers/harness.js";
import { until } from "./helpers/server.js";
import { upgradeServer } from "./helpers/upgrade-server.js";

/** Lets every pending promise reaction and I/O callback of this turn run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("a headers function", () => {
  it("is called once per attempt, and each handshake carries that attempt's headers (counted on the server)", async () => {
    // Two refused handshakes, one accepted; the server then closes it with 4000 and accepts again.
    const s = await upgradeServer((n) => (n < 2 ? "HTTP/1.1 503 Service Unavailable" : undefined), {
      onAccept: (ws, n) => {
        if (n === 2) ws.close(4000, "rotate");
      },
    });
    const urlCtx: AttemptContext[] = [];
    const headerCtx: AttemptContext[] = [];
    const c = conn({
      reconnect: fast,
      headers: (ctx) => {
        headerCtx.push(ctx);
        return { "x-call": String(headerCtx.length) };
      },
    });
    let opened = 0;
    c.on("connected", () => void opened++);
    await c.dial((ctx) => {
      urlCtx.push(ctx);
      return s.url;
    });
    await until(() => opened === 2, "the reconnect after the 4000 close");
    expect(s.arrivals.map((a) => a.headers["x-call"])).toEqual(["1", "2", "3", "4"]);
    expect(headerCtx).toHaveLength(4);
    // The URL function got the very same context, once per attempt.
    expect(urlCtx).toHaveLength(4);
    for (const [i, ctx] of urlCtx.entries()) expect(headerCtx[i]).toBe(ctx);
    const seen = headerCtx.map(({ attempt, lastClose, lastError }) => ({
      attempt,
      lastClose,
      lastError: lastError?.code,
      status: lastError?.details.status,
    }));
    expect(seen).toEqual([
      { attempt: 0, lastClose: undefined, lastError: undefined, status: undefined },
      { attempt: 1, lastClose: { code: 1006, reason: "" }, lastError: "ERR_DIAL_FAILED", status: 503 },
      { attempt: 2, lastClose: { code: 1006, reason: "" }, lastError: "ERR_DIAL_FAILED", status: 503 },
      // Open for less than resetAfterMs: the count goes on. A clean close is no error.
      { attempt: 3, lastClose: { code: 4000, reason: "rotate" }, lastError: undefined, status: undefined },
    ]);
  });

  it.each([
    ["rejects", async () => Promise.reject(new Error("token service down"))],
    [
      "throws",
      () => {
        throw new Error("token service down");
      },
    ],
  ])(
    "that %s fails that attempt with ERR_DIAL_FAILED (the throw as cause); the next attempt connects",
    async (_how, fail) => {
      const s = await upgradeServer(() => undefined);
      const errors: EvtWebSocketError[] = [];
      const waits: (EvtWebSocketError | undefined)[] = [];
      let calls = 0;
      const c = conn({
        reconnect: fast,
        headers: (() => (++calls === 1 ? fail() : { authorization: "Bearer fresh" })) as () => Record<
          string,
          string
        >,
        onError: (e) => void errors.push(e),
        onReconnecting: (info) => void waits.push(info.error),
      });
      await c.dial(s.url);
      expect(calls).toBe(2);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: "ERR_DIAL_FAILED", message: "the headers function failed" });
      expect((errors[0]?.cause as Error | undefined)?.message).toBe("token service down");
      expect(waits).toEqual([errors[0]]);
      // The failed attempt never reached the server; the next one did, with its fresh header.
      expect(s.arrivals.map((a) => a.headers.authorization)).toEqual(["Bearer fresh"]);
    },
  );

  it("with reconnect off, a failing headers function rejects dial() with ERR_DIAL_FAILED and its cause", async () => {
    const s = await upgradeServer(() => undefined);
    const boom = new Error("no token");
    const c = conn({
      reconnect: false,
      headers: () => {
        throw boom;
      },
    });
    await expect(c.dial(s.url)).rejects.toMatchObject({ code: "ERR_DIAL_FAILED", cause: boom });
    expect(c.state).toBe("closed");
    expect(s.arrivals).toHaveLength(0);
  });

  it.each([
    ["a value with CR/LF", { "x-token": "a\r\nInjected: 1" }, "headers.x-token"],
    ["a value with DEL", { "x-token": "a\u007fInjected" }, "headers.x-token"],
    ["a value that is not a string", { "x-token": 1 }, "headers.x-token"],
    ["a name that is not an HTTP token", { "x token": "a" }, "headers"],
    ["no object", "Bearer abc", "headers"],
  ])(
    "returning %s fails that attempt with ERR_INVALID_OPTION naming headers; the next connects",
    async (_what, bad, named) => {
      const s = await upgradeServer(() => undefined);
      const errors: EvtWebSocketError[] = [];
      let calls = 0;
      const c = conn({
        reconnect: fast,
        headers: () => (++calls === 1 ? bad : { "x-token": "good" }) as Record<string, string>,
        onError: (e) => void errors.push(e),
      });
      await c.dial(s.url);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.code).toBe("ERR_INVALID_OPTION");
      expect(errors[0]?.message).toContain(`option ${named}`);
      expect(errors[0]?.message).not.toContain("Injected");
      expect(s.arrivals.map((a) => a.headers["x-token"])).toEqual(["good"]);
    },
  );

  it("still pending when close() is called: close wins, nothing dials afterwards, every promise settles", async () => {
    const s = await server();
    const clock = new FakeClock();
    const token = deferred<Record<string, string>>();
    const errors: EvtWebSocketError[] = [];
    let calls = 0;
    const c = conn({
      clock,
      headers: () => {
        calls++;
        return token.promise;
      },
      onError: (e) => void errors.push(e),
    });
    const dialed = c.dial(s.url).then(
      () => "resolved",
      (e: EvtWebSocketError) => e.code,
    );
    await until(() => calls === 1, "the headers function is called");
    await c.close();
    expect(await dialed).toBe("ERR_CLOSED");
    expect(c.state).toBe("closed");
    token.resolve({ authorization: "Bearer late" });
    await settle();
    // No link was made: it would have set its connect timer on this clock. The one timer made
    // is the headers function's deadline (connectTimeoutMs), and close() cleared it.
    expect(clock.created).toBe(1);
    expect(clock.pending).toBe(0);
    expect(c.state).toBe("closed");
    expect(calls).toBe(1);
    expect(errors).toEqual([]);
    // And no handshake reached the server: a later connection is the first it sees.
    const other = conn({ headers: { "x-who": "other" } });
    await other.dial(s.url);
    expect(s.handshakes.map((h) => h.headers["x-who"] ?? "the closed one")).toEqual(["other"]);
  });

  it("that never settles fails its attempt with ERR_CONNECT_TIMEOUT after connectTimeoutMs; the policy retries", async () => {
    const s = await upgradeServer(() => undefined);
    const errors: EvtWebSocketError[] = [];
    let calls = 0;
    const c = conn({
      reconnect: fast,
      connectTimeoutMs: 100,
      // The first token fetch hangs for good; the second answers.
      headers: () => (++calls === 1 ? new Promise<Record<string, string>>(() => {}) : { "x-token": "good" }),
      onError: (e) => void errors.push(e),
    });
    await c.dial(s.url);
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ["ERR_CONNECT_TIMEOUT", "the headers function did not settle within 100 ms"],
    ]);
    expect(s.arrivals.map((a) => a.headers["x-token"])).toEqual(["good"]);
  });

  it("a URL function that never settles, with reconnect off: dial() rejects ERR_CONNECT_TIMEOUT and no timer is left", async () => {
    const clock = new FakeClock();
    const c = conn({ clock, reconnect: false, connectTimeoutMs: 500 });
    const dialed = c
      .dial(() => new Promise<string>(() => {}))
      .then(
        () => "resolved",
        (e: EvtWebSocketError) => e.code,
      );
    await settle();
    clock.advance(499);
    await settle();
    expect(c.state).toBe("connecting");
    clock.advance(1);
    expect(await dialed).toBe("ERR_CONNECT_TIMEOUT");
    expect(c.state).toBe("closed");
    expect(clock.pending).toBe(0);
  });

  it("rejecting after close(): the rejection is dropped (no onError, no unhandled rejection)", async () => {
    const s = await server();
    const uncaught = uncaughtExceptions();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => void unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    try {
      const token = deferred<Record<string, string>>();
      const errors: EvtWebSocketError[] = [];
      let calls = 0;
      const c = conn({
        headers: () => {
          calls++;
          return token.promise;
        },
        onError: (e) => void errors.push(e),
      });
      const dialed = c.dial(s.url).catch((e: EvtWebSocketError) => e.code);
      await until(() => calls === 1, "the headers function is called");
      await c.close();
      token.reject(new Error("token service down"));
      await settle();
      await settle();
      expect(await dialed).toBe("ERR_CLOSED");
      expect(errors).toEqual([]);
      expect(s.connections).toBe(0);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    expect(unhandled).toEqual([]);
    expect(uncaught).toEqual([]);
  });

  it("with a WHATWG WebSocket (no header support) rejects ERR_INVALID_OPTION at dial(), as fixed headers do, without calling it", async () => {
    const { WebSocket } = await import("ws");
    let calls = 0;
    const c = conn({
      WebSocket: WebSocket as never,
      headers: () => {
        calls++;
        return {};
      },
    });
    await expect(c.dial("ws://127.0.0.1:1")).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
      message: expect.stringContaining("option headers"),
    });
    expect(calls).toBe(0);
  });
});

describe("conn.handshake", () => {
  it("describes the open connection: URL without credentials, path or query; 101; lower-cased response headers; subprotocol", async () => {
    const s = await upgradeServer(() => undefined, {
      responseHeaders: () => ["X-Served-By: node-7", "Set-Cookie: a=1", "Set-Cookie: b=2"],
    });
    const c = conn();
    const port = new URL(s.url).port;
    await c.dial(`ws://alice:s3cret@127.0.0.1:${port}/feed/t0ken?key=k3y`, ["p1", "p2"]);
    const h = c.handshake as Handshake;
    expect(h).toMatchObject({ url: `ws://127.0.0.1:${port}`, status: 101, protocol: "p1" });
    // The server's own headers, lower-cased, repeats joined; not the handshake's own.
    expect(h.headers).toEqual({ "x-served-by": "node-7", "set-cookie": "a=1, b=2" });
    const shown = JSON.stringify(h);
    for (const secret of ["alice", "s3cret", "t0ken", "k3y", "feed"]) expect(shown).not.toContain(secret);
    expect(c.handshake).toBe(h); // the same object while the connection lasts
    expect(Object.isFrozen(h)).toBe(true);
  });

  it("is undefined while not open: before dial(), while connecting, in onClose, while reconnecting, after close()", async () => {
    const s = await upgradeServer(() => undefined, {
      responseHeaders: (n) => [`X-Conn: ${n}`],
      onAccept: (ws, n) => {
        if (n === 0) ws.close(4000);
      },
    });
    const seen: Record<string, unknown[]> = { connected: [], close: [], reconnecting: [], connecting: [] };
    const c = conn({
      reconnect: fast,
      onConnected: (cc) => void seen.connected!.push(cc.handshake?.headers?.["x-conn"]),
      onClose: () => void seen.close!.push(c.handshake),
      onReconnecting: () => void seen.reconnecting!.push(c.handshake),
    });
    c.on("state", ({ newState }) => {
      if (newState === "connecting") seen.connecting!.push(c.handshake);
    });
    expect(c.handshake).toBeUndefined();
    await c.dial(s.url);
    await until(() => seen.connected!.length === 2, "the reconnect");
    // Each connection describes its own handshake.
    expect(seen.connected).toEqual(["0", "1"]);
    expect(seen.connecting).toEqual([undefined]);
    expect(seen.close).toEqual([undefined]);
    expect(seen.reconnecting).toEqual([undefined]);
    await c.close();
    expect(c.handshake).toBeUndefined();
  });

  it("a server that adds no header: headers is empty (the handshake's own are left out)", async () => {
    const s = await server();
    const c = conn();
    await c.dial(s.url, "p1");
    expect(c.handshake).toEqual({ url: s.url, status: 101, protocol: "p1", headers: {} });
  });

  it("with a WHATWG WebSocket: status 101 and the subprotocol, no headers (the runtime hides them)", async () => {
    const { WebSocket } = await import("ws");
    const s = await server();
    const c = conn({ WebSocket: WebSocket as never });
    await c.dial(s.url);
    expect(c.handshake).toEqual({ url: s.url, status: 101, protocol: "" });
  });
});

describe("a URL function that throws or rejects (real server)", () => {
  it.each([
    ["rejects", () => Promise.reject(new Error("discovery down"))],
    [
      "throws",
      () => {
        throw new Error("discovery down");
      },
    ],
  ])(
    "that %s fails that attempt with ERR_DIAL_FAILED (the throw as cause); the policy retries and the next attempt connects",
    async (_how, fail) => {
      const s = await server();
      const errors: EvtWebSocketError[] = [];
      const waits: ReconnectingInfo[] = [];
      let calls = 0;
      const c = conn({
        reconnect: fast,
        onError: (e) => void errors.push(e),
        onReconnecting: (i) => void waits.push(i),
      });
      await c.dial((() => (++calls === 1 ? fail() : s.url)) as () => string);
      expect(calls).toBe(2);
      expect(errors.map((e) => [e.code, e.message, (e.cause as Error).message])).toEqual([
        ["ERR_DIAL_FAILED", "the URL function failed", "discovery down"],
      ]);
      expect(waits.map((w) => [w.attempt, w.error])).toEqual([[1, errors[0]]]);
      expect(s.connections).toBe(1);
    },
  );
});
