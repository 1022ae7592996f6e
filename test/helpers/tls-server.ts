/**
 * A `wss:` echo server on 127.0.0.1 port 0 for the integration tests (harness.ts closes it after
 * the test). It does not mint its certificate: the test file does, with cert.ts.
 */

import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import { onCleanup } from "./harness.js";

/** A running wss: echo server. */
export interface TlsServer {
  /** `wss://127.0.0.1:<port>` (no path). */
  url: string;
  port: number;
  /** How many connections it accepted. */
  connections(): number;
  /** The name each TLS client asked for (SNI), in order; `false` when it sent none. */
  servernames: (string | false)[];
}

/** Starts a wss: server with `tls` (PEM certificate and key) that echoes each message as it came (text or binary). */
export async function tlsEchoServer(tls: { cert: string; key: string }): Promise<TlsServer> {
  const https = createServer({ cert: tls.cert, key: tls.key });
  const wss = new WebSocketServer({ server: https });
  let n = 0;
  const servernames: (string | false)[] = [];
  https.on("secureConnection", (socket) => void servernames.push(socket.servername ?? false));
  wss.on("connection", (ws) => {
    n++;
    ws.on("message", (d, binary) => ws.send(d, { binary }));
  });
  await new Promise<void>((r) => https.listen(0, "127.0.0.1", r));
  onCleanup(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
    await new Promise((r) => https.close(r));
  });
  const port = (https.address() as AddressInfo).port;
  return { url: `wss://127.0.0.1:${port}`, port, connections: () => n, servernames };
}
