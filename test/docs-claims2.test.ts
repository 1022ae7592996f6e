/**
 * Sentences of the docs that a second round of running them (issue 21's method: each claim
 * checked by a small script against real sockets, as a new user would) found untrue, pinned
 * to what the code does now that the sentence says it:
 *
 * - docs/cli.md's Options table gave `--max-attempts` a default of `inf`, and `evtws --help`
 *   too; a script (`-x` or piped) retries only when given `--max-attempts` and otherwise ends at
 *   the first connection error. `--help` also said the heartbeat is "off with -x"; it is off in
 *   every script, a piped one too.
 * - docs/cli.md said that with `--json` "every line of the output parses as JSON"; responses to
 *   requests are pretty-printed over several lines (pushes and binary frames are one line each),
 *   so the output is a stream of JSON values, not one value per line.
 * - README.md said the model-based suite checks 35 rules; test/model/properties.ts has 39 (the
 *   count had drifted before: 31, then 35). It is now checked against the suite's list.
 * - README.md's comparison table gave the browser entry as 15.6 KB, its Size section (which
 *   test/size.test.ts prints on every run) 16.7 KB. The two are now compared.
 * - README.md's example log line put `attempt` first in a `reconnecting` line, and
 *   docs/observability.md's table listed its fields (and `give-up`'s) with `error` last; a real
 *   line starts with `error`. The table's order is now the lines' order, and every event a run
 *   logs is checked against it: fields in the table's order, at the table's level; the README's
 *   and the guide's example lines have the shape of real ones.
 * - README.md, docs/concepts.md and docs/migrating.md said binary messages arrive as a
 *   `Uint8Array`; with Node's default `ws` transport they are `ws`'s `Buffer`, a subclass, which
 *   a deep equality that compares classes (vitest's `toEqual`) tells apart from a `Uint8Array`.
 *
 * And the docs' code blocks that are whole programs, run as written: test/docs-snippets.test.ts
 * only type-checks them, and test/docs-testing-example.test.ts runs one. Each block is copied
 * from the markdown into a scratch file inside the repository (so "evtwebsocket" resolves
 * through the package's `exports` to dist/, as for a user) and run with tsx as a child process;
 * a block that dials a placeholder URL (`ws://127.0.0.1:8080`, `wss://api.example.com/rpc`) dials
 * a local server instead. Blocks that begin with a `snippet-prelude` of `declare`s are fragments
 * of a larger program and are not run.
 *
 * Each test runs the CLI (bundled from src/, {@link useSourceBundle}), a `Conn` or a doc's
 * program against a real `ws` server on 127.0.0.1.
 */

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { WebSocket as WsWebSocket } from "ws";
import { Conn } from "../src/index.js";
import { createFaultProxy, createTestServer, waitFor } from "../src/testing/index.js";
import {
  idReply,
  root,
  runCli,
  startCli,
  startWsServer,
  useSourceBundle,
  type WsServer,
} from "./cli/helpers.js";
import { PROPERTIES } from "./model/properties.js";

useSourceBundle();

const read = (file: string) => readFileSync(join(root, file), "utf8");

/** The row of docs/cli.md's Options table for `option`. */
function optionRow(option: string): string {
  const row = read("docs/cli.md")
    .split("\n")
    .find((line) => line.startsWith(`| \`${option}`));
  if (row === undefined) throw new Error(`docs/cli.md has no Options row for ${option}`);
  return row;
}

/** Splits text made of JSON values separated by newlines (a value may span lines) into the values. */
function jsonValues(text: string): unknown[] {
  const values: unknown[] = [];
  let pending = "";
  for (const line of text.split("\n")) {
    if (pending === "" && line.trim() === "") continue;
    pending += `${line}\n`;
    try {
      values.push(JSON.parse(pending));
      pending = "";
    } catch {
      // not a whole value yet: read the next line
    }
  }
  if (pending !== "") throw new Error(`not a stream of JSON values; left over:\n${pending}`);
  return values;
}

const servers: WsServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
});

describe("docs/cli.md: a script does not reconnect unless given --max-attempts", () => {
  /** A server that cuts its first connection (no close frame) and closes later ones with 1000. */
  async function cutsTheFirst(): Promise<WsServer> {
    let connections = 0;
    const server = await startWsServer(undefined, (ws) => {
      if (++connections === 1) ws.terminate();
      else ws.close(1000);
    });
    servers.push(server);
    return server;
  }

  it("without --max-attempts, the first drop ends the run: exit 1, one connection", async () => {
    const server = await cutsTheFirst();
    const run = await runCli(["-q", "-n", "--min-delay", "10ms", server.url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/ERR_DISCONNECTED/);
    expect(server.handshakes.length).toBe(1);
  });

  it("with --max-attempts 1, the drop is retried: the second connection's close spends the attempts, exit 1", async () => {
    const server = await cutsTheFirst();
    const run = await runCli(["-q", "-n", "--max-attempts", "1", "--min-delay", "10ms", server.url]);
    expect(server.handshakes.length).toBe(2);
    // Giving up is a failure whatever the last close's code (docs/cli.md).
    expect(run.stderr).toBe(
      "evtws: ERR_RECONNECT_EXHAUSTED: gave up after 1 reconnect attempts: closed 1000\n",
    );
    expect(run.code).toBe(1);
  });

  it("the Options table and --help give the script's default, for --max-attempts and --ping-interval", async () => {
    expect(optionRow("--max-attempts")).toMatch(/default `inf` in the interactive session; a script/);
    expect(optionRow("--ping-interval")).toMatch(/off in scripts/);
    const help = (await runCli(["--help"])).stdout.replace(/\s+/g, " ");
    expect(help).toMatch(
      /--max-attempts <n> [^-]*\(default inf; a script: none, it ends at the first error\)/,
    );
    expect(help).toMatch(/--ping-interval <s> [^-]*\(default 30, off in a script\)/);
  });
});

describe("docs/cli.md: with --json the output is a stream of JSON values", () => {
  it("pushes and binary frames are one line each, a response spans lines, and the whole parses", async () => {
    const server = await startWsServer(
      (text) => JSON.stringify({ ...(JSON.parse(text) as object), ok: true, list: [1, 2] }),
      (ws) => {
        ws.send('{"tick":1,"list":[1,2]}');
        ws.send(Buffer.from([0x00, 0x01, 0x7f, 0x80]), { binary: true });
      },
    );
    servers.push(server);
    const run = await runCli(["-q", "--json", "-x", '{"id":1}', server.url]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split("\n");
    // The pushes (a JSON text, a binary frame as a JSON string of its base64): a line each.
    expect(lines.slice(0, 2)).toEqual(['{"tick":1,"list":[1,2]}', '"AAF/gA=="']);
    // The response: pretty-printed, so a line of it is not JSON on its own.
    expect(lines.length).toBeGreaterThan(3);
    expect(() => JSON.parse(lines[2]!)).toThrow();
    expect(jsonValues(run.stdout)).toEqual([
      { tick: 1, list: [1, 2] },
      "AAF/gA==",
      { id: 1, ok: true, list: [1, 2] },
    ]);
  });
});

describe("README.md, docs/concepts.md: binary messages on Node", () => {
  it("arrive as a Uint8Array that is ws's Buffer: a deep equality comparing classes needs new Uint8Array(msg)", async () => {
    const server = await startWsServer((text, isBinary) => (isBinary ? Buffer.from(text, "utf8") : text));
    servers.push(server);
    const received: unknown[] = [];
    const conn = new Conn({ reconnect: false, onMessage: (msg) => received.push(msg) });
    await conn.dial(server.url);
    conn.send(new Uint8Array([0x61, 0x62]));
    await expect.poll(() => received.length).toBe(1);
    await conn.close();
    const msg = received[0] as Uint8Array;
    expect(msg).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(msg)).toBe(true);
    expect(msg).not.toEqual(new Uint8Array([0x61, 0x62]));
    expect(new Uint8Array(msg)).toEqual(new Uint8Array([0x61, 0x62]));
  });
});

describe("the docs' whole programs, run as written", () => {
  const dir = (() => {
    mkdirSync(join(root, "scratch"), { recursive: true });
    return mkdtempSync(join(root, "scratch", "docs-programs-"));
  })();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The first ```ts block of `file` under the heading `heading` (before the next heading). */
  function block(file: string, heading: string): string {
    const lines = read(file).split("\n");
    const start = lines.findIndex((line) => /^#{1,6} /.test(line) && line.replace(/^#+ /, "") === heading);
    if (start < 0) throw new Error(`${file} has no heading "${heading}"`);
    const end = lines.findIndex((line, i) => i > start && /^#{1,6} /.test(line));
    const section = lines.slice(start + 1, end < 0 ? undefined : end).join("\n");
    const match = /(?:^|\n)```ts\n([\s\S]*?)\n```(?:\n|$)/.exec(section);
    if (match === null) throw new Error(`${file} § ${heading} has no \`\`\`ts block`);
    return `${match[1]}\n`;
  }

  let count = 0;
  /** Writes `code` to a scratch file and returns the node arguments that run it. */
  function program(code: string): string[] {
    const file = join(dir, `program-${++count}.mts`);
    writeFileSync(file, code);
    return ["--import", "tsx", file];
  }

  it.each([
    ["docs/testing.md", "`waitFor(predicate, options?)`"],
    ["docs/observability.md", "OpenTelemetry: `evtwebsocket/otel` (Node)"],
    ["docs/observability.md", "diagnostics_channel (Node)"],
    ["docs/observability.md", "Recipe: alert on a reconnect storm"],
    ["README.md", "Behind a proxy"],
  ])("%s § %s runs and exits 0 by itself", async (file, heading) => {
    const run = await runCli([], { cli: program(block(file, heading)), timeoutMs: 20_000 });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
  });

  it.each([
    ["docs/migrating.md", "The seed's example, translated"],
    ["README.md", "Coming from Go evtwebsocket"],
  ])("%s § %s, against an echo server: connects and the callback gets the echo", async (file, heading) => {
    const code = block(file, heading);
    expect(code).toContain('"ws://127.0.0.1:8080"');
    const echo = await startWsServer();
    servers.push(echo);
    const cli = startCli([], { cli: program(code.replace("ws://127.0.0.1:8080", echo.url)) });
    try {
      await cli.waitFor("stdout", /^Connected\nCallback: Hello\n$/);
      expect(echo.received).toEqual(["Hello"]);
      expect(cli.stderr()).toBe("");
    } finally {
      cli.kill();
      await cli.exited;
    }
  });

  it("README.md's first example, against a server that answers by id: the subscribe in onConnected, then the request", async () => {
    const code = block("README.md", "evtwebsocket");
    expect(code).toContain('"wss://api.example.com/rpc"');
    const ids = await startWsServer(idReply);
    servers.push(ids);
    const run = await runCli([], {
      cli: program(
        `${code.replace("wss://api.example.com/rpc", ids.url)}console.log(JSON.stringify(sum));\nawait conn.close();\n`,
      ),
    });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('{"id":2,"ok":true}\n');
    expect(ids.received.map((m) => JSON.parse(m) as unknown)).toEqual([
      { id: 1, method: "subscribe", params: ["prices"] },
      { id: 2, method: "add", params: [2, 3] },
    ]);
  });
});

it("README.md's count of the model-based suite's rules is the number test/model/properties.ts lists", () => {
  const match = /checking (\d+) rules after every\s+step/.exec(read("README.md"));
  expect(match, "README.md no longer says how many rules the model checks").not.toBeNull();
  expect(Number(match![1])).toBe(Object.keys(PROPERTIES).length);
});

it("README.md's comparison table gives the browser entry's size its Size section gives", () => {
  const readme = read("README.md");
  const table = /^\| Bundle size \(min\+gz\) \| ([\d.]+ KB),/m.exec(readme);
  const section =
    /^\*\*Size\.\*\* The browser entry with every feature, minified and gzipped, is \*\*([\d.]+ KB)\*\*/m.exec(
      readme,
    );
  expect(table?.[1]).toBeDefined();
  expect(table?.[1]).toBe(section?.[1]);
});

describe("docs/observability.md's log lines, against the lines of a real run", () => {
  /** One logged line: its level, event, and fields in order. */
  interface Line {
    level: string;
    text: string;
    event: string;
    keys: string[];
  }

  /** Splits `evtwebsocket[cN] event key=value …` (values: a JSON string, `CODE "message"` or a bare word). */
  function parse(level: string, text: string): Line {
    const head = /^evtwebsocket\[c\d+\] ([a-z-]+)/.exec(text);
    if (head === null) throw new Error(`not a log line: ${text}`);
    const keys: string[] = [];
    let rest = text.slice(head[0].length);
    while (rest !== "") {
      const m = /^ (\w+)=(?:"(?:[^"\\]|\\.)*"|[A-Z_]+ "(?:[^"\\]|\\.)*"|[^\s"]+)/.exec(rest);
      if (m === null) throw new Error(`cannot read the fields of: ${text}`);
      keys.push(m[1]!);
      rest = rest.slice(m[0].length);
    }
    return { level, text, event: head[1]!, keys };
  }

  /** The table: event -> level and field names in order (backticked words outside parentheses). */
  function table(): Map<string, { level: string; fields: string[] }> {
    const rows = new Map<string, { level: string; fields: string[] }>();
    const text = read("docs/observability.md");
    const start = text.indexOf("| event | level | fields |");
    for (const row of text.slice(start).split("\n").slice(2)) {
      if (!row.startsWith("| `")) break;
      const [events, level, fields] = row.slice(1, -1).split(" | ") as [string, string, string];
      const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      let depth = 0;
      let outside = "";
      for (const c of fields) {
        if (c === "(") depth++;
        else if (c === ")") depth--;
        else if (depth === 0) outside += c;
      }
      for (const event of names(events)) rows.set(event, { level: level.trim(), fields: names(outside) });
    }
    return rows;
  }

  /** `line` with its numbers, ids and quoted texts made wildcards: the shape a doc's example shows. */
  function shape(line: string): RegExp {
    const pattern = line
      .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
      .replace(/"(?:[^"\\]|\\.)*"/g, '"[^"]*"')
      .replace(/\\\[c\d+\\\]/g, "\\[c\\d+\\]")
      .replace(/(?<==)\d+(?:\\\.\d+)?/g, "\\d+(?:\\.\\d+)?");
    return new RegExp(`^${pattern}$`);
  }

  const lines: Line[] = [];
  const logger = Object.fromEntries(
    ["debug", "info", "warn", "error"].map((level) => [
      level,
      (text: string) => lines.push(parse(level, text)),
    ]),
  ) as unknown as {
    debug(s: string): void;
    info(s: string): void;
    warn(s: string): void;
    error(s: string): void;
  };

  it("a run that logs every event: each line's fields come in the table's order, at its level", async () => {
    const server = await createTestServer({ onMessage: () => {} });
    const proxy = await createFaultProxy(server.url);
    const conns: Conn[] = [];
    try {
      const conn = new Conn({
        logger,
        pingIntervalMs: 50,
        pongTimeoutMs: 50,
        connectTimeoutMs: 500,
        reconnect: { minDelayMs: 5, maxDelayMs: 50 },
        matchMsg: () => false,
      });
      conns.push(conn);
      await conn.dial(`${proxy.url}/socket?token=secret`);
      await waitFor(() => lines.some((l) => l.event === "pong"));
      await proxy.blackhole(); // dead, error, close (unclean), reconnecting with its error
      await waitFor(() => lines.some((l) => l.event === "reconnecting"));
      await proxy.heal();
      await waitFor(() => conn.state === "open");
      await server.dropAll(1013); // close (clean), reconnecting with serverDelayMs
      await waitFor(() => lines.some((l) => l.text.includes("serverDelayMs=")));
      await waitFor(() => conn.state === "open");
      await conn.request("unanswered", { timeoutMs: 10 }).catch(() => {}); // request-timeout

      const queued = new Conn({ logger, queue: { maxMessages: 1 } });
      conns.push(queued);
      queued.send("a", { maxAgeMs: 1 });
      expect(() => queued.send("b")).toThrow(); // queue-full
      await waitFor(() => lines.some((l) => l.event === "queue-expired"));

      const whatwg = new Conn({ logger, WebSocket: WsWebSocket, maxMessageBytes: 1024 });
      conns.push(whatwg);
      await whatwg.dial(server.url); // option

      const once = new Conn({ logger, reconnect: { maxAttempts: 0 } });
      conns.push(once);
      await once.dial(server.url);
      for (const client of server.clients) client.close(4001); // give-up
      await waitFor(() => lines.some((l) => l.event === "give-up"));
    } finally {
      for (const c of conns) await c.close();
      await proxy.close();
      await server.close();
    }

    const rows = table();
    const logged = new Set(lines.map((l) => l.event));
    expect([...rows.keys()].filter((event) => !logged.has(event))).toEqual([]);
    for (const line of lines) {
      const row = rows.get(line.event);
      expect(row, `${line.text}: its event is not in the table`).toBeDefined();
      const positions = line.keys.map((k) => row!.fields.indexOf(k));
      expect(positions, `${line.text}: a field the table does not list`).not.toContain(-1);
      expect(positions, `${line.text}: fields out of the table's order ${row!.fields}`).toEqual(
        [...positions].sort((a, b) => a - b),
      );
      if (line.event !== "close") expect(line.level, line.text).toBe(row!.level);
    }
  });

  it("the README's and the guide's example lines have the shape of lines of that run", () => {
    const readme = /`(evtwebsocket\[c1\] reconnecting\s+error=[^`]+)`/.exec(read("README.md"))?.[1];
    expect(readme, "README.md's example reconnecting line").toBeDefined();
    const guide = [...read("docs/observability.md").matchAll(/^\/\/ (evtwebsocket\[c1\] .+)$/gm)].map(
      (m) => m[1]!,
    );
    expect(guide.length).toBeGreaterThan(3);
    for (const example of [readme!.replace(/\s+/g, " ").replace("…", "x"), ...guide]) {
      const re = shape(example);
      expect(
        lines.some((l) => re.test(l.text)),
        `no line of the run has the shape of: ${example}`,
      ).toBe(true);
    }
  });
});
