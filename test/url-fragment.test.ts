/**
 * "Any #fragment removed" (docs/PROTOCOL.md), the empty one too: undici's WHATWG WebSocket
 * (Node 22+'s global, Node 20's under --experimental-websocket) refuses a URL that ends in "#"
 * with "Got fragment", so a kept "#" failed every dial. Run in a child process: Node 20 has the
 * global WebSocket only under that flag.
 */
import { execFile } from "node:child_process";
import { expect, it } from "vitest";
import { server } from "./helpers/harness.js";

function dialNative(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--experimental-websocket", "--no-warnings", "--import", "tsx", "test/fixtures/native-dial.ts", url],
      { timeout: 20_000 },
      (error, out) => (error ? reject(error) : resolve(out.trim())),
    );
  });
}

it.each(["/p#", "/p#frag", "/p?q=1#"])(
  "a URL ending in %s opens with the runtime's WHATWG WebSocket: its fragment is removed",
  async (tail) => {
    const s = await server();
    expect(await dialNative(`${s.url}${tail}`)).toBe("open");
    expect(s.handshakes.map((h) => h.url)).toEqual([tail.slice(0, tail.indexOf("#"))]);
  },
);
