/**
 * Serves examples/browser/index.html and the browser bundle (dist/browser.js), with an echo
 * WebSocket server at /ws on the same port.
 *
 * Run: npx tsup && npx tsx examples/browser/serve.ts   (then open the printed URL)
 *      PORT=8080 npx tsx examples/browser/serve.ts     (a fixed port)
 *      npx tsx examples/browser/serve.ts --check       (serve, check the page, bundle and
 *                                                       socket from Node, exit)
 *
 * `--check` loads the very bundle the page imports and runs it in Node with the `ws` package
 * injected through the `WebSocket` option: the browser build has no transport of its own on
 * a runtime without a global WebSocket. Driving a real browser is the browser tests' job.
 */

import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath, pathToFileURL } from "node:url";
import type * as Evt from "evtwebsocket";
import { WebSocket, WebSocketServer } from "ws";

const root = new URL("../../", import.meta.url);
const files: Record<string, { path: URL; type: string }> = {
  "/": { path: new URL("examples/browser/index.html", root), type: "text/html; charset=utf-8" },
  "/dist/browser.js": { path: new URL("dist/browser.js", root), type: "text/javascript; charset=utf-8" },
  "/dist/browser.js.map": { path: new URL("dist/browser.js.map", root), type: "application/json" },
};

const http = createServer(async (req, res) => {
  const file = files[new URL(req.url ?? "/", "http://localhost").pathname];
  if (file === undefined) {
    res.writeHead(404).end("not found");
    return;
  }
  try {
    const body = await readFile(file.path);
    res.writeHead(200, { "content-type": file.type, "cache-control": "no-store" }).end(body);
  } catch {
    res.writeHead(500).end(`missing ${fileURLToPath(file.path)}: run npx tsup first`);
  }
});

// The page's server: echoes every message, answers "ping" with "pong".
const wss = new WebSocketServer({ server: http, path: "/ws" });
wss.on("connection", (socket) => {
  socket.on("message", (data, isBinary) => {
    if (!isBinary && String(data) === "ping") socket.send("pong");
    else socket.send(data, { binary: isBinary });
  });
});

await new Promise<void>((resolve) => http.listen(Number(process.env.PORT ?? 0), "127.0.0.1", resolve));
const { port } = http.address() as AddressInfo;
const base = `http://127.0.0.1:${port}`;

if (!process.argv.includes("--check")) {
  console.log(`open ${base}/ (Ctrl-C to stop)`);
} else {
  const page = await fetch(`${base}/`).then((r) => r.text());
  if (!page.includes('from "/dist/browser.js"')) throw new Error("the page does not import /dist/browser.js");
  console.log("page: imports /dist/browser.js");

  const bundle = await fetch(`${base}/dist/browser.js`);
  const source = await bundle.text();
  if (!bundle.ok) throw new Error(source);
  if (/(from\s*|import\s*\(\s*|require\s*\(\s*)["'](ws|node:[a-z_]+)["']/.test(source))
    throw new Error("the browser bundle imports ws or node:");
  console.log(`bundle: ${bundle.headers.get("content-type")}, ${source.length} bytes, no ws import`);

  // The page's code, minus the DOM, on the bundle the page loads.
  const bundleUrl = pathToFileURL(fileURLToPath(files["/dist/browser.js"]!.path)).href;
  const { Conn } = (await import(bundleUrl)) as typeof Evt;
  const conn = new Conn({
    WebSocket: WebSocket as unknown as Evt.WebSocketConstructorLike,
    matchMsg: (req, resp) => req === resp,
    pingIntervalMs: 5000,
    pingMsg: "ping",
    isPong: (msg) => msg === "pong",
  });
  await conn.dial(`ws://127.0.0.1:${port}/ws`);
  console.log(`socket: request("hello") -> ${await conn.request("hello", { timeoutMs: 5000 })}`);
  await conn.close();
  wss.close();
  http.close();
}
