/**
 * A logger that calls back into the connection from a line (not allowed, but nothing breaks or
 * is lost): close(), reconnect(), send() or request() on the first line of each kind, on the
 * lines of a dead peer, a give-up, a ping and a queue overflow or expiry. Every message is sent
 * or reported once, every request settles, and one socket (or none, after close()) is left.
 * Real servers on 127.0.0.1.
 */

import { describe, expect, it } from "vitest";
import { type EvtWebSocketError, State } from "../src/index.js";
import { echoServer } from "./helpers/echo-server.js";
import { conn, fast } from "./helpers/harness.js";
import { recordLines } from "./helpers/log-recorder.js";
import { until } from "./helpers/server.js";

const failed = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: EvtWebSocketError) => e.code,
  );

type Action = "close" | "reconnect" | "send" | "request";

describe("a logger that calls back into the connection (not allowed, but nothing breaks or is lost)", () => {
  const kinds = ["attempt", "open", "close", "reconnecting", "ping", "pong", "request-timeout"] as const;
  const actions: Action[] = ["close", "reconnect", "send", "request"];
  const cases = kinds.flatMap((kind) => actions.map((action) => [kind, action] as const));
  it.each(cases)("on its first %s line, calls %s()", async (kind, action) => {
    const server = await echoServer();
    let done = false;
    const settled: Array<Promise<string>> = [];
    const states: string[] = [];
    const errors: string[] = [];
    let c!: ReturnType<typeof conn>;
    const { logger, lines } = recordLines((line) => {
      if (done || line.split(" ")[1] !== kind) return;
      done = true;
      if (action === "close") void c.close();
      else if (action === "reconnect") c.reconnect(4000, "from logger");
      else if (action === "send") c.send("from-logger");
      else settled.push(failed(c.request("from-logger-request")));
    });
    c = conn({
      logger,
      matchMsg: (req, resp) => req === resp,
      reconnect: fast,
      pingIntervalMs: 20,
      onError: (e) => void errors.push(e.code),
    });
    c.on("state", ({ newState }) => void states.push(newState));
    c.send("queued");
    settled.push(failed(c.request("queued-request")));
    await c.dial(server.url).catch(() => {});
    const timedOut = failed(c.request("silent", { timeoutMs: 30 }));
    settled.push(timedOut);
    await timedOut;
    await until(() => lines.some((l) => l.includes(" pong ")) || c.state === State.CLOSED, "a pong");
    if (c.state !== State.CLOSED) {
      server.dropAll(1011, "restart");
      await until(
        () => c.state === State.CLOSED || (c.state === State.OPEN && server.connections >= 2),
        "back",
      );
    }
    const outcomes = await Promise.all(settled);
    expect(done, `a ${kind} line`).toBe(true);
    if (action === "close") {
      expect(c.state).toBe(State.CLOSED);
      await until(() => server.clients.size === 0, "no socket left");
    } else {
      await until(() => c.state === State.OPEN && server.clients.size === 1, "one socket, open");
      if (action === "send") await until(() => server.received.includes("from-logger"), "the logger's send");
      expect(server.received.filter((m) => m === "from-logger")).toHaveLength(action === "send" ? 1 : 0);
      if (action === "request") expect(outcomes.at(-1)).not.toBe("ERR_CALLBACK_THREW");
    }
    const queued = server.received.filter((m) => m === "queued").length;
    if (queued === 0) {
      // Closed before the queue was sent: its message is reported unsent, its request rejected.
      expect(action).toBe("close");
      expect(errors).toContain("ERR_CLOSED");
      expect(outcomes[0]).toBe("ERR_CLOSED");
    } else {
      expect(queued).toBe(1);
      expect(server.received.indexOf("queued")).toBeLessThan(server.received.indexOf("queued-request"));
    }
    expect(errors.filter((e) => e === "ERR_CALLBACK_THREW")).toEqual([]);
  });
});

describe("a logger that calls back on the lines of a dead peer and of a give-up", () => {
  it.each(["close", "reconnect", "send"] as const)(
    "on the dead line, calls %s(): nothing is lost, one socket after",
    async (action) => {
      const server = await echoServer();
      let c!: ReturnType<typeof conn>;
      const errors: string[] = [];
      const { logger, events } = recordLines((line) => {
        if (line.split(" ")[1] !== "dead") return;
        void server.resume();
        if (action === "close") void c.close();
        else if (action === "reconnect") c.reconnect();
        else sent = c.send("from-logger");
      });
      let sent: string | undefined;
      c = conn({
        logger,
        reconnect: fast,
        pingIntervalMs: 20,
        pongTimeoutMs: 40,
        onError: (e) => void errors.push(e.code),
      });
      await c.dial(server.url);
      await server.stall();
      await until(() => events().includes("dead"), "declared dead");
      if (action === "close")
        await until(() => c.state === State.CLOSED && server.clients.size === 0, "closed");
      else await until(() => c.state === State.OPEN && server.clients.size === 1, "back, one socket");
      // It went to the dead socket (send() said "sent") and was lost: the line was told before the
      // link was torn down. Now it waits in the queue for the next socket.
      if (action === "send") {
        expect(sent).toBe("queued");
        await until(() => server.received.includes("from-logger"), "the logger's send", 5000);
      }
      expect(events().filter((e) => e === "dead")).toHaveLength(1);
      expect(errors.filter((e) => e === "ERR_CALLBACK_THREW")).toEqual([]);
    },
  );

  it("on the give-up line, calls dial() again: it opens once, one socket", async () => {
    const server = await echoServer();
    let c!: ReturnType<typeof conn>;
    let redialled: Promise<void> | undefined;
    const states: string[] = [];
    const { logger, events } = recordLines((line) => {
      if (line.split(" ")[1] === "give-up" && redialled === undefined) redialled = c.dial(server.url);
    });
    c = conn({ logger, reconnect: false, onError: () => {} });
    c.on("state", ({ newState }) => void states.push(newState));
    await c.dial(server.url);
    await server.dropAll(1011, "restart");
    await until(() => redialled !== undefined, "the give-up line");
    await redialled;
    await until(() => server.clients.size === 1, "one socket");
    expect(c.state).toBe(State.OPEN);
    expect(events()).toEqual(["attempt", "open", "close", "give-up", "attempt", "open"]);
    expect(states).toEqual(["connecting", "open", "closed", "connecting", "open"]);
  });
});

describe("ping lines whose logger closes or reconnects", () => {
  it("a ping line (pingMsg) whose logger calls close() or reconnect(): no error, the connection ends or comes back", async () => {
    for (const action of ["close", "reconnect"] as const) {
      const server = await echoServer();
      let c!: ReturnType<typeof conn>;
      let done = false;
      const errors: string[] = [];
      const { logger } = recordLines((line) => {
        if (done || line.split(" ")[1] !== "ping") return;
        done = true;
        if (action === "close") void c.close();
        else c.reconnect();
      });
      c = conn({
        logger,
        reconnect: fast,
        pingIntervalMs: 20,
        pingMsg: "PING",
        isPong: (m) => m === "PING",
        onError: (e) => void errors.push(e.code),
      });
      await c.dial(server.url);
      if (action === "close")
        await until(() => c.state === State.CLOSED && server.clients.size === 0, "closed");
      else
        await until(
          () => c.state === State.OPEN && server.connections === 2 && server.clients.size === 1,
          "back",
        );
      expect(errors).toEqual([]);
      await c.close();
    }
  });
});

describe("a logger that calls close() on a queue line", () => {
  it.each(["drop-oldest", "expiry", "refused"] as const)(
    "%s: every message is sent or reported once, the connection closed",
    async (how) => {
      const { logger, lines } = recordLines((line) => {
        if (line.includes(" queue-")) void c.close();
      });
      const errors: Array<[string, unknown]> = [];
      const c = conn({
        logger,
        queue: { maxMessages: 1, overflow: how === "drop-oldest" ? "drop-oldest" : "reject" },
        onError: (e) => void errors.push([e.code, e.details.message ?? e.details.unsent]),
      });
      c.send("a", how === "expiry" ? { maxAgeMs: 10 } : {});
      let thrown: string | undefined;
      if (how !== "expiry") {
        try {
          c.send("b");
        } catch (e) {
          thrown = (e as EvtWebSocketError).code;
        }
      }
      await until(() => c.state === State.CLOSED, "closed from the queue line");
      expect(lines.filter((l) => l.includes(" queue-"))).toHaveLength(1);
      if (how === "drop-oldest")
        expect(errors).toEqual([
          ["ERR_QUEUE_FULL", "a"],
          ["ERR_CLOSED", 1],
        ]);
      if (how === "expiry") expect(errors).toEqual([["ERR_QUEUE_EXPIRED", "a"]]);
      if (how === "refused") {
        expect(thrown).toBe("ERR_QUEUE_FULL");
        expect(errors).toEqual([["ERR_CLOSED", 1]]);
      }
      expect(c.stats.queuedMessages).toBe(0);
    },
  );
});
