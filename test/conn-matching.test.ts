import { describe, expect, it } from "vitest";
import { type EvtWebSocketError, json } from "../src/index.js";
import { conn, server, sleep } from "./helpers/harness.js";
import { until } from "./helpers/server.js";

type Msg = { id?: number; op?: string; v?: unknown };

/** A server that answers `{id, op}` with `{id, v: op}` and pushes `{op:"push"}` on "push". */
function idServer(delayMs = 0) {
  return server({
    onMessage(ws, data) {
      const m = JSON.parse(data.toString()) as Msg;
      const reply = () => ws.send(JSON.stringify({ id: m.id, v: m.op }));
      if (m.op === "silent") return;
      if (m.op === "push") ws.send(JSON.stringify({ op: "pushed" }));
      else if (delayMs > 0) setTimeout(reply, delayMs);
      else reply();
    },
  });
}

describe("request/response matching", () => {
  it("a matched response settles its request and does not reach onMessage", async () => {
    const s = await idServer();
    const messages: Msg[] = [];
    const c = conn<Msg, Msg>({
      codec: json(),
      messageId: (m) => m.id,
      onMessage: (m) => void messages.push(m),
    });
    await c.dial(s.url);
    await expect(c.request({ id: 1, op: "a" })).resolves.toEqual({ id: 1, v: "a" });
    c.send({ op: "push" });
    await until(() => messages.length === 1, "push");
    expect(messages).toEqual([{ op: "pushed" }]);
  });

  it("matches by id regardless of response order", async () => {
    const s = await server({
      onMessage(ws, data) {
        const m = JSON.parse(data.toString()) as Msg;
        setTimeout(() => ws.send(JSON.stringify({ id: m.id, v: m.id })), m.id === 1 ? 30 : 0);
      },
    });
    const c = conn<Msg, Msg>({ codec: json(), messageId: (m) => m.id });
    await c.dial(s.url);
    const order: number[] = [];
    await Promise.all([
      c.request({ id: 1 }).then((r) => order.push(r.v as number)),
      c.request({ id: 2 }).then((r) => order.push(r.v as number)),
    ]);
    expect(order).toEqual([2, 1]);
  });

  it("matchMsg(req, resp) is the seed's matcher, tried oldest first", async () => {
    const s = await server({ onMessage: (ws, d) => ws.send(`re:${d.toString()}`) });
    const seen: Array<[string, string]> = [];
    const c = conn({
      matchMsg: (req, resp) => {
        seen.push([req, resp]);
        return resp === `re:${req}`;
      },
    });
    await c.dial(s.url);
    const [a, b] = await Promise.all([c.request("x"), c.request("y")]);
    expect([a, b]).toEqual(["re:x", "re:y"]);
    // The argument order is (request, response), oldest pending first.
    expect(seen[0]).toEqual(["x", "re:x"]);
  });

  it("a response whose id matches nothing is still tried against matchMsg", async () => {
    const s = await server({ onMessage: (ws) => ws.send(JSON.stringify({ id: 999, v: "for-matcher" })) });
    const c = conn<Msg, Msg>({
      codec: json(),
      messageId: (m) => m.id,
      matchMsg: (_req, resp) => resp.v === "for-matcher",
    });
    await c.dial(s.url);
    await expect(c.request({ op: "no-id" })).resolves.toEqual({ id: 999, v: "for-matcher" });
  });

  it("a request with an id is never tried against matchMsg: only a response with its id settles it", async () => {
    // Answers without an id first, then with another id, then with the request's own id.
    const s = await server({
      onMessage(ws, data) {
        const m = JSON.parse(data.toString()) as Msg;
        ws.send(JSON.stringify({ v: "no-id" }));
        ws.send(JSON.stringify({ id: 999, v: "other-id" }));
        ws.send(JSON.stringify({ id: m.id, v: "own-id" }));
      },
    });
    const others: Msg[] = [];
    const c = conn<Msg, Msg>({
      codec: json(),
      messageId: (m) => m.id,
      matchMsg: () => true,
      onMessage: (m) => void others.push(m),
    });
    await c.dial(s.url);
    await expect(c.request({ id: 1, op: "x" })).resolves.toEqual({ id: 1, v: "own-id" });
    expect(others).toEqual([{ v: "no-id" }, { id: 999, v: "other-id" }]);
  });

  it("a request with neither matcher configured rejects ERR_INVALID_OPTION", async () => {
    const s = await idServer();
    const c = conn();
    await c.dial(s.url);
    await expect(c.request("x")).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    expect(() => c.send("x", () => {})).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
  });

  it("a body without an id and no matchMsg rejects ERR_INVALID_OPTION", async () => {
    const s = await idServer();
    const c = conn<Msg, Msg>({ codec: json(), messageId: (m) => m.id });
    await c.dial(s.url);
    await expect(c.request({ op: "x" })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("a second pending request with the same id rejects ERR_DUPLICATE_ID", async () => {
    const s = await idServer();
    const c = conn<Msg, Msg>({ codec: json(), messageId: (m) => m.id });
    await c.dial(s.url);
    const first = c.request({ id: 7, op: "silent" }, { timeoutMs: 0 });
    await expect(c.request({ id: 7, op: "a" })).rejects.toMatchObject({ code: "ERR_DUPLICATE_ID" });
    void first.catch(() => {});
  });

  it("send(body, callback) is the seed's Send(Msg{Body, Callback})", async () => {
    const s = await idServer();
    const c = conn<Msg, Msg>({ codec: json(), messageId: (m) => m.id });
    await c.dial(s.url);
    const got = await new Promise<[Msg, unknown]>((resolve) =>
      c.send({ id: 3, op: "cb" }, (r, cc) => resolve([r, cc])),
    );
    expect(got[0]).toEqual({ id: 3, v: "cb" });
    expect(got[1]).toBe(c);
  });

  it("a response that arrives after its request timed out is an ordinary message", async () => {
    const s = await idServer(80);
    const messages: Msg[] = [];
    const c = conn<Msg, Msg>({
      codec: json(),
      messageId: (m) => m.id,
      onMessage: (m) => void messages.push(m),
    });
    await c.dial(s.url);
    await expect(c.request({ id: 5, op: "slow" }, { timeoutMs: 20 })).rejects.toMatchObject({
      code: "ERR_REQUEST_TIMEOUT",
    });
    await until(() => messages.length === 1, "late response");
    expect(messages[0]).toEqual({ id: 5, v: "slow" });
  });

  it("a failing callback-style request reports its error to onError", async () => {
    const s = await idServer();
    const errors: EvtWebSocketError[] = [];
    const c = conn<Msg, Msg>({
      codec: json(),
      messageId: (m) => m.id,
      requestTimeoutMs: 20,
      onError: (e) => void errors.push(e),
    });
    await c.dial(s.url);
    let called = false;
    c.send({ id: 1, op: "silent" }, () => {
      called = true;
    });
    await until(() => errors.length === 1, "timeout error");
    expect(errors[0]?.code).toBe("ERR_REQUEST_TIMEOUT");
    expect(called).toBe(false);
  });

  it("10,000 requests in flight each settle with their own response", async () => {
    const s = await idServer();
    const c = conn<Msg, Msg>({ codec: json(), messageId: (m) => m.id });
    await c.dial(s.url);
    const n = 10_000;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => c.request({ id: i, op: `op${i}` })),
    );
    expect(results.every((r, i) => r.id === i && r.v === `op${i}`)).toBe(true);
    expect(c.stats.pendingRequests).toBe(0);
  });

  it("a matcher that throws is reported as ERR_CALLBACK_THREW and other requests keep working", async () => {
    const s = await server({ onMessage: (ws, d) => ws.send(d.toString()) });
    const errors: EvtWebSocketError[] = [];
    const messages: string[] = [];
    const c = conn({
      matchMsg: (req, resp) => {
        if (resp === "boom") throw new Error("matcher bug");
        return req === resp;
      },
      onError: (e) => void errors.push(e),
      onMessage: (m) => void messages.push(m),
    });
    await c.dial(s.url);
    c.send("boom");
    const pending = c.request("ok");
    await expect(pending).resolves.toBe("ok");
    await until(() => errors.length >= 1, "matcher error");
    expect(errors[0]?.code).toBe("ERR_CALLBACK_THREW");
    await sleep(10);
    expect(messages).toEqual(["boom"]);
  });
});
