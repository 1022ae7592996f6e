/**
 * Debian's nginx as a WebSocket reverse proxy on 127.0.0.1, run by a test: started with a
 * master process and one worker, so it can be reloaded (SIGHUP: a new worker, the old one
 * finishes gracefully within `worker_shutdown_timeout`), stopped (SIGTERM) and started again
 * on the same port. Its owner calls `close()` (stopped, its files removed). It does not check
 * that nginx is installed: suites call `requireTools("nginx")` first.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./server.js";
import { NGINX } from "./tools.js";

export interface Nginx {
  /** `ws://127.0.0.1:<port>`, the same across stop() and start(). */
  readonly url: string;
  /** Starts nginx (again); resolves once it listens. */
  start(): Promise<void>;
  /** SIGHUP: a graceful reload. */
  reload(): void;
  /** SIGTERM (fast shutdown: open connections are cut); resolves once the process exited. */
  stop(): Promise<void>;
  /** Stops it and removes its files. */
  close(): Promise<void>;
}

/**
 * @param upstreamPort - the port of the WebSocket server on 127.0.0.1 that nginx forwards to.
 * @param shutdownTimeoutS - `worker_shutdown_timeout`: how long an old worker keeps its
 *   connections after a reload.
 * @param readTimeoutS - `proxy_read_timeout`: an idle connection is cut after this long.
 */
export async function startNginx(
  upstreamPort: number,
  { shutdownTimeoutS = 1, readTimeoutS = 60 } = {},
): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), "evtws-nginx-"));
  const port = await freePort();
  writeFileSync(
    join(dir, "nginx.conf"),
    `daemon off;
master_process on;
worker_processes 1;
worker_shutdown_timeout ${shutdownTimeoutS}s;
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
      proxy_pass http://127.0.0.1:${upstreamPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout ${readTimeoutS}s;
      proxy_connect_timeout 1s;
    }
  }
}
`,
  );
  let proc: ChildProcess | undefined;
  let spawnError: Error | undefined;
  const listening = async () => {
    const net = await import("node:net");
    for (;;) {
      if (spawnError !== undefined)
        throw new Error(`cannot run ${NGINX} (apt-get install -y nginx-light): ${spawnError.message}`);
      if (proc === undefined || proc.exitCode !== null) throw new Error(`nginx exited (${proc?.exitCode})`);
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, "127.0.0.1");
        s.once("connect", () => {
          s.destroy();
          resolve(true);
        });
        s.once("error", () => resolve(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const stop = async () => {
    const p = proc;
    proc = undefined;
    if (p === undefined || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    await exited;
  };
  const api: Nginx = {
    url: `ws://127.0.0.1:${port}`,
    async start() {
      proc = spawn(NGINX, ["-p", dir, "-c", join(dir, "nginx.conf")], { stdio: "ignore" });
      proc.on("error", (e) => {
        spawnError = e;
      });
      await listening();
    },
    reload() {
      proc?.kill("SIGHUP");
    },
    stop,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await api.start();
  return api;
}
