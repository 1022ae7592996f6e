/**
 * Adapter for the `ws` package, the default transport on Node.
 *
 * Uses `ws`'s EventEmitter API (no `MessageEvent` allocation per message), protocol ping
 * frames, custom headers and a `maxPayload` bound. permessage-deflate stays off (memory, CPU,
 * and the compression side channel). Text frames arrive as strings, binary frames as `Buffer`
 * (a `Uint8Array`). A refused handshake reports its HTTP status.
 *
 * Write coalescing: the frames sent in one tick leave in one socket write. The first send of a
 * tick corks the TCP socket and a `process.nextTick` uncorks it, so a lone request still leaves
 * in the same tick while a burst of small messages costs one `writev` instead of one each. The
 * socket is obtained through ws's public `createConnection` option, not a private field.
 */

import * as net from "node:net";
import type { Duplex } from "node:stream";
import * as tls from "node:tls";
import WebSocket from "ws";
import type { Data } from "../codec.js";
import type { Transport, TransportEvents, TransportFactory } from "./types.js";

function noop(): void {}

let warnedInsecure = false;

/** Accepting any certificate is worth one warning per process, through Node's warning channel. */
function warnInsecureOnce(): void {
  if (warnedInsecure) return;
  warnedInsecure = true;
  process.emitWarning("evtwebsocket: tls.rejectUnauthorized is false: server certificates are not verified", {
    code: "EVTWEBSOCKET_INSECURE_TLS",
  });
}

type ConnectOptions = net.NetConnectOpts & tls.ConnectionOptions & { socketPath?: string; host?: string };

/** ws's own connect functions, repeated so we hold the socket ws writes to. */
function connect(secure: boolean, options: ConnectOptions): Duplex {
  if (!secure) return net.connect({ ...options, path: options.socketPath } as net.NetConnectOpts);
  const servername =
    options.servername || options.servername === ""
      ? options.servername
      : net.isIP(options.host ?? "")
        ? ""
        : options.host;
  return tls.connect({ ...options, path: undefined, servername } as tls.ConnectionOptions);
}

/**
 * The close code `ws` sent when it failed the connection for a protocol error; its `close`
 * event then reports 1006 because it stops reading before the peer's reply.
 */
function sentCloseCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== "string" || !code.startsWith("WS_ERR_")) return undefined;
  if (code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") return 1009;
  if (code === "WS_ERR_INVALID_UTF8") return 1007;
  return 1002;
}

/** The `ws` transport factory. */
export const wsTransport: TransportFactory = {
  name: "ws",
  canPing: true,
  canSendHeaders: true,
  open(url, options, events: TransportEvents): Transport {
    let tcp: Duplex | undefined;
    let corked = false;
    const uncork = () => {
      corked = false;
      tcp?.uncork();
    };
    if (options.tls?.rejectUnauthorized === false) warnInsecureOnce();
    const socket = new WebSocket(url, options.protocols, {
      ...options.tls,
      headers: options.headers,
      perMessageDeflate: false,
      maxPayload: options.maxMessageBytes,
      createConnection: ((opts: ConnectOptions) => {
        tcp = connect(url.startsWith("wss:"), opts);
        return tcp;
      }) as never,
    });
    let lastError: unknown;
    let status: number | undefined;

    socket.on("open", () => events.onOpen(socket.protocol));
    socket.on("message", (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : (data as Buffer);
      if (isBinary) events.onMessage(buf, buf.byteLength);
      else events.onMessage(buf.toString("utf8"), buf.byteLength);
    });
    socket.on("pong", () => events.onPong());
    socket.on("ping", () => events.onPing());
    socket.on("error", (err) => {
      lastError ??= err;
    });
    socket.on("unexpected-response", (_req, res) => {
      status = res.statusCode;
      lastError = new Error(`unexpected server response: ${res.statusCode}`);
      res.resume();
      socket.terminate();
    });
    socket.on("close", (code: number, reason: Buffer) => {
      socket.removeAllListeners();
      socket.on("error", noop);
      const failedWith = sentCloseCode(lastError);
      events.onClose({
        code: failedWith ?? code,
        reason: failedWith === undefined ? reason.toString("utf8") : "",
        wasClean: failedWith === undefined && code !== 1006,
        error: lastError,
        status,
      });
    });

    return {
      send: (data: Data) => {
        if (!corked && tcp !== undefined) {
          corked = true;
          tcp.cork();
          process.nextTick(uncork);
        }
        socket.send(data);
        return typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
      },
      ping: () => socket.ping(),
      close: (code, reason) => socket.close(code, reason),
      terminate: () => {
        socket.removeAllListeners();
        socket.on("error", noop);
        socket.terminate();
      },
      get bufferedAmount() {
        return socket.bufferedAmount;
      },
    };
  },
};
