/**
 * Interop with an independent server implementation: Python `websockets` (Debian's
 * python3-websockets, run with /usr/bin/python3), so we are not only tested against `ws`.
 * Without it the suite is skipped, or fails under CI=true (test/helpers/tools.ts).
 */

import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EvtWebSocketError, json, State } from "../src/index.js";
import { conn, fast } from "./helpers/harness.js";
import { until } from "./helpers/server.js";
import { PYTHON, requireTools } from "./helpers/tools.js";

let child: ChildProcess | undefined;
let base = "";

beforeAll(async () => {
  child = spawn(PYTHON, ["test/fixtures/python-server.py"], { stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  base = await new Promise<string>((resolve, reject) => {
    let out = "";
    child!.stdout!.on("data", (d) => {
      out += d;
      const port = /PORT (\d+)/.exec(out)?.[1];
      if (port !== undefined) resolve(`ws://127.0.0.1:${port}`);
    });
    child!.on("error", (e) => reject(new Error(`cannot run ${PYTHON}: ${e.message}`)));
    child!.on("exit", (code) =>
      reject(
        new Error(
          `the Python server exited (${code}): ${err.trim()}\n` +
            "install it with: apt-get install -y python3-websockets",
        ),
      ),
    );
  });
}, 20_000);

afterAll(() => {
  child?.stdin?.end();
  child?.kill();
});

describe("against Python websockets", requireTools("python3-websockets"), () => {
  it("text stays text and binary stays binary, byte for byte", async () => {
    const seen: Array<string | Uint8Array> = [];
    const c = conn<string | Uint8Array, string | Uint8Array>({ onMessage: (m) => seen.push(m) });
    await c.dial(`${base}/echo`);
    const bytes = new Uint8Array(70_000).map((_, i) => i % 251);
    c.send("héllo ✓");
    c.send(bytes);
    c.send("");
    await until(() => seen.length === 3, "three echoes");
    expect(seen[0]).toBe("héllo ✓");
    expect(seen[1]).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(seen[1] as Uint8Array).equals(Buffer.from(bytes))).toBe(true);
    expect(seen[2]).toBe("");
  });

  it("100 concurrent requests each resolve with their own response (messageId); __proto__ in replies pollutes nothing", async () => {
    type Msg = { id: number; n?: number; answer?: number };
    const c = conn<Msg, Msg>({ codec: json<Msg, Msg>(), messageId: (m) => m.id });
    await c.dial(`${base}/id`);
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => c.request({ id: i, n: i })));
    expect(answers.map((a) => a.answer)).toEqual(Array.from({ length: 100 }, (_, i) => i * 2));
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it.each([1000, 1001, 1011, 4000, 4999])(
    "a close with %i reaches onClose with its reason, and the client reconnects",
    async (code) => {
      const closes: Array<{ code: number; reason: string; willReconnect: boolean }> = [];
      const c = conn({ reconnect: fast, onClose: (info) => closes.push(info) });
      await c.dial(`${base}/close/${code}`);
      await until(() => closes.length >= 2, "two closes (it reconnected)");
      expect(closes[0]).toMatchObject({ code, reason: `py ${code}`, willReconnect: true });
    },
  );

  it("protocol pings get pongs with a round-trip time", async () => {
    const rtts: number[] = [];
    const c = conn({ pingIntervalMs: 30, onMessage: () => {} });
    c.on("pong", ({ rttMs }) => rtts.push(rttMs));
    await c.dial(`${base}/echo`);
    await until(() => rtts.length >= 2, "two pongs");
    expect(rtts.every((r) => r >= 0)).toBe(true);
    expect(c.state).toBe(State.OPEN);
  });

  it("F-12: 500 pings sent at once get their pongs (the last one acknowledges all) and the connection stays up", async () => {
    const errors: EvtWebSocketError[] = [];
    const messages: string[] = [];
    const c = conn({ onMessage: (m) => void messages.push(m), onError: (e) => void errors.push(e) });
    await c.dial(`${base}/pings/500`);
    await until(() => messages.length > 0 || errors.length > 0, "the server's verdict");
    expect(messages).toEqual(["pongs ok"]);
    expect(errors).toEqual([]);
    expect(c.state).toBe(State.OPEN);
  });

  it("a message over maxMessageBytes closes with 1009 and reports ERR_MESSAGE_TOO_BIG", async () => {
    const errors: EvtWebSocketError[] = [];
    const closes: number[] = [];
    const c = conn({
      reconnect: false,
      maxMessageBytes: 1024,
      onError: (e) => errors.push(e),
      onClose: (i) => closes.push(i.code),
    });
    await c.dial(`${base}/big/4096`);
    await until(() => c.state === State.CLOSED, "closed");
    expect(closes).toEqual([1009]);
    expect(errors.map((e) => e.code)).toContain("ERR_MESSAGE_TOO_BIG");
  });

  it("a refused handshake (HTTP 401) rejects dial() with ERR_DIAL_FAILED and status 401", async () => {
    const c = conn({ reconnect: false });
    const error = (await c.dial(`${base}/deny`).catch((e) => e)) as EvtWebSocketError;
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect(error.details.status).toBe(401);
  });
});
