/**
 * Type-checks every ```ts (or ```typescript) block of README.md and docs/*.md, so the docs cannot
 * drift from the API. docs/api/ is generated and not read.
 *
 * Each block is compiled as an ES module of a user's project, against the package as users get
 * it: a scratch directory whose node_modules links `evtwebsocket` to this repository (so imports
 * go through the `exports` map to the built dist/, which `npm test` builds first) and every
 * other dependency to ours. One compiler program checks every block at once.
 *
 * A block may be preceded by an HTML comment, invisible on GitHub and in the reference:
 * - `<!-- snippet-prelude: <code> -->` (or with the code on the lines below `<!-- snippet-prelude`)
 *   is compiled before the block: imports and declarations a fragment takes from its context.
 * - `<!-- snippet-skip: <reason> -->` leaves a block that cannot compile (an error shown on purpose)
 *   unchecked. Skips are listed in the output, and more than {@link MAX_SKIPPED} fail the test.
 *
 * What it does not do: run the blocks. examples/ holds the programs CI runs.
 */

import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../", import.meta.url));

/** More skipped blocks than this fails the suite: a skip is an exception, not a habit. */
const MAX_SKIPPED = 3;

/** A user's strict ESM project on Node with DOM types (some snippets are for browsers). */
const compilerOptions = {
  target: "ES2022",
  lib: ["ES2022", "DOM", "esnext.disposable"],
  module: "NodeNext",
  moduleResolution: "NodeNext",
  moduleDetection: "force",
  strict: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: true,
  noEmit: true,
  types: ["node"],
};

/** One code block, the text compiled for it, and where each compiled line came from. */
interface Snippet {
  /** Markdown file, relative to the repository root. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** Reason given by `snippet-skip`, if any. */
  skip?: string;
  /** Prelude lines followed by the block's lines, indentation of the fence removed. */
  source: string[];
  /** For each line of `source`, its 1-based line in `file` and the columns removed. */
  origin: Array<{ line: number; indent: number }>;
}

/** The markdown files whose code blocks are checked. */
function markdownFiles(): string[] {
  const docs = readdirSync(join(root, "docs"), { withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".md"))
    .map((entry) => `docs/${entry.name}`)
    .sort();
  return ["README.md", ...docs];
}

const directive = /^<!--\s*snippet-([a-z-]+)\b:?/;

/** Parses the `snippet-*` comments that end on the line above index `fence` of `lines`. */
function directivesAbove(lines: string[], fence: number, file: string) {
  const prelude: string[] = [];
  const origin: Snippet["origin"] = [];
  let skip: string | undefined;
  let comments = 0;
  let end = fence - 1;
  while (end >= 0 && lines[end]!.trim().endsWith("-->")) {
    let start = end;
    while (start > 0 && !lines[start]!.trim().startsWith("<!--")) start--;
    const head = lines[start]!.trim();
    const match = directive.exec(head);
    if (match === null) break;
    const indent = lines[start]!.length - lines[start]!.trimStart().length;
    const text = lines
      .slice(start, end + 1)
      .map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length)));
    text[0] = text[0]!.slice(match[0].length);
    text[text.length - 1] = text[text.length - 1]!.replace(/-->\s*$/, "");
    const kind = match[1];
    if (kind === "skip") {
      skip = text.join(" ").trim();
      if (skip === "") throw new Error(`${file}:${start + 1}: snippet-skip needs a reason`);
    } else if (kind === "prelude") {
      prelude.unshift(...text);
      const first = { line: start + 1, indent: indent + match[0].length };
      origin.unshift(first, ...text.slice(1).map((_, i) => ({ line: start + 2 + i, indent })));
    } else {
      throw new Error(`${file}:${start + 1}: unknown directive snippet-${kind}`);
    }
    comments++;
    end = start - 1;
  }
  return { prelude, origin, skip, comments };
}

/** Every TypeScript block of `file`, with its prelude. */
function snippetsOf(file: string): { snippets: Snippet[]; directives: number } {
  const lines = readFileSync(join(root, file), "utf8").split("\n");
  const snippets: Snippet[] = [];
  let used = 0;
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i]!);
    if (open === null) continue;
    const [, indentText = "", marker = "", lang = ""] = open;
    const indent = indentText.length;
    let close = i + 1;
    while (close < lines.length) {
      const l = lines[close]!.trim();
      if (l.startsWith(marker) && l.replace(/^[`~]+/, "") === "" && l.length >= marker.length) break;
      close++;
    }
    if (lang === "ts" || lang === "typescript") {
      const { prelude, origin, skip, comments } = directivesAbove(lines, i, file);
      used += comments;
      const body = lines
        .slice(i + 1, close)
        .map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length)));
      snippets.push({
        file,
        line: i + 1,
        ...(skip === undefined ? {} : { skip }),
        source: [...prelude, ...body],
        origin: [...origin, ...body.map((_, k) => ({ line: i + 2 + k, indent }))],
      });
    }
    i = close;
  }
  return { snippets, directives: used };
}

const files = markdownFiles();
const parsed = files.map(snippetsOf);
const snippets = parsed.flatMap((p) => p.snippets);
const checked = snippets.filter((s) => s.skip === undefined);
const skipped = snippets.filter((s) => s.skip !== undefined);

/** Builds the scratch project and returns the diagnostics of every block, and of nothing in particular. */
function compile(dir: string): { bySnippet: Map<Snippet, string[]>; global: string[]; loaded: string[] } {
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "docs-snippets", type: "module" }));
  const modules = join(dir, "node_modules");
  mkdirSync(modules);
  for (const name of readdirSync(join(root, "node_modules"))) {
    if (!name.startsWith(".")) symlinkSync(join(root, "node_modules", name), join(modules, name), "dir");
  }
  symlinkSync(root, join(modules, "evtwebsocket"), "dir");

  const names = new Map<string, Snippet>();
  for (const s of checked) {
    const name = join(dir, `${s.file.replace(/[^\w]+/g, "_")}_L${s.line}.ts`);
    writeFileSync(name, `${s.source.join("\n")}\n`);
    names.set(name, s);
  }
  const { options, errors } = ts.convertCompilerOptionsFromJson(compilerOptions, dir);
  if (errors.length > 0) throw new Error(ts.formatDiagnostics(errors, host()));
  const program = ts.createProgram([...names.keys()], options);
  const bySnippet = new Map<Snippet, string[]>(checked.map((s) => [s, []]));
  const global: string[] = [];
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = `error TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    const s = d.file === undefined ? undefined : names.get(d.file.fileName);
    if (d.file === undefined || s === undefined) {
      global.push(d.file === undefined ? message : ts.formatDiagnostic(d, host()));
      continue;
    }
    const at = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
    const from = s.origin[at.line] ?? { line: s.line, indent: 0 };
    const inPrelude = from.line < s.line ? " (in its prelude)" : "";
    const text = s.source[at.line]?.trim() ?? "";
    bySnippet
      .get(s)!
      .push(`${s.file}:${from.line}:${at.character + 1 + from.indent}${inPrelude} ${message}\n    ${text}`);
  }
  const loaded = program.getSourceFiles().map((f) => f.fileName);
  return { bySnippet, global, loaded };
}

function host(): ts.FormatDiagnosticsHost {
  return {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => root,
    getNewLine: () => "\n",
  };
}

let dir: string | undefined;
let result: ReturnType<typeof compile> | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "evtws-docs-snippets-"));
  result = compile(dir);
});

afterAll(() => {
  // The links in node_modules are removed, never followed.
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe("code blocks in README.md and docs/*.md", () => {
  it("the package they import is built", () => {
    expect(existsSync(join(root, "dist/index.d.ts")), "run `npx tsup` first").toBe(true);
    expect(existsSync(join(root, "dist/testing.d.ts")), "run `npx tsup` first").toBe(true);
  });

  it(`are found, and at most ${MAX_SKIPPED} are skipped, each with its reason`, () => {
    const list = skipped.map((s) => `skipped ${s.file}:${s.line}: ${s.skip}`);
    for (const line of list) console.info(line);
    console.info(`${checked.length} code blocks type-checked, ${skipped.length} skipped`);
    expect(checked.length).toBeGreaterThan(0);
    expect(
      skipped.length,
      `more than ${MAX_SKIPPED} blocks skipped:\n${list.join("\n")}`,
    ).toBeLessThanOrEqual(MAX_SKIPPED);
  });

  it("every snippet-* comment sits right above a TypeScript block", () => {
    const count = (file: string) =>
      (readFileSync(join(root, file), "utf8").match(/<!--\s*snippet-/g) ?? []).length;
    const found = Object.fromEntries(files.map((file) => [file, count(file)]));
    const attached = Object.fromEntries(files.map((file, i) => [file, parsed[i]!.directives]));
    expect(attached, "snippet-* comments per file, found vs attached to a block").toEqual(found);
  });

  it('import "evtwebsocket" and "evtwebsocket/testing" from the built package, through its exports', () => {
    const loaded = result!.loaded.filter((f) => f.startsWith(root)).map((f) => f.slice(root.length));
    expect(loaded).toContain("dist/index.d.ts");
    expect(loaded).toContain("dist/testing.d.ts");
    expect(loaded.filter((f) => f.startsWith("src/"))).toEqual([]);
  });

  it("compile without errors outside any one block", () => {
    expect(result!.global).toEqual([]);
  });

  for (const s of checked) {
    it(`${s.file}:${s.line} type-checks`, () => {
      const errors = result!.bySnippet.get(s)!;
      expect(errors.length, `${s.file}:${s.line}, ${errors.length} errors:\n${errors.join("\n")}\n`).toBe(0);
    });
  }
});
