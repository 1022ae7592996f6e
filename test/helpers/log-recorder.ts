/**
 * A `logger` for tests that keeps every line it is given, as the string the library wrote, and
 * can call back on each (the tests of a logger that calls into the connection).
 */

import type { Logger } from "../../src/index.js";

/** A logger that keeps every line; `hook` runs after each line is kept. `events()`: each line's event word. */
export function recordLines(hook?: (line: string) => void) {
  const lines: string[] = [];
  const at = (_level: keyof Logger) => (line: string) => {
    lines.push(line);
    hook?.(line);
  };
  const logger: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { logger, lines, events: () => lines.map((l) => l.split(" ")[1] ?? "") };
}
