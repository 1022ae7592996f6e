/**
 * One adapter per client library, all behind the same small interface, so every scenario runs
 * the same code against each library.
 *
 * `adapter.connect(ctx)` resolves once the connection is open, with a handle:
 * - `send(text)`: a fire-and-forget message (`/sink` counts it, `/echo` sends it back);
 * - `flush()`: resolves with the server's count once every earlier message was received;
 * - `request(obj)`: resolves with the response to `obj` (an object with a numeric `id`);
 * - `close()`.
 * `ctx`: `{ ports, path, onMessage(text), onOpen(), onClose(), json, reconnect, heartbeatMs, dead, proxy }`.
 * With `proxy`, the connection goes through the CONNECT proxy at `ports.httpProxy`: raw `ws`
 * with an https-proxy-agent, evtwebsocket with its `proxy` option.
 *
 * Libraries without request/response get the same small JSON id layer (`idLayer`): a `Map`
 * from id to resolver, one `JSON.stringify` per request and one `JSON.parse` per response.
 * Raw `ws` in the request scenarios matches responses first-in first-out (the server answers
 * in order), the least code a user could write; `ws-map` is raw `ws` with the `Map` id layer,
 * the hand-written baseline the request targets refer to. Each adapter imports its
 * library lazily, so a client process loads only the library it measures.
 *
 * "Fast settings" for reconnects: first retry after 100 ms, doubling, at most 1 s, no jitter
 * where the library allows it. Libraries without a heartbeat get an application-level ping
 * (`setInterval` per connection) in the idle scenario, which the server answers with `pong`;
 * their adapters do not check for the answer (those libraries have no liveness check, so this
 * is their cheapest equivalent). `ws` and evtwebsocket use protocol pings, socket.io its own.
 */

import { pathToFileURL } from "node:url";

const HOST = "127.0.0.1";
const OPEN_TIMEOUT_MS = 10_000;

function wsUrl(ctx, port) {
  return `ws://${HOST}:${port}${ctx.path}`;
}

function wsPort(ctx) {
  return ctx.dead ? ctx.ports.proxyWs : ctx.ports.ws;
}

/** The small JSON id layer for libraries without request/response. */
function idLayer(sendText) {
  const pending = new Map();
  return {
    request(obj) {
      return new Promise((resolve) => {
        pending.set(obj.id, resolve);
        sendText(JSON.stringify(obj));
      });
    },
    /** Returns true when `text` answered a pending request. */
    onText(text) {
      const msg = JSON.parse(text);
      const resolve = pending.get(msg.id);
      if (resolve === undefined) return false;
      pending.delete(msg.id);
      resolve(msg);
      return true;
    },
  };
}

/** First-in first-out matching: the server answers requests in the order they came. */
function fifoLayer(sendText) {
  let resolvers = [];
  let head = 0;
  return {
    request(obj) {
      return new Promise((resolve) => {
        resolvers.push(resolve);
        sendText(JSON.stringify(obj));
      });
    },
    onText(text) {
      if (head === resolvers.length) return false;
      const resolve = resolvers[head++];
      if (head === resolvers.length) {
        resolvers = [];
        head = 0;
      }
      resolve(JSON.parse(text));
      return true;
    },
  };
}

/** `flush()` for the ws-based servers: `/sink` answers "done" with its count. */
function flushLayer(sendText) {
  const waiting = [];
  return {
    flush() {
      return new Promise((resolve) => {
        waiting.push(resolve);
        sendText("done");
      });
    },
    onText(text) {
      if (waiting.length === 0) return false;
      waiting.shift()(Number(text));
      return true;
    },
  };
}

/** Resolves when `subscribe(resolve, reject)` calls back, or rejects after the open timeout. */
function opened(subscribe) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("open timed out")), OPEN_TIMEOUT_MS);
    subscribe(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** A handle over a socket with `send(text)`, for the libraries built on a WebSocket-like API. */
function textHandle(ctx, send, close, layerKind) {
  const flusher = flushLayer(send);
  const layer = layerKind === "fifo" ? fifoLayer(send) : idLayer(send);
  const onText = ctx.path.startsWith("/sink")
    ? (text) => flusher.onText(text) || ctx.onMessage?.(text)
    : ctx.path.startsWith("/push")
      ? ctx.json
        ? (text) => ctx.onMessage(JSON.parse(text))
        : ctx.onMessage
      : ctx.json
        ? (text) => layer.onText(text) || ctx.onMessage?.(text)
        : (text) => ctx.onMessage?.(text);
  let timer;
  if (ctx.heartbeatMs) timer = setInterval(() => send("ping"), ctx.heartbeatMs);
  return {
    onText,
    handle: {
      send,
      flush: () => flusher.flush(),
      request: (obj) => layer.request(obj),
      close() {
        clearInterval(timer);
        close();
      },
    },
  };
}

function proxyUrl(ctx) {
  return `http://${HOST}:${ctx.ports.httpProxy}`;
}

async function rawWs(ctx, layerKind) {
  const { default: WebSocket } = await import("ws");
  const options = { perMessageDeflate: false };
  if (ctx.proxy) options.agent = new (await import("https-proxy-agent")).HttpsProxyAgent(proxyUrl(ctx));
  const ws = new WebSocket(wsUrl(ctx, wsPort(ctx)), options);
  const { handle, onText } = textHandle(
    { ...ctx, heartbeatMs: 0 },
    (text) => ws.send(text),
    () => ws.close(),
    layerKind,
  );
  ws.on("message", (data, isBinary) => onText(isBinary ? data : data.toString()));
  ws.on("error", () => {});
  ws.on("close", () => ctx.onClose?.());
  await opened((ok, fail) => {
    ws.once("open", ok);
    ws.once("error", fail);
  });
  ctx.onOpen?.();
  if (ctx.heartbeatMs) {
    const timer = setInterval(() => ws.ping(), ctx.heartbeatMs);
    ws.on("close", () => clearInterval(timer));
  }
  return handle;
}

/** reconnecting-websocket and partysocket share one options shape (partysocket is a fork). */
async function rwsLike(ctx, Ctor) {
  const { default: WebSocket } = await import("ws");
  const socket = new Ctor(wsUrl(ctx, wsPort(ctx)), [], {
    WebSocket,
    minReconnectionDelay: 100,
    maxReconnectionDelay: 1000,
    reconnectionDelayGrowFactor: 2,
    connectionTimeout: 4000,
    maxRetries: ctx.reconnect ? Number.POSITIVE_INFINITY : 0,
  });
  const { handle, onText } = textHandle(
    ctx,
    (text) => socket.send(text),
    () => socket.close(),
  );
  socket.addEventListener("message", (event) => onText(event.data));
  socket.addEventListener("close", () => ctx.onClose?.());
  socket.addEventListener("open", () => ctx.onOpen?.());
  await opened((ok) => socket.addEventListener("open", ok, { once: true }));
  return handle;
}

async function websocketTs(ctx) {
  const { default: WebSocket } = await import("ws");
  globalThis.WebSocket ??= WebSocket;
  const { WebsocketBuilder, ExponentialBackoff } = await import("websocket-ts");
  let onText = () => {};
  const builder = new WebsocketBuilder(wsUrl(ctx, wsPort(ctx)))
    .withBackoff(new ExponentialBackoff(100, 3))
    .withMaxRetries(ctx.reconnect ? undefined : 0)
    .onMessage((_ws, event) => onText(event.data))
    .onClose(() => ctx.onClose?.())
    .onOpen(() => ctx.onOpen?.());
  let socket;
  await opened((ok) => {
    builder.onOpen(ok, { once: true });
    socket = builder.build();
  });
  const made = textHandle(
    ctx,
    (text) => socket.send(text),
    () => socket.close(),
  );
  onText = made.onText;
  return made.handle;
}

async function socketIo(ctx) {
  const { io } = await import("socket.io-client");
  const port = ctx.dead ? ctx.ports.proxySio : ctx.reconnect ? ctx.ports.sioFast : ctx.ports.sio;
  const socket = io(`http://${HOST}:${port}`, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: Boolean(ctx.reconnect),
    reconnectionDelay: 100,
    reconnectionDelayMax: 1000,
    randomizationFactor: 0,
  });
  const sink = ctx.path.startsWith("/sink");
  socket.on("e", (data) => ctx.onMessage?.(data));
  socket.on("disconnect", () => ctx.onClose?.());
  socket.on("connect", () => ctx.onOpen?.());
  await opened((ok, fail) => {
    socket.once("connect", ok);
    socket.once("connect_error", fail);
  });
  return {
    send: sink ? (text) => socket.emit("m", text) : (text) => socket.emit("e", text),
    flush: () => socket.emitWithAck("done"),
    request: (obj) => socket.emitWithAck("req", obj),
    close: () => socket.close(),
  };
}

async function rpcWebsockets(ctx) {
  const { Client } = await import("rpc-websockets");
  const client = new Client(`ws://${HOST}:${ctx.ports.rpc}`, {
    reconnect: Boolean(ctx.reconnect),
    reconnect_interval: 100,
    max_reconnects: 0,
  });
  client.on("close", () => ctx.onClose?.());
  client.on("open", () => ctx.onOpen?.());
  client.on("error", () => {});
  await opened((ok) => client.once("open", ok));
  const sink = ctx.path.startsWith("/sink");
  let timer;
  if (ctx.heartbeatMs) timer = setInterval(() => client.call("ping").catch(() => {}), ctx.heartbeatMs);
  return {
    // rpc-websockets pushes to one client only through its broadcast events, so its echo
    // scenario uses call(): the same one message each way.
    send: sink
      ? (text) => void client.notify("sink", [text])
      : (text) => void client.call("echo", [text]).then((r) => ctx.onMessage?.(r[0])),
    flush: () => client.call("done"),
    request: (obj) => client.call("echo", obj),
    close() {
      clearInterval(timer);
      client.close();
    },
  };
}

/** evtwebsocket read through `for await (const msg of conn.messages())` instead of `onMessage`. */
async function evtwebsocketMessages(ctx) {
  const onMessage = ctx.onMessage;
  const handle = await evtwebsocket({ ...ctx, onMessage: undefined }, undefined, (conn) => {
    void (async () => {
      for await (const msg of conn.messages()) onMessage?.(msg);
    })();
  });
  return handle;
}

async function evtwebsocket(ctx, dist = process.env.BENCH_EVT_DIST, beforeDial) {
  const { Conn, json } = await import(dist ? pathToFileURL(dist).href : "../dist/index.js");
  const options = {
    reconnect: ctx.reconnect ? { minDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0 } : false,
    onError: () => {},
    onClose: () => ctx.onClose?.(),
    onConnected: () => ctx.onOpen?.(),
  };
  if (ctx.heartbeatMs) options.pingIntervalMs = ctx.heartbeatMs;
  if (ctx.dead)
    Object.assign(options, { pingIntervalMs: ctx.dead.intervalMs, pongTimeoutMs: ctx.dead.timeoutMs });
  if (ctx.proxy) options.proxy = proxyUrl(ctx);
  if (ctx.json) {
    options.codec = json();
    options.messageId = (m) => m.id;
  }
  const sink = ctx.path.startsWith("/sink");
  const waiting = [];
  options.onMessage =
    sink && !ctx.json
      ? (text) => (waiting.length > 0 ? waiting.shift()(Number(text)) : undefined)
      : ctx.onMessage;
  const conn = new Conn(options);
  beforeDial?.(conn);
  await conn.dial(`ws://${HOST}:${wsPort(ctx)}${ctx.path}`);
  return {
    send: (text) => conn.send(text),
    flush: () =>
      new Promise((resolve) => {
        waiting.push(resolve);
        conn.send("done");
      }),
    request: (obj) => conn.request(obj),
    close: () => conn.close(),
  };
}

const noop = () => {};

/** A no-op subscriber on every evtwebsocket channel, the request TracingChannel included. */
async function subscribeNoop() {
  const dc = await import("node:diagnostics_channel");
  const kinds = ["create", "open", "close", "reconnecting", "error", "pong"];
  for (const kind of kinds) dc.subscribe(`evtwebsocket:connection:${kind}`, noop);
  for (const kind of ["sent", "received"]) dc.subscribe(`evtwebsocket:message:${kind}`, noop);
  const events = ["start", "end", "asyncStart", "asyncEnd", "error"];
  dc.tracingChannel("evtwebsocket:request").subscribe(Object.fromEntries(events.map((e) => [e, noop])));
}

/**
 * `evtwebsocket/otel` (from the snapshot beside `index.js`) reporting to the SDK with exporters
 * that drop everything: every request recorded as a span (batched, as in production) and every
 * metric aggregated, nothing sent anywhere.
 */
async function instrumentOtel() {
  const dist = process.env.BENCH_EVT_DIST;
  const otelUrl = dist ? pathToFileURL(dist.replace(/index\.js$/, "otel.js")).href : "../dist/otel.js";
  const { instrument } = await import(otelUrl);
  const { BasicTracerProvider, BatchSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const { MeterProvider, PeriodicExportingMetricReader } = await import("@opentelemetry/sdk-metrics");
  const done = (_items, callback) => callback({ code: 0 });
  const spanExporter = { export: done, shutdown: async () => {} };
  const metricExporter = { export: done, forceFlush: async () => {}, shutdown: async () => {} };
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(spanExporter)] });
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 1000 });
  instrument({ tracerProvider, meterProvider: new MeterProvider({ readers: [reader] }) });
}

/** Issue 18's overhead rows: request/response at 100 and 10,000 in flight only. */
const OBSERVED_ROWS = ["req100", "req10k"];

/**
 * Every adapter, in the order of the table's columns. `dead`/`reconnect`/`push`: has the feature
 * (`push`: can read the raw `ws` server's `/push` frames); `pushOnly`: runs the push rows only;
 * `proxy`: measured through the CONNECT proxy.
 */
export const adapters = {
  ws: {
    label: "raw ws",
    connect: (ctx) => rawWs(ctx, "fifo"),
    reconnect: false,
    dead: false,
    proxy: true,
    push: true,
  },
  "ws-map": {
    label: "ws + Map id layer",
    connect: (ctx) => rawWs(ctx, "map"),
    reconnect: false,
    dead: false,
    requestsOnly: true,
    proxy: true,
  },
  evtwebsocket: {
    label: "evtwebsocket",
    connect: evtwebsocket,
    reconnect: true,
    dead: true,
    proxy: true,
    push: true,
  },
  "evtwebsocket@base": {
    label: "evtwebsocket (--base build)",
    connect: (ctx) => evtwebsocket(ctx, process.env.BENCH_EVT_BASE_DIST),
    variantOf: "evtwebsocket",
    only: OBSERVED_ROWS,
    needsBase: true,
  },
  "evtwebsocket+dc": {
    label: "evtwebsocket + no-op channel subscriber",
    connect: async (ctx) => {
      await subscribeNoop();
      return evtwebsocket(ctx);
    },
    variantOf: "evtwebsocket",
    only: OBSERVED_ROWS,
  },
  "evtwebsocket+otel": {
    label: "evtwebsocket + otel (no-op exporters)",
    connect: async (ctx) => {
      await instrumentOtel();
      return evtwebsocket(ctx);
    },
    variantOf: "evtwebsocket",
    only: OBSERVED_ROWS,
  },
  "evtwebsocket-messages": {
    label: "evtwebsocket messages()",
    connect: evtwebsocketMessages,
    reconnect: true,
    dead: true,
    push: true,
    pushOnly: true,
  },
  "reconnecting-websocket": {
    label: "reconnecting-websocket",
    connect: async (ctx) => rwsLike(ctx, (await import("reconnecting-websocket")).default),
    reconnect: true,
    dead: false,
    push: true,
  },
  partysocket: {
    label: "partysocket",
    connect: async (ctx) => rwsLike(ctx, (await import("partysocket")).WebSocket),
    reconnect: true,
    dead: false,
    push: true,
  },
  "websocket-ts": { label: "websocket-ts", connect: websocketTs, reconnect: true, dead: false, push: true },
  "socket.io-client": { label: "socket.io-client", connect: socketIo, reconnect: true, dead: true },
  "rpc-websockets": { label: "rpc-websockets", connect: rpcWebsockets, reconnect: true, dead: false },
};
