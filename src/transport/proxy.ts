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
import { parseRetryAfter } from "../retry-after.js";
import type { ProxyTarget } from "./proxy-env.js";

/** The proxy answered `CONNECT` with a status other than 2xx. */
export class ProxyRefusedError extends Error {
  override name = "ProxyRefusedError";
  constructor(
    /** The proxy's HTTP status (407, 403, 502, …). */
    readonly proxyStatus: number,
    proxy: string,
    /** The wait the proxy's `Retry-After` asks for, in ms (read whatever the status; the policy picks 429 and 503). */
    readonly retryAfterMs?: number,
  ) {
    super(`the proxy ${proxy} answered CONNECT with HTTP ${proxyStatus}`);
  }
}

/** The most bytes a proxy's answer to `CONNECT` may take before the blank line (interim answers included). */
const MAX_ANSWER_BYTES = 16 * 1024;
/** The status line: the code is three digits and ends there (`HTTP/1.1 2000` is not a 200). */
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?:[ \r\n]|$)/;
/** A `Retry-After` header in a header block, its value trimmed of leading blanks. */
const RETRY_AFTER = /\nretry-after:[ \t]*([^\r\n]*)/i;

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
  /** Bytes of interim (1xx) answers already read past. */
  let interim = 0;
  const onReadable = () => {
    for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
      answer = Buffer.concat([answer, chunk]);
      for (;;) {
        // The blank line that ends the header; lines may end with a bare LF (RFC 9112, 2.2; curl).
        const blank = /\r?\n\r?\n/.exec(answer.toString("latin1"));
        if (blank === null) {
          if (interim + answer.length <= MAX_ANSWER_BYTES) break;
          finish(new Error(`the proxy ${where} sent an oversized answer`));
          return;
        }
        const head = answer.subarray(0, blank.index).toString("latin1");
        const status = STATUS_LINE.exec(head);
        if (status === null) {
          finish(new Error(`the proxy ${where} did not answer CONNECT with HTTP`));
          return;
        }
        const code = Number(status[1]);
        const rest = answer.subarray(blank.index + blank[0].length);
        // An interim answer (100, 102, 103) comes before the real one: a client must read past it
        // (RFC 9110, 15.2), as Node's http client does. 101 is no answer to CONNECT: refused below.
        if (code >= 100 && code <= 199 && code !== 101) {
          interim += answer.length - rest.length;
          answer = rest;
          continue;
        }
        if (code < 200 || code > 299) {
          const retryAfter = RETRY_AFTER.exec(head);
          finish(new ProxyRefusedError(code, where, parseRetryAfter(retryAfter?.[1], Date.now())));
          return;
        }
        if (rest.length > 0) socket.unshift(rest);
        finish(undefined);
        return;
      }
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
