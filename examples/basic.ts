/**
 * The Go evtwebsocket README example, translated: event callbacks, `send()` with a callback,
 * `matchMsg`, and a ping every `pingIntervalMs`.
 *
 * It starts its own echo server on 127.0.0.1 (the original dialled ws://echo.websocket.org,
 * which no longer exists), sends three messages, waits for their callbacks and one ping round
 * trip, then closes everything and exits.
 *
 * Run: npx tsx examples/basic.ts
 */

import type { AddressInfo } from "node:net";
import { Conn } from "evtwebsocket";
import { WebSocketServer } from "ws";

// An echo server that also greets every client: the greeting matches no request, so it goes
// to onMessage; the echoes answer the requests, so they go to the callbacks.
const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
await new Promise((resolve) => server.once("listening", resolve));
server.on("connection", (socket) => {
  socket.send("welcome");
  socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
});
const { port } = server.address() as AddressInfo;

let answered = 0;
let pongs = 0;
let finished: () => void;
const done = new Promise<void>((resolve) => {
  finished = resolve;
});

const conn = new Conn({
  // When the connection is established (and again after every reconnect).
  onConnected: () => console.log("connected"),
  // When a message arrives that answers no request.
  onMessage: (msg) => console.log(`onMessage: ${msg}`),
  // When something goes wrong that no caller is waiting for.
  onError: (err) => console.log(`** ERROR ** ${err.code}: ${err.message}`),
  // Matches a response to its request. Arguments: (request, response), in that order.
  matchMsg: (req, resp) => req === resp,
  // Reconnect on error: on by default, with exponential backoff instead of a fixed second.
  // A ping when 100 ms pass without traffic (the Go original: PingIntervalSecs: 5).
  pingIntervalMs: 100,
  // The ping message (optional on Node: without it, a protocol ping frame is sent).
  pingMsg: "PING",
  // The echo server sends "PING" back: that is the pong. It never reaches onMessage.
  isPong: (msg) => msg === "PING",
});
conn.on("pong", ({ rttMs }) => {
  if (++pongs === 1) console.log(`pong received (rtt ${rttMs.toFixed(1)} ms)`);
  if (answered === 3) finished();
});

// The Go original accepted http:// URLs; so does this one (mapped to ws://).
await conn.dial(`http://127.0.0.1:${port}`);

for (let i = 1; i <= 3; i++) {
  const body = `Hello ${i}`;
  console.log(`[${i}] sending: ${body}`);
  conn.send(body, (resp) => {
    console.log(`[${i}] callback: ${resp}`);
    answered++;
  });
}

await done;
console.log(`isConnected: ${conn.isConnected()}`);
await conn.close();
console.log(`closed (state: ${conn.state}, sent ${conn.stats.messagesSent} messages)`);
server.close();
