/**
 * The HTTP answer a test server gives a handshake its `authorize` option refuses: the status
 * the verdict names (401 for `false`), the headers it adds, then `Connection: close`.
 *
 * Pure: it builds the response text; create-test-server.ts writes it and ends the socket. It
 * does not answer accepted handshakes (ws's upgrade does).
 */

import * as http from "node:http";
import { invalidOption } from "../errors.js";
import { HTTP_TOKEN, shown } from "../option-checks.js";
import type { TestServerOptions } from "./test-server.js";

/** What `authorize` returned for one handshake. */
type Verdict = ReturnType<NonNullable<TestServerOptions["authorize"]>>;

/**
 * The whole HTTP response refusing the handshake, or `undefined` when `verdict` accepts it (`true`, `undefined`).
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` for a verdict no response can say: not one of
 *   the documented values (null, a string, a Promise: `authorize` is not awaited), a status that
 *   is not a whole number from 100 to 599, or a header whose name is not an HTTP token or whose
 *   value holds a control character but tab (a line break, NUL).
 */
export function handshakeRefusal(verdict: Verdict): string | undefined {
  if (verdict === undefined || verdict === true) return undefined;
  const status = verdict === false ? 401 : typeof verdict === "number" ? verdict : verdict?.status;
  const extra = typeof verdict === "object" && verdict !== null ? Object.entries(verdict.headers ?? {}) : [];
  if (!(typeof status === "number" && Number.isInteger(status) && status >= 100 && status <= 599)) {
    const got =
      typeof verdict !== "object" || verdict === null
        ? String(verdict)
        : verdict instanceof Promise
          ? "a Promise (authorize is not awaited)"
          : `{ status: ${shown(status)} }`;
    throw invalidOption(
      `authorize of createTestServer() must return true, false, undefined, an HTTP status (100-599) or { status, headers }, got ${got}`,
    );
  }
  // A name that is not a token (a space, a colon, empty) or a value with a control character
  // but tab (a line break, NUL) is no header: a client fails the whole answer as unparsable.
  const bad = extra.find(([name, value]) => !HTTP_TOKEN.test(name) || /[^\P{Cc}\t]/u.test(String(value)));
  if (bad !== undefined)
    throw invalidOption(
      `authorize of createTestServer() returned a header no HTTP answer can hold, ${JSON.stringify(bad[0])}: a name must be a token, a value must hold no control character but tab (as a header with a line break, or NUL)`,
    );
  const lines = extra.map(([name, value]) => `${name}: ${value}\r\n`).join("");
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Refused"}\r\n${lines}Connection: close\r\n\r\n`;
}
