/**
 * Resume a stream after a reconnect: nothing missed, nothing twice.
 *
 * The server numbers every event and keeps a log. The client remembers the last sequence
 * number it saw, and its URL function asks for `?since=<that number>` on every attempt, so a
 * reconnect picks up exactly where the stream broke off: the server replays what the client
 * missed while it was away, then goes on live. `conn.handshake` shows what the server answered
 * (here, a header saying where it resumes from).
 *
 * Run: npx tsx examples/resume-stream.ts
 */

import type { AddressInfo } from "node:net";
import { Conn, json } from "evtwebsocket";
import { type WebSocket, WebSocketServer } from "ws";

type StreamEvent = { seq: number; text: string };

/** The event log and the clients following it live. */
const log: StreamEvent[] = [];
const live = new Set<WebSocket>();

function publish(text: string): void {
  const event = { seq: log.length + 1, text };
  log.push(event);
  for (const socket of live) socket.send(JSON.stringify(event));
}

/** `?since=N` of a request; 0 when absent. */
const sinceOf = (url = "/") => Number(new URL(url, "http://localhost").searchParams.get("since") ?? 0);

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
// Tells the client, in the handshake response, where the stream resumes.
wss.on("headers", (headers, req) => headers.push(`X-Resume-From: ${sinceOf(req.url)}`));
let connections = 0;
wss.on("connection", (socket, req) => {
  const since = sinceOf(req.url);
  const missed = log.filter((e) => e.seq > since);
  console.log(`server: connection since=${since}, replaying ${missed.length} events`);
  for (const event of missed) socket.send(JSON.stringify(event));
  live.add(socket);
  socket.on("close", () => live.delete(socket));
  if (++connections === 1) {
    for (const text of ["a", "b", "c"]) publish(text);
    // A restart: this connection goes, and two events happen while the client is away.
    socket.close(1012, "restart");
    live.delete(socket);
    publish("d");
    publish("e");
  } else {
    for (const text of ["f", "g", "h"]) publish(text);
  }
});
await new Promise((resolve) => wss.once("listening", resolve));
const { port } = wss.address() as AddressInfo;

let lastSeq = 0;
const seen: number[] = [];
let done: () => void;
const allSeen = new Promise<void>((resolve) => {
  done = resolve;
});

const conn = new Conn<StreamEvent, never>({
  codec: json(),
  reconnect: { minDelayMs: 100 },
  onConnected: (c) => {
    console.log(
      `connected: HTTP ${c.handshake?.status}, the server resumes from ${c.handshake?.headers?.["x-resume-from"]}`,
    );
  },
  onMessage: (event) => {
    if (event.seq <= lastSeq) return; // already seen (a server that replays too much)
    seen.push(event.seq);
    lastSeq = event.seq;
    console.log(`event ${event.seq}: ${event.text}`);
    if (event.seq === 8) done();
  },
  onClose: ({ code, willReconnect }) => console.log(`closed: ${code}, willReconnect: ${willReconnect}`),
});

// Called before every attempt: the first dial and each reconnect ask for what came after lastSeq.
await conn.dial(({ attempt }) => {
  console.log(`client: dialling with since=${lastSeq} (attempt ${attempt})`);
  return `ws://127.0.0.1:${port}/stream?since=${lastSeq}`;
});

await allSeen;
await conn.close();
wss.close();
const inOrder = seen.every((seq, i) => seq === i + 1);
console.log(
  `received ${seen.length} events${inOrder ? ", in order, none missed, none twice" : ": GAP OR REPEAT"}`,
);
