/**
 * An in-process TCP proxy that breaks the network between a client and a server on demand.
 *
 * It speaks Toxiproxy's vocabulary: `latency` delays bytes, `bandwidth` limits their rate, `blackhole` keeps every TCP
 * connection open and forwards nothing (Toxiproxy's `timeout` toxic with timeout 0), `reset`
 * sends a TCP RST to every client, `refuse` stops listening so new connections are refused,
 * `heal` undoes them all. `latency`, `bandwidth` and `blackhole` can apply to one direction only,
 * as Toxiproxy's upstream and downstream toxics do. It copies bytes and never parses them, so it works for `ws:` and
 * `wss:` alike (the copying, one direction at a time, is fault-pipe.ts). What it does not do: bandwidth limits or packet loss below TCP (use network
 * namespaces for those), or half-closed connections (a side's FIN ends its connection both ways).
 *
 * This module owns the listening socket and the connection pairs; the fault settings and their
 * checks are fault-settings.ts, the target URL and the URL handed out are fault-target.ts.
 */

import * as net from "node:net";
import { EvtWebSocketError } from "../errors.js";
import { shown } from "../option-checks.js";
import { pipe } from "./fault-pipe.js";
import {
  clearFaults,
  createFaults,
  type FaultScope,
  setBandwidth,
  setBlackhole,
  setLatency,
} from "./fault-settings.js";
import { proxyUrl, targetAddress, targetOf } from "./fault-target.js";

export type { FaultDirection, FaultScope } from "./fault-settings.js";

/** A running fault proxy; see {@link createFaultProxy}. */
export interface FaultProxy {
  /**
   * The target URL with the proxy's port: dial this. The host name stays the target's when it
   * is `localhost` (or `*.localhost`) and the proxy listens on loopback, so a `wss://localhost`
   * certificate stays valid; otherwise it is the proxy's address.
   */
  readonly url: string;
  /** The port the proxy listens on; `heal()` after `refuse()` binds it again. */
  readonly port: number;
  /** Client connections open right now. */
  readonly activeConnections: number;
  /** Client connections accepted since creation. */
  readonly totalConnections: number;
  /**
   * Delays every chunk by `ms` in each direction (or in `scope.direction` only), in order, so a
   * round trip gains `2 * ms`. 0 removes the delay, and the bytes still delayed go on at once
   * (if `bandwidth` limits that direction, at its rate since they came). Applies to open and new connections.
   *
   * @example
   * ```ts
   * await proxy.latency(200, { direction: "downstream" }); // slow answers, prompt requests
   * ```
   */
  latency(ms: number, scope?: FaultScope): Promise<void>;
  /**
   * Limits each direction (or `scope.direction` only) to `bytesPerSecond` (Toxiproxy's
   * `bandwidth` toxic), bytes going on in pieces of 100 ms worth (at least 128 bytes) so a slow
   * line trickles; 0 removes the limit, and the bytes still held go on at once (if `latency`
   * delays that direction, its delay after they came). Reading pauses while more than 64 KiB
   * wait, or while the receiver takes no more, so the sender feels backpressure.
   */
  bandwidth(bytesPerSecond: number, scope?: FaultScope): Promise<void>;
  /**
   * Forwards nothing in either direction (or in `scope.direction` only; bytes are dropped)
   * while keeping every TCP connection open: a side that closes its connection meanwhile stays
   * open for the other side, whose bytes are dropped, until `heal()` passes the close on.
   *
   * @example
   * ```ts
   * await proxy.blackhole({ direction: "upstream" }); // the server hears nothing, still talks
   * ```
   */
  blackhole(scope?: FaultScope): Promise<void>;
  /** Sends a TCP RST to every client connection (`socket.resetAndDestroy()`) and drops its upstream. */
  reset(): Promise<void>;
  /** Stops listening: new connections get ECONNREFUSED; open ones are left alone. */
  refuse(): Promise<void>;
  /**
   * Removes every fault: no latency or bandwidth limit (the bytes they still held go on at
   * once, in order), forwarding on, listening again on the same port.
   */
  heal(): Promise<void>;
  /** Stops listening and destroys every connection. Safe to call twice. */
  close(): Promise<void>;
}

/** Options of {@link createFaultProxy}. */
export interface FaultProxyOptions {
  /** Port to listen on. @default 0 */
  port?: number;
  /** Address to listen on. @default "127.0.0.1" */
  host?: string;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
}

/**
 * Starts a TCP proxy in front of `targetUrl` (a `ws:`, `wss:`, `http:` or `https:` URL).
 *
 * @throws EvtWebSocketError `ERR_INVALID_URL` (a rejection) for anything else, and
 * `ERR_INVALID_OPTION` for a `port` that is not a whole number from 0 to 65535.
 *
 * @example
 * ```ts
 * const proxy = await createFaultProxy(server.url);
 * await conn.dial(proxy.url);
 * await proxy.blackhole(); // the heartbeat declares the connection dead
 * await proxy.heal();      // and the client reconnects
 * ```
 */
export async function createFaultProxy(
  targetUrl: string,
  options: FaultProxyOptions = {},
): Promise<FaultProxy> {
  const target = targetOf(targetUrl);
  if (
    options.port !== undefined &&
    !(Number.isInteger(options.port) && options.port >= 0 && options.port <= 65_535)
  )
    throw new EvtWebSocketError(
      "ERR_INVALID_OPTION",
      `option port of createFaultProxy() must be a whole number from 0 to 65535, got ${shown(options.port)}`,
    );
  const { host: targetHost, port: targetPort } = targetAddress(target);
  const host = options.host ?? "127.0.0.1";
  const pairs = new Set<Pair>();
  const faults = createFaults();
  const { blackholed } = faults;
  let total = 0;
  let server: net.Server | undefined;
  let closed = false;
  /** heal()'s listen in progress: a second heal() shares it, close() waits for it. */
  let relisten: Promise<void> | undefined;
  /** Whether the last of refuse() and heal() was heal(): the one that ends a listen decides. */
  let wantListening = true;
  /** Closes a blackhole hides (a side went away, the other is kept open): heal() passes them on. */
  const hiddenCloses = new Set<() => void>();

  const onConnection = (client: net.Socket): void => {
    total++;
    const upstream = net.connect({ host: targetHost, port: targetPort });
    const pair = { client, upstream };
    pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const drop = (): void => {
      pairs.delete(pair);
      hiddenCloses.delete(drop);
      client.destroy();
      upstream.destroy();
    };
    const upHolds = pipe(client, upstream, "upstream", faults);
    const downHolds = pipe(upstream, client, "downstream", faults);
    // A side that closed (a FIN or a reset) while its pipe still delays bytes: they go on, then
    // the pipe ends the other side, whose close drops the pair. A close towards a blackhole is
    // hidden like bytes (the other side stays open) until heal(). Any other close drops it at once.
    const onClose = (way: "upstream" | "downstream", holds: () => boolean, other: net.Socket) => (): void => {
      if (blackholed[way] && !other.destroyed) hiddenCloses.add(drop);
      else if (!holds()) drop();
    };
    client.on("error", () => {}); // "close" follows
    upstream.on("error", () => {});
    client.on("close", onClose("upstream", upHolds, upstream));
    upstream.on("close", onClose("downstream", downHolds, client));
  };

  const listen = (port: number): Promise<net.Server> =>
    new Promise((resolve, reject) => {
      const s = net.createServer(onConnection);
      s.once("error", reject);
      s.listen(port, host, () => {
        s.off("error", reject);
        resolve(s);
      });
    });

  /** Closes the listening socket at once; the promise resolves when its last connection ends. */
  const stopListening = (): Promise<void> => {
    const s = server;
    server = undefined;
    return s === undefined ? Promise.resolve() : new Promise<void>((resolve) => s.close(() => resolve()));
  };

  server = await listen(options.port ?? 0);
  const port = (server.address() as net.AddressInfo).port;

  return {
    url: proxyUrl(target, host, port),
    port,
    get activeConnections() {
      // A pair outlives its client while a blackhole hides its close or its last bytes go on.
      let open = 0;
      for (const pair of pairs) if (!pair.client.destroyed) open++;
      return open;
    },
    get totalConnections() {
      return total;
    },
    async latency(ms: number, scope?: FaultScope) {
      setLatency(faults, ms, scope);
    },
    async bandwidth(rate: number, scope?: FaultScope) {
      setBandwidth(faults, rate, scope);
    },
    async blackhole(scope?: FaultScope) {
      setBlackhole(faults, scope);
    },
    async reset() {
      for (const pair of [...pairs]) {
        if (pair.client.destroyed) continue; // gone already: its upstream waits for heal() or its last bytes
        pairs.delete(pair);
        pair.client.resetAndDestroy();
        pair.upstream.destroy();
      }
    },
    async refuse() {
      wantListening = false;
      void stopListening();
    },
    async heal() {
      clearFaults(faults);
      for (const pass of [...hiddenCloses]) pass();
      wantListening = true;
      if (server !== undefined || closed) return;
      relisten ??= listen(port).then(
        (s) => {
          relisten = undefined;
          // close(), or refuse(), came meanwhile: it wins.
          if (closed || !wantListening) return new Promise<void>((resolve) => s.close(() => resolve()));
          server = s;
        },
        (error: unknown) => {
          relisten = undefined;
          throw error;
        },
      );
      await relisten;
    },
    async close() {
      closed = true;
      const stopped = stopListening();
      for (const pair of [...pairs]) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      pairs.clear();
      await stopped;
      await relisten?.catch(() => {});
    },
  };
}
