/**
 * Delivery (issue 17, parts 1-3): what `send()` says it did, per-message options (`volatile`,
 * `signal`, `maxAgeMs`) and the queue's overflow policy, each way a message can end, against a
 * real `ws` server. "Never arrives" is shown by a later message that does arrive: the queue and
 * the socket keep order, so what was not received before it never will be.
 * Also sends during the peer's closing handshake, UTF-8 bytes in the byte bound, sends from onError.
 */

import dc from "node:diagnostics_channel";
import { getEventListeners } from "node:events";
import v8 from "node:v8";
import vm from "node:vm";
import { describe, expect, expectTypeOf, it } from "vitest";
import { CHANNELS } from "../src/channel-names.js";
import { type Conn, type EvtWebSocketError, json, type SendResult, State } from "../src/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, fast, server, sleep } from "./helpers/harness.js";
import { parseAll, rawServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

/** A server that records and never answers. */
const silent = () => server({ onMessage: () => {} });

/** The errors a connection reports, and a promise for the first one with `code`. */
function errors() {
  const seen: EvtWebSocketError[] = [];
  const waiting: Array<{ code: string; resolve: (e: EvtWebSocketError) => void }> = [];
  const onError = (e: EvtWebSocketError) => {
    seen.push(e);
    for (const w of waiting.splice(0)) {
      if (w.code === e.code) w.resolve(e);
      else waiting.push(w);
    }
  };
  const next = (code: string) =>
    new Promise<EvtWebSocketError>((resolve) => {
      const already = seen.find((e) => e.code === code);
      if (already) resolve(already);
      else waiting.push({ code, resolve });
    });
  return { seen, onError, next };
}

/**
 * Dials `c` and aborts `ac` from inside the first frame `c` hands to its socket (a
 * `diagnostics_channel` `sent` subscriber, called while the queue is being flushed); returns
 * `stats.queuedMessages` as read right after that abort.
 */
async function dialAbortingOnFirstSent(
  c: Conn<string, string>,
  ac: AbortController,
  url: string,
): Promise<number[]> {
  const queuedAfterAbort: number[] = [];
  const onSent = (m: unknown) => {
    if ((m as { conn: unknown }).conn !== c || ac.signal.aborted) return;
    ac.abort();
    queuedAfterAbort.push(c.stats.queuedMessages);
  };
  dc.subscribe(CHANNELS.sent, onSent);
  try {
    await c.dial(url);
  } finally {
    dc.unsubscribe(CHANNELS.sent, onSent);
  }
  return queuedAfterAbort;
}

describe("send() says what it did", () => {
  it('returns "sent" when the connection is open, and the message arrives', async () => {
    const s = await silent();
    const c = conn();
    await c.dial(s.url);
    expect(c.send("now")).toBe("sent");
    expect(c.send("with options", { maxAgeMs: 10 })).toBe("sent");
    await until(() => s.received.length === 2, "both messages");
    expect(s.received).toEqual(["now", "with options"]);
  });

  it('returns "queued" while not open, and the message is sent once the connection opens', async () => {
    const s = await silent();
    const c = conn();
    expect(c.send("early")).toBe("queued");
    const dialed = c.dial(s.url);
    expect(c.state).toBe("connecting");
    expect(c.send("while connecting", {})).toBe("queued");
    await dialed;
    await until(() => s.received.length === 2, "both messages");
    expect(s.received).toEqual(["early", "while connecting"]);
  });

  it('the callback form keeps its meaning and returns "queued" or "sent" too', async () => {
    const s = await server(); // echoes: the echo answers the request
    const c = conn({ matchMsg: (req, resp) => req === resp });
    const answers: string[] = [];
    expect(c.send("q1", (resp) => answers.push(resp))).toBe("queued");
    await c.dial(s.url);
    expect(c.send("q2", (resp) => answers.push(resp))).toBe("sent");
    await until(() => answers.length === 2, "both answers");
    expect(answers).toEqual(["q1", "q2"]);
  });
});

it("the types (checked by tsc): every form returns SendResult, and the options are typed", () => {
  const typed = (c: Conn, maybe: ((resp: unknown) => void) | undefined) => {
    expectTypeOf(c.send("x")).toEqualTypeOf<SendResult>();
    expectTypeOf(c.send("x", { volatile: true, maxAgeMs: 10 })).toEqualTypeOf<SendResult>();
    expectTypeOf(c.send("x", maybe)).toEqualTypeOf<SendResult>();
    // @ts-expect-error volatile is a boolean
    c.send("x", { volatile: "yes" });
    // @ts-expect-error no such option: a response wants request() or the callback form
    c.send("x", { onResponse: () => {} });
  };
  expect(typeof typed).toBe("function");
});

describe("volatile: now or never", () => {
  it('a volatile send while connecting returns "dropped", reports nothing and never arrives', async () => {
    const s = await silent();
    const e = errors();
    const c = conn({ onError: e.onError });
    const dialed = c.dial(s.url);
    expect(c.send("stale cursor", { volatile: true })).toBe("dropped");
    expect(c.stats.queuedMessages).toBe(0);
    await dialed;
    expect(c.send("fresh cursor", { volatile: true })).toBe("sent");
    await until(() => s.received.length === 1, "the fresh cursor");
    expect(s.received).toEqual(["fresh cursor"]);
    expect(e.seen).toEqual([]);
  });
});

describe("signal: aborting a queued message", () => {
  it("removes it from the queue and frees its bytes, so a further send fits; it never arrives", async () => {
    const s = await silent();
    const e = errors();
    const c = conn({ queue: { maxBytes: 10 }, onError: e.onError });
    const ac = new AbortController();
    expect(c.send("12345678", { signal: ac.signal })).toBe("queued");
    expect(() => c.send("abcd")).toThrow(expect.objectContaining({ code: "ERR_QUEUE_FULL" }));
    ac.abort();
    expect(c.stats.queuedMessages).toBe(0);
    expect(c.send("abcd")).toBe("queued");
    await c.dial(s.url);
    await until(() => s.received.length === 1, "the later message");
    expect(s.received).toEqual(["abcd"]);
    expect(e.seen).toEqual([]); // the aborter knows: nothing is reported
  });

  it("one signal shared by many queued messages takes them all out, with one listener (no Node leak warning)", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => void warnings.push(w);
    process.on("warning", onWarning);
    try {
      const s = await silent();
      const c = conn();
      const ac = new AbortController();
      for (let i = 0; i < 20; i++) expect(c.send(`view ${i}`, { signal: ac.signal })).toBe("queued");
      c.send("kept");
      await new Promise((r) => setImmediate(r)); // process warnings are emitted on the next tick
      expect(warnings.map((w) => w.name)).not.toContain("MaxListenersExceededWarning");
      ac.abort();
      expect(c.stats.queuedMessages).toBe(1);
      await c.dial(s.url);
      await until(() => s.received.length === 1, "the kept message");
      expect(s.received).toEqual(["kept"]);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("aborted while its frame is being handed to the socket (a sent subscriber), a message is sent and the queue's count stays right", async () => {
    const s = await silent();
    const c = conn();
    const ac = new AbortController();
    c.send("a", { signal: ac.signal });
    c.send("b", { signal: ac.signal });
    c.send("c");
    // "c" is still to go when "a" has left.
    const queuedAfterAbort = await dialAbortingOnFirstSent(c, ac, s.url);
    await until(() => s.received.length === 2, "a and c");
    expect(s.received).toEqual(["a", "c"]);
    expect(queuedAfterAbort).toEqual([1]);
    expect(c.stats.queuedMessages).toBe(0);
    expect(c.send("d", { signal: new AbortController().signal })).toBe("sent");
  });

  it("an abort from a sent subscriber that takes most of the queue out mid-flush: the rest goes, in order, counted right", async () => {
    // Three of every four queued messages share a signal aborted while the first frame is being
    // sent: the queue lets go of them at once (its array holds at most about twice the live
    // frames), under the flush that is walking it.
    const s = await silent();
    const c = conn({ queue: { maxMessages: 1000 } });
    const ac = new AbortController();
    const rest: string[] = [];
    for (let i = 0; i < 100; i++) {
      for (const k of [0, 1, 2]) c.send(`s${i}.${k}`, { signal: ac.signal });
      c.send(`p${i}`);
      rest.push(`p${i}`);
    }
    const queuedAfterAbort = await dialAbortingOnFirstSent(c, ac, s.url);
    await until(() => s.received.length === 101, "the first frame and the plain messages");
    expect(s.received).toEqual(["s0.0", ...rest]);
    expect(queuedAfterAbort).toEqual([100]);
    expect(c.stats).toMatchObject({ queuedMessages: 0, messagesSent: 101 });
    expect(getEventListeners(ac.signal, "abort")).toHaveLength(0);
  });

  it("aborting after the message was sent changes nothing", async () => {
    const s = await silent();
    const c = conn();
    const ac = new AbortController();
    expect(c.send("first", { signal: ac.signal })).toBe("queued");
    await c.dial(s.url);
    await until(() => s.received.length === 1, "the message");
    ac.abort();
    expect(c.send("second")).toBe("sent");
    await until(() => s.received.length === 2, "the second message");
    expect(s.received).toEqual(["first", "second"]);
    expect(c.stats.messagesSent).toBe(2);
  });

  it("an already-aborted signal is refused with ERR_ABORTED, as request() does; nothing is queued", () => {
    const c = conn();
    expect(() => c.send("x", { signal: AbortSignal.abort() })).toThrow(
      expect.objectContaining({ code: "ERR_ABORTED" }),
    );
    expect(c.stats.queuedMessages).toBe(0);
  });

  it("on a closed connection ERR_CLOSED comes before ERR_ABORTED, for send() as for request()", async () => {
    const c = conn({ matchMsg: () => true });
    await c.close();
    expect(() => c.send("x", { signal: AbortSignal.abort() })).toThrow(
      expect.objectContaining({ code: "ERR_CLOSED" }),
    );
    await expect(c.request("x", { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: "ERR_CLOSED",
    });
  });
});

describe("maxAgeMs: expiry in the queue", () => {
  it("a message still queued after queue.maxAgeMs is dropped and reported as ERR_QUEUE_EXPIRED with the message", async () => {
    const s = await silent();
    const e = errors();
    const c = conn({ queue: { maxAgeMs: 20 }, onError: e.onError });
    expect(c.send("old")).toBe("queued");
    const expired = await e.next("ERR_QUEUE_EXPIRED");
    expect(expired.details.message).toBe("old");
    expect(c.stats.queuedMessages).toBe(0);
    expect(c.send("kept", { maxAgeMs: 0 })).toBe("queued"); // 0: no limit for this one
    await c.dial(s.url);
    await until(() => s.received.length === 1, "the kept message");
    expect(s.received).toEqual(["kept"]);
    expect(e.seen.map((x) => x.code)).toEqual(["ERR_QUEUE_EXPIRED"]);
  });

  it("a message's own maxAgeMs applies without queue.maxAgeMs, and to it alone", async () => {
    const s = await silent();
    const e = errors();
    const c = conn<unknown, { n: number }>({ codec: json(), onError: e.onError });
    const mine = { n: 1 };
    c.send(mine, { maxAgeMs: 5 });
    expect(c.send({ n: 2 })).toBe("queued");
    const expired = await e.next("ERR_QUEUE_EXPIRED");
    expect(expired.details.message).toBe(mine); // the body as given, not its encoding
    await c.dial(s.url);
    await until(() => s.received.length === 1, "the other message");
    expect(s.received).toEqual(['{"n":2}']);
  });

  it("requests keep their own timeout: queue.maxAgeMs does not expire them", async () => {
    const s = await server(); // echo
    const e = errors();
    const c = conn({ queue: { maxAgeMs: 5 }, matchMsg: (req, resp) => req === resp, onError: e.onError });
    const answered = c.request("req", { timeoutMs: 0 });
    c.send("plain");
    await e.next("ERR_QUEUE_EXPIRED");
    await c.dial(s.url);
    await expect(answered).resolves.toBe("req");
    expect(s.received).toEqual(["req"]);
  });

  it("one timer serves the whole queue, armed for the earliest deadline and gone after close()", async () => {
    const clock = new FakeClock();
    const e = errors();
    const c = conn({ clock, queue: { maxAgeMs: 1000 }, onError: e.onError });
    for (let i = 0; i < 100; i++) c.send(`m${i}`);
    expect(clock.created).toBe(1);
    c.send("sooner", { maxAgeMs: 10 }); // earlier than the armed deadline: re-armed, still one
    expect(clock.pending).toBe(1);
    clock.advance(10);
    expect(e.seen.map((x) => x.details.message)).toEqual(["sooner"]);
    expect(clock.pending).toBe(1); // re-armed for the 100 others
    clock.advance(990);
    expect(e.seen).toHaveLength(101);
    expect(clock.pending).toBe(0);
    c.send("late");
    expect(clock.pending).toBe(1);
    await c.close();
    expect(clock.pending).toBe(0);
  });

  it("the timer goes when aborts take the last messages out: nothing holds an idle connection's process open", () => {
    const clock = new FakeClock();
    const c = conn({ clock });
    const ac = new AbortController();
    c.send("a", { maxAgeMs: 3_600_000, signal: ac.signal });
    c.send("b", { maxAgeMs: 3_600_000, signal: ac.signal });
    expect(clock.pending).toBe(1);
    ac.abort();
    expect(c.stats.queuedMessages).toBe(0);
    expect(clock.pending).toBe(0);
  });
});

describe("expiry and drops are transitions: finish, then announce", () => {
  it("messages that expire together are all reported, even when the first report's onError closes", async () => {
    const clock = new FakeClock();
    const seen: string[] = [];
    const c = conn({
      clock,
      queue: { maxAgeMs: 100 },
      onError: (e) => {
        seen.push(`${e.code} ${e.details.message ?? `unsent ${e.details.unsent}`}`);
        if (e.code === "ERR_QUEUE_EXPIRED") void c.close();
      },
    });
    c.send("a");
    c.send("b");
    c.send("c");
    c.send("d", { maxAgeMs: 0 });
    clock.advance(100);
    expect(seen).toEqual([
      "ERR_QUEUE_EXPIRED a",
      "ERR_QUEUE_EXPIRED b",
      "ERR_QUEUE_EXPIRED c",
      "ERR_CLOSED unsent 1",
    ]);
    expect(clock.pending).toBe(0);
  });

  it("a message past its deadline whose timer is late expires when the connection opens; it is not sent", async () => {
    const s = await silent();
    const clock = new FakeClock();
    clock.lateByMs = 60_000; // a throttled tab: the expiry timer fires a minute late
    const e = errors();
    const c = conn({ clock, queue: { maxAgeMs: 10 }, onError: e.onError });
    c.send("stale");
    clock.sleep(50); // past its deadline; its timer has not fired
    expect(c.stats.queuedMessages).toBe(1);
    await c.dial(s.url);
    const expired = await e.next("ERR_QUEUE_EXPIRED");
    expect(expired.details.message).toBe("stale");
    expect(c.send("after")).toBe("sent");
    await until(() => s.received.length === 1, "the later message");
    expect(s.received).toEqual(["after"]);
  });
});

describe('queue.overflow: "drop-oldest"', () => {
  it("drops the oldest queued message to make room, reports it as ERR_QUEUE_FULL with the message; the newest arrive", async () => {
    const s = await silent();
    const e = errors();
    const c = conn({ queue: { maxMessages: 2, overflow: "drop-oldest" }, onError: e.onError });
    expect(c.send("a")).toBe("queued");
    expect(c.send("b")).toBe("queued");
    expect(c.send("c")).toBe("queued");
    expect(e.seen.map((x) => [x.code, x.details.message])).toEqual([["ERR_QUEUE_FULL", "a"]]);
    expect(c.stats.queuedMessages).toBe(2);
    await c.dial(s.url);
    await until(() => s.received.length === 2, "the two newest");
    expect(s.received).toEqual(["b", "c"]);
  });

  it("drops as many as the bytes need, and refuses (dropping nothing) what could never fit", () => {
    const e = errors();
    const c = conn({ queue: { maxBytes: 10, overflow: "drop-oldest" }, onError: e.onError });
    c.send("aaa");
    c.send("bbb");
    c.send("ccc");
    expect(c.send("dddddd")).toBe("queued"); // needs 6 of 10 bytes: a and b go
    expect(e.seen.map((x) => x.details.message)).toEqual(["aaa", "bbb"]);
    expect(() => c.send("x".repeat(11))).toThrow(expect.objectContaining({ code: "ERR_QUEUE_FULL" }));
    expect(c.stats.queuedMessages).toBe(2);
    expect(e.seen).toHaveLength(2);
  });

  it("never drops a request; with only requests queued it refuses as reject does", async () => {
    const s = await server(); // echo
    const e = errors();
    const c = conn({
      queue: { maxMessages: 2, overflow: "drop-oldest" },
      matchMsg: (req, resp) => req === resp,
      onError: e.onError,
    });
    const r1 = c.request("r1");
    c.send("p");
    expect(c.send("q")).toBe("queued"); // p goes, r1 stays
    const r2 = c.request("r2"); // q goes: a new request makes room too
    expect(e.seen.map((x) => x.details.message)).toEqual(["p", "q"]);
    expect(() => c.send("z")).toThrow(expect.objectContaining({ code: "ERR_QUEUE_FULL" }));
    await expect(c.request("r3")).rejects.toMatchObject({ code: "ERR_QUEUE_FULL" });
    expect(e.seen).toHaveLength(2);
    await c.dial(s.url);
    await expect(r1).resolves.toBe("r1");
    await expect(r2).resolves.toBe("r2");
    expect(s.received).toEqual(["r1", "r2"]);
  });
});

describe("reported after a disconnect, and no listener left behind", () => {
  it("a message still queued when the policy gives up is counted in one ERR_DISCONNECTED (details.unsent)", async () => {
    const s = await silent();
    const e = errors();
    const c = conn({
      reconnect: { minDelayMs: 5, maxDelayMs: 5, jitter: 0, maxAttempts: 1 },
      onError: e.onError,
    });
    await c.dial(s.url);
    await s.stop();
    await until(() => c.state === "reconnecting", "reconnecting");
    expect(c.send("never")).toBe("queued");
    await until(() => c.state === "closed", "the policy gave up");
    const unsent = e.seen.find((x) => x.details.unsent !== undefined);
    expect(unsent).toMatchObject({ code: "ERR_DISCONNECTED", details: { unsent: 1 } });
    expect(unsent?.cause).toMatchObject({ code: "ERR_RECONNECT_EXHAUSTED" });
  });

  /** A signal (another realm's, say) that counts its listeners. */
  function countingSignal() {
    const ac = new AbortController();
    let listeners = 0;
    const signal = {
      get aborted() {
        return ac.signal.aborted;
      },
      addEventListener(type: string, listener: () => void, options?: AddEventListenerOptions) {
        listeners++;
        ac.signal.addEventListener(type, listener, options);
      },
      removeEventListener(type: string, listener: () => void) {
        listeners--;
        ac.signal.removeEventListener(type, listener);
      },
    };
    return { signal: signal as unknown as AbortSignal, listeners: () => listeners };
  }

  it("a queued message's signal listener is removed whichever way it ends: sent, dropped as oldest, expired, unsent at close()", async () => {
    const s = await silent();
    const sent = countingSignal();
    const a = conn();
    a.send("a", { signal: sent.signal });
    expect(sent.listeners()).toBe(1);
    await a.dial(s.url);
    await until(() => s.received.length === 1, "a");
    expect(sent.listeners()).toBe(0);

    const clock = new FakeClock();
    const b = conn({
      clock,
      queue: { maxMessages: 2, overflow: "drop-oldest", maxAgeMs: 100 },
      onError: () => {},
    });
    const [oldest, expiring, unsent] = [countingSignal(), countingSignal(), countingSignal()];
    b.send("oldest", { signal: oldest.signal });
    b.send("expiring", { signal: expiring.signal });
    b.send("pushes out the oldest");
    expect(oldest.listeners()).toBe(0);
    clock.advance(100);
    expect(expiring.listeners()).toBe(0);
    b.send("unsent", { signal: unsent.signal, maxAgeMs: 0 });
    expect(unsent.listeners()).toBe(1);
    await b.close();
    expect(unsent.listeners()).toBe(0);
  });
});

describe("a message that left the queue unsent is not kept by it", () => {
  // The queue only marked such a frame cancelled and left it in its array until a flush passed
  // it: while the connection was away, a queue of 10 under "drop-oldest" kept every message ever
  // dropped from it (221 MB after 200,000 sends of 1 kB), and so did expiry, aborts and requests
  // that timed out while queued.
  const ways: Array<
    [string, (c: Conn<Uint8Array, Uint8Array>, clock: FakeClock, frame: Uint8Array) => void]
  > = [
    ["dropped as oldest", (c, _clock, frame) => c.send(frame)],
    [
      "expired",
      (c, clock, frame) => {
        c.send(frame, { maxAgeMs: 10 });
        clock.advance(10);
      },
    ],
    [
      "aborted",
      (c, _clock, frame) => {
        const ac = new AbortController();
        c.send(frame, { signal: ac.signal });
        ac.abort();
      },
    ],
    [
      "a request that timed out",
      (c, clock, frame) => {
        c.request(frame, { timeoutMs: 10 }).catch(() => {});
        clock.advance(10);
      },
    ],
  ];

  it.each(ways)("%s: of 1,000 such messages, the queue keeps a few at most", async (way, leave) => {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const clock = new FakeClock();
    const c = conn<Uint8Array, Uint8Array>({
      clock,
      matchMsg: () => true,
      queue: { maxMessages: 2, overflow: "drop-oldest" },
      onError: () => {},
    });
    const kept = new Uint8Array(8); // one message stays queued throughout
    c.send(kept, { maxAgeMs: 0 });
    const refs: WeakRef<Uint8Array>[] = [];
    for (let i = 0; i < 1000; i++) {
      const frame = new Uint8Array(8);
      refs.push(new WeakRef(frame));
      leave(c, clock, frame);
    }
    // Dropped as oldest, the last two stay queued (and `kept` went first); every other has left.
    const left = refs.slice(0, way === "dropped as oldest" ? -2 : undefined);
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
    const alive = left.filter((r) => r.deref() !== undefined).length;
    expect(alive).toBeLessThanOrEqual(20);
    expect(c.stats.queuedMessages).toBe(way === "dropped as oldest" ? 2 : 1);
  });
});

describe("refused: thrown, as before", () => {
  it("after close(): ERR_CLOSED, volatile or not", async () => {
    const s = await silent();
    const c = conn();
    await c.dial(s.url);
    await c.close();
    expect(() => c.send("x")).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
    expect(() => c.send("x", { volatile: true })).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
  });

  it("a full queue under the default overflow (reject): ERR_QUEUE_FULL, and nothing queued is dropped", async () => {
    const s = await silent();
    const c = conn({ queue: { maxMessages: 1 } });
    c.send("a");
    expect(() => c.send("b", { maxAgeMs: 1000 })).toThrow(
      expect.objectContaining({ code: "ERR_QUEUE_FULL" }),
    );
    await c.dial(s.url);
    await until(() => s.received.length === 1, "a");
    expect(c.send("c")).toBe("sent");
    await until(() => s.received.length === 2, "c");
    expect(s.received).toEqual(["a", "c"]);
  });
});

describe("send() while the peer's closing handshake is under way (state still open)", () => {
  it('a volatile message is "dropped", a plain one "queued" and sent on the next connection', async () => {
    const raw = await rawServer({ allowHalfOpen: true });
    const c = conn({ reconnect: { ...fast, shouldReconnect: () => true } });
    await c.dial(raw.url);
    raw.write(Buffer.from([0x88, 0x02, 0x03, 0xe9])); // close 1001, and TCP held open
    // The client answered with its close frame: its socket is closing, the connection is not over.
    await until(() => parseAll(raw.connectionBytes(0)).some((f) => f.opcode === 8), "the client's answer");
    expect(c.state).toBe(State.OPEN);
    expect(c.send("cursor", { volatile: true })).toBe("dropped");
    expect(c.send("order")).toBe("queued");
    raw.hangUp();
    await until(() => parseAll(raw.connectionBytes(1)).length > 0, "the next connection's frames");
    const texts = parseAll(raw.connectionBytes(1)).map((f) => f.payload.toString());
    expect(texts).toEqual(["order"]);
    // It never answers a closing handshake: hang up rather than wait out close().
    const closing = c.close();
    raw.hangUp();
    await closing;
  });
});

describe("the Delivery table: a drop that is not retried", () => {
  it("a message queued while the peer closes, with no retry, is reported once as ERR_DISCONNECTED with details.unsent", async () => {
    const raw = await rawServer({ allowHalfOpen: true });
    const e = errors();
    const c = conn({ reconnect: { ...fast, shouldReconnect: () => false }, onError: e.onError });
    await c.dial(raw.url);
    raw.write(Buffer.from([0x88, 0x02, 0x03, 0xe9]));
    await until(() => parseAll(raw.connectionBytes(0)).some((f) => f.opcode === 8), "the client's answer");
    expect(c.send("order")).toBe("queued");
    raw.hangUp();
    await until(() => c.state === State.CLOSED, "the end");
    expect(e.seen.map((x) => [x.code, x.details?.unsent])).toEqual([["ERR_DISCONNECTED", 1]]);
    expect(c.stats.queuedMessages).toBe(0);
  });
});

describe("the queue's byte bound counts UTF-8 and binary bytes", () => {
  it("multi-byte text and a typed array's view are counted by their bytes on the wire", async () => {
    const c = conn({ queue: { maxBytes: 10 } });
    expect(c.send("€€€")).toBe("queued"); // 9 bytes, 3 characters
    expect(() => c.send("ab")).toThrow(expect.objectContaining({ code: "ERR_QUEUE_FULL" }));
    expect(c.send("a")).toBe("queued"); // 10 bytes
    const c2 = conn<Uint8Array, Uint8Array>({ queue: { maxBytes: 4 } });
    const big = new Uint8Array(100);
    expect(c2.send(big.subarray(10, 14))).toBe("queued");
    expect(() => c2.send(new Uint8Array(1))).toThrow(expect.objectContaining({ code: "ERR_QUEUE_FULL" }));
    const c3 = conn({ queue: { maxBytes: 4, overflow: "drop-oldest" } });
    const e = errors();
    c3.on("error", e.onError);
    expect(c3.send("😀")).toBe("queued"); // a surrogate pair: 4 bytes
    expect(c3.send("é")).toBe("queued"); // 2 bytes: the emoji goes
    expect(e.seen.map((x) => x.details?.message)).toEqual(["😀"]);
    expect(c3.send("é")).toBe("queued"); // 4 bytes: fits with the first é
    expect(e.seen).toHaveLength(1);
  });
});

describe("send options inside the callbacks that report drops", () => {
  it("aborting, from onError, the signal of a message queued later takes it out quietly", async () => {
    const e = errors();
    const ac = new AbortController();
    const c = conn({ queue: { maxMessages: 2, overflow: "drop-oldest" } });
    c.on("error", (err) => {
      e.onError(err);
      ac.abort(); // "a drop happened: cancel the rest of this view"
    });
    expect(c.send("a")).toBe("queued");
    expect(c.send("b", { signal: ac.signal })).toBe("queued");
    expect(c.send("c", { signal: ac.signal })).toBe("queued"); // drops a; onError aborts b and c
    expect(e.seen.map((x) => [x.code, x.details?.message])).toEqual([["ERR_QUEUE_FULL", "a"]]);
    expect(c.stats.queuedMessages).toBe(0);
    await expect(c.drained()).resolves.toBeUndefined();
    const s = await server();
    await c.dial(s.url);
    expect(c.send("d")).toBe("sent");
    await until(() => s.received.length === 1, "d");
    expect(s.received).toEqual(["d"]);
  });

  it("a send() from the onError that reports an expiry is queued and sent; each message ends one way", async () => {
    const clock = new FakeClock();
    const e = errors();
    const c = conn({
      clock,
      onError: (err) => {
        e.onError(err);
        if (err.code === "ERR_QUEUE_EXPIRED") c.send(`again:${err.details?.message}`);
      },
    });
    c.send("x", { maxAgeMs: 10 });
    c.send("y", { maxAgeMs: 10 });
    clock.advance(10);
    expect(e.seen.map((x) => x.details?.message)).toEqual(["x", "y"]);
    expect(c.stats.queuedMessages).toBe(2);
    const s = await server();
    await c.dial(s.url);
    await until(() => s.received.length === 2, "the re-sent messages");
    expect(s.received).toEqual(["again:x", "again:y"]);
    expect(clock.pending).toBe(0);
  });

  it("a send() from the onError that reports a drop-oldest drop drops the next oldest, reported too; the rest go in order", async () => {
    const e = errors();
    const c = conn({
      queue: { maxMessages: 2, overflow: "drop-oldest" },
      onError: (err) => {
        e.onError(err);
        if (err.details?.message === "a") expect(c.send("a again")).toBe("queued");
      },
    });
    c.send("a");
    c.send("b");
    expect(c.send("c")).toBe("queued");
    expect(e.seen.map((x) => [x.code, x.details?.message])).toEqual([
      ["ERR_QUEUE_FULL", "a"],
      ["ERR_QUEUE_FULL", "b"],
    ]);
    expect(c.stats.queuedMessages).toBe(2);
    const s = await server();
    await c.dial(s.url);
    await until(() => s.received.length === 2, "the queue");
    expect(s.received).toEqual(["c", "a again"]);
  });

  it("a deadline that passes in the turn the connection opens, its timer late: sent or expired, never both", async () => {
    // Timers late by 5 ms: the expiry timer of a message due at the open has not fired yet.
    for (const lateByMs of [0, 5]) {
      const clock = new FakeClock();
      clock.lateByMs = lateByMs;
      const e = errors();
      const s = await server();
      const c = conn({ clock, onError: e.onError });
      c.send("due", { maxAgeMs: 10 });
      c.send("later", { maxAgeMs: 11 });
      clock.sleep(10); // "due" is exactly at its deadline as the connection opens
      await c.dial(s.url);
      await until(() => s.received.length > 0, "the flush");
      clock.advance(100);
      await sleep(20);
      expect(s.received).toEqual(["later"]);
      expect(e.seen.map((x) => [x.code, x.details?.message])).toEqual([["ERR_QUEUE_EXPIRED", "due"]]);
      expect(clock.pending).toBe(0);
    }
  });
});

describe("the Delivery table: reported after a disconnect", () => {
  it("close() reports one ERR_CLOSED counting only the messages still queued (not aborted, expired, dropped or sent)", async () => {
    const clock = new FakeClock();
    const e = errors();
    const c = conn({ clock, queue: { maxMessages: 4, overflow: "drop-oldest" }, onError: e.onError });
    const ac = new AbortController();
    c.send("dropped");
    c.send("aborted", { signal: ac.signal });
    c.send("expires", { maxAgeMs: 5 });
    c.send("kept1");
    c.send("kept2"); // drops "dropped"
    ac.abort();
    clock.advance(5);
    expect(c.stats.queuedMessages).toBe(2);
    await c.close();
    expect(e.seen.map((x) => [x.code, x.details?.message ?? x.details?.unsent])).toEqual([
      ["ERR_QUEUE_FULL", "dropped"],
      ["ERR_QUEUE_EXPIRED", "expires"],
      ["ERR_CLOSED", 2],
    ]);
    expect(clock.pending).toBe(0);
  });
});

describe("the UTF-8 size of a lone surrogate (issue 15, bug 4) in the queue's byte bound", () => {
  it('"\\uD800中" is 6 bytes: refused by queue.maxBytes 5, queued by 6, and 6 bytes on the wire', async () => {
    const text = "\uD800中";
    const tight = conn({ queue: { maxBytes: 5 } });
    expect(() => tight.send(text)).toThrow(expect.objectContaining({ code: "ERR_QUEUE_FULL" }));
    expect(tight.stats.queuedMessages).toBe(0);
    const s = await server();
    const c = conn({ queue: { maxBytes: 6 } });
    expect(c.send(text)).toBe("queued");
    await c.dial(s.url);
    await until(() => s.received.length === 1, "the queued message");
    expect(s.received).toEqual(["\uFFFD中"]);
    expect(c.stats.bytesSent).toBe(6);
  });
});

describe("volatile while reconnecting", () => {
  it('a volatile send while reconnecting returns "dropped" and never arrives; a plain one waits and does', async () => {
    const s = await server({ onMessage: () => {} });
    const errors: unknown[] = [];
    const c = conn({ reconnect: fast, onError: (e) => void errors.push(e.code) });
    await c.dial(s.url);
    await s.stop();
    await until(() => c.state === "reconnecting", "reconnecting");
    expect(c.send("stale", { volatile: true })).toBe("dropped");
    expect(c.send("plain")).toBe("queued");
    expect(c.stats.queuedMessages).toBe(1);
    await s.start();
    await until(() => c.state === "open", "the reconnect");
    expect(c.send("fresh", { volatile: true })).toBe("sent");
    await until(() => s.received.length === 2, "plain and fresh");
    expect(s.received).toEqual(["plain", "fresh"]);
    // The drop said nothing: only the drop of the first socket is reported.
    expect(errors.every((code) => code === "ERR_DISCONNECTED")).toBe(true);
  });
});
