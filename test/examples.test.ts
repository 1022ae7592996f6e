/**
 * Runs every program in examples/ as a child process, the way a reader would (`tsx`), and
 * checks what it prints and that it exits 0 by itself. The examples import "evtwebsocket",
 * which resolves to dist/ through the package's own `exports`: `npm test` builds first.
 *
 * Assertions are on lines each example prints, never on timings.
 */

import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runExample(file: string, args: string[] = []): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", file, ...args],
      { cwd: root, timeout: 25_000, env: { ...process.env, NODE_NO_WARNINGS: "1" } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Each example, the arguments it runs with, and lines its output must contain, in order. */
const examples: Record<string, { args?: string[]; lines: (string | RegExp)[] }> = {
  "examples/basic.ts": {
    lines: [
      "connected",
      "onMessage: welcome",
      "[1] sending: Hello 1",
      "[1] callback: Hello 1",
      "[2] callback: Hello 2",
      "[3] callback: Hello 3",
      /^pong received \(rtt [\d.]+ ms\)$/,
      "isConnected: true",
      "closed (state: closed, sent 3 messages)",
    ],
  },
  "examples/json-rpc.ts": {
    lines: [
      "add(2, 3) = 5",
      "slowAdd(10, 20) = 30, add(1, 1) = 2",
      "rpc error -32601: method not found: nope",
      "hang: ERR_REQUEST_TIMEOUT",
      "aborted: ERR_ABORTED",
      "pending requests: 0",
      "done",
    ],
  },
  "examples/subscribe-on-reconnect.ts": {
    lines: [
      "subscribed to prices",
      'closed: code 1012 "restart", willReconnect: true',
      "reconnecting (attempt 1)",
      "state: reconnecting, queued messages: 1",
      "subscribed to prices",
      "event on prices: sent while offline",
      "server saw, first connection: subscribe",
      "server saw, after restart: subscribe, publish",
      "reconnects: 1",
      "done",
    ],
  },
  "examples/token-refresh.ts": {
    lines: [
      "client: dialling with tok-1",
      "server: token tok-1 accepted",
      "connected (reconnects so far: 0)",
      'closed: 4000 "token expired"',
      "client: dialling with tok-2",
      "server: token tok-2 accepted",
      "connected (reconnects so far: 1)",
      "server: token tok-1 refused (401)",
      "stale token: ERR_DIAL_FAILED (HTTP 401)",
      "tokens fetched: 2",
    ],
  },
  "examples/resume-stream.ts": {
    lines: [
      "client: dialling with since=0 (attempt 0)",
      "server: connection since=0, replaying 0 events",
      "connected: HTTP 101, the server resumes from 0",
      "event 3: c",
      "closed: 1012, willReconnect: true",
      "client: dialling with since=3 (attempt 1)",
      "server: connection since=3, replaying 2 events",
      "connected: HTTP 101, the server resumes from 3",
      "event 4: d",
      "event 5: e",
      "event 8: h",
      "received 8 events, in order, none missed, none twice",
    ],
  },
  "examples/heartbeat.ts": {
    lines: [
      "connected",
      /^pong 3: rtt [\d.]+ ms$/,
      "server: going silent (socket stays open)",
      "closed: 1006, willReconnect: true",
      /^onError: ERR_PONG_TIMEOUT \(\d+ ms after the last byte received\)$/,
      "reconnected",
      "last rtt known: true",
      "done",
    ],
  },
  "examples/stream.ts": {
    lines: [
      "connected",
      "ticks received in order: 400000",
      "server had to wait for the slow reader: yes",
      "upload: 16 MiB sent with drained(), server got 16777216 bytes",
      "done",
    ],
  },
  "examples/browser/serve.ts": {
    args: ["--check"],
    lines: [
      "page: imports /dist/browser.js",
      /^bundle: text\/javascript; charset=utf-8, \d+ bytes, no ws import$/,
      'socket: request("hello") -> hello',
    ],
  },
};

/** Files under examples/ that are not standalone examples, and why. */
const notExamples: Record<string, string> = {
  "examples/start.ts": "the `npm start` job; its own tests cover it",
};

/** Test files under examples/ (a user's own tests), and the file in test/ that runs each one. */
const exampleTests: Record<string, string> = {
  "examples/testing-kit.test.ts": "test/examples-testing-kit.test.ts",
};

/** The first of `lines` not found in `output` in order (other lines may come between), if any. */
function missingLine(output: string, lines: (string | RegExp)[]): { missing?: string } {
  const printed = output.split("\n");
  let at = 0;
  for (const want of lines) {
    const found = printed.findIndex(
      (line, i) => i >= at && (typeof want === "string" ? line === want : want.test(line)),
    );
    if (found === -1) return { missing: String(want) };
    at = found + 1;
  }
  return {};
}

describe("examples", () => {
  it("every example in examples/ is run by this test", () => {
    const found = ["examples", "examples/browser"]
      .filter((dir) => existsSync(new URL(`../${dir}`, import.meta.url)))
      .flatMap((dir) =>
        readdirSync(new URL(`../${dir}`, import.meta.url))
          .filter((name) => name.endsWith(".ts") && !name.endsWith(".test.ts"))
          .map((name) => `${dir}/${name}`),
      )
      .filter((file) => !(file in notExamples));
    expect(found.sort()).toEqual(Object.keys(examples).sort());
  });

  it("every test file in examples/ is run from test/", () => {
    const found = readdirSync(new URL("../examples", import.meta.url))
      .filter((name) => name.endsWith(".test.ts"))
      .map((name) => `examples/${name}`);
    expect(found.sort()).toEqual(Object.keys(exampleTests).sort());
    for (const runner of Object.values(exampleTests)) {
      expect(existsSync(new URL(`../${runner}`, import.meta.url)), runner).toBe(true);
    }
  });

  it("the examples' import of evtwebsocket resolves to a build", () => {
    expect(existsSync(new URL("../dist/index.js", import.meta.url)), "run `npx tsup` first").toBe(true);
    expect(existsSync(new URL("../dist/browser.js", import.meta.url)), "run `npx tsup` first").toBe(true);
  });

  for (const [file, { args, lines }] of Object.entries(examples)) {
    it(`${file} runs, prints what it promises and exits 0 by itself`, async () => {
      const { code, stdout, stderr } = await runExample(file, args);
      const context = `${file} printed:\n${stdout}\nstderr:\n${stderr}`;
      expect(missingLine(stdout, lines), context).toEqual({});
      expect(code, context).toBe(0);
    });
  }
});
