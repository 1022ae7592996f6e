/**
 * evtwebsocket: an event-based WebSocket client for long-lived connections.
 * Public exports only; no logic lives here.
 *
 * @module evtwebsocket
 */

export type { Clock, TimerHandle } from "./clock.js";
export { type Codec, type Data, json, raw, type Sendable } from "./codec.js";
export {
  Conn,
  type ConnEvents,
  type ConnStats,
  type RequestOptions,
  type SendOptions,
  type SendResult,
  type UrlSource,
} from "./conn.js";
export { ErrorCode, type ErrorDetails, EvtWebSocketError, isEvtWebSocketError } from "./errors.js";
export type { Logger } from "./logger.js";
export type { MessagesOptions } from "./message-stream.js";
export type {
  CloseInfo,
  ConnOptions,
  DisconnectInfo,
  PongInfo,
  QueueOptions,
  QueueOverflow,
  ReconnectingInfo,
  ReconnectOptions,
  TlsOptions,
} from "./options.js";
export type { MessageKey } from "./pending-registry.js";
export { State, type StateChange } from "./state.js";
export type { WebSocketConstructorLike, WebSocketLike } from "./transport/types.js";
export type { AttemptContext, Handshake, HeadersFunction } from "./types.js";
