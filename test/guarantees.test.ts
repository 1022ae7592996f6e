/**
 * docs/guarantees.md links every behavioural promise of the docs to the tests that pin it. This
 * file keeps the links true: every file, heading, test name and model property a row names must
 * exist, and every `<!-- promise: ID -->` marker in README.md or docs/ must have a row. A test
 * renamed or deleted, or a heading reworded, fails here until the table follows.
 *
 * Test names are read from the test file's text, not by running it: the first string argument
 * of `it(`, `test(` and `describe(` (with `.skip`/`.only`/`.concurrent` and friends), and of the
 * call that follows `it.each(…)` / `describe.each(…)`, as written (placeholders such as `%s`
 * kept).
 */

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { PROPERTIES } from "./model/properties.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const MIN_ROWS = 40;

type Read = (file: string) => string | undefined;
const readRepo: Read = (file) => {
  const path = join(root, file);
  return existsSync(path) ? readFileSync(path, "utf8") : undefined;
};

/** Skips a quoted string starting at `i` (the quote); returns the index after its closing quote. */
function skipString(text: string, i: number): number {
  const quote = text[i];
  let j = i + 1;
  while (j < text.length && text[j] !== quote) j += text[j] === "\\" ? 2 : 1;
  return j + 1;
}

/** The names of every test and suite declared in a test file's text. */
function testNames(text: string): Set<string> {
  const names = new Set<string>();
  const string = String.raw`\s*(["'\x60])((?:\\.|(?!\1)[^\\])*)\1`;
  const modifiers = String.raw`(?:\.(?:only|skip|concurrent|sequential|fails|todo|skipIf\([^)]*\)|runIf\([^)]*\)))*`;
  for (const m of text.matchAll(new RegExp(String.raw`\b(?:it|test|describe)${modifiers}\(${string}`, "g"))) {
    names.add(m[2]!);
  }
  for (const m of text.matchAll(new RegExp(String.raw`\b(?:it|test|describe)${modifiers}\.each\s*\(`, "g"))) {
    let i = m.index + m[0].length;
    let depth = 1;
    while (i < text.length && depth > 0) {
      const c = text[i]!;
      if (c === '"' || c === "'" || c === "`") {
        i = skipString(text, i);
        continue;
      }
      if ("([{".includes(c)) depth++;
      else if (")]}".includes(c)) depth--;
      i++;
    }
    const name = new RegExp(String.raw`^\s*\(${string}`).exec(text.slice(i));
    if (name) names.add(name[2]!);
  }
  return names;
}

interface Row {
  id: string;
  promise: string;
  stated: string[];
  pinned: string[];
}

/** The rows of the guarantees table: cells split on unescaped `|`, entries on `<br>`. */
function parseTable(markdown: string): Row[] {
  const rows: Row[] = [];
  for (const line of markdown.split("\n")) {
    if (!line.startsWith("| `")) continue;
    const cells = line
      .slice(1, line.endsWith("|") ? -1 : undefined)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim().replaceAll("\\|", "|"));
    const entries = (cell: string | undefined) => (cell ?? "").split("<br>").map((e) => e.trim());
    rows.push({
      id: /^`([^`]+)`$/.exec(cells[0] ?? "")?.[1] ?? cells[0] ?? "",
      promise: cells[1] ?? "",
      stated: entries(cells[2]),
      pinned: entries(cells[3]),
    });
  }
  return rows;
}

/** Everything wrong with the table, one line each; empty when every link holds. */
function problems(markdown: string, read: Read, docs: Record<string, string>): string[] {
  const found: string[] = [];
  const rows = parseTable(markdown);
  const ids = new Set<string>();
  const namesOf = new Map<string, Set<string> | undefined>();
  for (const row of rows) {
    const where = `row ${row.id}`;
    if (!/^[a-z0-9-]+$/.test(row.id)) found.push(`${where}: the ID must be lower-case words joined by -`);
    if (ids.has(row.id)) found.push(`${where}: duplicate ID`);
    ids.add(row.id);
    if (row.promise === "") found.push(`${where}: no promise`);
    for (const entry of row.stated) {
      const m = /^`([^`]+)` § (.+)$/.exec(entry);
      if (m === null) {
        found.push(`${where}: "${entry}" is not \`file\` § heading`);
        continue;
      }
      const text = read(m[1]!);
      if (text === undefined) found.push(`${where}: ${m[1]} does not exist`);
      else if (!text.split("\n").some((l) => /^#{1,6} /.test(l) && l.replace(/^#+ /, "").trim() === m[2])) {
        found.push(`${where}: ${m[1]} has no heading "${m[2]}"`);
      }
    }
    if (row.pinned.length === 0 || row.pinned[0] === "") found.push(`${where}: no test`);
    for (const entry of row.pinned) {
      const m = /^`([^`]+)` › (.+)$/.exec(entry);
      if (m === null) {
        found.push(`${where}: "${entry}" is not \`file\` › test name`);
        continue;
      }
      const [, file, name] = m as unknown as [string, string, string];
      const property = /^property `([^`]+)`$/.exec(name);
      if (property !== null) {
        if (file !== "test/model.test.ts")
          found.push(`${where}: a property lives in test/model.test.ts, not ${file}`);
        if (!(property[1]! in PROPERTIES)) found.push(`${where}: the model has no property "${property[1]}"`);
        continue;
      }
      if (!namesOf.has(file)) {
        const text = read(file);
        namesOf.set(file, text === undefined ? undefined : testNames(text));
      }
      const names = namesOf.get(file);
      if (names === undefined) found.push(`${where}: ${file} does not exist`);
      else if (!names.has(name)) found.push(`${where}: ${file} has no test named "${name}"`);
    }
  }
  for (const [file, text] of Object.entries(docs)) {
    for (const m of text.matchAll(/<!--\s*promise:\s*([^\s>]+)\s*-->/g)) {
      if (!ids.has(m[1]!)) found.push(`${file}: <!-- promise: ${m[1]} --> has no row in docs/guarantees.md`);
    }
  }
  return found;
}

const table = readRepo("docs/guarantees.md") ?? "";
const docs: Record<string, string> = { "README.md": readRepo("README.md") ?? "" };
for (const file of readdirSync(join(root, "docs"))) {
  if (file.endsWith(".md") && file !== "guarantees.md") docs[`docs/${file}`] = readRepo(`docs/${file}`) ?? "";
}

describe("docs/guarantees.md", () => {
  it(`has at least ${MIN_ROWS} rows, one per promise`, () => {
    expect(parseTable(table).length).toBeGreaterThanOrEqual(MIN_ROWS);
  });

  it("every file, heading, test name and model property it names exists, and every promise marker has a row", () => {
    expect(problems(table, readRepo, docs)).toEqual([]);
  });

  it("the docs carry promise markers, and each is checked", () => {
    const markers = Object.values(docs).flatMap((t) => [...t.matchAll(/<!-- promise: /g)]);
    expect(markers.length).toBeGreaterThan(0);
  });
});

describe("the check itself (so a pass means something)", () => {
  const file = "test/x.test.ts";
  const source = [
    'it("plain name", () => {});',
    "describe('a suite', () => {",
    '  it.each([[1, "a)"], [2, "b"]])("each %i (%s)", () => {});',
    "  test.skip(`templated name`, () => {});",
    "});",
  ].join("\n");
  const md = (pinned: string, stated = "`README.md` § Title") =>
    `| \`row\` | a promise | ${stated} | ${pinned} |\n`;
  const read: Read = (f) => (f === file ? source : f === "README.md" ? "# Title\n" : undefined);

  it("reads it(), describe(), test.skip() and it.each() names as written", () => {
    expect([...testNames(source)].sort()).toEqual([
      "a suite",
      "each %i (%s)",
      "plain name",
      "templated name",
    ]);
  });

  it("passes a row whose links all hold", () => {
    expect(
      problems(md(`\`${file}\` › each %i (%s)<br>\`test/model.test.ts\` › property \`liveness\``), read, {}),
    ).toEqual([]);
  });

  it("fails when a referenced test is renamed or deleted", () => {
    expect(problems(md(`\`${file}\` › plain name, renamed`), read, {})).toEqual([
      `row row: ${file} has no test named "plain name, renamed"`,
    ]);
  });

  it("fails on a missing file, a missing heading and an unknown model property", () => {
    expect(problems(md("`test/gone.test.ts` › plain name", "`README.md` § Other"), read, {})).toEqual([
      'row row: README.md has no heading "Other"',
      "row row: test/gone.test.ts does not exist",
    ]);
    expect(problems(md("`test/model.test.ts` › property `no-such-rule`"), read, {})).toEqual([
      'row row: the model has no property "no-such-rule"',
    ]);
  });

  it("fails on a promise marker without a row", () => {
    expect(
      problems(md(`\`${file}\` › plain name`), read, { "docs/x.md": "A rule. <!-- promise: unlisted -->" }),
    ).toEqual(["docs/x.md: <!-- promise: unlisted --> has no row in docs/guarantees.md"]);
  });
});
