/**
 * Sentences of the docs checked against the code they describe (issue 21's drifts 4, 6 and 7):
 * what docs/migrating.md calls "not exposed" is indeed absent from a `Conn`, and every `conn.X`
 * it names exists; no guide calls the benchmark unpublished while the README publishes it; and
 * every `… | jq` pipeline of docs/cli.md, run as written (`evtws` being the built CLI), prints no
 * `null` against an echo server and against an id-reply server; a pipeline that follows a feed
 * (`-n`, it ends only when the server closes) runs against a server that pushes two prices and
 * closes with 1000. And README.md against src/: its layout table names every module and folder
 * of src/ (and nothing else), and every default its options table shows as a value is the one
 * `resolveOptions({})` fills in.
 * Also every test file docs/concepts.md names exists.
 */

import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Conn } from "../src/index.js";
import { resolveOptions } from "../src/resolve-options.js";
import { idReply, root, startWsServer, type WsServer } from "./cli/helpers.js";
import { requireTools } from "./helpers/tools.js";

const read = (file: string) => readFileSync(join(root, file), "utf8");

describe("docs/migrating.md", () => {
  const text = read("docs/migrating.md");
  const conn = new Conn();

  it("what it calls not exposed is not a member of Conn", () => {
    const rows = [...text.matchAll(/^\| `ws\.(\w+)` \| not exposed/gm)].map((m) => m[1]!);
    expect(rows.filter((name) => name in conn)).toEqual([]);
  });

  it("every conn.X it names is a member of Conn", () => {
    const named = new Set([...text.matchAll(/`conn\.(\w+)/g)].map((m) => m[1]!));
    expect(named.size).toBeGreaterThan(0);
    expect([...named].filter((name) => !(name in conn))).toEqual([]);
  });
});

it("no guide calls the benchmark unpublished: the README's Performance section publishes it", () => {
  expect(read("README.md")).toMatch(/^## Performance$/m);
  for (const file of ["README.md", "docs/recipes.md", "docs/concepts.md", "docs/cli.md", "docs/testing.md"]) {
    expect(read(file), file).not.toMatch(/not\s+published/);
  }
});

describe("docs/cli.md's jq pipelines, run as written", requireTools("jq"), () => {
  const pipelines = read("docs/cli.md")
    .split("\n")
    .filter((line) => /^\S.*\| jq /.test(line) && line.includes("evtws"));
  let echo: WsServer;
  let ids: WsServer;
  let feed: WsServer;
  beforeAll(async () => {
    echo = await startWsServer();
    ids = await startWsServer(idReply);
    feed = await startWsServer(idReply, (ws) => {
      ws.send('{"price": 1}');
      ws.send('{"price": 2}');
      ws.close(1000);
    });
  });
  afterAll(async () => {
    await echo.stop();
    await ids.stop();
    await feed.stop();
  });

  it("there is one to run", () => {
    expect(pipelines.length).toBeGreaterThan(0);
  });

  it.each(["an echo server", "evtws serve --id-reply"])("print no null against %s", async (against) => {
    for (const line of pipelines) {
      const url = / -n /.test(line) ? feed.url : against === "an echo server" ? echo.url : ids.url;
      const command = line
        .replaceAll(
          /\bevtws\b/g,
          `${JSON.stringify(process.execPath)} ${JSON.stringify(join(root, "dist/cli.js"))}`,
        )
        .replaceAll("ws://127.0.0.1:8080", url);
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile("bash", ["-c", `set -o pipefail; ${command}`], (error, out, err) =>
          error ? reject(new Error(`${error.message}${err}`)) : resolve(out),
        ),
      );
      expect(stdout.trim().split("\n"), line).not.toContain("null");
      expect(stdout.trim(), line).not.toBe("");
    }
  });
});

describe("README.md against src/", () => {
  const readme = read("README.md");

  it("the layout table names every module and folder of src/, and nothing that is not there", () => {
    const start = readme.indexOf("**Layout of `src/`**");
    expect(start).toBeGreaterThan(0);
    const rows = readme.slice(start).split("\n\n")[1]!.split("\n");
    const named = new Set(
      rows.flatMap((row) => [...row.matchAll(/`([\w.-]+(?:\.ts|\/))`/g)].map((m) => m[1]!)),
    );
    const entries = readdirSync(join(root, "src"), { withFileTypes: true }).map((e) =>
      e.isDirectory() ? `${e.name}/` : e.name,
    );
    expect(entries.filter((name) => !named.has(name))).toEqual([]);
    expect([...named].filter((name) => !entries.includes(name))).toEqual([]);
  });

  it("every default the options table gives as a value is the one resolveOptions() fills in", () => {
    const start = readme.indexOf("## Options");
    const rows = readme.slice(start, readme.indexOf("\n## ", start + 1)).split("\n");
    const resolved = resolveOptions({}) as unknown as Record<string, unknown>;
    const checked: string[] = [];
    for (const row of rows) {
      const m = /^\| `([\w.]+)` \| `([^`]+)`/.exec(row);
      if (!m) continue;
      const [, name, shownDefault] = m as unknown as [string, string, string];
      const actual = name
        .split(".")
        .reduce<unknown>((o, key) => (o as Record<string, unknown>)?.[key], resolved);
      // Defaults shown as another option's name (`pongTimeoutMs`: `pingIntervalMs`) are prose.
      if (actual === undefined || typeof actual === "object" || /^[a-z]\w*$/.test(shownDefault)) continue;
      const expected = shownDefault === "Infinity" ? Infinity : JSON.parse(shownDefault);
      expect(actual, name).toBe(expected);
      checked.push(name);
    }
    expect(checked.length).toBeGreaterThan(12);
  });
});

describe("docs", () => {
  it("every test file docs/concepts.md names exists (it promises test/model.test.ts)", () => {
    const text = readFileSync(new URL("../docs/concepts.md", import.meta.url), "utf8");
    const named = [...text.matchAll(/`(test\/[\w./-]+\.test\.ts)`/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(0);
    const missing = named.filter((p) => !existsSync(new URL(`../${p}`, import.meta.url)));
    expect(missing).toEqual([]);
  });
});
