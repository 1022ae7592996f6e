/**
 * The browser bench's page: the same three scenarios through a raw `WebSocket`, a raw
 * `WebSocket` with a hand-written `Map` id layer, and evtwebsocket's `Conn` (the browser build,
 * `dist/browser.js`), all from one page against the bench's server (`bench/server.mjs`).
 *
 * `bench/browser/run.mjs` bundles this file with esbuild, serves it from 127.0.0.1 and calls
 * `window.bench(client, scenario, params, wsBase)` once per fresh browser context. Each
 * scenario first runs a warm-up as long as its measured phase, as the Node bench does. The
 * page measures and reports; it never asserts speed.
 */

import { Conn, json } from "../../dist/browser.js";

/**
 * Yields to the event loop (a macrotask, so socket events run) without `setTimeout`'s 4 ms
 * clamp: one `MessageChannel` message per turn, the same for every client.
 */
const channel = new MessageChannel();
const ticks = [];
channel.port1.onmessage = () => ticks.shift()();
const tick = () =>
  new Promise((resolve) => {
    ticks.push(resolve);
    channel.port2.postMessage(0);
  });

/** Opens a raw WebSocket; `onText` gets every message. */
function openRaw(url, onText) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error(`could not open ${url}`));
    ws.onmessage = (event) => onText(event.data);
  });
}

/** `/sink` answers the text `done` with its count: resolves with that count. */
function flushLayer(sendText) {
  const waiting = [];
  return {
    flush: () =>
      new Promise((resolve) => {
        waiting.push(resolve);
        sendText("done");
      }),
    onText: (text) => waiting.shift()?.(Number(text)),
  };
}

/** The hand-written baseline: a `Map` from id to resolver, one stringify and one parse each way. */
function mapLayer(sendText) {
  const pending = new Map();
  return {
    request: (obj) =>
      new Promise((resolve) => {
        pending.set(obj.id, resolve);
        sendText(JSON.stringify(obj));
      }),
    onText(text) {
      const msg = JSON.parse(text);
      const resolve = pending.get(msg.id);
      if (resolve === undefined) return;
      pending.delete(msg.id);
      resolve(msg);
    },
  };
}

/** First-in first-out matching (the server answers in order): the least code a user could write. */
function fifoLayer(sendText) {
  let resolvers = [];
  let head = 0;
  return {
    request: (obj) =>
      new Promise((resolve) => {
        resolvers.push(resolve);
        sendText(JSON.stringify(obj));
      }),
    onText(text) {
      const resolve = resolvers[head++];
      if (head === resolvers.length) {
        resolvers = [];
        head = 0;
      }
      resolve(JSON.parse(text));
    },
  };
}

/**
 * Every client behind one handle: `send(text)`, `flush()` (sink), `request(obj)`, `close()`;
 * `onMessage` gets echoed text.
 */
const clients = {
  /** A raw WebSocket; requests matched first-in first-out. */
  async raw(url, onMessage) {
    let layer;
    const ws = await openRaw(url, (text) => layer.onText(text));
    const send = (text) => ws.send(text);
    const flusher = flushLayer(send);
    const fifo = fifoLayer(send);
    layer = url.endsWith("/sink") ? flusher : onMessage ? { onText: onMessage } : fifo;
    return { send, flush: flusher.flush, request: fifo.request, close: () => ws.close() };
  },
  /** A raw WebSocket with the hand-written `Map` id layer. */
  async map(url, onMessage) {
    let layer;
    const ws = await openRaw(url, (text) => layer.onText(text));
    const send = (text) => ws.send(text);
    const flusher = flushLayer(send);
    const ids = mapLayer(send);
    layer = url.endsWith("/sink") ? flusher : onMessage ? { onText: onMessage } : ids;
    return { send, flush: flusher.flush, request: ids.request, close: () => ws.close() };
  },
  /** evtwebsocket's `Conn`: `send()`, and `request()` matched by `messageId` with the `json()` codec. */
  async conn(url, onMessage, forRequests) {
    const options = { reconnect: false, onError: () => {} };
    const flusher = flushLayer((text) => conn.send(text));
    if (forRequests) Object.assign(options, { codec: json(), messageId: (m) => m.id });
    else options.onMessage = url.endsWith("/sink") ? flusher.onText : onMessage;
    const conn = new Conn(options);
    await conn.dial(url);
    return {
      send: (text) => conn.send(text),
      flush: flusher.flush,
      request: (obj) => conn.request(obj),
      close: () => conn.close(),
    };
  },
};

async function sendPhase(handle, payload, count, burst) {
  for (let sent = 0; sent < count; ) {
    const end = Math.min(count, sent + burst);
    for (; sent < end; sent++) handle.send(payload);
    await tick();
  }
  return handle.flush();
}

function echoPhase(state, handle, payload, count, window) {
  return new Promise((resolve) => {
    state.sent = 0;
    state.received = 0;
    state.onMessage = () => {
      state.received++;
      if (state.sent < count) {
        state.sent++;
        handle.send(payload);
      } else if (state.received === count) resolve();
    };
    for (; state.sent < Math.min(window, count); state.sent++) handle.send(payload);
  });
}

async function requestPhase(handle, count, inflight) {
  let issued = 0;
  const worker = async () => {
    while (issued < count) {
      const id = issued++;
      const reply = await handle.request({ id, p: "0123456789abcdef" });
      if (reply.id !== id) throw new Error(`response ${reply.id} for request ${id}`);
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
}

const scenarios = {
  async send(client, { count, size, burst }, wsBase) {
    const handle = await clients[client](`${wsBase}/sink`);
    const payload = "x".repeat(size);
    await sendPhase(handle, payload, count, burst);
    const t0 = performance.now();
    const received = await sendPhase(handle, payload, count, burst);
    const seconds = (performance.now() - t0) / 1000;
    handle.close();
    if (received !== count) throw new Error(`server received ${received} of ${count}`);
    return { value: count / seconds, seconds };
  },
  async echo(client, { count, window, size }, wsBase) {
    const state = { onMessage: () => {} };
    const handle = await clients[client](`${wsBase}/echo`, () => state.onMessage());
    const payload = "x".repeat(size);
    await echoPhase(state, handle, payload, count, window);
    const t0 = performance.now();
    await echoPhase(state, handle, payload, count, window);
    const seconds = (performance.now() - t0) / 1000;
    handle.close();
    return { value: count / seconds, seconds };
  },
  async request(client, { count, inflight }, wsBase) {
    const handle = await clients[client](`${wsBase}/echo`, undefined, true);
    await requestPhase(handle, count, inflight);
    const t0 = performance.now();
    await requestPhase(handle, count, inflight);
    const seconds = (performance.now() - t0) / 1000;
    handle.close();
    return { value: count / seconds, seconds };
  },
};

/** One measurement: `client` ("raw", "map", "conn") through `kind` ("send", "echo", "request"). */
globalThis.bench = (client, kind, params, wsBase) => scenarios[kind](client, params, wsBase);
