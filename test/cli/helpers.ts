/**
 * Test tools for the `evtws` CLI: run it as a child process, poll its output against a
 * deadline, and a real `ws` server on 127.0.0.1 port 0 that can restart on the same port.
 *
 * The child runs a bundle of `src/cli/main.ts` made by {@link useSourceBundle} for each test
 * file: it is always the current source (never a stale `dist/`), and it starts three times
 * faster than `tsx`, which matters on a shared two-core machine.
 */

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "tsup";
import { afterAll, beforeAll, onTestFinished } from "vitest";
import { type RawData, type WebSocket, WebSocketServer } from "ws";

/** The repository root. */
export const root = fileURLToPath(new URL("../..", import.meta.url));

/** Arguments that start the CLI from source through tsx (slower; what `npm start` does). */
export const TSX_CLI = ["--import", "tsx", "src/cli/main.ts"];

let bundled: string | undefined;

/**
 * Bundles `src/cli/main.ts` like the build does (tsup, ESM, `ws` and `commander` external)
 * before the file's tests and deletes it after; `startCli` then runs it. The bundle lives under
 * `node_modules/.cache` so that `ws` and `commander` resolve from the repository.
 */
export function useSourceBundle(): void {
  let dir: string | undefined;
  beforeAll(async () => {
    const cache = join(root, "node_modules", ".cache");
    mkdirSync(cache, { recursive: true });
    dir = mkdtempSync(join(cache, "evtws-cli-test-"));
    await build({
      config: false,
      entry: { cli: "src/cli/main.ts" },
      outDir: dir,
      format: ["esm"],
      platform: "node",
      target: "node20",
      external: ["ws", "commander"],
      outExtension: () => ({ js: ".mjs" }),
      silent: true,
    });
    bundled = join(dir, "cli.mjs");
  });
  afterAll(() => {
    bundled = undefined;
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });
}

/** The arguments of `node` that run the CLI bundle (for a child started some other way). */
export function defaultCli(): string[] {
  if (bundled === undefined) throw new Error("call useSourceBundle() in the test file first");
  return [bundled];
}

/** Environment for child processes: no inherited colour settings, no Node warnings, then `extra`. */
function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env, NODE_NO_WARNINGS: "1" };
  delete base.FORCE_COLOR;
  delete base.NO_COLOR;
  // The CLI reads the proxy variables by default: a developer's proxy must not carry the tests'
  // connections to 127.0.0.1 (a test that wants one passes it in `extra`).
  for (const name of ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"])
    delete base[name];
  const env: NodeJS.ProcessEnv = { ...base, ...extra };
  for (const [key, value] of Object.entries(extra)) if (value === undefined) delete env[key];
  return env;
}

/** Polls `check` every 20 ms until it returns a truthy value; throws `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Peak resident memory of a running process in MB (Linux `VmHWM`), or undefined. */
export function peakRssMb(pid: number | undefined): number | undefined {
  const file = `/proc/${pid}/status`;
  if (pid === undefined || !existsSync(file)) return undefined;
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(file, "utf8"));
    return match === null ? undefined : Number(match[1]) / 1024;
  } catch {
    return undefined;
  }
}

/** A running CLI process with its output so far. */
export interface CliProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code once the process ends. */
  readonly exited: Promise<number | null>;
  /** Waits until `stream` matches `pattern` (its `count`-th match); returns the stream text. */
  waitFor(stream: "stdout" | "stderr", pattern: RegExp, count?: number, timeoutMs?: number): Promise<string>;
  /** Writes a line to stdin. */
  send(line: string): void;
  kill(): void;
}

/**
 * Reads `cli`'s stdout line by line from now on, handing each line to `onLine` (`stdout()` stops
 * collecting): for a test that paused stdout to play a slow reader and now reads it all.
 */
export function readLinesFrom(cli: CliProcess, onLine: (line: string) => void): void {
  let rest = "";
  cli.child.stdout.removeAllListeners("data");
  cli.child.stdout.on("data", (chunk: string) => {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    for (const part of parts) onLine(part);
  });
  cli.child.stdout.resume();
}

/** Starts `evtws args…` with piped stdio. */
export function startCli(
  args: string[],
  options: { env?: Record<string, string | undefined>; cli?: string[] } = {},
): CliProcess {
  const child = spawn(process.execPath, [...(options.cli ?? defaultCli()), ...args], {
    cwd: root,
    env: childEnv(options.env),
  });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    err += d;
  });
  // A CLI that has exited (e.g. after `| head -1` closed its stdout) closes its stdin: a later
  // write fails with EPIPE, as it would for `seq` in a shell pipeline. Any other error is kept.
  child.stdin.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") err += `[test harness: stdin ${error.message}]`;
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (stream, pattern, count = 1, timeoutMs = 10_000) =>
      waitFor(
        `${stream} to match ${pattern} (${count}x); stdout:\n${out}\nstderr:\n${err}`,
        () => {
          const text = stream === "stdout" ? out : err;
          const global = new RegExp(
            pattern.source,
            pattern.flags.includes("g") ? pattern.flags : `${pattern.flags}g`,
          );
          return (text.match(global)?.length ?? 0) >= count ? text : undefined;
        },
        timeoutMs,
      ),
    send: (line) => child.stdin.write(`${line}\n`),
    kill: () => {
      if (child.exitCode === null) child.kill();
    },
  };
}

/** The outcome of a CLI run to completion. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `evtws args…` to completion, writing `input` (then EOF) to its stdin. */
export async function runCli(
  args: string[],
  options: {
    input?: string;
    env?: Record<string, string | undefined>;
    timeoutMs?: number;
    cli?: string[];
  } = {},
): Promise<CliRun> {
  const cli = startCli(args, options);
  cli.child.stdin.end(options.input ?? "");
  const timer = setTimeout(() => cli.kill(), options.timeoutMs ?? 20_000);
  const code = await cli.exited;
  clearTimeout(timer);
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** A real `ws` server for the CLI to talk to. */
export interface WsServer {
  readonly url: string;
  readonly port: number;
  /** Request of each handshake, in order. */
  readonly handshakes: IncomingMessage[];
  /** Every message received, as text. */
  readonly received: string[];
  readonly clients: Set<WebSocket>;
  /** Stops listening and cuts every client (no close frame). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

/** Replies per message; the default echoes. Return undefined to stay silent. */
export type Reply = (text: string, isBinary: boolean, ws: WebSocket) => string | Buffer | undefined;

/**
 * Starts a `ws` server on 127.0.0.1, port 0.
 *
 * @param onConnect - called with each new connection (e.g. to push messages at once).
 */
export async function startWsServer(
  reply: Reply = (text) => text,
  onConnect?: (ws: WebSocket) => void,
): Promise<WsServer> {
  let wss: WebSocketServer | undefined;
  let port = 0;
  const clients = new Set<WebSocket>();
  const api = {
    url: "",
    port: 0,
    handshakes: [] as IncomingMessage[],
    received: [] as string[],
    clients,
    async start() {
      const server = new WebSocketServer({
        host: "127.0.0.1",
        port,
        handleProtocols: (p) => [...p][0] ?? false,
      });
      await new Promise<void>((resolve, reject) => {
        server.once("listening", resolve);
        server.once("error", reject);
      });
      server.on("connection", (ws, req) => {
        api.handshakes.push(req);
        clients.add(ws);
        ws.on("close", () => clients.delete(ws));
        ws.on("message", (data: RawData, isBinary: boolean) => {
          const text = isBinary ? `bin:${Buffer.from(data as Buffer).toString("hex")}` : data.toString();
          api.received.push(text);
          const answer = reply(isBinary ? Buffer.from(data as Buffer).toString("utf8") : text, isBinary, ws);
          if (answer !== undefined) ws.send(answer, { binary: Buffer.isBuffer(answer) });
        });
        onConnect?.(ws);
      });
      wss = server;
      port = (server.address() as AddressInfo).port;
      api.port = port;
      api.url = `ws://127.0.0.1:${port}`;
    },
    async stop() {
      for (const ws of clients) ws.terminate();
      clients.clear();
      const server = wss;
      wss = undefined;
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  await api.start();
  return api;
}

/**
 * Starts a `ws` server as {@link startWsServer} does, for the running test only: it stops when
 * the test ends, passed or failed (vitest's `onTestFinished`, after the file's `afterEach`
 * hooks), so a test file needs no `let server` and no `afterEach` of its own. Call it inside a
 * test (outside one it throws before starting anything); a server that a whole suite shares is
 * started with {@link startWsServer} in `beforeAll` and stopped in `afterAll`.
 */
export async function startWsServerForTest(
  reply?: Reply,
  onConnect?: (ws: WebSocket) => void,
): Promise<WsServer> {
  let server: WsServer | undefined;
  onTestFinished(() => server?.stop());
  server = await startWsServer(reply, onConnect);
  return server;
}

/** A reply function for JSON requests: `{"id":…}` gets `{"id":…,"ok":true}`. */
export const idReply: Reply = (text) => {
  try {
    const msg = JSON.parse(text) as { id?: unknown };
    return JSON.stringify({ id: msg.id, ok: true });
  } catch {
    return undefined;
  }
};

/** The Python `websockets` server of test/fixtures/python-cli-server.py, running. */
export interface PythonServer {
  /** `ws://127.0.0.1:<port>`; add a path (`/echo`, `/feed`). */
  readonly base: string;
  /** Every "CLOSE <path> <code>" line printed so far, as `{ path, code }`. */
  closes(): Array<{ path: string; code: number }>;
  stop(): void;
}

/**
 * Starts test/fixtures/python-cli-server.py with /usr/bin/python3 (Debian's python3-websockets);
 * call it inside a suite guarded by `requireTools("python3-websockets")`.
 */
export async function startPythonServer(): Promise<PythonServer> {
  const child = spawn("/usr/bin/python3", ["test/fixtures/python-cli-server.py"], { cwd: root });
  let out = "";
  let err = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    err += d;
  });
  const base = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const port = /PORT (\d+)/.exec(out)?.[1];
      if (port !== undefined) resolve(`ws://127.0.0.1:${port}`);
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`the Python server exited (${code}): ${err.trim()}`)));
  });
  return {
    base,
    closes: () =>
      [...out.matchAll(/^CLOSE (\S+) (\d+)$/gm)].map((m) => ({ path: m[1] ?? "", code: Number(m[2]) })),
    stop: () => {
      child.stdin.end();
      child.kill();
    },
  };
}
