/**
 * The benchmark's HTTP CONNECT proxy, in a process of its own: proxy-chain on 127.0.0.1, port 0,
 * no authentication. Prints one JSON line `{"httpProxy": port}` and relays until killed. Started
 * by `run.mjs` only for the scenarios that go through a proxy. Not part of `npm test`.
 */

import { Server } from "proxy-chain";

const server = new Server({ host: "127.0.0.1", port: 0 });
await server.listen();
process.stdout.write(`${JSON.stringify({ httpProxy: server.port })}\n`);
