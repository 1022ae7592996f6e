/** Rows of a typed line's echo, counted as Node's readline lays the line out. */

import { describe, expect, it } from "vitest";
import { echoRows } from "../../src/cli/echo-rows.js";

describe("echoRows", () => {
  it.each([
    ["> hi", 40, 1],
    // Exactly filling a row: the cursor wraps to the next before Enter moves it once more.
    [`> ${"a".repeat(38)}`, 40, 2],
    [`> ${"a".repeat(39)}`, 40, 2],
    [`> ${"a".repeat(78)}`, 40, 3],
    // CJK: two columns each; 19 fill 38 columns after the prompt.
    [`> ${"中".repeat(19)}`, 40, 2],
    // A wide character never straddles the last column: it starts the next row.
    [`> a${"中".repeat(19)}`, 40, 2],
    // U+FE0F adds no column; each part of a U+200D sequence counts.
    [`> ${"\u2764\ufe0f".repeat(25)}`, 40, 1],
    [`> ${"\u{1f468}\u200d\u{1f469}\u200d\u{1f467}".repeat(7)}`, 40, 2],
    // A tab goes to the next multiple of 8.
    ["> a\tbc", 10, 2],
  ])("%j in %i columns takes %i rows", (text, columns, rows) => {
    expect(echoRows(text, columns)).toBe(rows);
  });
});
