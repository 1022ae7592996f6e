/**
 * Re-subscribe after every reconnect, before anything queued goes out.
 *
 * `onConnected` runs on every open. When it returns a promise, the messages queued while the
 * connection was down wait until it settles, so the server always sees `subscribe` first.
 * This example restarts its server to show it: a message sent while the server is down is
 * queued, and reaches the new server only after the subscription is confirmed.
 *
 * Run: npx tsx examples/subscribe-on-reconnect.ts
 */

import type { AddressInfo } from "node:net";
import { Conn, json } from "evtwebsocket";
import { WebSocketServer } from "ws";

type ClientMsg = { id?: number; type: "subscribe"; channel: string } | { type: "publish"; text: string };
type ServerMsg = { id?: number; type: "subscribed" | "event"; channel: string; text?: string };

/** A tiny pub/sub server; `received` records what each connection got, in order. */
function startServer(port: number) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port });
  const received: string[][] = [];
  wss.on("connection", (socket) => {
    const log: string[] = [];
    received.push(log);
    let subscribed = "";
    socket.on("message", (data) => {
      const msg = JSON.parse(String(data)) as ClientMsg;
      log.push(msg.type);
      if (msg.type === "subscribe") {
        subscribed = msg.channel;
        // Confirm a little later, so the wait in onConnected is visible.
        setTimeout(
          () => socket.send(JSON.stringify({ id: msg.id, type: "subscribed", channel: subscribed })),
          30,
        );
      } else if (subscribed !== "") {
        socket.send(JSON.stringify({ type: "event", channel: subscribed, text: msg.text }));
      }
    });
  });
  const listening = new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  return { wss, received, listening };
}

let server = startServer(0);
await server.listening;
const { port } = server.wss.address() as AddressInfo;

/** A promise and the function that resolves it. */
function signal() {
  let fire = () => {};
  const fired = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return { fire, fired };
}
const firstSubscription = signal();
const eventArrived = signal();
let nextId = 1;

const conn = new Conn<ServerMsg, ClientMsg>({
  codec: json(),
  messageId: (msg) => ("id" in msg ? msg.id : undefined),
  reconnect: { minDelayMs: 100, maxDelayMs: 1000 },
  async onConnected(c) {
    const ack = await c.request({ id: nextId++, type: "subscribe", channel: "prices" });
    console.log(`subscribed to ${ack.channel}`);
    firstSubscription.fire();
  },
  onMessage: (msg) => {
    console.log(`event on ${msg.channel}: ${msg.text}`);
    eventArrived.fire();
  },
  onClose: ({ code, reason, willReconnect }) =>
    console.log(`closed: code ${code} "${reason}", willReconnect: ${willReconnect}`),
  onReconnecting: ({ attempt }) => console.log(`reconnecting (attempt ${attempt})`),
  onError: (err) => console.log(`onError: ${err.code}`),
});

await conn.dial(`ws://127.0.0.1:${port}`);
await firstSubscription.fired;

// The server goes away: close every client with 1012 (service restart), stop listening.
const stopped = new Promise((resolve) => conn.on("reconnecting", resolve));
for (const client of server.wss.clients) client.close(1012, "restart");
await stopped;
await new Promise((resolve) => server.wss.close(resolve));
const first = server.received;

// Sent while the connection is down: queued, not lost.
conn.send({ type: "publish", text: "sent while offline" });
console.log(`state: ${conn.state}, queued messages: ${conn.stats.queuedMessages}`);

// The server comes back on the same port; the connection finds it by itself.
server = startServer(port);
await server.listening;
await eventArrived.fired;

console.log(`server saw, first connection: ${first[0]?.join(", ")}`);
console.log(`server saw, after restart: ${server.received.at(-1)?.join(", ")}`);
console.log(`reconnects: ${conn.stats.reconnects}`);
await conn.close();
await new Promise((resolve) => server.wss.close(resolve));
console.log("done");
