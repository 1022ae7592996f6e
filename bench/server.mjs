/**
 * The benchmark's server process: every server a client library needs, on 127.0.0.1, port 0.
 *
 * - `ws`: a `ws` server with four paths. `/sink` counts messages and answers the text `done`
 *   with the count (a hand-written frame reader that skips payloads: see `rawSink`); `/echo` sends every message back unchanged (the request/response scenarios
 *   echo `{"id":…}` JSON, so every id layer gets its own id back); `/idle` answers the text
 *   `ping` (the app-level ping of libraries without protocol pings) with `pong`, as ws answers
 *   protocol pings: every library's idle connection carries one frame each way per ping;
 *   `/push` answers `push:<count>:<size>` with `count` text messages of `size` bytes, each a
 *   JSON object (`{"p":"xx…"}`), written as pre-built frames straight to the TCP socket in
 *   64 KiB chunks, as fast as the client reads them: the server costs next to nothing.
 * - `sio` (pings every 5 s, as the idle scenario asks) and `sioFast` (1 s interval, 1 s timeout,
 *   for the dead-connection scenario): socket.io with events `m` (sink), `done` (ack with the
 *   count), `e` (echo back as `e`), `req` (ack with the payload).
 * - `rpc`: rpc-websockets with methods `sink`, `done`, `echo`, `ping` (answers `pong`).
 * - `proxyWs`, `proxySio`: TCP proxies in front of `ws` and `sioFast`; `GET /blackhole` on the
 *   control port makes every proxied connection silent in both directions (a dead peer).
 * - control: `GET /restart?kind=ws|sio|sioFast|rpc` drops every connection of that server and
 *   refuses new ones for 250 ms (a restart that keeps the port).
 *
 * Every ws-based server connection coalesces its writes per tick (cork on the first send,
 * uncork on nextTick), so the server is not what limits a fast client. The server process
 * prints one JSON line with the ports and then serves until killed. Not part of `npm test`.
 */

import { createHash } from "node:crypto";
import * as http from "node:http";
import * as net from "node:net";
import { Server as RpcServer } from "rpc-websockets";
import { Server as SioServer } from "socket.io";
import { WebSocketServer } from "ws";

const HOST = "127.0.0.1";
const RESTART_DOWN_MS = 250;

/** An HTTP server that can "restart": drop its connections and refuse new ones for a while. */
function restartableServer() {
  const server = http.createServer((_req, res) => {
    res.writeHead(404).end();
  });
  const sockets = new Set();
  let down = false;
  server.on("connection", (socket) => {
    if (down) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  return {
    server,
    restart() {
      down = true;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      setTimeout(() => {
        down = false;
      }, RESTART_DOWN_MS);
    },
  };
}

/** Coalesces the writes a connection makes in one tick into one socket write. */
function corkPerTick(socket) {
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  return () => {
    if (corked) return;
    corked = true;
    socket.cork();
    process.nextTick(uncork);
  };
}

/** A text frame (server frames are unmasked) whose payload is a JSON object of `size` bytes. */
function pushFrame(size) {
  const payload = Buffer.from(`{"p":"${"x".repeat(size - 8)}"}`);
  const header =
    size < 126
      ? Buffer.from([0x81, size])
      : size < 65_536
        ? Buffer.from([0x81, 126, size >> 8, size & 255])
        : Buffer.from([
            0x81,
            127,
            0,
            0,
            0,
            0,
            size >>> 24,
            (size >> 16) & 255,
            (size >> 8) & 255,
            size & 255,
          ]);
  return Buffer.concat([header, payload]);
}

/** Writes `count` pre-built frames of `size` to `socket`, waiting for `drain` when it is full. */
function push(socket, count, size) {
  const frame = pushFrame(size);
  const perChunk = Math.max(1, Math.floor(65_536 / frame.length));
  const chunk = Buffer.concat(Array.from({ length: perChunk }, () => frame));
  let left = count;
  const write = () => {
    while (left > 0) {
      const n = Math.min(perChunk, left);
      left -= n;
      if (!socket.write(n === perChunk ? chunk : chunk.subarray(0, n * frame.length))) {
        socket.once("drain", write);
        return;
      }
    }
  };
  write();
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, HOST, () => resolve(server.address().port)));
}

/** An unmasked server frame. */
function serverFrame(opcode, payload) {
  if (payload.length > 125) throw new Error("sink: short server frames only");
  return Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]);
}

/**
 * `/sink` without ws's receiver: answers the handshake, then reads frame headers and skips
 * payloads, counting each final data frame; a 4-byte text payload is unmasked and compared with
 * `done`, pings are answered, a close frame is echoed. A ws server unmasks, checks the UTF-8 of
 * and emits every message (about 0.5 µs each), which capped a fast client's 32 B sends at about
 * 1.9M msg/s with that client idle a fifth of the time; this one costs a few header reads.
 */
function rawSink(req, socket, head) {
  const key = req.headers["sec-websocket-key"];
  const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
  socket.setNoDelay(true);
  socket.on("error", () => {});
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
  let count = 0;
  let pending = Buffer.alloc(0);
  /** Payload bytes of the current frame still to skip. */
  let skip = 0;
  const onData = (chunk) => {
    if (skip > 0) {
      if (chunk.length <= skip) {
        skip -= chunk.length;
        return;
      }
      chunk = chunk.subarray(skip);
      skip = 0;
    }
    const buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    while (buf.length - at >= 2) {
      const b0 = buf[at];
      let len = buf[at + 1] & 0x7f;
      let h = 2;
      if (len === 126) {
        if (buf.length - at < 4) break;
        len = buf.readUInt16BE(at + 2);
        h = 4;
      } else if (len === 127) {
        if (buf.length - at < 10) break;
        len = Number(buf.readBigUInt64BE(at + 2));
        h = 10;
      }
      h += 4; // client frames are masked
      if (buf.length - at < h) break;
      const opcode = b0 & 0x0f;
      const end = at + h + len;
      if (opcode < 8 && len !== 4) {
        if ((b0 & 0x80) !== 0) count++;
        if (end > buf.length) {
          skip = end - buf.length;
          at = buf.length;
          break;
        }
        at = end;
        continue;
      }
      if (end > buf.length) break;
      const payload = Buffer.from(buf.subarray(at + h, end));
      for (let i = 0; i < payload.length; i++) payload[i] ^= buf[at + h - 4 + (i & 3)];
      at = end;
      if (opcode === 1 && payload.toString() === "done") {
        socket.write(serverFrame(1, Buffer.from(String(count))));
        count = 0;
      } else if (opcode < 8) {
        if ((b0 & 0x80) !== 0) count++;
      } else if (opcode === 9) socket.write(serverFrame(10, payload));
      else if (opcode === 8) {
        socket.end(serverFrame(8, payload.subarray(0, 2)));
        socket.off("data", onData);
        return;
      }
    }
    pending = at >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(at));
  };
  socket.on("data", onData);
  if (head.length > 0) onData(head);
}

function startWs() {
  const r = restartableServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 << 20 });
  r.server.on("upgrade", (req, socket, head) => {
    if (req.url.startsWith("/sink")) rawSink(req, socket, head);
    else wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  });
  wss.on("connection", (ws, req) => {
    const cork = corkPerTick(req.socket);
    ws.on("error", () => {});
    if (req.url.startsWith("/echo")) {
      ws.on("message", (data, isBinary) => {
        cork();
        ws.send(data, { binary: isBinary });
      });
    } else if (req.url.startsWith("/push")) {
      ws.on("message", (data) => {
        // A JSON codec sends the command as a JSON string: its quotes are dropped.
        const [verb, count, size] = data.toString().replaceAll('"', "").split(":");
        if (verb === "push") push(req.socket, Number(count), Number(size));
      });
    } else if (req.url.startsWith("/idle")) {
      ws.on("message", (data, isBinary) => {
        if (!isBinary && data.length === 4 && data.toString() === "ping") ws.send("pong");
      });
    }
  });
  return r;
}

function startSio(pingIntervalMs, pingTimeoutMs) {
  const r = restartableServer();
  const io = new SioServer(r.server, {
    transports: ["websocket"],
    pingInterval: pingIntervalMs,
    pingTimeout: pingTimeoutMs,
    perMessageDeflate: false,
    maxHttpBufferSize: 64 << 20,
  });
  io.on("connection", (socket) => {
    let count = 0;
    socket.on("m", () => {
      count++;
    });
    socket.on("done", (ack) => {
      ack(count);
      count = 0;
    });
    socket.on("e", (data) => socket.emit("e", data));
    socket.on("req", (data, ack) => ack(data));
  });
  return r;
}

function startRpc() {
  const r = restartableServer();
  const rpc = new RpcServer({ server: r.server, perMessageDeflate: false, maxPayload: 64 << 20 });
  rpc.on("connection", (_socket, req) => {
    // Corks the raw socket for the tick in which rpc-websockets answers.
    const cork = corkPerTick(req.socket);
    req.socket.on("data", cork);
  });
  let count = 0;
  rpc.register("sink", () => {
    count++;
  });
  rpc.register("done", () => {
    const n = count;
    count = 0;
    return n;
  });
  rpc.register("echo", (params) => params);
  rpc.register("ping", () => "pong");
  return r;
}

/** A TCP proxy to `port`; `blackhole()` silences every connection made so far. */
function startProxy(port) {
  const pairs = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, HOST);
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  });
  return {
    server,
    blackhole() {
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
  };
}

const servers = {
  ws: startWs(),
  sio: startSio(5000, 5000),
  sioFast: startSio(1000, 1000),
  rpc: startRpc(),
};
const ports = {};
for (const [kind, s] of Object.entries(servers)) ports[kind] = await listen(s.server);
const proxies = { proxyWs: startProxy(ports.ws), proxySio: startProxy(ports.sioFast) };
for (const [kind, p] of Object.entries(proxies)) ports[kind] = await listen(p.server);

const control = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/restart" && servers[url.searchParams.get("kind")]) {
    res.end("ok", () => servers[url.searchParams.get("kind")].restart());
    return;
  }
  if (url.pathname === "/blackhole") {
    for (const p of Object.values(proxies)) p.blackhole();
    res.end("ok");
    return;
  }
  res.writeHead(404).end();
});
ports.control = await listen(control);
process.stdout.write(`${JSON.stringify(ports)}\n`);
