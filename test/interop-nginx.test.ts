/**
 * Behind nginx (Debian nginx-light) as a WebSocket reverse proxy with a short
 * proxy_read_timeout: idle connections are cut unless the heartbeat keeps them alive, and an
 * upstream that is down answers 502. Without nginx the suite is skipped, or fails under CI=true
 * (test/helpers/tools.ts).
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EvtWebSocketError, State } from "../src/index.js";
import { createTestServer, type TestServer } from "../src/testing/index.js";
import { conn, fast, sleep } from "./helpers/harness.js";
import { freePort, until } from "./helpers/server.js";
import { NGINX, requireTools } from "./helpers/tools.js";

const READ_TIMEOUT_S = 2;
let dir = "";
let nginx: ChildProcess | undefined;
let upstream: TestServer;
let url = "";

beforeAll(async () => {
  upstream = await createTestServer();
  dir = mkdtempSync(join(tmpdir(), "evtws-nginx-"));
  const port = await freePort();
  writeFileSync(
    join(dir, "nginx.conf"),
    `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${upstream.port};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout ${READ_TIMEOUT_S}s;
      proxy_connect_timeout 1s;
    }
  }
}
`,
  );
  nginx = spawn(NGINX, ["-p", dir, "-c", join(dir, "nginx.conf")], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  nginx.stderr!.on("data", (d) => (err += d));
  const failed = new Promise<never>((_, reject) => {
    nginx!.on("error", (e) =>
      reject(new Error(`cannot run ${NGINX} (apt-get install -y nginx-light): ${e.message}`)),
    );
    nginx!.on("exit", (code) => reject(new Error(`nginx exited (${code}): ${err}`)));
  });
  url = `ws://127.0.0.1:${port}`;
  // Ready when a handshake through it succeeds.
  await Promise.race([
    failed,
    (async () => {
      for (;;) {
        const probe = conn({ reconnect: false });
        if (
          await probe.dial(url).then(
            () => true,
            () => false,
          )
        ) {
          await probe.close();
          return;
        }
        await sleep(50);
      }
    })(),
  ]);
}, 20_000);

afterAll(async () => {
  nginx?.kill("SIGTERM");
  await upstream?.close();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
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
