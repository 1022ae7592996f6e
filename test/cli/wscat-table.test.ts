/**
 * docs/cli.md's "Coming from wscat" table names only options `evtws --help` lists, so the
 * mapping cannot drift from the CLI: every `-x`/`--flag` in its evtws column must be in the help.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { root, runCli, useSourceBundle } from "./helpers.js";

useSourceBundle();

it("every evtws option in docs/cli.md's wscat tables is one evtws --help lists", async () => {
  const text = readFileSync(join(root, "docs/cli.md"), "utf8");
  const section = text.slice(text.indexOf("## Coming from wscat"), text.indexOf("## `evtws serve`"));
  const rows = section.split("\n").filter((line) => line.startsWith("| ") && !line.startsWith("| ---"));
  // The evtws column is the last one; `serve --port` belongs to the serve command.
  const flags = new Set(
    rows.flatMap((row) => {
      const cells = row.split(/(?<!\\)\|/).map((cell) => cell.trim());
      const evtws = cells.at(-2) ?? "";
      return [...evtws.replaceAll(/evtws serve --port/g, "").matchAll(/(?<![\w-])(--?[a-z][\w-]*)/g)].map(
        (m) => m[1]!,
      );
    }),
  );
  expect(flags.size).toBeGreaterThan(10);
  const help = await runCli(["--help"]);
  expect(help.code).toBe(0);
  const listed = new Set([...help.stdout.matchAll(/(?<![\w-])(--?[a-z][\w-]*)/g)].map((m) => m[1]!));
  expect([...flags].filter((flag) => !listed.has(flag))).toEqual([]);
});
