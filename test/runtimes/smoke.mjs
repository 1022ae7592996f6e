/**
 * The runtime-portable smoke suite: the same file runs in Node, Bun and Deno (run.mjs starts
 * it and the server). Plain JavaScript on purpose: no TypeScript loader, no Node-only API.
 *
 * Usage: <runtime> smoke.mjs <ws-url> <default|global>
 *   default: the package's own choice of transport (ws on Node, the global WebSocket elsewhere)
 *   global:  the runtime's global WebSocket passed through the WebSocket option
 *
 * Prints one line, "RESULT <json>", then returns without calling exit: run.mjs checks that the
 * process ends by itself, which proves close() left no socket or timer behind.
 */

import { Conn, json } from "evtwebsocket";

const args = globalThis.Deno?.args ?? globalThis.process.argv.slice(2);
const [url, mode = "default"] = args;
const runtime = globalThis.Deno
  ? `deno ${globalThis.Deno.version.deno}`
  : globalThis.Bun
    ? `bun ${globalThis.Bun.version}`
    : `node ${globalThis.process.versions.node}`;
const isNode = !globalThis.Deno && !globalThis.Bun;
const expected = {
  transport: isNode && mode === "default" ? "ws" : "WebSocket",
  entry: isNode ? "dist/index.js" : "dist/browser.js",
};
const options = mode === "global" ? { WebSocket: globalThis.WebSocket } : {};

const checks = [];

function fail(message) {
  throw new Error(message);
}

/** Resolves when `predicate` holds; polls every 5 ms. */
function until(predicate, what, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() - start > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

async function check(name, fn) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out after 10 s")), 10_000);
  });
  try {
    await Promise.race([fn(), deadline]);
    checks.push({ name, ok: true });
  } catch (error) {
    const code = error?.code ? `${error.code}: ` : "";
    checks.push({ name, ok: false, error: `${code}${error?.message ?? String(error)}` });
  } finally {
    clearTimeout(timer);
  }
}

const messages = [];
const conn = new Conn({
  ...options,
  matchMsg: (req, resp) => resp === `echo:${req}`,
  reconnect: { minDelayMs: 50, maxDelayMs: 200 },
  pingIntervalMs: 100,
  pingMsg: "ping",
  isPong: (msg) => msg === "pong",
  onMessage: (msg) => messages.push(msg),
});

await check("resolves the package to its entry for this runtime", async () => {
  const resolved = String(await import.meta.resolve("evtwebsocket"));
  if (!resolved.endsWith(expected.entry)) fail(`resolved ${resolved}, expected …/${expected.entry}`);
});

await check("dial", async () => {
  await conn.dial(url);
  if (conn.state !== "open") fail(`state is ${conn.state}`);
});

await check("request/response (matchMsg and messageId)", async () => {
  const reply = await conn.request("hello");
  if (reply !== "echo:hello") fail(`got ${reply}`);
  const rpc = new Conn({ ...options, codec: json(), messageId: (m) => m.id });
  await rpc.dial(url);
  const replies = await Promise.all([1, 2, 3].map((id) => rpc.request({ id, body: `b${id}` })));
  await rpc.close();
  const ok = replies.every((r, i) => r.id === i + 1 && r.echo === `b${i + 1}`);
  if (!ok) fail(`got ${JSON.stringify(replies)}`);
});

await check("binary arrives as Uint8Array", async () => {
  const sent = [0, 1, 127, 128, 254, 255];
  conn.send(new Uint8Array(sent));
  await until(() => messages.some((m) => typeof m !== "string"), "the binary echo");
  const got = messages.find((m) => typeof m !== "string");
  if (typeof Blob !== "undefined" && got instanceof Blob) fail("got a Blob");
  if (!(got instanceof Uint8Array)) fail(`got ${Object.prototype.toString.call(got)}`);
  if (Array.from(got).join() !== sent.join()) fail(`got bytes ${Array.from(got)}`);
});

await check(
  "a view of a SharedArrayBuffer or a resizable ArrayBuffer goes out as its bytes, queued or not",
  async () => {
    const got = [];
    const views = new Conn({ ...options, reconnect: false, onMessage: (msg) => got.push(msg) });
    const view = (buffer, byte) => {
      const bytes = new Uint8Array(buffer, 1, 2);
      bytes.fill(byte);
      return bytes;
    };
    const shared = () => view(new SharedArrayBuffer(4), 7);
    const resizable = () => view(new ArrayBuffer(4, { maxByteLength: 8 }), 6);
    // Queued before the open, then sent on the open socket: each echo must come back as binary.
    views.send(shared());
    views.send(resizable());
    views.send("after");
    await views.dial(url);
    views.send(shared());
    views.send(resizable());
    await until(() => got.length === 5, "five echoes", 2000).catch(() => {});
    await views.close();
    const seen = got.map((m) => (typeof m === "string" ? m : Array.from(m).join(",")));
    if (seen.join(" ") !== "7,7 6,6 echo:after 7,7 6,6") fail(`echoes: ${JSON.stringify(seen)}`);
  },
);

await check(
  "drained() (lowWaterMark 0) resolves once a 4 MiB message has left; its echo comes back whole",
  async () => {
    const got = [];
    const big = new Conn({
      ...options,
      reconnect: false,
      lowWaterMark: 0,
      onMessage: (msg) => got.push(msg),
    });
    await big.dial(url);
    big.send(new Uint8Array(4 << 20).fill(3));
    await big.drained();
    if (big.bufferedAmount !== 0) fail(`bufferedAmount ${big.bufferedAmount} after drained()`);
    await until(() => got.length === 1, "the echo");
    await big.close();
    if (got[0].byteLength !== 4 << 20 || got[0][0] !== 3) fail(`echo of ${got[0].byteLength} bytes`);
  },
);

await check("stats count UTF-8 bytes", async () => {
  const counter = new Conn({ ...options, matchMsg: (req, resp) => resp === `echo:${req}` });
  await counter.dial(url);
  const texts = ["plain ASCII", "héllo wörld", "€ and 😀", `${"a".repeat(5000)}é`];
  for (const text of texts) {
    const reply = await counter.request(text);
    if (reply !== `echo:${text}`) fail(`got ${reply.slice(0, 40)}…`);
  }
  const { bytesSent, bytesReceived } = counter.stats;
  await counter.close();
  const utf8 = (text) => new TextEncoder().encode(text).byteLength;
  const sent = texts.reduce((n, text) => n + utf8(text), 0);
  const received = texts.reduce((n, text) => n + utf8(`echo:${text}`), 0);
  if (bytesSent !== sent || bytesReceived !== received)
    fail(`bytesSent ${bytesSent} (expected ${sent}), bytesReceived ${bytesReceived} (expected ${received})`);
});

await check("ping with pingMsg/isPong", async () => {
  await new Promise((resolve) => {
    const off = conn.on("pong", () => {
      off();
      resolve();
    });
  });
  if (typeof conn.stats.lastRttMs !== "number") fail("no lastRttMs");
  if (messages.includes("pong")) fail("a pong reached onMessage");
});

await check("reconnect after the server restarts", async () => {
  conn.send("restart");
  await until(() => conn.state === "reconnecting", "the drop");
  await until(() => conn.state === "open", "the reconnect");
  if (conn.stats.reconnects !== 1) fail(`reconnects = ${conn.stats.reconnects}`);
  const reply = await conn.request("again");
  if (reply !== "echo:again") fail(`got ${reply}`);
});

await check("a drop without a close frame is code 1006, closedBy network (Deno reports 0)", async () => {
  const ends = [];
  const dropped = new Conn({
    ...options,
    reconnect: false,
    onClose: (info) => ends.push(info),
    onError: (error) => ends.push(error),
  });
  await dropped.dial(url);
  dropped.send("drop");
  await until(() => dropped.state === "closed", "the drop");
  const [info, error] = ends;
  if (info?.code !== 1006 || info.wasClean || info.closedBy !== "network")
    fail(`onClose got ${JSON.stringify(info)}`);
  if (error?.code !== "ERR_DISCONNECTED" || error.details?.closeCode !== 1006)
    fail(`onError got ${error?.code} ${JSON.stringify(error?.details)}`);
});

await check(
  "close() while connecting: dial() rejects ERR_CLOSED, close() resolves, nothing left",
  async () => {
    const early = new Conn({ ...options, reconnect: false, onError: () => {} });
    const dialled = early.dial(`${url}/silent`).then(
      () => "dialled",
      (error) => error.code,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (early.state !== "connecting") fail(`state is ${early.state} before close()`);
    await early.close();
    const outcome = await dialled;
    if (outcome !== "ERR_CLOSED") fail(`dial() gave ${outcome}`);
    if (early.state !== "closed") fail(`state is ${early.state}`);
  },
);

await check(
  "a refused dial's error names no credentials, path or query (secrets) in its message, stack or cause",
  async () => {
    const secret = "smoke-canary";
    const refused = new Conn({ ...options, reconnect: false });
    const error = await refused.dial(`ws://user:${secret}@127.0.0.1:1/${secret}-path?token=${secret}`).then(
      () => fail("dialled port 1"),
      (e) => e,
    );
    if (error?.code !== "ERR_DIAL_FAILED") fail(`dial() gave ${error?.code}: ${error?.message}`);
    const texts = [];
    for (let e = error, depth = 0; e != null && depth < 5; e = e.cause, depth++) {
      texts.push(String(e.message), String(e.stack), String(e.error?.message), String(e.error?.stack));
    }
    const leak = texts.find((text) => text.includes(secret));
    if (leak !== undefined) fail(`the secret shows in: ${leak.slice(0, 160)}`);
  },
);

await check(
  `headers: ${expected.transport === "ws" ? "sent" : "ERR_INVALID_OPTION"} (${expected.transport})`,
  async () => {
    const withHeaders = new Conn({
      ...options,
      headers: { "x-smoke": "yes" },
      matchMsg: (req, resp) => resp.startsWith(`${req}:`),
    });
    if (expected.transport === "ws") {
      await withHeaders.dial(url);
      const reply = await withHeaders.request("header");
      await withHeaders.close();
      if (reply !== "header:yes") fail(`server saw ${reply}`);
      return;
    }
    const outcome = await withHeaders.dial(url).then(
      () => "dialled",
      (error) => error.code,
    );
    if (outcome !== "ERR_INVALID_OPTION") fail(`dial() gave ${outcome}`);
  },
);

if (expected.transport !== "ws") {
  await check(`tls, proxy and agent: ERR_INVALID_OPTION (${expected.transport})`, async () => {
    for (const extra of [
      { tls: { rejectUnauthorized: false } },
      { proxy: "http://127.0.0.1:3128" },
      { agent: {} },
    ]) {
      const outcome = await new Conn({ ...options, ...extra }).dial(url).then(
        () => "dialled",
        (error) => error.code,
      );
      if (outcome !== "ERR_INVALID_OPTION") fail(`${Object.keys(extra)[0]}: dial() gave ${outcome}`);
    }
  });
}

await check("close", async () => {
  await conn.close();
  if (conn.state !== "closed") fail(`state is ${conn.state}`);
});

console.log(`RESULT ${JSON.stringify({ runtime, mode, transport: expected.transport, checks })}`);
