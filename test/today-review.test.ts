/**
 * Adversarial review of the tenth pass's fixes (today-review), on real sockets: a "drain"
 * listener added above highWaterMark (twice, then close()), interim 1xx answers
 * to CONNECT as a proxy may write them (split across packets, with headers, over 16 KiB in all),
 * the request TracingChannel through runStores, and async loggers that reject.
 */

import { AsyncLocalStorage } from "node:async_hooks";
import dc from "node:diagnostics_channel";
import { describe, expect, it } from "vitest";
import { CHANNELS } from "../src/channel-names.js";
import type { EvtWebSocketError } from "../src/index.js";
import { instrument, uninstrument } from "../src/otel/index.js";
import { conn, onCleanup, server, sleep } from "./helpers/harness.js";
import { instrumentInMemory } from "./helpers/otel-sdk.js";
import { type Behaviour, handProxy } from "./helpers/proxy.js";
import { until } from "./helpers/server.js";
import { fill, stalledServer } from "./helpers/stalled-server.js";

async function failure(p: Promise<unknown>): Promise<EvtWebSocketError> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: EvtWebSocketError) => e,
  );
}

const marks = { lowWaterMark: 64 * 1024, highWaterMark: 1024 * 1024 };

describe('a "drain" listener added while the buffer is above highWaterMark', () => {
  it("two listeners added above the mark: one drain, each hears it once", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({ ...marks, reconnect: false });
    await c.dial(s.url);
    fill(c, 4 * 1024 * 1024);
    let a = 0;
    let b = 0;
    c.on("drain", () => a++);
    c.on("drain", () => b++);
    s.resume();
    await c.drained();
    await until(() => a === 1, "the drain");
    await sleep(50);
    expect([a, b]).toEqual([1, 1]);
  });

  it("close() before the buffer falls: no drain once close() has settled", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({ ...marks, reconnect: false });
    await c.dial(s.url);
    fill(c, 4 * 1024 * 1024);
    const drains: string[] = [];
    c.on("drain", () => drains.push(c.state));
    const closing = c.close();
    s.resume();
    await closing;
    const atClose = drains.length;
    await sleep(50);
    expect(drains.length).toBe(atClose);
  });
});

/** The normal tunnel, its answer written in `parts`, each in its own TCP write some ms apart. */
const slowTunnel =
  (...parts: string[]): Behaviour =>
  (_n, client, _target, open) => {
    const up = open();
    up.once("connect", async () => {
      for (const part of parts) {
        client.write(part);
        await sleep(15);
      }
      client.pipe(up);
      up.pipe(client);
      client.resume();
    });
    up.on("close", () => client.destroy());
    client.on("close", () => up.destroy());
  };

describe("interim answers to CONNECT", () => {
  it("a 103 with headers split across packets mid-line, then 'HTTP/1.1 200' with bare LFs and no reason: the tunnel opens", async () => {
    const s = await server();
    const proxy = await handProxy(
      slowTunnel("HTTP/1.1 10", "3 Early Hints\r\nLink: </a>\r\n", "\r", "\nHTTP/1.1 200\n", "\n"),
    );
    const c = conn({ proxy: proxy.url, reconnect: false, matchMsg: (a, b) => a === b });
    await c.dial(s.url);
    expect(await c.request("through", { timeoutMs: 5000 })).toBe("through");
    await c.close();
  });

  it("interim answers of 20 KiB in all, in separate packets: oversized (16 KiB counts across them)", async () => {
    const s = await server();
    const one = `HTTP/1.1 102 Processing\r\nX-Pad: ${"p".repeat(1000)}\r\n\r\n`;
    const proxy = await handProxy(slowTunnel(...Array.from({ length: 20 }, () => one)));
    const c = conn({ proxy: proxy.url, reconnect: false });
    const error = await failure(c.dial(s.url));
    expect(error.message + String((error.cause as Error | undefined)?.message)).toContain("oversized");
  });
});

describe("the request TracingChannel through runStores", () => {
  it("send(x, cb) whose callback throws, with a store bound to asyncStart: ERR_CALLBACK_THREW once, the callback inside the store, events in order", async () => {
    const store = new AsyncLocalStorage<string>();
    const tracing = dc.tracingChannel(CHANNELS.request);
    tracing.asyncStart.bindStore(store, () => "response");
    const events: string[] = [];
    const subs = {
      start: () => void events.push("start"),
      end: () => void events.push("end"),
      asyncStart: () => void events.push(`asyncStart ${store.getStore()}`),
      asyncEnd: () => void events.push("asyncEnd"),
      error: () => void events.push("error"),
    };
    tracing.subscribe(subs);
    onCleanup(async () => {
      tracing.unsubscribe(subs);
      tracing.asyncStart.unbindStore(store);
    });
    const s = await server();
    const errors: EvtWebSocketError[] = [];
    const c = conn({ matchMsg: (a, b) => a === b, onError: (e) => void errors.push(e) });
    await c.dial(s.url);
    let inCallback: string | undefined;
    c.send("x", () => {
      inCallback = store.getStore();
      events.push("callback");
      throw new Error("from the callback");
    });
    await until(() => errors.length === 1, "the callback's error");
    await sleep(20);
    expect(inCallback).toBe("response");
    expect(errors.map((e) => e.code)).toEqual(["ERR_CALLBACK_THREW"]);
    expect(events).toEqual(["start", "end", "asyncStart response", "callback", "asyncEnd"]);
    expect(store.getStore()).toBeUndefined();
    await c.close();
  });

  it("a subscriber added after a request's start (another one heard it): it hears error, asyncStart, asyncEnd in order", async () => {
    // With no subscriber at all at its start a request is not traced, as Node's tracePromise.
    const tracing = dc.tracingChannel(CHANNELS.request);
    const onStart = () => {};
    dc.subscribe(tracing.start.name, onStart);
    onCleanup(async () => void dc.unsubscribe(tracing.start.name, onStart));
    const events: string[] = [];
    const late = {
      asyncStart: () => void events.push("asyncStart"),
      asyncEnd: () => void events.push("asyncEnd"),
      error: () => void events.push("error"),
    };
    const s = await server({ onMessage: () => {} });
    const c = conn({ matchMsg: (a, b) => a === b });
    await c.dial(s.url);
    const p = c.request("x", { timeoutMs: 50 }).catch((e: EvtWebSocketError) => e.code);
    tracing.subscribe(late as never);
    onCleanup(async () => void tracing.unsubscribe(late as never));
    expect(await p).toBe("ERR_REQUEST_TIMEOUT");
    expect(events).toEqual(["error", "asyncStart", "asyncEnd"]);
    await c.close();
  });
});

describe("a logger whose methods are async and reject", () => {
  it("a rejected Promise per line, a thenable that rejects, a result whose catch getter throws: no unhandled rejection, the connection carries on", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    onCleanup(async () => void process.off("unhandledRejection", onUnhandled));
    let calls = 0;
    const kinds = [
      () => Promise.reject(new Error("async logger down")),
      // A thenable that is no Promise (no catch): its rejection is no unhandled rejection either.
      // biome-ignore lint/suspicious/noThenProperty: the thenable is the point
      () => ({ then: (_: unknown, reject: (e: Error) => void) => reject(new Error("thenable down")) }),
      () =>
        Object.defineProperty({}, "catch", {
          get() {
            throw new Error("catch getter");
          },
        }),
    ];
    const line = () => kinds[calls++ % kinds.length]!();
    const logger = { debug: line, info: line, warn: line, error: line };
    const s = await server();
    const c = conn({ logger: logger as never, matchMsg: (a, b) => a === b, reconnect: false });
    await c.dial(s.url);
    expect(await c.request("m", { timeoutMs: 2000 })).toBe("m");
    await c.close();
    await sleep(50);
    expect(calls).toBeGreaterThanOrEqual(kinds.length);
    expect(unhandled).toEqual([]);
  });
});

describe("otel: instrument() on another meter provider, then back", () => {
  it("A, then B, then A again: each meter's message total goes on from its own, the open gauge follows the live setup", async () => {
    const a = instrumentInMemory();
    onCleanup(async () => uninstrument());
    const s = await server();
    const c = conn({ matchMsg: (x, y) => x === y });
    await c.dial(s.url);
    await c.request("1");
    await c.request("2");
    const sent = async (setup: typeof a) =>
      (await setup.points("evtwebsocket.messages")).find(
        ([at]) => at["network.io.direction"] === "transmit",
      )?.[1];
    const open = async (setup: typeof a) =>
      (await setup.points("evtwebsocket.connections.open")).map(([, v]) => v);
    expect(await sent(a)).toBe(2);
    expect(await open(a)).toEqual([1]);
    const b = instrumentInMemory(); // replaces A's setup
    await c.request("3");
    expect(await sent(b)).toBe(1);
    expect(await open(b)).toEqual([1]);
    expect(await open(a)).toEqual([0]);
    instrument({ tracerProvider: a.tracerProvider, meterProvider: a.meterProvider });
    await c.request("4");
    expect(await sent(a)).toBe(3);
    expect(await open(a)).toEqual([1]);
    expect(await open(b)).toEqual([0]);
    await c.close();
    expect(await open(a)).toEqual([0]);
  });
});

describe("a socket reset with sends still buffered (Node's ws)", () => {
  it('no "drain" on the dead socket: the one listening hears it after the reconnect, as on WHATWG sockets; drained() still settles', async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({
      ...marks,
      reconnect: { minDelayMs: 5, maxDelayMs: 20, jitter: 0 },
    });
    await c.dial(s.url);
    fill(c, 4 * 1024 * 1024);
    const log: string[] = [];
    c.on("drain", () => log.push(`drain ${c.state}`));
    c.on("close", () => log.push("close"));
    c.on("connected", () => log.push("connected"));
    const waiter = c.drained();
    // The server drops the connection with our 4 MB unread: a reset, the bytes never left.
    s.sockets[0]!.terminate();
    await until(() => log.includes("drain open"), "the drain");
    await waiter;
    // Before: "drain" came first, on the socket that had just been reset, buffer "empty".
    expect(log).toEqual(["close", "connected", "drain open"]);
    s.resume();
    await c.close();
  });
});
