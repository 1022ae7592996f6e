import { describe, expect, it } from "vitest";
import { canTransition, State } from "../src/state.js";

const all = Object.values(State);
const allowed = new Set([
  "idle>connecting",
  "idle>closed",
  "connecting>open",
  "connecting>closed",
  "open>reconnecting",
  "open>closed",
  "reconnecting>open",
  "reconnecting>closed",
  "closed>connecting",
]);

describe("state transitions", () => {
  for (const from of all) {
    for (const to of all) {
      const ok = allowed.has(`${from}>${to}`);
      it(`${from} -> ${to} is ${ok ? "allowed" : "refused"}`, () => {
        expect(canTransition(from, to)).toBe(ok);
      });
    }
  }
});
