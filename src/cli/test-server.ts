/**
 * The local `ws` server behind `evtws serve` and the embedded server of `npm start`: it echoes
 * or answers ids, and injects the faults a long-lived client must survive (connections cut on
 * a timer, a peer that stops reading, slow replies, and `/drop` on demand).
 *
 * It is a test tool, not a production server: it listens on 127.0.0.1 by default and keeps no
 * state beyond its open connections. Each timer it starts is cleared by `close()`.
 */

import type { AddressInfo } from "node:net";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import type { ServeOptions } from "./args.js";
import { escapeControls } from "./format.js";

/** A running test server. */
export interface TestServer {
  /** `ws://host:port/`. */
  readonly url: string;
  readonly port: number;
  /**
   * Stops listening, cuts every connection and clears every timer. With `code`, each open
   * connection is first closed with it (1001, going away, when the server is stopped) and
   * given {@link GOODBYE_WAIT_MS} at most to answer.
   */
  close(code?: number): Promise<void>;
}

/** The longest `close(code)` waits for its connections' close handshakes, in ms. */
export const GOODBYE_WAIT_MS = 1000;

/** The text message that makes the server cut the sender's connection without a close frame. */
export const DROP_MESSAGE = "/drop";

/** The reply of `--id-reply` mode to one message. */
export function idReply(text: string): string {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    msg = undefined;
  }
  const id = (msg as { id?: unknown } | undefined)?.id;
  if (typeof msg === "object" && msg !== null && (typeof id === "string" || typeof id === "number")) {
    return JSON.stringify({ id, ok: true, echo: msg });
  }
  return JSON.stringify({ ok: false, error: 'expected a JSON object with an "id"' });
}

/**
 * Starts a server with `options`; `log` receives one line per connection event.
 *
 * @example
 * ```ts
 * const server = await startTestServer({ ...defaults, dropEveryMs: 5000 }, console.log);
 * ```
 */
export async function startTestServer(
  options: Omit<ServeOptions, "quiet">,
  log: (line: string) => void = () => {},
): Promise<TestServer> {
  const wss = new WebSocketServer({
    host: options.host,
    port: options.port,
    handleProtocols: (protocols) => protocols.values().next().value ?? false,
  });
  await new Promise<void>((resolve, reject) => {
    wss.once("listening", resolve);
    wss.once("error", reject);
  });
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };
  let next = 0;

  wss.on("connection", (ws, req) => {
    const name = `#${++next}`;
    const proto = ws.protocol === "" ? "" : `, subprotocol ${ws.protocol}`;
    log(`${name} connected from ${req.socket.remoteAddress}:${req.socket.remotePort}${proto}`);
    ws.on("close", (code) => log(`${name} closed ${code}`));
    ws.on("error", () => {});
    if (options.stallAfterMs !== undefined) {
      later(options.stallAfterMs, () => {
        if (ws.readyState !== ws.OPEN) return;
        log(`${name} stalled: no more reads, replies or pongs`);
        ws.pause();
      });
    }
    ws.on("message", (data: RawData, isBinary: boolean) => onMessage(ws, name, data, isBinary));
  });

  function onMessage(ws: WebSocket, name: string, data: RawData, isBinary: boolean): void {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (!isBinary && buf.toString("utf8") === DROP_MESSAGE) {
      log(`${name} asked for /drop: cutting the connection`);
      ws.terminate();
      return;
    }
    // One line per message, shown rather than obeyed: a client's escape sequences must not
    // clear the server's terminal, nor its newlines forge log lines.
    const text = isBinary ? `(binary ${buf.byteLength} B)` : escapeControls(buf.toString("utf8"));
    log(`${name} < ${text.length > 80 ? `${text.slice(0, 77)}...` : text}`);
    const reply = () => {
      if (ws.readyState !== ws.OPEN) return;
      if (options.mode === "id-reply") ws.send(idReply(buf.toString("utf8")));
      else ws.send(buf, { binary: isBinary });
    };
    if (options.delayMs > 0) later(options.delayMs, reply);
    else reply();
  }

  let dropper: NodeJS.Timeout | undefined;
  if (options.dropEveryMs !== undefined && options.dropEveryMs > 0) {
    dropper = setInterval(() => {
      if (wss.clients.size === 0) return;
      log(`dropping ${wss.clients.size} connection(s) (--drop-every)`);
      for (const ws of wss.clients) ws.terminate();
    }, options.dropEveryMs);
  }

  /** Closes every open connection with `code`; resolves when all have closed, or after the wait. */
  function goodbye(code: number): Promise<void> {
    const open = [...wss.clients].filter((ws) => ws.readyState === ws.OPEN);
    if (open.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let left = open.length;
      const timer = setTimeout(resolve, GOODBYE_WAIT_MS);
      for (const ws of open) {
        ws.once("close", () => {
          if (--left > 0) return;
          clearTimeout(timer);
          resolve();
        });
        ws.close(code, "server stopping");
      }
    });
  }

  const { port } = wss.address() as AddressInfo;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `ws://${host}:${port}/`,
    port,
    close: async (code?: number) => {
      if (dropper !== undefined) clearInterval(dropper);
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      if (code !== undefined) await goodbye(code);
      for (const ws of wss.clients) ws.terminate();
      return new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
