/**
 * A fresh auth token on every connection attempt: pass `dial()` a function instead of a URL.
 *
 * The function is called (and awaited) before every attempt, the first dial and each
 * reconnect alike, so a token that expired while the connection was up is never re-used. The
 * server here accepts each token once and refuses anything else with HTTP 401; after a while
 * it drops the connection with 4000 "token expired", and the client comes back with a new one.
 * `shouldReconnect` stops retrying if the server ever answers 401 (a token the auth service
 * gave is refused: retrying would not help).
 *
 * Run: npx tsx examples/token-refresh.ts
 */

import type { AddressInfo } from "node:net";
import { Conn, isEvtWebSocketError } from "evtwebsocket";
import { WebSocketServer } from "ws";

/** Stands in for an auth service: every call issues a new single-use token. */
const issued = new Set<string>();
let serial = 0;
async function fetchToken(): Promise<string> {
  await new Promise((resolve) => setTimeout(resolve, 10)); // a network round trip
  const token = `tok-${++serial}`;
  issued.add(token);
  return token;
}

const server = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  // Checked during the HTTP upgrade: an unknown or used token gets 401 and no WebSocket.
  verifyClient: ({ req }, accept) => {
    const token = new URL(req.url ?? "/", "http://localhost").searchParams.get("token") ?? "";
    const ok = issued.delete(token);
    console.log(`server: token ${token} ${ok ? "accepted" : "refused (401)"}`);
    accept(ok, 401);
  },
});
await new Promise((resolve) => server.once("listening", resolve));
const { port } = server.address() as AddressInfo;
let connections = 0;
server.on("connection", (socket) => {
  if (++connections === 1) setTimeout(() => socket.close(4000, "token expired"), 50);
});

let reconnected: () => void;
const back = new Promise<void>((resolve) => {
  reconnected = resolve;
});

const conn = new Conn({
  reconnect: {
    minDelayMs: 100,
    shouldReconnect: ({ status }) => status !== 401,
  },
  onConnected: (c) => {
    console.log(`connected (reconnects so far: ${c.stats.reconnects})`);
    if (c.stats.reconnects === 1) reconnected();
  },
  onClose: ({ code, reason }) => console.log(`closed: ${code} "${reason}"`),
  onReconnecting: ({ attempt }) => console.log(`reconnecting (attempt ${attempt})`),
  onError: (err) => console.log(`onError: ${err.code}`),
});

await conn.dial(async () => {
  const token = await fetchToken();
  console.log(`client: dialling with ${token}`);
  return `ws://127.0.0.1:${port}/live?token=${encodeURIComponent(token)}`;
});

await back;

// What the URL function saves us from: dialling again with a token already used.
const stale = new Conn({ reconnect: false });
try {
  await stale.dial(`ws://127.0.0.1:${port}/live?token=tok-1`);
} catch (err) {
  if (!isEvtWebSocketError(err, "ERR_DIAL_FAILED")) throw err;
  console.log(`stale token: ${err.code} (HTTP ${err.details.status})`);
}

await conn.close();
server.close();
console.log(`tokens fetched: ${serial}`);
