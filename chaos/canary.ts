/**
 * INV-7: the secret canary and the scanner that looks for it in anything the library produced
 * (errors with their stacks and cause chains, event payloads), hidden properties and bytes
 * (a Buffer or typed array, read as Latin-1) included.
 * Shared by the chaos run and test/security.test.ts.
 */

import { inspect } from "node:util";

/** The secret put in the URL userinfo, path, the `token=` query, the Authorization header and the subprotocol. */
export const CANARY = "c4n4ry7X9q";

/** Paths inside `value` where the canary appears; empty when it does not. */
export function canaryHits(value: unknown): string[] {
  const hits: string[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown, path: string, depth: number): void => {
    if (typeof v === "string") {
      if (v.includes(CANARY)) hits.push(path);
      return;
    }
    if (ArrayBuffer.isView(v)) {
      const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      if (bytes.includes(CANARY, 0, "latin1")) hits.push(path);
      return;
    }
    if (typeof v !== "object" || v === null || seen.has(v) || depth > 8) return;
    seen.add(v);
    for (const key of Object.getOwnPropertyNames(v)) {
      let child: unknown;
      try {
        child = (v as Record<string, unknown>)[key];
      } catch {
        continue;
      }
      walk(child, `${path}.${key}`, depth + 1);
    }
  };
  walk(value, "$", 0);
  if (inspect(value, { depth: 10, showHidden: true }).includes(CANARY)) hits.push("inspect()");
  if (value instanceof Error && String(value).includes(CANARY)) hits.push("String()");
  return hits;
}
