/**
 * An HTTP `CONNECT` tunnel through a proxy (Node only): opens TCP to the proxy, asks it for
 * `host:port`, and hands over the raw socket once the proxy answers 2xx. TLS to the target
 * (for `wss:`) runs inside the tunnel and is the caller's job, as is the WebSocket handshake.
 *
 * Deadlines are not kept here: the connection's `connectTimeoutMs` covers the whole attempt,
 * CONNECT included, and aborts the tunnel through the function {@link openTunnel} returns.
 * Credentials go only into the `Proxy-Authorization` header: no error made here quotes them,
 * the request, or the proxy's answer beyond its status code.
 */

import * as net from "node:net";
import type { ProxyTarget } from "./proxy-env.js";

/** The proxy answered `CONNECT` with a status other than 2xx. */
export class ProxyRefusedError extends Error {
  override name = "ProxyRefusedError";
  constructor(
    /** The proxy's HTTP status (407, 403, 502, …). */
    readonly proxyStatus: number,
    proxy: string,
  ) {
    super(`the proxy ${proxy} answered CONNECT with HTTP ${proxyStatus}`);
  }
}

/** The most bytes a proxy's answer to `CONNECT` may take before the blank line. */
const MAX_ANSWER_BYTES = 16 * 1024;

/** `host:port` as an HTTP authority (IPv6 in brackets). */
function authority(host: string, port: number): string {
  return `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/**
 * Opens a tunnel to `host:port` through `proxy`; `done` gets the socket (in paused mode, nothing
 * read past the proxy's answer) or the error, once. Returns a function that aborts the attempt
 * (destroys the socket; `done` is not called afterwards).
 */
export function openTunnel(
  proxy: ProxyTarget,
  host: string,
  port: number,
  done: (error: Error | undefined, socket?: net.Socket) => void,
): () => void {
  const where = authority(proxy.host, proxy.port);
  const socket = net.connect({ host: proxy.host, port: proxy.port });
  let settled = false;
  let answer = Buffer.alloc(0);

  const finish = (error: Error | undefined) => {
    if (settled) return;
    settled = true;
    socket.removeListener("readable", onReadable);
    socket.removeListener("error", onError);
    socket.removeListener("close", onClose);
    if (error !== undefined) {
      socket.destroy();
      done(error);
    } else done(undefined, socket);
  };
  const onError = (cause: Error) =>
    finish(new Error(`the proxy ${where} failed: ${cause.message}`, { cause }));
  const onClose = () =>
    finish(new Error(`the proxy ${where} closed the connection before answering CONNECT`));
  const onReadable = () => {
    for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
      answer = Buffer.concat([answer, chunk]);
      // The blank line that ends the header; lines may end with a bare LF (RFC 9112, 2.2; curl).
      const blank = /\r?\n\r?\n/.exec(answer.toString("latin1"));
      const end = blank === null ? -1 : blank.index;
      if (end === -1) {
        if (answer.length <= MAX_ANSWER_BYTES) continue;
        finish(new Error(`the proxy ${where} sent an oversized answer`));
        return;
      }
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer.subarray(0, end).toString("latin1"));
      if (status === null) {
        finish(new Error(`the proxy ${where} did not answer CONNECT with HTTP`));
        return;
      }
      const code = Number(status[1]);
      if (code < 200 || code > 299) {
        finish(new ProxyRefusedError(code, where));
        return;
      }
      const rest = answer.subarray(end + blank![0].length);
      if (rest.length > 0) socket.unshift(rest);
      finish(undefined);
      return;
    }
  };

  socket.on("error", onError);
  socket.on("close", onClose);
  socket.on("readable", onReadable);
  const target = authority(host, port);
  const auth = proxy.authorization === undefined ? "" : `Proxy-Authorization: ${proxy.authorization}\r\n`;
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
  return () => {
    if (settled) return;
    settled = true;
    socket.destroy();
  };
}
