import { describe, expect, it } from "vitest";
import { type EvtWebSocketError, json } from "../src/index.js";
import { conn, fast, server, sleep } from "./helpers/harness.js";
import { freePort, until } from "./helpers/server.js";

type Msg = { id?: number; op?: string; v?: unknown };
const silentServer = () => server({ onMessage: () => {} });
const idOpts = { codec: json<Msg, Msg>(), messageId: (m: Msg) => m.id };

describe("every pending request settles", () => {
  it("rejects ERR_REQUEST_TIMEOUT after its timeout (per-call override of requestTimeoutMs)", async () => {
    const s = await silentServer();
    const c = conn<Msg, Msg>({ ...idOpts, requestTimeoutMs: 60_000 });
    await c.dial(s.url);
    await expect(c.request({ id: 1 }, { timeoutMs: 20 })).rejects.toMatchObject({
      code: "ERR_REQUEST_TIMEOUT",
    });
    expect(c.stats.pendingRequests).toBe(0);
  });

  it("rejects ERR_ABORTED when its signal aborts, and at once for an already-aborted signal", async () => {
    const s = await silentServer();
    const c = conn<Msg, Msg>(idOpts);
    await c.dial(s.url);
    const ac = new AbortController();
    const p = c.request({ id: 1 }, { signal: ac.signal });
    ac.abort(new Error("user gave up"));
    await expect(p).rejects.toMatchObject({ code: "ERR_ABORTED" });
    await expect(c.request({ id: 2 }, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: "ERR_ABORTED",
    });
    await until(() => s.received.length === 1, "first request arrived");
    await sleep(20);
    expect(s.received).toEqual(['{"id":1}']);
  });

  it("one signal given to 20 requests in flight (a component's controller): no MaxListenersExceededWarning, and its abort rejects them all", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => void warnings.push(`${w.name}: ${w.message}`);
    process.on("warning", onWarning);
    try {
      const s = await silentServer();
      const c = conn<Msg, Msg>(idOpts);
      await c.dial(s.url);
      const ac = new AbortController();
      const all = Array.from({ length: 20 }, (_, i) => c.request({ id: i + 1 }, { signal: ac.signal }));
      await until(() => s.received.length === 20, "the requests at the server");
      // Node emits the warning on the next tick after the 11th listener.
      await sleep(20);
      ac.abort();
      const outcomes = await Promise.allSettled(all);
      expect(
        outcomes.every(
          (o) => o.status === "rejected" && (o.reason as EvtWebSocketError).code === "ERR_ABORTED",
        ),
      ).toBe(true);
      expect(warnings.filter((w) => w.startsWith("MaxListenersExceededWarning"))).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("a signal aborted by user code between request()'s check and its registration (here messageId) rejects it ERR_ABORTED, not a request that waits for ever", async () => {
    // A listener added to an aborted signal never runs: with no timeout the request hung.
    const s = await silentServer();
    const ac = new AbortController();
    const c = conn<Msg, Msg>({
      codec: json<Msg, Msg>(),
      messageId: (m) => {
        if (m.id === 7) ac.abort();
        return m.id;
      },
    });
    await c.dial(s.url);
    await expect(c.request({ id: 7 }, { signal: ac.signal, timeoutMs: 0 })).rejects.toMatchObject({
      code: "ERR_ABORTED",
    });
    expect(c.stats.pendingRequests).toBe(0);
    c.send({ id: 8 });
    await until(() => s.received.length === 1, "the next message");
    expect(s.received).toEqual(['{"id":8}']);
  });

  it("a send whose signal the codec aborts is refused ERR_ABORTED, not queued for a later open", async () => {
    const s = await silentServer();
    const ac = new AbortController();
    const c = conn<Msg, Msg>({
      codec: {
        encode: (m) => {
          if (m.id === 5) ac.abort();
          return JSON.stringify(m);
        },
        decode: (d) => JSON.parse(String(d)) as Msg,
      },
    });
    expect(() => c.send({ id: 5 }, { signal: ac.signal })).toThrow(
      expect.objectContaining({ code: "ERR_ABORTED" }),
    );
    expect(c.stats.queuedMessages).toBe(0);
    await c.dial(s.url);
    c.send({ id: 6 });
    await until(() => s.received.length === 1, "the next message");
    expect(s.received).toEqual(['{"id":6}']);
  });

  it("rejects ERR_DISCONNECTED when the connection drops while it is in flight", async () => {
    const s = await silentServer();
    const c = conn<Msg, Msg>({ ...idOpts, reconnect: fast });
    await c.dial(s.url);
    const p = c.request({ id: 1 });
    await until(() => s.received.length === 1, "request arrived");
    s.dropAll();
    await expect(p).rejects.toMatchObject({ code: "ERR_DISCONNECTED" });
  });

  it("retryOnReconnect re-sends it after the reconnect, and it resolves", async () => {
    let connection = 0;
    const s = await server({
      onConnection: () => void connection++,
      onMessage(ws, data) {
        const m = JSON.parse(data.toString()) as Msg;
        if (connection === 1) return; // the first connection never answers
        ws.send(JSON.stringify({ id: m.id, v: "second" }));
      },
    });
    const c = conn<Msg, Msg>({ ...idOpts, reconnect: fast });
    await c.dial(s.url);
    const retried = c.request({ id: 1 }, { retryOnReconnect: true });
    const notRetried = c.request({ id: 2 });
    await until(() => s.received.length === 2, "both arrived");
    s.dropAll();
    await expect(notRetried).rejects.toMatchObject({ code: "ERR_DISCONNECTED" });
    await expect(retried).resolves.toEqual({ id: 1, v: "second" });
    expect(s.received).toEqual(['{"id":1}', '{"id":2}', '{"id":1}']);
  });

  it("retryOnReconnect with no reconnect to come rejects ERR_DISCONNECTED", async () => {
    const s = await silentServer();
    const c = conn<Msg, Msg>({ ...idOpts, reconnect: false });
    await c.dial(s.url);
    const p = c.request({ id: 1 }, { retryOnReconnect: true });
    await until(() => s.received.length === 1, "arrived");
    s.dropAll();
    await expect(p).rejects.toMatchObject({ code: "ERR_DISCONNECTED" });
    expect(c.state).toBe("closed");
  });

  it("close() rejects every pending request with ERR_CLOSED", async () => {
    const s = await silentServer();
    const c = conn<Msg, Msg>(idOpts);
    await c.dial(s.url);
    const ps = [c.request({ id: 1 }), c.request({ id: 2 }, { timeoutMs: 0 })].map((p) => p.catch((e) => e));
    await c.close();
    for (const p of ps) expect(await p).toMatchObject({ code: "ERR_CLOSED" });
  });

  it("requests pending when the policy gives up reject, none hangs", async () => {
    const s = await silentServer();
    const c = conn<Msg, Msg>({ ...idOpts, reconnect: { ...fast, maxAttempts: 1 } });
    const errors: EvtWebSocketError[] = [];
    c.on("error", (e) => void errors.push(e));
    await c.dial(s.url);
    const inFlight = c.request({ id: 1 });
    await until(() => s.received.length === 1, "arrived");
    await s.stop();
    await expect(inFlight).rejects.toMatchObject({ code: "ERR_DISCONNECTED" });
    await until(() => c.state === "closed", "gave up");
    expect(errors.map((e) => e.code)).toContain("ERR_RECONNECT_EXHAUSTED");
    expect(() => c.send({ id: 3 })).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
  });
});

describe("the outgoing queue", () => {
  it("queues sends made while connecting and flushes them in order after onConnected", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn({
      onConnected: (cc) => {
        cc.send("auth");
      },
    });
    c.send("q1");
    const dialing = c.dial(s.url);
    c.send("q2");
    expect(c.stats.queuedMessages).toBe(2);
    await dialing;
    await until(() => s.received.length === 3, "three messages");
    expect(s.received).toEqual(["auth", "q1", "q2"]);
  });

  it("waits for an async onConnected to settle before flushing (it may await a request)", async () => {
    const s = await server({ onMessage: (ws, d) => setTimeout(() => ws.send(d.toString()), 20) });
    const c = conn({
      matchMsg: (req, resp) => req === resp,
      onConnected: async (cc) => {
        await cc.request("login");
        cc.send("subscribe");
      },
    });
    c.send("queued");
    await c.dial(s.url);
    await until(() => s.received.length === 3, "three messages");
    expect(s.received).toEqual(["login", "subscribe", "queued"]);
  });

  it("queued messages are sent during a reconnect, in order, exactly once", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn({ reconnect: { minDelayMs: 50, jitter: 0 } });
    await c.dial(s.url);
    s.dropAll();
    await until(() => c.state === "reconnecting", "reconnecting");
    for (let i = 0; i < 100; i++) c.send(`m${i}`);
    await until(() => s.received.length === 100, "100 messages");
    expect(s.received).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    s.dropAll();
    await until(() => s.connections === 3 && c.isConnected(), "second reconnect");
    await sleep(20);
    expect(s.received).toHaveLength(100);
  });

  it("over the bound: ERR_QUEUE_FULL thrown / rejected, nothing already queued is dropped", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn({ queue: { maxMessages: 2, maxBytes: 1000 }, matchMsg: () => false });
    c.send("a");
    c.send("b");
    expect(() => c.send("c")).toThrow(expect.objectContaining({ code: "ERR_QUEUE_FULL" }));
    await expect(c.request("d")).rejects.toMatchObject({ code: "ERR_QUEUE_FULL" });
    await c.dial(s.url);
    await until(() => s.received.length === 2, "two");
    expect(s.received).toEqual(["a", "b"]);
  });

  it("a message larger than the byte bound is refused with ERR_QUEUE_FULL", () => {
    const c = conn({ queue: { maxBytes: 10 } });
    expect(() => c.send("x".repeat(11))).toThrow(expect.objectContaining({ code: "ERR_QUEUE_FULL" }));
  });

  it("queue: false makes sends while not open fail with ERR_QUEUE_FULL", () => {
    const c = conn({ queue: false });
    expect(() => c.send("x")).toThrow(expect.objectContaining({ code: "ERR_QUEUE_FULL" }));
  });

  it("a queued request that times out or is aborted leaves the queue and is never sent", async () => {
    const s = await server({ onMessage: () => {} });
    const c = conn<Msg, Msg>(idOpts);
    const ac = new AbortController();
    const timedOut = c.request({ id: 1 }, { timeoutMs: 10 }).catch((e) => e);
    const aborted = c.request({ id: 2 }, { signal: ac.signal }).catch((e) => e);
    const kept = c.request({ id: 3 }, { timeoutMs: 0 });
    ac.abort();
    expect(await timedOut).toMatchObject({ code: "ERR_REQUEST_TIMEOUT" });
    expect(await aborted).toMatchObject({ code: "ERR_ABORTED" });
    expect(c.stats.queuedMessages).toBe(1);
    void kept.catch(() => {});
    await c.dial(s.url);
    await until(() => s.received.length === 1, "one");
    await sleep(20);
    expect(s.received).toEqual(['{"id":3}']);
  });

  it("after close(), send() throws ERR_CLOSED and request() rejects ERR_CLOSED", async () => {
    const s = await server();
    const c = conn({ matchMsg: () => true });
    await c.dial(s.url);
    await c.close();
    expect(() => c.send("x")).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
    await expect(c.request("x")).rejects.toMatchObject({ code: "ERR_CLOSED" });
  });

  it("messages still queued at close() are reported, not silently lost", async () => {
    const errors: EvtWebSocketError[] = [];
    const c = conn({ onError: (e) => void errors.push(e) });
    c.send("a");
    c.send("b");
    await c.close();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: "ERR_CLOSED", details: { unsent: 2 } });
  });
});

describe("when the policy gives up", () => {
  it("queued requests reject ERR_DISCONNECTED with ERR_RECONNECT_EXHAUSTED as cause; queued sends are reported", async () => {
    const port = await freePort();
    const errors: EvtWebSocketError[] = [];
    const c = conn<Msg, Msg>({
      ...idOpts,
      reconnect: { ...fast, maxAttempts: 1 },
      onError: (e) => void errors.push(e),
    });
    const queued = c.request({ id: 1 }).catch((e) => e);
    c.send({ op: "fire-and-forget" });
    const dialing = c.dial(`ws://127.0.0.1:${port}`).catch((e) => e);
    expect(await dialing).toMatchObject({ code: "ERR_RECONNECT_EXHAUSTED" });
    expect(await queued).toMatchObject({
      code: "ERR_DISCONNECTED",
      cause: { code: "ERR_RECONNECT_EXHAUSTED" },
    });
    expect(errors.at(-1)).toMatchObject({ code: "ERR_DISCONNECTED", details: { unsent: 1 } });
  });
});

describe("the closed state event", () => {
  it("comes after every request, the dial and the queue have settled", async () => {
    const port = await freePort();
    const c = conn<Msg, Msg>({ ...idOpts, reconnect: { ...fast, maxAttempts: 0 } });
    const p = c.request({ id: 1 }).catch((e) => e);
    let seen: unknown;
    c.on("state", ({ newState }) => {
      if (newState === "closed") seen = { pending: c.stats.pendingRequests, queued: c.stats.queuedMessages };
    });
    await c.dial(`ws://127.0.0.1:${port}`).catch(() => {});
    expect(seen).toEqual({ pending: 0, queued: 0 });
    expect(await p).toMatchObject({ code: "ERR_DISCONNECTED" });
  });
});

describe("limits", () => {
  it("over maxPendingRequests, request() rejects ERR_TOO_MANY_PENDING and the others still settle", async () => {
    const s = await server({ onMessage: (ws, d) => setTimeout(() => ws.send(d.toString()), 20) });
    const c = conn({ matchMsg: (a, b) => a === b, maxPendingRequests: 2 });
    await c.dial(s.url);
    const a = c.request("a");
    const b = c.request("b");
    await expect(c.request("c")).rejects.toMatchObject({ code: "ERR_TOO_MANY_PENDING" });
    await expect(Promise.all([a, b])).resolves.toEqual(["a", "b"]);
    await expect(c.request("d")).resolves.toBe("d");
  });
});

describe("a request in flight when the connection drops", () => {
  async function dropInFlight(reconnect: false | { maxAttempts: 0 }): Promise<void> {
    const s = await server({ onMessage: (ws) => ws.terminate() });
    const reported: unknown[] = [];
    const c = conn<string, string>({
      reconnect,
      matchMsg: () => true,
      onError: (e) => void reported.push(e),
    });
    await c.dial(s.url);
    const failure = await c.request("x").catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: "ERR_DISCONNECTED", details: { closeCode: 1006 } });
    const cause = (failure as Error).cause;
    expect(cause).toMatchObject({
      code: "ERR_DISCONNECTED",
      details: { closeCode: 1006, closedBy: "network" },
    });
    // With attempts allowed but none left, onError reports ERR_RECONNECT_EXHAUSTED with the drop as its cause.
    expect(reported.some((e) => e === cause || (e as Error).cause === cause)).toBe(true);
  }

  it("rejects ERR_DISCONNECTED with the drop's error as cause and its close code (reconnect off)", async () => {
    await dropInFlight(false);
  });

  it("rejects ERR_DISCONNECTED with the drop's error as cause and its close code (reconnect: { maxAttempts: 0 })", async () => {
    await dropInFlight({ maxAttempts: 0 });
  });
});

describe("a queued request whose hand-over drops the connection", () => {
  // A socket whose send() runs code that calls reconnect() (here the wrapper itself) and then
  // throws. The flush marks the request on the wire before handing its frame over, so the drop
  // inside the send re-queued it (retryOnReconnect) or rejected it; the refused hand-over then
  // put its frame back in the queue as well: sent twice on the next socket, or sent for a request
  // already rejected.
  it.each([
    [true, ['{"id":1}', '{"id":2}', '{"id":3}']],
    [false, ["ERR_DISCONNECTED", "ERR_DISCONNECTED", '{"id":3}']],
  ])(
    "retryOnReconnect %s: each frame goes out once, none for a settled request",
    async (retryOnReconnect, expected) => {
      const { WebSocket } = await import("ws");
      let sends = 0;
      let c: ReturnType<typeof conn<Msg, Msg>> | undefined;
      class ReconnectsThenThrows extends WebSocket {
        override send(data: never): void {
          if (++sends === 2) {
            c?.reconnect(4000, "inside send()");
            throw new Error("send() threw");
          }
          super.send(data);
        }
      }
      const s = await server();
      c = conn<Msg, Msg>({ ...idOpts, reconnect: fast, WebSocket: ReconnectsThenThrows as never });
      const outcomes = [1, 2, 3].map((id) =>
        c!.request({ id }, { retryOnReconnect }).then(
          (v) => JSON.stringify(v),
          (e: EvtWebSocketError) => e.code,
        ),
      );
      await c.dial(s.url);
      expect(await Promise.all(outcomes)).toEqual(expected);
      // Request 1 went out on the first socket, request 2's hand-over dropped it.
      const onSecond = s.received.slice(1).sort();
      expect(onSecond).toEqual(retryOnReconnect ? ['{"id":1}', '{"id":2}', '{"id":3}'] : ['{"id":3}']);
      expect(c.stats.pendingRequests).toBe(0);
      expect(c.stats.queuedMessages).toBe(0);
      await c.close();
    },
  );
});
