/**
 * Review of `evtws`'s TLS hint (third review of issue 20): a certificate error says what would
 * help. Against a real HTTPS server on 127.0.0.1 port 0 whose certificate, from a private CA
 * minted by test/helpers/cert.ts, names `localhost` only.
 */

import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { type Chain, mintChain } from "../helpers/cert.js";
import { runCli, useSourceBundle } from "./helpers.js";

useSourceBundle();

let pki: Chain;
let https: Server;
let wss: WebSocketServer;
let port: number;

beforeAll(async () => {
  pki = await mintChain("DNS:localhost");
  https = createServer({ key: pki.serverKey, cert: pki.serverCert });
  wss = new WebSocketServer({ server: https });
  wss.on("connection", (ws) => ws.on("message", (data) => ws.send(String(data))));
  await new Promise<void>((resolve) => https.listen(0, "127.0.0.1", resolve));
  port = (https.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  await new Promise((resolve) => https.close(resolve));
  pki.remove();
});

describe("the certificate hint", () => {
  it("a certificate for another host name, with --ca given, hints at the name, not at --ca", async () => {
    // Before: "...altnames...; if the server uses a private CA, pass it with --ca <file>": the
    // CA was passed, and trusted; what fails is the name in the URL.
    const run = await runCli(["-q", "--ca", pki.files.ca, "-x", "hi", `wss://127.0.0.1:${port}/`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^evtws: ERR_DIAL_FAILED: .*altnames/);
    expect(run.stderr).toMatch(
      /the certificate does not name this host: put a name it lists in the URL, or skip verification with --insecure\n$/,
    );
    expect(run.stderr).not.toMatch(/--ca/);
    expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  it("the same server by the name its certificate lists, with --ca: the echo comes back", async () => {
    const run = await runCli(["-q", "--ca", pki.files.ca, "-x", "hi", `wss://localhost:${port}/`]);
    expect(run).toEqual({ code: 0, stdout: "hi\n", stderr: "" });
  });
});
