import { spawn } from "node:child_process";
import { createServer, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { onCleanup, server } from "./helpers/harness.js";
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
    ["awaiting-pong", "no-pong"],
    ["queued-sends", "refused"],
    ["backoff", "refused"],
    ["handshake", "tcp-only"],
  ])("%s", async (variant, kind) => {
    let url: string;
    if (kind === "refused") url = `ws://127.0.0.1:${await freePort()}`;
    else if (kind === "tcp-only") {
      const sockets: Socket[] = [];
      const tcp = createServer((s) => sockets.push(s));
      await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", r));
      onCleanup(async () => {
        for (const s of sockets) s.destroy();
        await new Promise((r) => tcp.close(r));
      });
      url = `ws://127.0.0.1:${(tcp.address() as import("node:net").AddressInfo).port}`;
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
    if (variant === "queued-sends") expect(out.trim()).toBe("closed closed - ERR_CLOSED 10");
  });
});
