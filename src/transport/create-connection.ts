/**
 * How the `ws` transport gets hold of the socket ws writes to: ws's public `createConnection`
 * option opens it (TCP, TLS, or a `CONNECT` tunnel through a proxy with TLS inside for `wss:`),
 * and with a user's `agent` the socket is adopted from the `upgrade` response instead. The
 * transport keeps that socket to cork it, write data frames to it and read `bytesRead`, and
 * hears its errors (once open, ws swallows them). Also: the options handed to ws's `WebSocket`
 * for one socket (TLS, headers, `maxPayload`, the hook or the agent).
 *
 * An `agent` for the other scheme (an `http.Agent` for `wss:`, an `https.Agent` for `ws:`) is
 * told apart here, from Node's own refusal of it ({@link wrongAgent}).
 *
 * It does not choose the proxy (proxy-env.ts does, per attempt), speak `CONNECT` (proxy.ts),
 * write frames (ws-writer.ts) or keep deadlines (the connection's `connectTimeoutMs` aborts the
 * tunnel through the transport's `abortTunnel`).
 */

import * as net from "node:net";
import type { Duplex } from "node:stream";
import * as tls from "node:tls";
import type WebSocket from "ws";
import { ErrorCode, type EvtWebSocketError, invalidOption } from "../errors.js";
import { openTunnel, ProxyRefusedError } from "./proxy.js";
import type { TransportOptions } from "./types.js";
import type { WsTransport } from "./ws.js";

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

/** The key under which ws's options (and the socket ws writes to) carry the transport. */
export const kTransport = Symbol("evtwebsocket transport");
type Options = ConnectOptions & { [kTransport]?: WsTransport; secure?: boolean };

type Tcp = Duplex & { [kTransport]: WsTransport };

/** ws's `WebSocket` options, carrying the transport for the socket's constructor and `createConnection`. */
export type SocketOptions = WebSocket.ClientOptions & { [kTransport]: WsTransport };

/**
 * The options ws's `WebSocket` gets for `transport`'s socket: TLS settings, headers, no
 * compression, no UTF-8 check of its own, `maxPayload`, and `createConnection` (or the agent).
 * Warns once per process when certificates are not verified.
 */
export function socketOptions(options: TransportOptions, transport: WsTransport): SocketOptions {
  if (options.tls?.rejectUnauthorized === false) warnInsecureOnce();
  const agent = options.agent;
  return {
    ...options.tls,
    headers: options.headers,
    perMessageDeflate: false,
    skipUTF8Validation: true, // checked while decoding: see WsSocket's emit()
    // ws keeps its bound as a 32-bit integer (`maxPayload | 0`): 2^31 read as no bound at all,
    // 2^32 + 10 as 10. Larger values mean "as large as ws can bound".
    maxPayload: Math.min(options.maxMessageBytes, 0x7fffffff),
    // Node's http.request uses a given agent's sockets and ignores createConnection.
    ...(agent === undefined ? { createConnection: createConnection as never } : { agent }),
    [kTransport]: transport,
  } as SocketOptions;
}

/**
 * ws's `createConnection` hook: opens the TCP (or TLS) socket and remembers it for corking. It
 * also hears the socket's own errors: once open, ws swallows them (a TCP RST would end the
 * connection with no cause), so the first one becomes the cause of the disconnect.
 *
 * Through a proxy, the socket comes later, through Node's `oncreate` callback (http.request's
 * asynchronous `createConnection`): first the `CONNECT` tunnel, then, for `wss:`, TLS to the
 * target inside it, verified against the target's name as on a direct connection.
 */
function createConnection(
  opts: Options,
  oncreate: (error: Error | null, socket?: Duplex) => void,
): Duplex | undefined {
  const transport = opts[kTransport]!;
  const proxy = transport.proxy;
  if (proxy === undefined) return adopt(transport, connect(transport.secure, opts));
  transport.abortTunnel = openTunnel(proxy, opts.host!, Number(opts.port), (error, raw) => {
    transport.abortTunnel = undefined;
    if (error !== undefined) {
      if (error instanceof ProxyRefusedError) {
        transport.refused = { proxyStatus: error.proxyStatus, retryAfterMs: error.retryAfterMs };
      }
      oncreate(error);
      return;
    }
    let socket: Duplex = raw!;
    try {
      if (transport.secure) socket = connect(true, { ...opts, socket: raw });
    } catch (cause) {
      // tls.connect throws for TLS options Node refuses (a key that is not PEM, a wrong
      // passphrase): here, in a socket event, that would be an uncaught exception.
      raw!.destroy();
      oncreate(cause as Error);
      return;
    }
    oncreate(null, adopt(transport, socket));
  });
  return undefined;
}

/** Remembers `socket` as the one ws writes to, and hears its errors. */
export function adopt(transport: WsTransport, socket: Duplex): Duplex {
  const tcp = socket as Tcp;
  tcp[kTransport] = transport;
  tcp.on("error", onTcpError);
  transport.tcp = tcp;
  return tcp;
}
function onTcpError(this: Tcp, error: Error): void {
  this[kTransport].lastError ??= error;
}

/** Node's code for an agent of the other scheme: `http.request` throws it before any I/O. */
const WRONG_SCHEME = "ERR_INVALID_PROTOCOL";

/**
 * `ERR_INVALID_OPTION` naming `agent` when `cause` is Node's refusal of an agent for the other
 * scheme (its `TypeError` with code `ERR_INVALID_PROTOCOL`, kept as the cause); undefined for
 * anything else. Told from the failure, not the agent's class: agents such as proxy-agent's
 * (agent-base) take both schemes. Every attempt would fail the same way, so it is never retried
 * ({@link isWrongAgent}).
 */
export function wrongAgent(url: string, cause: unknown): EvtWebSocketError | undefined {
  if ((cause as { code?: unknown } | undefined)?.code !== WRONG_SCHEME) return undefined;
  const [scheme, other] = url.startsWith("wss:") ? ["wss:", "https"] : ["ws:", "http"];
  return invalidOption(
    `option agent cannot open a ${scheme} URL (${(cause as Error).message}): give an ${other}.Agent, or an agent that takes both schemes`,
    cause,
  );
}

/** True for the error of {@link wrongAgent}. */
export function isWrongAgent(error: EvtWebSocketError | undefined): boolean {
  return (
    error?.code === ErrorCode.INVALID_OPTION && (error.cause as { code?: unknown })?.code === WRONG_SCHEME
  );
}
