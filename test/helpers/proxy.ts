/**
 * Real proxies on 127.0.0.1 for the proxy tests: proxy-chain (an in-process HTTP CONNECT proxy
 * with authentication), Debian's tinyproxy (an independent implementation, as a child process)
 * and a SOCKS5 server (@pondwader/socks5-server). Each records the targets it was asked for.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { createServer as createSocksServer } from "@pondwader/socks5-server";
import { RequestError, Server } from "proxy-chain";
import { onCleanup } from "./harness.js";
import { tcpServer } from "./raw-server.js";
import { freePort } from "./server.js";
import { TINYPROXY } from "./tools.js";

export interface TestProxy {
  /** `http://127.0.0.1:port`, no credentials. */
  readonly url: string;
  readonly port: number;
  /** `host:port` of every CONNECT (or SOCKS connect) asked for, in order, answered or not. */
  readonly connects: string[];
  /** Stops listening and cuts every tunnel. */
  close(): Promise<void>;
  /** Client connections the proxy still holds (proxy-chain only). */
  openConnections?(): number;
  /** The proxy's process id (tinyproxy only: a test may freeze it with SIGSTOP). */
  readonly pid?: number;
}

export interface ProxyChainOptions {
  /** Require these credentials (407 without them). */
  user?: string;
  password?: string;
  /** Answer every CONNECT with 403. */
  forbid?: boolean;
}

/** Starts proxy-chain on `port` (0: any free one); closed after the test. */
export async function proxyChain(options: ProxyChainOptions = {}, port = 0): Promise<TestProxy> {
  const connects: string[] = [];
  const server = new Server({
    host: "127.0.0.1",
    port,
    prepareRequestFunction: ({ username, password, hostname, port: targetPort }) => {
      connects.push(`${hostname}:${targetPort}`);
      if (options.forbid) throw new RequestError("forbidden by the test", 403);
      if (options.user === undefined) return {};
      return { requestAuthentication: username !== options.user || password !== options.password };
    },
  });
  await server.listen();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.close(true);
  };
  onCleanup(close);
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port,
    connects,
    close,
    openConnections: () => server.getConnectionIds().length,
  };
}

/**
 * Starts tinyproxy on a free port, allowing CONNECT to `connectPorts` (and asking for these
 * credentials, with `basicAuth`: 407 otherwise); stopped after the test.
 */
export async function tinyproxy(
  connectPorts: number[],
  basicAuth?: { user: string; password: string },
): Promise<TestProxy> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "evtws-tinyproxy-"));
  const config = join(dir, "tinyproxy.conf");
  const log = join(dir, "tinyproxy.log");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "Listen 127.0.0.1",
      "Timeout 60",
      "MaxClients 20",
      "Allow 127.0.0.1",
      "LogLevel Connect",
      `LogFile "${log}"`,
      ...connectPorts.map((p) => `ConnectPort ${p}`),
      ...(basicAuth === undefined ? [] : [`BasicAuth ${basicAuth.user} ${basicAuth.password}`]),
      "",
    ].join("\n"),
  );
  // -d: stay in the foreground (a child we can stop), -c: this config.
  const child: ChildProcess = spawn(TINYPROXY, ["-d", "-c", config], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  onCleanup(async () => {
    child.kill();
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 20_000;
  while (!(await probe(port))) {
    if (child.exitCode !== null) throw new Error(`tinyproxy exited ${child.exitCode} (config: ${config})`);
    if (Date.now() > deadline) throw new Error("tinyproxy did not start listening");
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    /** Read from tinyproxy's log: "Request (file descriptor 5): CONNECT 127.0.0.1:80 HTTP/1.1". */
    get connects() {
      const text = existsSync(log) ? readFileSync(log, "utf8") : "";
      return [...text.matchAll(/: CONNECT (\S+) HTTP\//g)].map((m) => m[1]!);
    },
    close: async () => {
      child.kill();
      await exited;
    },
  };
}

/** True when something accepts TCP on 127.0.0.1:port. */
function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * Starts a SOCKS5 server on a free port; closed after the test. Its close() cuts the tunnels
 * left: after a wss: connection through socks-proxy-agent, the server's socket to the client
 * stays half-open (ended on its side, never read to its end) though the TCP connection is gone
 * (only TIME-WAIT left in `ss`), and would hold close() for ever.
 */
export async function socks5(): Promise<TestProxy> {
  const port = await freePort();
  const connects: string[] = [];
  const clients: Duplex[] = [];
  const server = createSocksServer();
  server.setRulesetValidator((conn) => {
    connects.push(`${conn.destAddress}:${conn.destPort}`);
    clients.push(conn.socket);
    return true;
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of clients) socket.destroy();
    });
  onCleanup(close);
  return { url: `socks5://127.0.0.1:${port}`, port, connects, close };
}

/** A TCP connection as a counting server sees it. */
export interface Seen {
  socket: Socket;
  closed: boolean;
}

export type Behaviour = (
  n: number,
  client: Socket,
  target: { host: string; port: number },
  open: () => Socket,
) => void;

/**
 * A hand-made CONNECT proxy: reads the request head of each client connection, records its
 * target, then does what `behave` says for connection `n` (0 first). `tunnel(...)` is the
 * normal answer: TCP to the target, 200, then bytes both ways. Counts client and upstream
 * sockets and their closes.
 */
export async function handProxy(behave: Behaviour) {
  const clients: Seen[] = [];
  const upstreams: Seen[] = [];
  const connects: string[] = [];
  const { port } = await tcpServer((socket) => {
    const s: Seen = { socket, closed: false };
    const n = clients.length;
    clients.push(s);
    socket.on("error", () => {});
    socket.on("close", () => (s.closed = true));
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) return;
      socket.removeListener("data", onData);
      socket.pause();
      const rest = head.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      const m = /^CONNECT (\S+):(\d+) HTTP\/1\.1/.exec(head.toString("latin1"))!;
      connects.push(`${m[1]}:${m[2]}`);
      const target = { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
      behave(n, socket, target, () => {
        const up = netConnect(target);
        const u: Seen = { socket: up, closed: false };
        upstreams.push(u);
        up.on("error", () => {});
        up.on("close", () => (u.closed = true));
        return up;
      });
    };
    socket.on("data", onData);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connects,
    clients,
    upstreams,
    openClients: () => clients.filter((s) => !s.closed).length,
    openUpstreams: () => upstreams.filter((s) => !s.closed).length,
  };
}

/** The normal answer: TCP to the target, 200, then bytes both ways until either side ends. */
export const tunnel: Behaviour = (_n, client, _target, open) => {
  const up = open();
  up.once("connect", () => {
    client.write("HTTP/1.1 200 Connection established\r\n\r\n");
    client.pipe(up);
    up.pipe(client);
    client.resume();
  });
  up.on("close", () => client.destroy());
  client.on("close", () => up.destroy());
};
