/**
 * Runs examples/testing-kit.test.ts, a user's own test written with `evtwebsocket/testing`, as
 * part of `npm test` (vitest.config.ts collects test/ only).
 *
 * Importing it registers its tests here, so they run in this process with this repository's
 * vitest and show up, by name and with their own stack traces, in the same report and the same
 * pass/fail count as every other test. The example imports "evtwebsocket" and
 * "evtwebsocket/testing" as a user does; vitest resolves both through the package's `exports`
 * to dist/, which `npm test` builds first (checked below). Spawning a second vitest instead
 * would need its own config (the root one would be found and would collect nothing), a second
 * start-up on CI's two cores, and output parsing to tell what failed.
 */

import { expect, it } from "vitest";
import "../examples/testing-kit.test.js";

it("examples/testing-kit.test.ts imports the built package, as a user's test does", () => {
  const dist = new URL("../dist/", import.meta.url).href;
  expect(import.meta.resolve("evtwebsocket")).toBe(`${dist}index.js`);
  expect(import.meta.resolve("evtwebsocket/testing")).toBe(`${dist}testing.js`);
});
