/** Telling slash commands from messages at the prompt. */

import { describe, expect, it } from "vitest";
import { COMMANDS, helpText, parseInput } from "../../src/cli/commands.js";

describe("parseInput", () => {
  it.each([
    ["hello", { kind: "message", text: "hello" }],
    ["  spaced  ", { kind: "message", text: "  spaced  " }],
    ["", { kind: "empty" }],
    ["   ", { kind: "empty" }],
    ["/stats", { kind: "command", name: "stats", args: "" }],
    ["/close 4000 bye now", { kind: "command", name: "close", args: "4000 bye now" }],
    ["//drop", { kind: "message", text: "/drop" }],
    ["/nope x", { kind: "unknown", name: "nope" }],
    ["/toString", { kind: "unknown", name: "toString" }],
  ])("%j is %j", (line, input) => {
    expect(parseInput(line)).toEqual(input);
  });
});

describe("helpText", () => {
  it("names every command", () => {
    const text = helpText();
    for (const name of Object.keys(COMMANDS)) expect(text).toContain(`/${name}`);
    expect(text).toContain("/close [code] [reason]");
  });
});
