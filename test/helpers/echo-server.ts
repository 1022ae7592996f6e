/**
 * The observability tests' server (logger, diagnostics channels, OpenTelemetry): the testing
 * kit's server on 127.0.0.1 port 0, closed after the test by harness.ts. Nothing else.
 */

import { createTestServer, type TestServer } from "../../src/testing/index.js";
import { onCleanup } from "./harness.js";

/** A server that echoes every message except "silent" (a request that is never answered). */
export async function echoServer(): Promise<TestServer> {
  const server = await createTestServer({
    onMessage: (data, client) => {
      if (String(data) !== "silent") client.send(String(data));
    },
  });
  onCleanup(() => server.close());
  return server;
}
