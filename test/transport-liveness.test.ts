/**
 * The heartbeat's signs of life on the `ws` transport, against real sockets: our own bytes
 * leaving count only while the ping waits behind them (src/transport/ws.ts `bytesRead`), so a
 * dead server behind something that still reads our bytes (the fault proxy's blackhole, as
 * Toxiproxy's `timeout` toxic: read and dropped) is found dead while the app keeps sending, and
 * a healthy server on a slow line is not. Real servers on 127.0.0.1, the testing kit's fault
 * proxy, proxy-chain for the `proxy` option, Node's agents for the `agent` option.
 */

import * as http from "node:http";
import * as https from "node:https";
import { describe, expect, it } from "vitest";
import { type ConnOptions, type EvtWebSocketError, State } from "../src/index.js";
import { createFaultProxy, createTestServer } from "../src/testing/index.js";
import { mintSelfSigned } from "./helpers/cert.js";
import { conn, onCleanup } from "./helpers/harness.js";
import { proxyChain } from "./helpers/proxy.js";
import { until } from "./helpers/server.js";

type Scheme = "ws" | "wss";
type Path = "direct" | "proxy" | "agent";

/** A test server for `scheme` (with its certificate, for wss) and the connection options to reach it by `path`. */
async function serverAndRoute(scheme: Scheme, path: Path, onMessage?: (data: unknown) => void) {
  const pki = scheme === "wss" ? mintSelfSigned() : undefined;
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
