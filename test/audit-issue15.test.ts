/**
 * Issue 15's promises checked once more, as its user would, against real sockets on 127.0.0.1:
 * each test here pins a sentence of the issue that no other test pinned exactly.
 */

import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { CloseInfo, EvtWebSocketError } from "../src/index.js";
import { mintChain, mintExpired, mintPathTooLong, mintSelfSigned } from "./helpers/cert.js";
import { conn, server } from "./helpers/harness.js";
import { parseAll, rawServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

function closeFrame(code: number, reason = ""): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return Buffer.concat([Buffer.from([0x88, payload.length]), payload]);
}

describe("one writer per socket, with no reconnect to come", () => {
  it.each([
    ["ws", undefined],
    ["a WHATWG WebSocket (ws's, injected)", WebSocket],
  ])(
    "sends after the peer's close frame (TCP still open) are not written; when the socket ends they are reported ERR_DISCONNECTED (onError for the callback form, a rejection for request()): %s",
    async (_transport, WebSocketOption) => {
      const raw = await rawServer({ allowHalfOpen: true });
      const errors: EvtWebSocketError[] = [];
      const closes: CloseInfo[] = [];
      const c = conn<string, string>({
        ...(WebSocketOption === undefined ? {} : { WebSocket: WebSocketOption as never }),
        reconnect: false,
        matchMsg: () => false,
        onError: (e) => void errors.push(e),
        onClose: (i) => void closes.push(i),
      });
      await c.dial(raw.url);
      raw.write(closeFrame(1001, "going away"));
      const frames = () => parseAll(raw.connectionBytes(0));
      await until(() => frames().some((f) => f.opcode === 8), "our close frame answered theirs");
      const answers: string[] = [];
      expect(c.send("with a callback", () => void answers.push("answered"))).toBe("queued");
      expect(c.send("plain")).toBe("queued");
      let rejected: EvtWebSocketError | undefined;
      c.request("a request").catch((e: EvtWebSocketError) => {
        rejected = e;
      });
      expect(c.stats.messagesSent).toBe(0);
      expect(errors).toEqual([]);
      raw.hangUp();
      await until(() => c.state === "closed" && rejected !== undefined, "closed, the request settled");
      expect(rejected).toMatchObject({ code: "ERR_DISCONNECTED" });
      expect(errors.map((e) => e.code)).toEqual(["ERR_DISCONNECTED", "ERR_DISCONNECTED"]);
      // One for the callback form's request, one for the plain message: "1 unsent".
      expect(errors.map((e) => (e.details as { unsent?: number }).unsent)).toContain(1);
      expect(answers).toEqual([]);
      expect(c.stats.messagesSent).toBe(0);
      expect(frames().map((f) => f.opcode)).toEqual([8]);
      expect(closes).toMatchObject([{ code: 1001, closedBy: "server", willReconnect: false }]);
    },
  );
});

describe("the UTF-8 size of a lone surrogate (issue 15, bug 4) in the queue's byte bound", () => {
  it('"\\uD800中" is 6 bytes: refused by queue.maxBytes 5, queued by 6, and 6 bytes on the wire', async () => {
    const text = "\uD800中";
    const tight = conn({ queue: { maxBytes: 5 } });
    expect(() => tight.send(text)).toThrow(expect.objectContaining({ code: "ERR_QUEUE_FULL" }));
    expect(tight.stats.queuedMessages).toBe(0);
    const s = await server();
    const c = conn({ queue: { maxBytes: 6 } });
    expect(c.send(text)).toBe("queued");
    await c.dial(s.url);
    await until(() => s.received.length === 1, "the queued message");
    expect(s.received).toEqual(["\uFFFD中"]);
    expect(c.stats.bytesSent).toBe(6);
  });
});

describe("a close reason of lone surrogates (issue 15, bug 4)", () => {
  it("41 of them are 123 bytes as U+FFFD: accepted, and the close is clean with that code and reason on both sides", async () => {
    let seen: { code: number; reason: string } | undefined;
    const s = await server({
      onConnection: (ws) => ws.on("close", (code, reason) => (seen = { code, reason: reason.toString() })),
    });
    const closes: CloseInfo[] = [];
    const errors: string[] = [];
    const c = conn({ onClose: (i) => void closes.push(i), onError: (e) => void errors.push(e.code) });
    await c.dial(s.url);
    await c.close(4000, "\ud800".repeat(41));
    await until(() => seen !== undefined, "the server saw the close");
    expect(seen).toEqual({ code: 4000, reason: "\ufffd".repeat(41) });
    expect(closes).toMatchObject([{ code: 4000, wasClean: true, closedBy: "client", willReconnect: false }]);
    expect(errors).toEqual([]);
  });
});

describe("npm test on a machine with only Node and npm", () => {
  it("the test certificates are minted without any outside tool (no openssl CLI): an empty PATH still gives valid ones", async () => {
    const path = process.env.PATH;
    process.env.PATH = "";
    try {
      const self = await mintSelfSigned();
      const chain = await mintChain("IP:127.0.0.1,DNS:localhost");
      const expired = await mintExpired();
      const tooLong = await mintPathTooLong();
      const x = (pem: string) => new X509Certificate(pem);
      expect(x(self.cert).subjectAltName).toBe("IP Address:127.0.0.1");
      expect(x(self.cert).verify(x(self.cert).publicKey)).toBe(true);
      const ca = x(chain.ca);
      const serverCert = x(chain.serverCert);
      const clientCert = x(readFileSync(chain.files.clientCert, "utf8"));
      expect(ca.ca).toBe(true);
      expect(serverCert.checkIssued(ca) && serverCert.verify(ca.publicKey)).toBe(true);
      expect(serverCert.subjectAltName).toBe("IP Address:127.0.0.1, DNS:localhost");
      expect(clientCert.checkIssued(ca) && clientCert.subject).toBe("CN=evtws test client");
      expect(readFileSync(chain.files.clientKeyEncrypted, "utf8")).toContain("BEGIN ENCRYPTED PRIVATE KEY");
      expect(new Date(x(expired.cert).validTo).getTime()).toBeLessThan(Date.now());
      expect(tooLong.cert.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
      for (const m of [self, chain, expired, tooLong]) m.remove();
    } finally {
      process.env.PATH = path;
    }
  });

  it("the README's table of outside tools has a row for every package test/helpers/tools.ts tells how to install", () => {
    const tools = readFileSync(new URL("./helpers/tools.ts", import.meta.url), "utf8");
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const table = readme.slice(readme.indexOf("| tool | suite |"));
    const rows = table.slice(0, table.indexOf("\n\n"));
    const packages = [...tools.matchAll(/install: "apt-get install ([^"]+)"/g)].flatMap((m) =>
      m[1]!.split(" "),
    );
    expect(packages.length).toBeGreaterThan(5);
    for (const p of packages)
      expect(rows, `a row installs ${p}`).toMatch(new RegExp(`apt-get install [^|]*\\b${p}\\b`));
  });
});

/** A server text frame (unmasked) with a payload under 126 bytes. */
const textFrame = (text: string) =>
  Buffer.concat([Buffer.from([0x81, Buffer.byteLength(text)]), Buffer.from(text)]);

describe("an abort racing a response, both in one read", () => {
  it.each([
    [
      "abort first: the push before the response aborts it",
      ["push", "resp-B"],
      "rejected ERR_ABORTED",
      ["push", "resp-B"],
    ],
    ["response first: the abort after it changes nothing", ["resp-B", "push"], "resolved resp-B", ["push"]],
  ])("%s; the request settles once", async (_name, order, outcome, messages) => {
    const raw = await rawServer();
    const ac = new AbortController();
    const seen: string[] = [];
    const errors: string[] = [];
    const c = conn<string, string>({
      reconnect: false,
      matchMsg: (req, resp) => resp === `resp-${req}`,
      onMessage: (m) => {
        seen.push(m);
        if (m === "push") ac.abort();
      },
      onError: (e) => void errors.push(e.code),
    });
    await c.dial(raw.url);
    const outcomes: string[] = [];
    c.request("B", { signal: ac.signal }).then(
      (v) => void outcomes.push(`resolved ${v}`),
      (e: EvtWebSocketError) => void outcomes.push(`rejected ${e.code}`),
    );
    const frames = () => parseAll(raw.connectionBytes(0));
    await until(() => frames().some((f) => f.payload.toString() === "B"), "the request on the wire");
    raw.write(Buffer.concat(order.map(textFrame)));
    await until(() => seen.includes("push") && outcomes.length > 0, "the push and the outcome");
    await new Promise((r) => setTimeout(r, 20));
    expect(outcomes).toEqual([outcome]);
    expect(seen).toEqual(messages);
    expect(errors).toEqual([]);
    expect(c.stats.pendingRequests).toBe(0);
    expect(c.state).toBe("open");
    const closing = c.close();
    raw.hangUp(); // it never answers our close frame
    await closing;
  });
});
