/**
 * Reliability-plan catalogue, section L (the browser transport), for what browser.test.ts did
 * not pin: the application-level heartbeat failing correctly when the server stops answering
 * (with a request in flight, E-3 in a browser), and the refusals of a closed connection (G-1)
 * and of a bad close code (C-3), in Debian's Chromium against a real `ws` server on 127.0.0.1.
 * Each test's name starts with its scenario ID.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { distPages, distRoutes, inPage, type Rig, startRig } from "./rig.js";

/**
 * The server answers "ping" with "pong", except on the first connection to a path that
 * starts with /silent-first/ (a peer that went quiet); JSON requests (`{"id":…}`) come back
 * with `"re": true` added, in windows of 1,000 answered last first; anything else is never
 * answered.
 */
const seenPaths = new Map<string, number>();
let server: TestServer;
let rig: Rig;
const pages = distPages(() => rig);

beforeAll(async () => {
  rig = await startRig(distRoutes());
  server = await startServer({
    onConnection: (ws, req) => {
      const path = req.url ?? "/";
      const n = (seenPaths.get(path) ?? 0) + 1;
      seenPaths.set(path, n);
      (ws as unknown as { silent: boolean }).silent = path.startsWith("/silent-first/") && n === 1;
    },
    onMessage: (ws, data) => {
      const text = data.toString();
      if (text === "ping" && !(ws as unknown as { silent: boolean }).silent) ws.send("pong");
      else if (text.startsWith('{"id"')) {
        // Requests are held in windows of 1,000 and answered last first.
        const socket = ws as unknown as { held?: string[] };
        socket.held ??= [];
        const held = socket.held;
        held.push(text.replace("{", '{"re":true,'));
        if (held.length === 1000) for (const m of held.splice(0).reverse()) ws.send(m);
      }
    },
  });
}, 60_000);

afterAll(async () => {
  await rig?.close();
  await server?.close();
});

afterEach(() => pages.close());

describe("the browser transport in Chromium: catalogue rows", requireTools("chromium"), () => {
  it("L/E-3: a server that stops answering pingMsg is found dead (ERR_PONG_TIMEOUT); the request in flight rejects ERR_DISCONNECTED before the reconnect opens", async () => {
    const page = await pages.open();
    const got = await inPage(page, `${server.url}/silent-first/${Date.now()}`, async (url) => {
      const { Conn } = window.evt;
      const seen: string[] = [];
      const conn = new Conn({
        pingIntervalMs: 150,
        pongTimeoutMs: 150,
        pingMsg: "ping",
        isPong: (m) => m === "pong",
        matchMsg: (req, resp) => resp === `re:${req}`, // never answered
        reconnect: { minDelayMs: 20, maxDelayMs: 50 },
        onError: (e) => seen.push(`error ${e.code}`),
        onConnected: () => seen.push("open"),
      });
      conn.on("pong", () => seen.push("pong"));
      await conn.dial(url);
      const reply = conn.request("req", { timeoutMs: 600_000 }).then(
        () => "resolved",
        (e: { code: string }) => seen.push(`request ${e.code}`),
      );
      await window.waitFor(() => seen.includes("pong"), "a pong on the new connection", 20_000);
      await reply;
      await conn.close();
      return { seen, pending: conn.stats.pendingRequests };
    });
    expect(got.seen.slice(0, 4)).toEqual([
      "open",
      "error ERR_PONG_TIMEOUT",
      "request ERR_DISCONNECTED",
      "open",
    ]);
    expect(got.seen).toContain("pong");
    expect(got.pending).toBe(0);
  });

  it("L/E-1/G-2: 100 sends queued before the open arrive first and in order; then 10,000 requests in flight, answered out of order, each settle with their own response", async () => {
    const page = await pages.open();
    const before = server.received.length;
    const got = await inPage(page, server.url, async (url) => {
      const { Conn, json } = window.evt;
      type Msg = { id?: number; n?: number; re?: boolean };
      const conn = new Conn<Msg, Msg>({ codec: json(), messageId: (m) => m.id });
      const results: string[] = [];
      for (let n = 0; n < 100; n++) results.push(conn.send({ n }));
      await conn.dial(url);
      const replies = await Promise.all(Array.from({ length: 10_000 }, (_, id) => conn.request({ id })));
      const own = replies.every((r, id) => r.id === id && r.re === true);
      const pending = conn.stats.pendingRequests;
      await conn.close();
      return { results: [...new Set(results)], own, pending };
    });
    expect(got).toEqual({ results: ["queued"], own: true, pending: 0 });
    const sent = server.received.slice(before, before + 100).map((m) => JSON.parse(m) as { n: number });
    expect(sent.map((m) => m.n)).toEqual(Array.from({ length: 100 }, (_, n) => n));
  });

  it("L/S-6: the handshake carries the page's Origin, as the browser sets it", async () => {
    const page = await pages.open();
    const before = server.handshakes.length;
    await inPage(page, server.url, async (url) => {
      const conn = new window.evt.Conn();
      await conn.dial(url);
      await conn.close();
    });
    expect(server.handshakes.length).toBe(before + 1);
    expect(server.handshakes[before]!.headers.origin).toBe(rig.origin);
  });

  it("L/G-1/C-3: a closed connection refuses send() and request() with ERR_CLOSED; close(999) is ERR_INVALID_OPTION and changes nothing", async () => {
    const page = await pages.open();
    const got = await inPage(page, server.url, async (url) => {
      const { Conn } = window.evt;
      const conn = new Conn({ matchMsg: () => true });
      await conn.dial(url);
      const badClose = await conn.close(999).then(
        () => "resolved",
        (e: { code: string }) => e.code,
      );
      const stateAfterBadClose = conn.state;
      await conn.close();
      let send = "returned";
      try {
        conn.send("x");
      } catch (e) {
        send = (e as { code: string }).code;
      }
      const request = await conn.request("x").then(
        () => "resolved",
        (e: { code: string }) => e.code,
      );
      return { badClose, stateAfterBadClose, send, request, state: conn.state };
    });
    expect(got).toEqual({
      badClose: "ERR_INVALID_OPTION",
      stateAfterBadClose: "open",
      send: "ERR_CLOSED",
      request: "ERR_CLOSED",
      state: "closed",
    });
  });
});
