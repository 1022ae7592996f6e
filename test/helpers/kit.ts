/** The testing kit's server and fault proxy, closed after the test (for the kit's own tests). */

import * as net from "node:net";
import { createFaultProxy, createTestServer } from "../../src/testing/index.js";
import { onCleanup } from "./harness.js";

/** A `createTestServer()` closed when the test ends. */
export async function kitServer(options?: Parameters<typeof createTestServer>[0]) {
  const server = await createTestServer(options);
  onCleanup(() => server.close());
  return server;
}

/** A `createFaultProxy(url)` closed when the test ends. */
export async function kitProxy(url: string) {
  const proxy = await createFaultProxy(url);
  onCleanup(() => proxy.close());
  return proxy;
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` (a real connect, closed at once). */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.on("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

/** Node's warnings (their names) while the test runs. */
export function warnings(): string[] {
  const seen: string[] = [];
  const record = (w: Error) => void seen.push(w.name);
  process.on("warning", record);
  onCleanup(async () => void process.off("warning", record));
  return seen;
}
