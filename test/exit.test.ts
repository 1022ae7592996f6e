import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { createTestServer } from "../src/testing/index.js";
import { onCleanup, server } from "./helpers/harness.js";
import { rawServer } from "./helpers/raw-server.js";
import { freePort } from "./helpers/server.js";

function runChild(variant: string, url: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "test/fixtures/exit-after-close.ts", variant, url],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(killer);
      resolve({ code, out, err });
    });
  });
}

describe("after close() resolves the library holds nothing: a Node process exits by itself", () => {
  it.each([
    ["idle-open", "server"],
    ["pending-requests", "silent"],
    ["answered-requests", "server"],
    ["awaiting-pong", "no-pong"],
    ["queued-sends", "refused"],
    ["backoff", "refused"],
    ["handshake", "tcp-only"],
    // H-6: a peer that never answers our close frame and holds TCP open: the close timeout.
    ["H-6-close-unanswered", "no-close-answer"],
  ])("%s", async (variant, kind) => {
    let url: string;
    if (kind === "no-close-answer") url = (await rawServer()).url;
    else if (kind === "refused") url = `ws://127.0.0.1:${await freePort()}`;
    else if (kind === "tcp-only") {
      const silent = await createTestServer();
      onCleanup(() => silent.close());
      silent.stall(); // TCP accepted, handshake held unanswered
      url = silent.url;
    } else {
      const s = await server({
        autoPong: kind !== "no-pong",
        ...(kind === "server" ? {} : { onMessage: () => {} }),
      });
      url = s.url;
    }
    const { code, out, err } = await runChild(variant, url);
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(out).toMatch(/^closed closed/);
    // pending requests reject ERR_CLOSED; queued callback requests report ERR_CLOSED to onError, one each.
    if (variant === "pending-requests") expect(out.trim()).toBe("closed closed ERR_CLOSED - 0");
    if (variant === "answered-requests") expect(out.trim()).toBe("closed closed answered - 0");
    if (variant === "queued-sends") expect(out.trim()).toBe("closed closed - ERR_CLOSED 10");
    if (variant === "H-6-close-unanswered") expect(out.trim()).toBe("closed closed - - 0");
  });
});
