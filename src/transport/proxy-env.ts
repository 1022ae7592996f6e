/**
 * Which proxy a connection goes through, as pure functions of the `proxy` option, the target
 * URL and the environment: `proxy: "env"` reads the variables the way curl does.
 *
 * - `wss:` uses `https_proxy`, then `HTTPS_PROXY`; `ws:` uses `http_proxy`, then `HTTP_PROXY`
 *   (lower case first, as curl and undici; an empty value counts as unset). A value without a
 *   scheme (`proxy:3128`) means `http://`. `ALL_PROXY` is not read.
 * - `no_proxy`, then `NO_PROXY`: a list separated by commas (or spaces) of host names, IP
 *   addresses and CIDR ranges, each optionally with `:port`. A name matches itself and every
 *   host below it, with or without a leading dot (`example.com` and `.example.com` both match
 *   `a.example.com` and `example.com`); `*` alone turns the proxy off for every host.
 *
 * Nothing here touches a socket or reads `process.env` itself (the transport passes it in, on
 * each attempt); the tunnel is proxy.ts's job. Messages never quote a proxy URL: it may hold a
 * password.
 */

import { BlockList, isIP } from "node:net";

/** A proxy to tunnel through, parsed and checked. */
export interface ProxyTarget {
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  port: number;
  /** The `Proxy-Authorization` header's value, when the URL has credentials. */
  authorization: string | undefined;
}

/** Environment variables as `process.env` has them. */
export type Env = Record<string, string | undefined>;

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Parses an `http://[user:password@]host[:port]` proxy URL; `source` names where it came from
 * in the message of the error (the URL itself is never quoted).
 *
 * @throws Error naming `source` when it is not such a URL.
 */
export function parseProxyUrl(value: string, source: string): ProxyTarget {
  let url: URL;
  try {
    url = new URL(SCHEME.test(value) ? value : `http://${value}`);
  } catch {
    throw new Error(`${source} is not a valid proxy URL`);
  }
  if (url.protocol !== "http:" || url.hostname === "") {
    throw new Error(`${source} must be an http:// proxy URL (http://[user:password@]host:port)`);
  }
  // Nothing may follow the port: a password with an unencoded `#`, `/` or `?` would otherwise
  // end the authority early and turn its user name and password into a host and port.
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "") {
    throw new Error(
      `${source} must have nothing after host:port (percent-encode @ : / ? # in a user name or password)`,
    );
  }
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  let authorization: string | undefined;
  if (url.username !== "" || url.password !== "") {
    let credentials: string;
    try {
      credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    } catch {
      // decodeURIComponent's URIError says only "URI malformed": name the source instead.
      throw new Error(`${source} has malformed percent-encoding in its user name or password`);
    }
    authorization = `Basic ${Buffer.from(credentials).toString("base64")}`;
  }
  return { host, port: url.port === "" ? 80 : Number(url.port), authorization };
}

/** The first of `names` set to a non-empty value. */
function first(env: Env, ...names: string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value.trim() !== "") return { name, value: value.trim() };
  }
  return undefined;
}

/**
 * One `NO_PROXY` entry split into host (lower case, no brackets) and optional port, or
 * undefined when its port is not a number (`host:80x`): such an entry matches nothing, as in
 * Go's httpproxy and undici, rather than every port of the host, which would send traffic
 * meant for the proxy straight out.
 */
function splitEntry(entry: string): { host: string; port: number | undefined } | undefined {
  const bracket = /^\[([^\]]*)\](?::(\d+))?$/.exec(entry);
  if (bracket) return { host: bracket[1]!, port: bracket[2] === undefined ? undefined : Number(bracket[2]) };
  const colons = entry.split(":").length - 1;
  if (colons === 1) {
    const [host, port] = entry.split(":");
    if (port === "") return { host: host!, port: undefined };
    return /^\d+$/.test(port!) ? { host: host!, port: Number(port) } : undefined;
  }
  return { host: entry, port: undefined };
}

/** True when `ip` lies in the CIDR range `range` (`10.0.0.0/8`, `fd00::/8`). */
function inRange(ip: string, range: string): boolean {
  const [net, bits] = range.split("/");
  const family = isIP(net!);
  const prefix = Number(bits);
  const ipFamily = isIP(ip);
  if (family === 0 || ipFamily !== family || !Number.isInteger(prefix)) return false;
  const list = new BlockList();
  try {
    list.addSubnet(net!, prefix, family === 4 ? "ipv4" : "ipv6");
  } catch {
    return false;
  }
  return list.check(ip, family === 4 ? "ipv4" : "ipv6");
}

/**
 * True when `noProxy` (a `NO_PROXY` value) says to reach `host:port` directly.
 *
 * @param host - the target's host name or IP address (IPv6 with or without brackets).
 */
export function bypassesProxy(host: string, port: number, noProxy: string): boolean {
  const target = (host.startsWith("[") ? host.slice(1, -1) : host).toLowerCase().replace(/\.$/, "");
  for (const raw of noProxy.split(/[,\s]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return true;
    const split = splitEntry(entry);
    if (split === undefined) continue;
    const { host: name, port: entryPort } = split;
    if (entryPort !== undefined && entryPort !== port) continue;
    if (name.includes("/")) {
      if (inRange(target, name)) return true;
      continue;
    }
    // An IPv6 address has many spellings (`::1`, `0:0:0:0:0:0:0:1`): compared as an address.
    if (isIP(name) === 6) {
      if (inRange(target, `${name}/128`)) return true;
      continue;
    }
    const bare = name.replace(/^\*?\./, "").replace(/\.$/, "");
    if (bare === "") continue;
    if (target === bare) return true;
    if (isIP(target) === 0 && target.endsWith(`.${bare}`)) return true;
  }
  return false;
}

/**
 * The proxy for one attempt at `url` (a `ws:` or `wss:` URL), or undefined to connect directly.
 *
 * @param proxy - the `proxy` option: undefined (none), `"env"`, or a proxy URL.
 * @param env - the environment to read under `"env"` (the transport passes `process.env`).
 * @throws Error when the proxy URL (given or read from the environment) is not an http:// URL.
 */
export function proxyFor(url: string, proxy: string | undefined, env: Env): ProxyTarget | undefined {
  if (proxy === undefined) return undefined;
  if (proxy !== "env") return parseProxyUrl(proxy, "option proxy");
  const target = new URL(url);
  const secure = target.protocol === "wss:";
  const found = secure ? first(env, "https_proxy", "HTTPS_PROXY") : first(env, "http_proxy", "HTTP_PROXY");
  if (found === undefined) return undefined;
  const noProxy = first(env, "no_proxy", "NO_PROXY");
  const port = target.port === "" ? (secure ? 443 : 80) : Number(target.port);
  if (noProxy !== undefined && bypassesProxy(target.hostname, port, noProxy.value)) return undefined;
  return parseProxyUrl(found.value, `environment variable ${found.name}`);
}
