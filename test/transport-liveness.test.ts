/**
 * The heartbeat's signs of life on the `ws` transport, against real sockets: our own bytes
 * leaving count only while the ping waits behind them (src/transport/ws.ts `bytesRead`), so a
 * dead server behind something that still reads our bytes (the fault proxy's blackhole, as
 * Toxiproxy's `timeout` toxic: read and dropped) is found dead while the app keeps sending, and
 * a healthy server on a slow line is not. Real servers on 127.0.0.1, the testing kit's fault
 * proxy, proxy-chain for the `proxy` option, Node's agents for the `agent` option. And ws's
 * automatic pongs written one at a time (src/transport/ws-socket.ts `pong()`) against a
 * hand-written peer that floods pings and reads nothing.
 * Also one large write part way out when the ping comes, against a peer that reads only when told.
 */

import * as http from "node:http";
import * as https from "node:https";
import type * as net from "node:net";
import * as tls from "node:tls";
import { describe, expect, it } from "vitest";
import { type CloseInfo, type ConnOptions, type EvtWebSocketError, State } from "../src/index.js";
import { createFaultProxy, createTestServer } from "../src/testing/index.js";
import { mintSelfSigned, type SelfSigned } from "./helpers/cert.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { conn, onCleanup } from "./helpers/harness.js";
import { proxyChain } from "./helpers/proxy.js";
import { parseAll, switchingProtocols, tcpServer } from "./helpers/raw-server.js";
import { until } from "./helpers/server.js";

type Scheme = "ws" | "wss";
type Path = "direct" | "proxy" | "agent";

/** A test server for `scheme` (with its certificate, for wss) and the connection options to reach it by `path`. */
async function serverAndRoute(scheme: Scheme, path: Path, onMessage?: (data: unknown) => void) {
  const pki = scheme === "wss" ? await mintSelfSigned() : undefined;
  onCleanup(async () => pki?.remove());
  const s = await createTestServer({
    ...(pki === undefined ? {} : { tls: { cert: pki.cert, key: pki.key } }),
    ...(onMessage === undefined ? {} : { onMessage }),
  });
  onCleanup(() => s.close());
  const route: Partial<ConnOptions<string, Uint8Array>> = pki === undefined ? {} : { tls: { ca: pki.cert } };
  if (path === "proxy") route.proxy = (await proxyChain()).url;
  if (path === "agent")
    route.agent = pki === undefined ? new http.Agent() : new https.Agent({ ca: pki.cert });
  return { s, route };
}

const paths = (["ws", "wss"] as const).flatMap((scheme) =>
  (["direct", "proxy", "agent"] as const).map((path) => [scheme, path] as const),
);

describe("a dead server while the app keeps sending", () => {
  it.each(paths)(
    "over %s, %s: behind a fault-proxy blackhole (it reads our bytes and drops them), a drained() loop of 256 KiB messages does not keep it alive: ERR_PONG_TIMEOUT",
    async (scheme, path) => {
      const { s, route } = await serverAndRoute(scheme, path);
      const fp = await createFaultProxy(s.url);
      onCleanup(() => fp.close());
      const errors: EvtWebSocketError[] = [];
      const c = conn<string, Uint8Array>({
        pingIntervalMs: 200,
        pongTimeoutMs: 200,
        reconnect: false,
        ...route,
        onError: (e) => void errors.push(e),
      });
      await c.dial(fp.url);
      await fp.blackhole();
      let sent = 0;
      const loop = (async () => {
        while (errors.length === 0 && c.state === State.OPEN) {
          c.send(new Uint8Array(256 * 1024));
          sent++;
          await c.drained().catch(() => {});
        }
      })();
      // Found dead within pingIntervalMs + pongTimeoutMs (+ one more pongTimeoutMs at most);
      // before, the bytes the proxy read moved the deadline on for ever. 30 s only bounds a hang.
      await until(() => errors.length > 0, "the verdict", 30_000);
      await loop;
      expect(errors.map((e) => e.code)).toEqual(["ERR_PONG_TIMEOUT"]);
      expect(sent, "the loop was sending when the verdict came").toBeGreaterThan(1);
    },
    60_000,
  );
  it("with pingMsg (a ping that is a message, queued behind ours as a ping frame is): the same drained() loop does not keep a dead server alive: ERR_PONG_TIMEOUT", async () => {
    const { s } = await serverAndRoute("ws", "direct");
    const fp = await createFaultProxy(s.url);
    onCleanup(() => fp.close());
    const errors: EvtWebSocketError[] = [];
    const c = conn<string, Uint8Array | string>({
      pingIntervalMs: 200,
      pongTimeoutMs: 200,
      pingMsg: "ping",
      isPong: (m) => m === "ping", // the test server echoes
      reconnect: false,
      onError: (e) => void errors.push(e),
    });
    await c.dial(fp.url);
    await fp.blackhole();
    const loop = (async () => {
      while (errors.length === 0 && c.state === State.OPEN) {
        c.send(new Uint8Array(256 * 1024));
        await c.drained().catch(() => {});
      }
    })();
    await until(() => errors.length > 0, "the verdict", 30_000);
    await loop;
    expect(errors.map((e) => e.code)).toEqual(["ERR_PONG_TIMEOUT"]);
  }, 60_000);
});

describe("only our bytes queued before the ping count", () => {
  it("a ping with nothing ahead, then a 32 MiB send, then part of a message: once the peer falls silent, that send leaving (queued after the ping) does not keep it alive: ERR_PONG_TIMEOUT at the next deadline", async () => {
    const peer = await deafPeer();
    const clock = new FakeClock();
    const errors: EvtWebSocketError[] = [];
    const c = conn<string, Uint8Array>({
      clock,
      pingIntervalMs: 1000,
      pongTimeoutMs: 1000,
      reconnect: false,
      onError: (e) => void errors.push(e),
    });
    onCleanup(async () => void peer.socket().destroy()); // it never answers our close frame
    await c.dial(peer.url);
    clock.advance(1000); // the heartbeat pings: nothing of ours is ahead of it
    c.send(new Uint8Array(32 * 1024 * 1024)); // queued after the ping; the peer reads nothing yet
    // The first 16 bytes of a 1 KiB text message, which never comes whole: once it is in our
    // receive buffer, a poll phase (between two turns of the check phase) reads it.
    await new Promise((r) =>
      peer.socket().write(Buffer.concat([Buffer.from([0x81, 126, 4, 0]), Buffer.alloc(16)]), r),
    );
    for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
    clock.advance(1000); // the pong deadline: bytes came in since the ping, so it moves on
    expect(errors, "part of a message came in: alive").toEqual([]);
    const before = c.bufferedAmount;
    peer.socket().resume(); // the peer reads our send (and the ping), and never answers
    await until(() => c.bufferedAmount < before - 4 * 1024 * 1024, "4 MiB of the send left");
    clock.advance(1000); // the moved deadline: nothing came in since
    expect(errors.map((e) => e.code)).toEqual(["ERR_PONG_TIMEOUT"]);
    expect(peer.frames()[0]?.opcode, "the ping went ahead of the send").toBe(0x9);
  });
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

describe("a healthy server on a slow line while the app keeps sending", () => {
  it("over ws: a drained() loop of two 32 MiB messages the server reads at 16 MiB/s (each ping queues behind one): not declared dead, both arrive", async () => {
    const sizes: number[] = [];
    const { s } = await serverAndRoute(
      "ws",
      "direct",
      (data) => void sizes.push((data as Uint8Array).byteLength),
    );
    const fp = await createFaultProxy(s.url);
    onCleanup(() => fp.close());
    await fp.bandwidth(16 * 1024 * 1024, { direction: "upstream" });
    const errors: EvtWebSocketError[] = [];
    const c = conn<string, Uint8Array>({
      pingIntervalMs: 500,
      pongTimeoutMs: 1000,
      reconnect: false,
      onError: (e) => void errors.push(e),
    });
    await c.dial(fp.url);
    for (let i = 0; i < 2 && errors.length === 0; i++) {
      c.send(new Uint8Array(32 * 1024 * 1024));
      await c.drained();
    }
    await until(
      () => sizes.length === 2 || errors.length > 0,
      "both messages at the server, or an error",
      60_000,
    );
    expect(errors).toEqual([]);
    expect(sizes).toEqual([32 * 1024 * 1024, 32 * 1024 * 1024]);
    expect(c.state).toBe(State.OPEN);
  }, 90_000);
});

/**
 * A hand-written WebSocket peer on 127.0.0.1 that answers the handshake, then reads nothing
 * until `resume()`: what it read after the handshake is `frames()`.
 */
async function deafPeer() {
  let socket: net.Socket | undefined;
  const got: Buffer[] = [];
  const { port } = await tcpServer((s) => {
    let head = Buffer.alloc(0);
    s.on("data", (chunk: Buffer) => {
      if (socket !== undefined) return void got.push(chunk);
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
    url: `ws://127.0.0.1:${port}/`,
    socket: () => socket!,
    frames: () => parseAll(Buffer.concat(got)),
    pongs: () =>
      parseAll(Buffer.concat(got))
        .filter((f) => f.opcode === 0xa)
        .map((f) => f.payload.readUInt32BE(0)),
  };
}

/** A server ping frame whose payload is `n` (4 bytes) followed by `pad` zero bytes. */
const ping = (n: number, pad = 0) => {
  const payload = Buffer.alloc(4 + pad);
  payload.writeUInt32BE(n, 0);
  return Buffer.concat([Buffer.from([0x89, payload.length]), payload]);
};

describe("ws's automatic pongs, one at a time", () => {
  it("a peer that floods 200,000 pings of 125 bytes and reads nothing: the connection stays up while they come; once they stop, the heartbeat finds it dead", async () => {
    const peer = await deafPeer();
    const errors: EvtWebSocketError[] = [];
    const closes: CloseInfo[] = [];
    const c = conn({
      pingIntervalMs: 200,
      pongTimeoutMs: 200,
      reconnect: false,
      onError: (e) => void errors.push(e),
      onClose: (i) => void closes.push(i),
    });
    await c.dial(peer.url);
    const sock = peer.socket();
    for (let n = 0; n < 200_000 && closes.length === 0; ) {
      const batch: Buffer[] = [];
      for (let k = 0; k < 500; k++, n++) batch.push(ping(n, 121));
      if (!sock.write(Buffer.concat(batch)))
        await new Promise((r) => {
          sock.once("drain", r);
          sock.once("close", r); // the client hung up: the loop ends on its close
        });
      await new Promise((r) => setImmediate(r));
    }
    // ws terminates a connection with 61 automatic pongs not yet written (1006).
    expect(closes).toEqual([]);
    expect(errors).toEqual([]);
    await until(() => errors.length > 0, "the verdict once the pings stop", 30_000);
    expect(errors.map((e) => e.code)).toEqual(["ERR_PONG_TIMEOUT"]);
  });

  it("300 pings while our pong waits behind a 32 MiB send the peer does not read: the connection stays up, and the last pong answers the latest ping", async () => {
    const peer = await deafPeer();
    const closes: CloseInfo[] = [];
    const c = conn<string, Uint8Array>({ reconnect: false, onClose: (i) => void closes.push(i) });
    await c.dial(peer.url);
    c.send(new Uint8Array(32 * 1024 * 1024));
    for (let n = 0; n < 300 && closes.length === 0; n++) {
      peer.socket().write(ping(n));
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(closes).toEqual([]);
    peer.socket().resume();
    await until(() => peer.pongs().at(-1) === 299, "a pong for the latest ping", 30_000);
    const pongs = peer.pongs();
    // One being written (behind the send) and one due: never a stale payload last.
    expect(pongs.length).toBeLessThanOrEqual(3);
    expect(pongs).toEqual([...pongs].sort((a, b) => a - b));
    expect(closes).toEqual([]);
    expect(c.state).toBe(State.OPEN);
  });
});
