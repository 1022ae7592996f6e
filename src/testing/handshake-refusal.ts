/**
 * The HTTP answer a test server gives a handshake its `authorize` option refuses: the status
 * the verdict names (401 for `false`), the headers it adds, then `Connection: close`.
 *
 * Pure: it builds the response text; create-test-server.ts writes it and ends the socket. It
 * does not answer accepted handshakes (ws's upgrade does).
 */

import * as http from "node:http";
import type { TestServerOptions } from "./test-server.js";

/** What `authorize` returned for one handshake. */
type Verdict = ReturnType<NonNullable<TestServerOptions["authorize"]>>;

/** The whole HTTP response refusing the handshake, or `undefined` when `verdict` accepts it (`true`, `undefined`). */
export function handshakeRefusal(verdict: Verdict): string | undefined {
  if (verdict === false || typeof verdict === "number" || typeof verdict === "object") {
    const status = verdict === false ? 401 : typeof verdict === "number" ? verdict : verdict.status;
    const extra = typeof verdict === "object" ? Object.entries(verdict.headers ?? {}) : [];
    const lines = extra.map(([name, value]) => `${name}: ${value}\r\n`).join("");
    return `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Refused"}\r\n${lines}Connection: close\r\n\r\n`;
  }
  return undefined;
}
