/**
 * The readable script of a run: one line per command, and indented under it what the
 * connection did in response. Marks: `←` an event or callback the connection fired, `→` a call
 * made from inside a callback, `↳` what the connection did to the transport, `·` a promise
 * settling, `✗` a call that threw, `!!` where a rule broke. A failure report is the violations,
 * the configuration, then the script.
 */

import type { ModelConfig } from "./config.js";
import { PROPERTIES, type PropertyName } from "./properties.js";

export interface Violation {
  property: PropertyName;
  message: string;
}

/** The lines of a run's script, indented by nesting. */
export class Script {
  readonly lines: string[] = [];
  #depth = 0;

  /** Adds a line at the current depth. */
  line(text: string): void {
    this.lines.push(`${"  ".repeat(this.#depth)}${text}`);
  }

  /** Runs `fn` with its lines indented one step further. */
  nested<T>(fn: () => T): T {
    this.#depth++;
    try {
      return fn();
    } finally {
      this.#depth--;
    }
  }

  /** Back to the left margin (after a step that threw part-way). */
  reset(): void {
    this.#depth = 0;
  }
}

/** The configuration as one line (Infinity spelled out: JSON would say null). */
export function describeConfig(config: ModelConfig): string {
  return JSON.stringify(config, (_key, v) => (v === Number.POSITIVE_INFINITY ? "Infinity" : v));
}

/** A failed run: the violations, then the configuration and the script that led to them. */
export class ModelViolation extends Error {
  constructor(violations: readonly Violation[], config: ModelConfig, script: Script) {
    const found = violations.map((v) => `  [${v.property}] ${v.message}\n      (${PROPERTIES[v.property]})`);
    const lines = script.lines.map((l) => `  ${l}`).join("\n");
    super(`model violation\n${found.join("\n")}\n\nconfig: ${describeConfig(config)}\n\nscript:\n${lines}\n`);
    this.name = "ModelViolation";
  }
}
