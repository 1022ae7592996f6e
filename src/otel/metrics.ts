/**
 * The OpenTelemetry instruments of `evtwebsocket/otel`, created from one meter. Names follow
 * OpenTelemetry's conventions (durations in seconds, `network.io.direction`, `error.type`);
 * attributes of our own are named `evtwebsocket.*`. Recording is `otel/index.ts`'s job.
 */

import type {
  Attributes,
  Counter,
  Histogram,
  Meter,
  ObservableCounter,
  ObservableGauge,
  UpDownCounter,
} from "@opentelemetry/api";

/** The instruments `instrument()` records to. */
export interface Instruments {
  /** Connections open now, by server address and port. */
  open: UpDownCounter;
  /** Reconnect waits started, by `evtwebsocket.reconnect.reason` (an error code or `close-<code>`). */
  reconnects: Counter;
  /** Ping round-trip times, in seconds. */
  rtt: Histogram;
  /** `request()` durations, in seconds, by `evtwebsocket.request.outcome` and `error.type`. */
  requestDuration: Histogram;
  /**
   * Messages sent and received, by `network.io.direction`: observed from running totals at each
   * collection, so a message costs an addition, not a synchronous counter update.
   */
  messages: ObservableCounter;
  /** Payload bytes sent and received, by `network.io.direction` (observed, as `messages`). */
  bytes: ObservableCounter;
  /** Messages waiting in the queues of the process's connections. */
  queueDepth: ObservableGauge;
}

/** Attributes of the messages and bytes counters. */
export const TRANSMIT: Attributes = Object.freeze({ "network.io.direction": "transmit" });
export const RECEIVE: Attributes = Object.freeze({ "network.io.direction": "receive" });

/**
 * Histogram boundaries for durations in seconds, as OpenTelemetry's semantic conventions advise
 * for `http.client.request.duration`. Without advice the SDK's defaults (0, 5, 10, … 10,000) suit
 * milliseconds, and every request and ping of a healthy connection would fall in 0 to 5 s. A View
 * still overrides them.
 */
const DURATION_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** Creates the instruments on `meter`. */
export function createInstruments(meter: Meter): Instruments {
  return {
    open: meter.createUpDownCounter("evtwebsocket.connections.open", {
      description: "WebSocket connections open now",
      unit: "{connection}",
    }),
    reconnects: meter.createCounter("evtwebsocket.reconnects", {
      description: "Reconnect waits started, by reason",
      unit: "{reconnect}",
    }),
    rtt: meter.createHistogram("evtwebsocket.ping.rtt", {
      description: "Round-trip time of heartbeat pings",
      unit: "s",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS_S },
    }),
    requestDuration: meter.createHistogram("evtwebsocket.request.duration", {
      description: "Time from request() to its response or failure",
      unit: "s",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS_S },
    }),
    messages: meter.createObservableCounter("evtwebsocket.messages", {
      description: "WebSocket messages sent and received",
      unit: "{message}",
    }),
    bytes: meter.createObservableCounter("evtwebsocket.io", {
      description: "WebSocket message payload bytes sent and received",
      unit: "By",
    }),
    queueDepth: meter.createObservableGauge("evtwebsocket.queue.depth", {
      description: "Messages waiting in the outgoing queues for a connection to open",
      unit: "{message}",
    }),
  };
}
