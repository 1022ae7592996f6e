/**
 * `src/shared/role.ts`: the role state machine of `evtwebsocket/shared`, row by row of its
 * transition table (what each step does from each phase, and what a tab then reads). The
 * election itself (Web Locks) is tested in Chromium (test/browser/shared.test.ts).
 */

import { describe, expect, it } from "vitest";
import { TabRole } from "../src/shared/role.js";

type Step = "lead" | "stepDown" | "close";

/** A TabRole brought to `phase` by the steps that lead there. */
function at(phase: string): TabRole {
  const role = new TabRole("evtwebsocket:t", phase === "alone");
  const path: Record<string, Step[]> = {
    alone: [],
    follower: [],
    leader: ["lead"],
    "stepped-down": ["lead", "stepDown"],
    closed: ["lead", "close"],
  };
  for (const step of path[phase]!) role.to(step);
  return role;
}

/** What a tab reads of its role. */
const read = (r: TabRole) => ({
  role: r.role,
  closed: r.closed,
  leaving: r.leaving,
  steppedDown: r.steppedDown,
  leads: r.leads,
});

describe("TabRole: the transition table", () => {
  it.each([
    // from, step, taken, then: role, closed, leaving, steppedDown, leads
    ["alone", "lead", false, "alone", false, false, false, false],
    ["alone", "stepDown", false, "alone", false, false, false, false],
    ["alone", "close", true, "alone", true, true, false, false],
    ["follower", "lead", true, "leader", false, false, false, true],
    ["follower", "stepDown", false, "follower", false, false, false, false],
    ["follower", "close", true, "follower", true, true, false, false],
    ["leader", "lead", false, "leader", false, false, false, true],
    ["leader", "stepDown", true, "follower", false, true, true, false],
    ["leader", "close", true, "leader", true, true, false, false],
    ["stepped-down", "lead", true, "leader", false, false, false, true],
    ["stepped-down", "stepDown", false, "follower", false, true, true, false],
    ["stepped-down", "close", true, "follower", true, true, false, false],
    ["closed", "lead", false, "leader", true, true, false, false],
    ["closed", "stepDown", false, "leader", true, true, false, false],
    ["closed", "close", false, "leader", true, true, false, false],
  ] as const)(
    "%s --%s--> taken %s: role %s, closed %s, leaving %s, stepped down %s, leads %s",
    (from, step, taken, role, closed, leaving, steppedDown, leads) => {
      const r = at(from);
      expect(r.to(step)).toBe(taken);
      expect(read(r)).toEqual({ role, closed, leaving, steppedDown, leads });
    },
  );

  it("a closed tab keeps the role it had: a leader that closed still reads leader, a stepped-down one follower", () => {
    const leader = at("leader");
    leader.close();
    expect(read(leader)).toMatchObject({ role: "leader", closed: true, leads: false });
    const steppedDown = at("stepped-down");
    steppedDown.close();
    expect(read(steppedDown)).toMatchObject({ role: "follower", closed: true });
  });

  it("stepDown() steps down only a leader (and says so); in a follower it changes nothing", () => {
    const follower = at("follower");
    expect(follower.stepDown()).toBe(false);
    expect(read(follower)).toEqual(read(at("follower")));
    const leader = at("leader");
    expect(leader.stepDown()).toBe(true);
    expect(read(leader)).toEqual(read(at("stepped-down")));
  });
});
