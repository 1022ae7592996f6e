/**
 * A JSON-RPC 2.0 client in a dozen lines: the `json()` codec, `messageId` for O(1) matching,
 * and `request()` with a timeout and an `AbortSignal`.
 *
 * The local server answers `add` at once, `slowAdd` after a delay (so replies arrive out of
 * order), never answers `hang`, and pushes a notification (no id) that reaches `onMessage`.
 *
 * Run: npx tsx examples/json-rpc.ts
 */

import type { AddressInfo } from "node:net";
import { Conn, isEvtWebSocketError, json } from "evtwebsocket";
import { WebSocketServer } from "ws";

interface RpcCall {
  jsonrpc: "2.0";
  id: number;
  method: string;
  params: unknown[];
}
interface RpcReply {
  jsonrpc: "2.0";
  id?: number;
  result?: unknown;
  error?: { code: number; message: string };
  method?: string; // notifications carry a method and no id
  params?: unknown;
}

const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
await new Promise((resolve) => server.once("listening", resolve));
server.on("connection", (socket) => {
  socket.send(JSON.stringify({ jsonrpc: "2.0", method: "hello", params: { server: "example" } }));
  socket.on("message", (data) => {
    const call = JSON.parse(String(data)) as RpcCall;
    const reply = (body: object) => socket.send(JSON.stringify({ jsonrpc: "2.0", id: call.id, ...body }));
    const [a, b] = call.params as [number, number];
    if (call.method === "add") reply({ result: a + b });
    else if (call.method === "slowAdd") setTimeout(() => reply({ result: a + b }), 50);
    else if (call.method === "hang") return;
    else reply({ error: { code: -32601, message: `method not found: ${call.method}` } });
  });
});
const { port } = server.address() as AddressInfo;

const conn = new Conn<RpcReply, RpcCall>({
  codec: json(),
  messageId: (msg) => msg.id, // requests and responses share the id: matched in O(1)
  requestTimeoutMs: 5000, // the default for every request (30 s if not set)
  onMessage: (msg) => console.log(`notification: ${msg.method} ${JSON.stringify(msg.params)}`),
  onError: (err) => console.log(`onError: ${err.code}`),
});

let nextId = 1;
/** Calls `method` and resolves with its result; a JSON-RPC error becomes a rejection. */
async function call(
  method: string,
  params: unknown[],
  options?: { timeoutMs?: number; signal?: AbortSignal },
) {
  const reply = await conn.request({ jsonrpc: "2.0", id: nextId++, method, params }, options);
  if (reply.error) throw new Error(`rpc error ${reply.error.code}: ${reply.error.message}`);
  return reply.result;
}

await conn.dial(`ws://127.0.0.1:${port}`);

console.log(`add(2, 3) = ${await call("add", [2, 3])}`);

// The slow reply is sent first and arrives last; each promise still gets its own result.
const [slow, fast] = await Promise.all([call("slowAdd", [10, 20]), call("add", [1, 1])]);
console.log(`slowAdd(10, 20) = ${slow}, add(1, 1) = ${fast}`);

try {
  await call("nope", []);
} catch (err) {
  console.log((err as Error).message);
}

// A per-call timeout overrides requestTimeoutMs.
try {
  await call("hang", [], { timeoutMs: 100 });
} catch (err) {
  if (isEvtWebSocketError(err, "ERR_REQUEST_TIMEOUT")) console.log(`hang: ${err.code}`);
  else throw err;
}

// Aborting the signal rejects the request at once (and removes it from the queue if unsent).
const controller = new AbortController();
const pending = call("hang", [], { signal: controller.signal });
setTimeout(() => controller.abort(), 20);
try {
  await pending;
} catch (err) {
  if (isEvtWebSocketError(err, "ERR_ABORTED")) console.log(`aborted: ${err.code}`);
  else throw err;
}

console.log(`pending requests: ${conn.stats.pendingRequests}`);
await conn.close();
server.close();
console.log("done");
