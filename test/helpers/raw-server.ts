/**
 * A WebSocket server written by hand on a raw TCP listener (127.0.0.1, port 0): it answers the
 * opening handshake, records every byte the client sends after it and writes whatever bytes a
 * test gives it. It never answers a closing handshake by itself, so a test can hold TCP open
 * after a close frame. Plus an RFC 6455 frame parser for what it recorded, and its parts that
 * other hand-written peers reuse: a TCP listener closed after the test, and the 101 answer.
 */

import { createHash } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import { expect } from "vitest";
import { onCleanup } from "./harness.js";

export interface Parsed {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  key: Buffer;
  payload: Buffer;
  /** Bytes the frame took. */
  size: number;
}

/** Parses one client frame at the start of `buf`, or returns undefined when it is incomplete. */
export function parseFrame(buf: Buffer): Parsed | undefined {
  if (buf.length < 2) return undefined;
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  let len = b1 & 0x7f;
  let at = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    expect(len, "16-bit length only for 126..65535").toBeGreaterThanOrEqual(126);
    at = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    expect(buf.readUInt32BE(2) & 0x80000000, "64-bit length has its top bit clear").toBe(0);
    len = buf.readUInt32BE(2) * 0x100000000 + buf.readUInt32BE(6);
    expect(len, "64-bit length only above 65535").toBeGreaterThan(0xffff);
    at = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  const key = masked ? buf.subarray(at, at + 4) : Buffer.alloc(4);
  if (masked) at += 4;
  if (buf.length < at + len) return undefined;
  const payload = Buffer.from(buf.subarray(at, at + len));
  for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
  return {
    fin: (b0 & 0x80) !== 0,
    rsv: (b0 >> 4) & 7,
    opcode: b0 & 0x0f,
    masked,
    key: Buffer.from(key),
    payload,
    size: at + len,
  };
}

/**
 * @param options.allowHalfOpen - keep our side of TCP open after the client ends its side (a
 *   peer that holds the connection after a close frame).
 * @param options.tls - serve `wss:` with this certificate and key (PEM): TLS records cut the frames.
 */
export async function rawServer(
  options: { allowHalfOpen?: boolean; tls?: { cert: string; key: string } } = {},
): Promise<{
  url: string;
  bytes: () => Buffer;
  /** What connection `i` (0 first) received after its handshake. */
  connectionBytes: (i: number) => Buffer;
  hangUp: () => void;
  /** Writes raw bytes (server frames are unmasked) to every connection. */
  write: (bytes: Buffer) => void;
}> {
  const chunks: Buffer[] = [];
  const perConnection: Buffer[][] = [];
  const { port, sockets } = await tcpServer(
    (socket) => {
      const mine: Buffer[] = [];
      perConnection.push(mine);
      let head = Buffer.alloc(0);
      let upgraded = false;
      socket.on("data", (chunk: Buffer) => {
        if (upgraded) {
          chunks.push(chunk);
          mine.push(chunk);
          return;
        }
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        socket.write(switchingProtocols(head.subarray(0, end).toString()));
        upgraded = true;
        if (head.length > end + 4) {
          chunks.push(head.subarray(end + 4));
          mine.push(head.subarray(end + 4));
        }
      });
      socket.on("error", () => {});
    },
    { allowHalfOpen: options.allowHalfOpen === true, ...options.tls },
    options.tls !== undefined,
  );
  return {
    url: `${options.tls === undefined ? "ws" : "wss"}://127.0.0.1:${port}/`,
    bytes: () => Buffer.concat(chunks),
    connectionBytes: (i) => Buffer.concat(perConnection[i] ?? []),
    // It never answers a closing handshake: hang up instead of letting close() wait it out.
    hangUp: () => {
      for (const s of sockets) s.destroy();
    },
    write: (bytes) => {
      for (const s of sockets) s.write(bytes);
    },
  };
}

export function parseAll(buf: Buffer): Parsed[] {
  const frames: Parsed[] = [];
  for (let rest = buf; rest.length > 0; ) {
    const f = parseFrame(rest);
    if (f === undefined) break;
    frames.push(f);
    rest = rest.subarray(f.size);
  }
  return frames;
}

/** The close codes in the close frames `bytes` (what a client sent) hold, in order. */
export function closeCodesIn(bytes: Buffer): number[] {
  return parseAll(bytes)
    .filter((f) => f.opcode === 8)
    .map((f) => (f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005));
}

/** A TCP listener that accepts and never answers the opening handshake. */
export async function silentServer(): Promise<string> {
  const { port } = await tcpServer((socket) => void socket.on("error", () => {}));
  return `ws://127.0.0.1:${port}/`;
}

/**
 * A TCP listener on 127.0.0.1 port 0 that hands each connection to `onSocket` (its errors are
 * the caller's to handle). After the test (harness.ts) it destroys every socket it accepted and
 * closes. With `secure`, a TLS listener (`options` then holds its certificate and key).
 */
export async function tcpServer(
  onSocket: (socket: net.Socket) => void,
  options: net.ServerOpts & tls.TlsOptions = {},
  secure = false,
): Promise<{ port: number; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const accept = (socket: net.Socket) => {
    sockets.push(socket);
    onSocket(socket);
  };
  const srv = secure ? tls.createServer(options, accept) : net.createServer(options, accept);
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  onCleanup(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => srv.close(r));
  });
  return { port: (srv.address() as net.AddressInfo).port, sockets };
}

/** The server's answer to an opening handshake whose header block is `head`: 101, with the accept value its key asks for. */
export function switchingProtocols(head: string): string {
  const key = /sec-websocket-key: *(\S+)/i.exec(head)![1]!;
  const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
}

/**
 * A frame as a server writes it (unmasked unless `mask`, a fixed key then), with the length
 * encoding asked for (`wide`: 16 or 64 even where a shorter one fits; the shortest otherwise).
 */
export function serverFrame(
  opcode: number,
  payload: Buffer | string,
  {
    fin = true,
    rsv = 0,
    mask = false,
    wide = 0,
  }: { fin?: boolean; rsv?: number; mask?: boolean; wide?: number } = {},
): Buffer {
  const body = Buffer.from(payload);
  const n = body.length;
  const use = wide === 64 || n > 0xffff ? 64 : wide === 16 || n > 125 ? 16 : 7;
  const head = Buffer.alloc(use === 7 ? 2 : use === 16 ? 4 : 10);
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  if (use === 7) head[1] = n;
  else if (use === 16) {
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 127;
    head.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    head.writeUInt32BE(n >>> 0, 6);
  }
  if (!mask) return Buffer.concat([head, body]);
  head[1]! |= 0x80;
  const key = Buffer.from([1, 2, 3, 4]);
  for (let i = 0; i < n; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([head, key, body]);
}
