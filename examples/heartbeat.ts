/**
 * Detecting a dead peer with an application-level heartbeat: `pingMsg`, `isPong`,
 * `pongTimeoutMs`.
 *
 * A ping goes out whenever `pingIntervalMs` pass without sending or without receiving. If
 * nothing at all arrives within `pongTimeoutMs` of a ping, the connection is declared dead:
 * `onError(ERR_PONG_TIMEOUT)`, the socket is terminated (close code 1006), and the reconnect
 * policy takes over. The server here answers pings for a while, then goes silent without
 * closing its socket (a half-open connection: what a NAT that forgot you, or a frozen server,
 * looks like from the client).
 *
 * Run: npx tsx examples/heartbeat.ts
 */

import type { AddressInfo } from "node:net";
import { Conn, json } from "evtwebsocket";
import { WebSocketServer } from "ws";

type Msg = { type: "ping" | "pong"; t?: number };

const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
await new Promise((resolve) => server.once("listening", resolve));
const { port } = server.address() as AddressInfo;
let connections = 0;
server.on("connection", (socket) => {
  const n = ++connections;
  let answered = 0;
  socket.on("message", (data) => {
    const msg = JSON.parse(String(data)) as Msg;
    if (msg.type !== "ping") return;
    // The first connection goes silent after three pongs; later ones keep answering.
    if (n === 1 && answered >= 3) {
      if (answered++ === 3) console.log("server: going silent (socket stays open)");
      return;
    }
    answered++;
    socket.send(JSON.stringify({ type: "pong", t: msg.t }));
  });
});

let lastReceived = performance.now();
let reconnected: () => void;
const back = new Promise<void>((resolve) => {
  reconnected = resolve;
});

const conn = new Conn<Msg, Msg>({
  codec: json(),
  pingIntervalMs: 100,
  pongTimeoutMs: 100, // the default is pingIntervalMs
  pingMsg: () => ({ type: "ping", t: Date.now() }), // a function is called for every ping
  isPong: (msg) => msg.type === "pong",
  reconnect: { minDelayMs: 50 },
  onConnected: (c) => {
    console.log(c.stats.reconnects === 0 ? "connected" : "reconnected");
    if (c.stats.reconnects === 1) reconnected();
  },
  onError: (err) => {
    const silentMs = Math.round(performance.now() - lastReceived);
    console.log(`onError: ${err.code} (${silentMs} ms after the last byte received)`);
  },
  onClose: ({ code, willReconnect }) => console.log(`closed: ${code}, willReconnect: ${willReconnect}`),
});
let pongs = 0;
conn.on("pong", ({ rttMs }) => {
  lastReceived = performance.now();
  if (++pongs <= 3) console.log(`pong ${pongs}: rtt ${rttMs.toFixed(1)} ms`);
});

await conn.dial(`ws://127.0.0.1:${port}`);
await back;
console.log(`last rtt known: ${conn.stats.lastRttMs !== undefined}`);
await conn.close();
server.close();
console.log("done");
