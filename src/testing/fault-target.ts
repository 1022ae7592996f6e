/**
 * The fault proxy's target: `targetUrl` checked and read (scheme, host, port), and the URL the
 * proxy hands out for it.
 *
 * Pure: no socket is opened here (fault-proxy.ts connects to the target for each client), and
 * nothing is resolved through DNS.
 */

import * as net from "node:net";
import { EvtWebSocketError } from "../errors.js";

/** `localhost` and its subdomains always name this machine (RFC 6761). */
function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, "");
  return name === "localhost" || name.endsWith(".localhost");
}

/** Whether `host` (the proxy's listening address) is a loopback address. */
function isLoopback(host: string): boolean {
  return net.isIPv4(host) ? host.startsWith("127.") : host === "::1" || isLocalhostName(host);
}

const SCHEMES = ["ws:", "wss:", "http:", "https:"];

/**
 * `targetUrl` parsed.
 *
 * @throws EvtWebSocketError `ERR_INVALID_URL` when it is not a URL or not a `ws:`, `wss:`,
 * `http:` or `https:` one (the message shows neither its credentials nor its path).
 */
export function targetOf(targetUrl: string): URL {
  let target: URL | null = null;
  try {
    target = new URL(String(targetUrl)); // not URL.parse(): Node 20 has none
  } catch {}
  if (target === null || !SCHEMES.includes(target.protocol)) {
    const got = target === null ? "a string that is not a URL" : `scheme ${JSON.stringify(target.protocol)}`;
    throw new EvtWebSocketError(
      "ERR_INVALID_URL",
      `targetUrl of createFaultProxy() must be a ws:, wss:, http: or https: URL, got ${got}`,
    );
  }
  return target;
}

/** Where the proxy connects for each client: `target`'s host (no IPv6 brackets) and port (the scheme's by default). */
export function targetAddress(target: URL): { host: string; port: number } {
  const secure = target.protocol === "wss:" || target.protocol === "https:";
  return { host: target.hostname.replace(/^\[|\]$/g, ""), port: Number(target.port || (secure ? 443 : 80)) };
}

/**
 * The URL to dial: `target` with the proxy's `port`. The host name stays the target's when it
 * is `localhost` (or `*.localhost`) and the proxy listens (on `host`) on loopback, so a
 * `wss://localhost` certificate stays valid; otherwise it is the proxy's address.
 */
export function proxyUrl(target: URL, host: string, port: number): string {
  const url = new URL(target.href);
  if (!(isLocalhostName(targetAddress(target).host) && isLoopback(host)))
    url.hostname = host.includes(":") ? `[${host}]` : host;
  url.port = String(port);
  return url.href;
}
