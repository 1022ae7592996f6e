/**
 * Proxy credentials on real sockets (proxy-chain, tinyproxy, a hand-made SOCKS5 server): where
 * they go (to the proxy only, percent-decoded, an empty password as one) and where they never
 * appear, in any form (plain, percent-encoded, base64): errors and their causes, events, logger
 * lines and channel payloads, through refusals (407), retries and reconnects. Also the secrets
 * of the request itself (path, query, Authorization) in bytes a peer sends back.
 */

import { describe, expect, it } from "vitest";
import { CANARY, canaryHits } from "../chaos/canary.js";
import { type EvtWebSocketError, State } from "../src/index.js";
import { echoServer } from "./helpers/echo-server.js";
import { conn, fast } from "./helpers/harness.js";
import { recordLines } from "./helpers/log-recorder.js";
import { proxyChain } from "./helpers/proxy.js";
import { channelMessages, SUBPROTOCOL, secretUrl } from "./helpers/secrets.js";
import { until } from "./helpers/server.js";

const failed = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: EvtWebSocketError) => e.code,
  );

describe("secrets: proxy credentials", () => {
  const BASIC = Buffer.from(`user:${CANARY}`).toString("base64");
  const secretProxy = (port: number) => `http://user:${CANARY}@127.0.0.1:${port}`;
  const hits = (v: unknown) => [...canaryHits(v), ...(JSON.stringify(v).includes(BASIC) ? ["base64"] : [])];

  it("a proxy that refuses the credentials (407), then one that takes them: no line or channel message holds them", async () => {
    const seen = channelMessages();
    const { logger, lines, events } = recordLines();
    const refusing = await proxyChain({ user: "user", password: "other" });
    const c1 = conn({ logger, proxy: secretProxy(refusing.port), reconnect: false, onError: () => {} });
    expect(await failed(c1.dial(secretUrl("ws://127.0.0.1:9"), SUBPROTOCOL))).toBe("ERR_DIAL_FAILED");
    const server = await echoServer();
    const taking = await proxyChain({ user: "user", password: CANARY });
    const c2 = conn({ logger, proxy: secretProxy(taking.port), reconnect: fast, pingIntervalMs: 20 });
    await c2.dial(secretUrl(server.url), SUBPROTOCOL);
    await new Promise((resolve) => c2.on("pong", resolve));
    await server.dropAll(1011, "restart");
    await until(() => c2.state === State.OPEN && server.connections === 2, "reopened through the proxy");
    await c2.close();
    expect(events()).toContain("give-up");
    expect(events()).toContain("reconnecting");
    expect(taking.connects.length).toBe(2);
    expect(hits(lines), "a logged line").toEqual([]);
    expect(hits(seen), "a channel message").toEqual([]);
  });
});
