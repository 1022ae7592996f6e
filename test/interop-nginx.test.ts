/**
 * Behind nginx (Debian nginx-light) as a WebSocket reverse proxy with a short
 * proxy_read_timeout: idle connections are cut unless the heartbeat keeps them alive, and an
 * upstream that is down answers 502. Without nginx the suite is skipped, or fails under CI=true
 * (test/helpers/tools.ts).
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EvtWebSocketError, State } from "../src/index.js";
import { createTestServer, type TestServer } from "../src/testing/index.js";
import { conn, fast, sleep } from "./helpers/harness.js";
import { type Nginx, startNginx } from "./helpers/nginx.js";
import { until } from "./helpers/server.js";
import { requireTools } from "./helpers/tools.js";

const READ_TIMEOUT_S = 2;
let nginx: Nginx | undefined;
let upstream: TestServer;
let url = "";

beforeAll(async () => {
  upstream = await createTestServer();
  nginx = await startNginx(upstream.port, { readTimeoutS: READ_TIMEOUT_S });
  url = nginx.url;
}, 20_000);

afterAll(async () => {
  await nginx?.close();
  await upstream?.close();
});

describe("behind nginx", requireTools("nginx"), () => {
  it("messages and requests pass through", async () => {
    const c = conn({ matchMsg: (req, resp) => req === resp });
    await c.dial(url);
    expect(await c.request("through nginx")).toBe("through nginx");
  });

  it(`an idle connection without heartbeat is cut by proxy_read_timeout (${READ_TIMEOUT_S} s) and comes back`, async () => {
    const closes: number[] = [];
    const c = conn({ reconnect: fast, onClose: (i) => closes.push(i.code) });
    await c.dial(url);
    await until(() => closes.length >= 1, "nginx cut the idle connection", 10_000);
    await until(() => c.state === State.OPEN, "reconnected");
  });

  it("with pingIntervalMs well below proxy_read_timeout the connection stays open", async () => {
    const closes: number[] = [];
    let pongs = 0;
    const c = conn({ pingIntervalMs: 200, onClose: (i) => closes.push(i.code) });
    c.on("pong", () => pongs++);
    await c.dial(url);
    await sleep(READ_TIMEOUT_S * 2000 + 500);
    expect(closes).toEqual([]);
    expect(pongs).toBeGreaterThan(0);
    expect(c.state).toBe(State.OPEN);
  });

  it("upstream down: the handshake gets HTTP 502, and the client connects once it is back", async () => {
    const statuses: Array<number | undefined> = [];
    const c = conn({
      reconnect: { ...fast, maxDelayMs: 100 },
      onError: (e: EvtWebSocketError) => statuses.push(e.details.status),
    });
    const restarted = upstream.restart(1500);
    await sleep(100);
    const dialed = c.dial(url);
    await until(() => statuses.includes(502), "a 502 from nginx");
    await restarted;
    await dialed;
    expect(c.state).toBe(State.OPEN);
  });
});
