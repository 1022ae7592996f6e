/**
 * The names of evtwebsocket's `diagnostics_channel` channels, in undici's style
 * (`undici:websocket:open` → `evtwebsocket:open`). Shared by the publisher (`channels.ts`) and
 * the OpenTelemetry subscriber (`otel/`); no code, so importing it costs nothing.
 */

/** Channel names; each message is `{ conn, id, ...fields }` (see docs/observability.md). */
export const CHANNELS = {
  /** A `Conn` was constructed: `{ conn, id }`. */
  create: "evtwebsocket:connection:create",
  /** A handshake completed: `{ conn, id, url, protocol, durationMs }`. */
  open: "evtwebsocket:connection:open",
  /** An open connection ended: `{ conn, id, code, reason, wasClean, closedBy, willReconnect }`. */
  close: "evtwebsocket:connection:close",
  /** A backoff wait starts: `{ conn, id, attempt, delayMs, serverDelayMs?, reason, error? }`. */
  reconnecting: "evtwebsocket:connection:reconnecting",
  /** An error went to `onError` or rejected `dial()`: `{ conn, id, error }`. */
  error: "evtwebsocket:connection:error",
  /** A ping was answered: `{ conn, id, rttMs }`. */
  pong: "evtwebsocket:connection:pong",
  /** A frame was handed to the socket: `{ conn, id, bytes }`. */
  sent: "evtwebsocket:message:sent",
  /** A frame arrived: `{ conn, id, bytes }`. */
  received: "evtwebsocket:message:received",
  /** `TracingChannel` of `request()` and `send(body, callback)`: `{ conn, id, timeoutMs, bytes, error? }`. */
  request: "evtwebsocket:request",
} as const;
