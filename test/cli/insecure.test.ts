/**
 * `--insecure` against a `wss:` server with a self-signed certificate minted (test/helpers/cert.ts) for
 * this test run.
 */

import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { mintSelfSigned, type SelfSigned } from "../helpers/cert.js";
import { runCli, useSourceBundle } from "./helpers.js";

useSourceBundle();

let tlsFiles: SelfSigned;
let https: Server;
let wss: WebSocketServer;
let url: string;

beforeAll(async () => {
  tlsFiles = await mintSelfSigned();
  https = createServer({ key: tlsFiles.key, cert: tlsFiles.cert });
  wss = new WebSocketServer({ server: https });
  wss.on("connection", (ws) => ws.on("message", (data) => ws.send(String(data))));
  await new Promise<void>((resolve) => https.listen(0, "127.0.0.1", resolve));
  url = `wss://127.0.0.1:${(https.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  await new Promise((resolve) => https.close(resolve));
  tlsFiles.remove();
});

describe("evtws --insecure", () => {
  it("without it, a self-signed certificate fails the dial with ERR_DIAL_FAILED", async () => {
    const run = await runCli(["--match", "echo", "-x", "hi", url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^evtws: ERR_DIAL_FAILED: .*self[- ]signed certificate/m);
    // The message says what to do about it.
    expect(run.stderr).toMatch(/pass it with --ca <file>, or skip verification with --insecure/);
  });

  it("with it, the session works and one warning (ours, not Node's) is printed", async () => {
    // Node warnings are left on, to see that the library's process warning is replaced by ours.
    const run = await runCli(["--insecure", "--match", "echo", "-x", "hi", "-x", "again", url], {
      env: { NODE_NO_WARNINGS: undefined },
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("hi\nagain\n");
    expect(run.stderr.match(/warning/gi)).toHaveLength(1);
    expect(run.stderr).toMatch(/^evtws: warning: --insecure: TLS certificates are not verified/m);
    expect(run.stderr).not.toMatch(/\(node:\d+\)|rejectUnauthorized|NODE_TLS_REJECT_UNAUTHORIZED/);
  });
});
