/** The testing kit's server and fault proxy, closed after the test (for the kit's own tests). */

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
