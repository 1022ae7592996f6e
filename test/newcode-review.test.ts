/**
 * Adversarial review of the ninth pass's new core code, against real servers on 127.0.0.1:
 * - the heartbeat's mark of our bytes queued before a ping (src/transport/ws.ts `markPing`)
 *   while one large write is part way out: a hand-written peer that reads only when told, direct
 *   and through proxy-chain, ws and wss, and an injected clock;
 * - the otel open gauge for a connection made before `instrument()`: counted from the first
 *   message it publishes while open, a message sent or received included (docs/observability.md),
 *   and once when a channel subscriber from before `instrument()` sends or requests at its open.
 */

import dc from "node:diagnostics_channel";
import type * as net from "node:net";
import * as tls from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { CHANNELS } from "../src/channel-names.js";
import type { EvtWebSocketError } from "../src/index.js";
import { uninstrument } from "../src/otel/index.js";
import { mintSelfSigned, type SelfSigned } from "./helpers/cert.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, onCleanup, server } from "./helpers/harness.js";
import { instrumentInMemory } from "./helpers/otel-sdk.js";
import { proxyChain } from "./helpers/proxy.js";
import { switchingProtocols, tcpServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

afterEach(() => uninstrument());

describe("otel: a connection open before instrument()", () => {
  it.each(["sent", "received"] as const)(
    "is counted open from the first message %s while open (no request, no pong), and counted off at its close",
    async (which) => {
      const s = await server();
      const c = conn<string, string>({ reconnect: false });
      const got: string[] = [];
      c.on("message", (m) => void got.push(m));
      await c.dial(s.url);
      await until(() => s.clients.size === 1, "the server's side of the socket");
      const { points } = instrumentInMemory();
      if (which === "sent") {
        c.send("hello");
        await until(() => s.received.length === 1, "the message at the server");
      } else {
        for (const client of s.clients) client.send("push");
        await until(() => got.length === 1, "the pushed message");
      }
      const where = { "server.address": "127.0.0.1", "server.port": s.port };
      expect(await points("evtwebsocket.connections.open")).toEqual([[where, 1]]);
      await c.close();
      expect(await points("evtwebsocket.connections.open")).toEqual([[where, 0]]);
    },
  );

  it.each(["sends", "makes a request"] as const)(
    "made before instrument() and opening after it: a channel subscriber from before instrument() that %s at the open does not count it twice",
    async (what) => {
      const s = await server();
      const c = conn<string, string>({ reconnect: false, matchMsg: () => false });
      const onOpen = (msg: unknown) => {
        if ((msg as { id: string }).id !== c.id) return;
        if (what === "sends") c.send("hello at the open");
        else c.request("hello at the open").catch(() => {}); // never answered: close() settles it
      };
      dc.subscribe(CHANNELS.open, onOpen); // before instrument(): it hears the open first
      onCleanup(async () => void dc.unsubscribe(CHANNELS.open, onOpen));
      const dialled = c.dial(s.url);
      const { points } = instrumentInMemory();
      await dialled;
      await until(() => s.received.length === 1, "the message at the server");
      const where = { "server.address": "127.0.0.1", "server.port": s.port };
      expect(await points("evtwebsocket.connections.open")).toEqual([[where, 1]]);
      await c.close();
      expect(await points("evtwebsocket.connections.open")).toEqual([[where, 0]]);
    },
  );
});

/**
 * A hand-written WebSocket peer on 127.0.0.1 that answers the handshake, then reads only up to
 * the byte count `readTo(n)` sets (its socket paused once past it), never answering.
 */
async function meteredPeer(pki?: SelfSigned) {
  let socket: net.Socket | undefined;
  let read = 0;
  let limit = 0;
  const { port } = await tcpServer((raw) => {
    const s =
      pki === undefined ? raw : new tls.TLSSocket(raw, { isServer: true, cert: pki.cert, key: pki.key });
    let head = Buffer.alloc(0);
    s.on("data", (chunk: Buffer) => {
      if (socket !== undefined) {
        read += chunk.length;
        if (read >= limit) s.pause();
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      s.write(switchingProtocols(head.subarray(0, end).toString()));
      socket = s;
      s.pause();
    });
    s.on("error", () => {});
  });
  return {
    url: `${pki === undefined ? "ws" : "wss"}://127.0.0.1:${port}/`,
    socket: () => socket!,
    /** Reads until `n` bytes after the handshake were read (a chunk or so more), then pauses. */
    readTo: async (n: number) => {
      limit = n;
      socket!.resume();
      await until(() => read >= n, `the peer read ${n} bytes`, 30_000);
    },
  };
}

const MiB = 1024 * 1024;

describe("heartbeat: only our bytes queued before the ping count (ws transport)", () => {
  it.each([
    ["ws", "direct"],
    ["wss", "direct"],
    ["ws", "through a CONNECT proxy"],
    ["wss", "through a CONNECT proxy"],
  ] as const)(
    "over %s, %s: a ping while a 32 MiB send is half read, then another 32 MiB send: once the first send and the ping have left, the second one leaving does not keep a silent peer alive: ERR_PONG_TIMEOUT at the deadline after",
    async (scheme, path) => {
      const pki = scheme === "wss" ? await mintSelfSigned() : undefined;
      onCleanup(async () => pki?.remove());
      const peer = await meteredPeer(pki);
      const clock = new FakeClock();
      const errors: EvtWebSocketError[] = [];
      const c = conn<string, Uint8Array>({
        clock,
        pingIntervalMs: 1000,
        pongTimeoutMs: 1000,
        reconnect: false,
        ...(pki === undefined ? {} : { tls: { ca: pki.cert } }),
        ...(path === "direct" ? {} : { proxy: (await proxyChain()).url }),
        onError: (e) => void errors.push(e),
      });
      onCleanup(async () => void peer.socket().destroy()); // it never answers our close frame
      await c.dial(peer.url);
      c.send(new Uint8Array(32 * MiB)); // one write, part way out when the ping comes
      await peer.readTo(16 * MiB);
      clock.advance(1000); // the ping, queued behind the rest of the first send
      c.send(new Uint8Array(32 * MiB)); // queued after the ping
      await peer.readTo(33 * MiB); // the first send, the ping and a little of the second
      clock.advance(1000); // the pong deadline: the first send left since the ping, so it moves on
      expect(errors, "our bytes queued before the ping left: alive").toEqual([]);
      await peer.readTo(40 * MiB); // 7 MiB of the second send, queued after the ping
      clock.advance(1000); // the moved deadline: nothing of ours from before the ping left since
      expect(errors.map((e) => e.code)).toEqual(["ERR_PONG_TIMEOUT"]);
    },
    60_000,
  );
});
