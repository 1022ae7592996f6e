/**
 * `reconnect()`: the current socket closed with the code and reason given and a new one dialled
 * at once, as a reconnect (queue kept, requests under the reconnect rules, backoff reset),
 * against real `ws` servers on 127.0.0.1.
 * Also the order of its events, and one socket at a time against a peer that never answers the close frame.
 */

import { describe, expect, it } from "vitest";
import { Conn, type EvtWebSocketError } from "../src/index.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, fast, onCleanup, server } from "./helpers/harness.js";
import { parseAll, rawServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

type Msg = { id: number; op: string };

describe("reconnect()", () => {
  it("closes the socket with its code and reason and opens a new one: the queue kept, retryOnReconnect requests sent again, the others ERR_DISCONNECTED", async () => {
    const closes: [number, string][] = [];
    // The first socket answers nothing (the requests stay in flight); later ones echo.
    const s = await server({
      onConnection: (ws) => ws.on("close", (code, reason) => closes.push([code, reason.toString()])),
      onMessage: (ws, data) => s.connections > 1 && ws.send(data),
    });
    const attempts: number[] = [];
    let token = "old";
    const events: string[] = [];
    const c = new Conn<Msg, Msg>({
      codec: { encode: (m) => JSON.stringify(m), decode: (d) => JSON.parse(String(d)) as Msg },
      messageId: (m) => m.id,
      onClose: (i) => void events.push(`close ${i.code} ${i.closedBy} willReconnect=${i.willReconnect}`),
      onReconnecting: () => void events.push("reconnecting"),
    });
    onCleanup(() => c.close());
    const states: string[] = [];
    c.on("state", ({ newState }) => states.push(newState));
    await c.dial(({ attempt }) => {
      attempts.push(attempt);
      return `${s.url}?token=${token}`;
    });
    const again = c.request({ id: 1, op: "again" }, { retryOnReconnect: true });
    const lost = c.request({ id: 2, op: "lost" });
    await until(() => s.received.length === 2, "both requests at the server");
    token = "new";
    c.reconnect(4000, "new token");
    expect(c.send({ id: 3, op: "queued" })).toBe("queued");
    await expect(lost).rejects.toMatchObject({ code: "ERR_DISCONNECTED" });
    await expect(again).resolves.toEqual({ id: 1, op: "again" });
    await until(() => s.received.length === 4, "the queued message and the request again");
    expect(
      s.received
        .slice(2)
        .map((m) => JSON.parse(m).id)
        .sort(),
    ).toEqual([1, 3]);
    expect(closes[0]).toEqual([4000, "new token"]);
    expect(s.handshakes.map((h) => h.url)).toEqual(["/?token=old", "/?token=new"]);
    expect(attempts).toEqual([0, 0]);
    expect(events).toEqual(["close 4000 client willReconnect=true"]);
    expect(states).toEqual(["connecting", "open", "reconnecting", "open"]);
    expect(c.stats.reconnects).toBe(1);
    expect(s.clients.size).toBe(1);
  });

  it("is logged as a reconnect decision whose reason is reconnect(), before the old socket's close line", async () => {
    const s = await server();
    const lines: string[] = [];
    const log = (line: string) =>
      void lines.push(
        line
          .split(" ")
          .slice(1, 2)
          .concat(line.includes('reason="reconnect()"') ? ["(reconnect())"] : [])
          .join(" "),
      );
    const c = conn({ logger: { debug: log, info: log, warn: log, error: log } });
    await c.dial(s.url);
    lines.length = 0;
    c.reconnect();
    await until(() => c.isConnected() && s.connections === 2, "open again");
    expect(lines.slice(0, 2)).toEqual(["reconnecting (reconnect())", "close"]);
  });

  it("during a backoff wait, dials at once instead of waiting it out, with the backoff started over (attempt 0)", async () => {
    const s = await server();
    const c = conn({ reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 } });
    const attempts: number[] = [];
    await c.dial(({ attempt }) => {
      attempts.push(attempt);
      return s.url;
    });
    s.dropAll(1011);
    await until(() => c.state === "reconnecting", "the drop");
    c.reconnect();
    // The wait was a minute: an open within the test's time is the reconnect's.
    await until(() => c.isConnected(), "open again");
    expect(s.connections).toBe(2);
    expect(attempts).toEqual([0, 0]);
  });

  it("while the first dial is still connecting: that attempt is dropped, a new one made, and dial() resolves on its open", async () => {
    let held = 0;
    let answerFirst: ((ok: boolean, code?: number) => void) | undefined;
    const s = await server({
      verifyClient: (_info, cb) => {
        // The first handshake is not answered until the end; the second is accepted.
        if (held++ === 0) answerFirst = cb;
        else cb(true);
      },
    });
    onCleanup(async () => answerFirst?.(false, 503));
    const c = conn();
    const dialed = c.dial(s.url);
    await until(() => held === 1, "the first handshake at the server");
    c.reconnect();
    await dialed;
    expect(c.state).toBe("open");
    expect(held).toBe(2);
  });

  it("refuses before dial() and after close() with ERR_CLOSED, and a bad code or reason with ERR_INVALID_OPTION, changing nothing", async () => {
    const s = await server();
    const c = conn();
    expect(() => c.reconnect()).toThrow(
      expect.objectContaining({ code: "ERR_CLOSED", message: "cannot reconnect: connection is idle" }),
    );
    await c.dial(s.url);
    for (const [code, reason] of [
      [1001, ""],
      [2999, ""],
      [4000, "x".repeat(124)],
    ] as const) {
      let caught: EvtWebSocketError | undefined;
      try {
        c.reconnect(code, reason);
      } catch (e) {
        caught = e as EvtWebSocketError;
      }
      expect(caught).toMatchObject({
        code: "ERR_INVALID_OPTION",
        message: expect.stringMatching(/close (code|reason)/),
      });
    }
    expect(c.state).toBe("open");
    expect(s.connections).toBe(1);
    await c.close();
    expect(() => c.reconnect()).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
  });

  it("called from onConnected on every open but the third: one socket at a time, and the connection ends open", async () => {
    const s = await server();
    let opens = 0;
    const c = conn({
      onConnected: (self) => {
        if (++opens < 3) self.reconnect(4001, `again ${opens}`);
      },
    });
    await c.dial(s.url);
    await until(() => opens === 3 && c.isConnected(), "the third open");
    expect(s.connections).toBe(3);
    await until(() => s.clients.size === 1, "the old sockets gone");
    expect(c.stats.reconnects).toBe(2);
  });
});

describe("the order of events, as docs/concepts.md's transition table lists them", () => {
  it("reconnect(): state within the call, then the old socket's close when it is gone, then the new open", async () => {
    const s = await server();
    const events: string[] = [];
    const c = conn<string, string>({
      reconnect: fast,
      onClose: (i) => void events.push(`close ${i.code} willReconnect=${i.willReconnect} ${i.closedBy}`),
      onReconnecting: () => void events.push("reconnecting"),
      onError: (e) => void events.push(`error ${e.code}`),
      onConnected: () => void events.push("connected"),
    });
    c.on("state", (change) => void events.push(`state ${change.newState}`));
    await c.dial(s.url);
    events.length = 0;
    c.reconnect(4000, "new token");
    expect(events).toEqual(["state reconnecting"]);
    await until(() => c.stats.reconnects === 1, "the new connection");
    expect(events).toEqual([
      "state reconnecting",
      "close 4000 willReconnect=true client",
      "state open",
      "connected",
    ]);
  });
});

describe("reconnect() against a peer that never answers the close frame", () => {
  it("one socket at a time: the new attempt waits for the old socket, cut off at the close timeout", async () => {
    const raw = await rawServer({ allowHalfOpen: true });
    const clock = new FakeClock();
    const opened: number[] = [];
    const c = conn<string, string>({ clock, reconnect: fast });
    c.on("state", (change) => void (change.newState === "open" && opened.push(clock.now())));
    await c.dial(raw.url);
    c.reconnect(4000, "new token");
    expect(c.send("after")).toBe("queued");
    await until(() => parseAll(raw.connectionBytes(0)).some((f) => f.opcode === 8), "our close frame");
    clock.advance(2999);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(c.state).toBe("reconnecting");
    clock.advance(1); // the close timeout: the old socket is cut off, the new attempt starts
    await until(() => c.state === "open", "the new connection");
    expect(opened).toEqual([0, 3000]);
    await until(
      () => parseAll(raw.connectionBytes(1)).some((f) => f.payload.toString() === "after"),
      "the queued send",
    );
    raw.hangUp();
  });
});
