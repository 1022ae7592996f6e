/**
 * The request path's own cost, without network or scheduler: `node bench/overhead.mjs [rounds]`.
 *
 * A fake WHATWG socket answers every message on a microtask, so a request's time is the
 * library's work plus JSON. evtwebsocket (`request()` with `messageId`, through its WHATWG-socket
 * transport) runs against a hand-written `Map` id layer over the same fake socket, one request
 * in flight, each in a fresh process, alternating for `rounds` rounds (default 5). Prints µs per
 * request: medians and every round. The 1-in-flight row of `npm run bench` is a loopback round
 * trip of 80–100 µs, of which this is the part a library decides.
 */

import { execFileSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { EchoSocket } from "./echo-socket.mjs";

const COUNT = 300_000;

async function evtwebsocket() {
  const dist = process.env.BENCH_EVT_DIST;
  const { Conn, json } = await import(
    dist ? pathToFileURL(dist).href : new URL("../dist/index.js", import.meta.url).href
  );
  const conn = new Conn({
    codec: json(),
    messageId: (m) => m.id,
    reconnect: false,
    WebSocket: EchoSocket,
    onError: () => {},
  });
  await conn.dial("ws://127.0.0.1/");
  return { request: (obj) => conn.request(obj), close: () => conn.close() };
}

async function mapLayer() {
  const socket = new EchoSocket();
  await new Promise((resolve) => {
    socket.onopen = resolve;
  });
  const pending = new Map();
  socket.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    const resolve = pending.get(msg.id);
    pending.delete(msg.id);
    resolve(msg);
  };
  return {
    request: (obj) =>
      new Promise((resolve) => {
        pending.set(obj.id, resolve);
        socket.send(JSON.stringify(obj));
      }),
    close: () => socket.close(),
  };
}

async function measure(kind) {
  const handle = await (kind === "evtwebsocket" ? evtwebsocket() : mapLayer());
  const run = async (count) => {
    for (let id = 0; id < count; id++) {
      const reply = await handle.request({ id, p: "0123456789abcdef" });
      if (reply.id !== id) throw new Error(`response ${reply.id} for request ${id}`);
    }
  };
  await run(COUNT / 5);
  const t0 = performance.now();
  await run(COUNT);
  const us = ((performance.now() - t0) * 1000) / COUNT;
  handle.close();
  return us;
}

const [arg] = process.argv.slice(2);
if (arg === "evtwebsocket" || arg === "map") {
  process.stdout.write(`${await measure(arg)}\n`);
} else {
  const rounds = Number(arg ?? 5);
  const kinds = ["map", "evtwebsocket"];
  const results = { map: [], evtwebsocket: [] };
  const self = fileURLToPath(import.meta.url);
  for (let round = 0; round < rounds; round++) {
    for (const kind of round % 2 === 0 ? kinds : [...kinds].reverse()) {
      results[kind].push(Number(execFileSync(process.execPath, [self, kind]).toString()));
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  for (const kind of kinds) {
    const all = results[kind].map((v) => v.toFixed(2)).join(" ");
    const label = kind === "map" ? "Map id layer" : "evtwebsocket";
    console.log(`${label.padEnd(14)} ${median(results[kind]).toFixed(2)} µs per request (rounds: ${all})`);
  }
  const extra = median(results.evtwebsocket) - median(results.map);
  console.log(`evtwebsocket's request path: ${extra.toFixed(2)} µs per request more than the Map layer`);
}
