/**
 * `evtwebsocket/otel`: reports evtwebsocket's `diagnostics_channel` events through
 * `@opentelemetry/api` (an optional peer dependency). Node only.
 *
 * Spans: one client span per `request()` (and `send(body, callback)`), a child of the context
 * active when it was called, with the server's address and port, the connection's id, the
 * outcome and the error code. No span lasts for a connection: its events (open, close,
 * reconnecting, error) become span events on the requests in flight at the time. Metrics: see
 * `metrics.ts`. This module only subscribes; it never changes a connection, and `uninstrument()`
 * removes every subscription it made.
 *
 * @module evtwebsocket/otel
 */

import dc from "node:diagnostics_channel";
import {
  type Attributes,
  type BatchObservableResult,
  type Meter,
  type MeterProvider,
  metrics,
  type ObservableResult,
  context as otelContext,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import { CHANNELS } from "../channel-names.js";
import { invalidOption } from "../errors.js";
import { InFlight } from "./in-flight.js";
import { createInstruments, RECEIVE, TRANSMIT } from "./metrics.js";

/** Where `instrument()` reports. */
export interface InstrumentOptions {
  /** The tracer provider for request spans. @default the global one (`trace.getTracerProvider()`) */
  tracerProvider?: TracerProvider;
  /** The meter provider for the metrics. @default the global one (`metrics.getMeterProvider()`) */
  meterProvider?: MeterProvider;
}

/** What a channel message carries (see docs/observability.md). */
interface Message {
  conn: { stats: { queuedMessages: number }; state: string; handshake: { url: string } | undefined };
  id: string;
  [field: string | symbol]: unknown;
}

/** What is known of one connection. */
interface ConnRecord {
  /** Server address and port (once it opened) and the connection id: every span's attributes. */
  attrs: Attributes;
  /** The server's address and port alone: the open-connections counter's attributes. */
  server: Attributes;
  /** Its requests in flight, whose spans hear its events (a list, not a `Set`: see in-flight.ts). */
  requests: InFlight<RequestRecord>;
  conn: WeakRef<Message["conn"]>;
  /** Counted in the open connections (this setup saw it open): only then does its close count it off. */
  open?: boolean;
}

/** A traced request, keyed by its TracingChannel context. */
interface RequestRecord {
  span: Span;
  startedAt: number;
  conn: ConnRecord;
  /** The connection's attributes when the span started (without the server's before its first open). */
  attrs: Attributes;
  /** Its neighbours among its connection's requests in flight. */
  prev: RequestRecord | undefined;
  next: RequestRecord | undefined;
}

/**
 * A successful request's attributes: one object for all of them. Spans start with them (in
 * their connection's attributes) and a failure overwrites the outcome, so a successful request
 * costs no `setAttributes`.
 */
const OK: Attributes = Object.freeze({ "evtwebsocket.request.outcome": "ok" });

const OUTCOMES: Record<string, string> = {
  ERR_REQUEST_TIMEOUT: "timeout",
  ERR_ABORTED: "aborted",
};

/** The running setup: how to stop it, and the connections it knows (handed to a setup that replaces it). */
let active: { stop(): void; conns: Map<string, ConnRecord> } | undefined;

/**
 * The message and byte totals of each meter reported to, kept past `uninstrument()`: a setup on
 * a meter reported to before goes on from its totals, as a cumulative counter must (it counted
 * from 0 again after `uninstrument()` then `instrument()`, and a delta exporter sent a negative
 * delta).
 */
const totals = new WeakMap<Meter, IoTotals>();

/** Running totals behind the observable message and byte counters. */
interface IoTotals {
  sent: number;
  received: number;
  sentBytes: number;
  receivedBytes: number;
}

/**
 * Starts reporting every evtwebsocket connection of this process to OpenTelemetry; calling it
 * again replaces the earlier setup and takes over the connections it knew (those open stay
 * counted as open, once). Connections created before the first call are reported from their
 * next event on; one already open is counted as open from the first message it publishes while
 * open (a request, a message sent or received, a pong).
 *
 * @example
 * ```ts
 * import { instrument } from "evtwebsocket/otel";
 * instrument(); // the global providers, set up by @opentelemetry/sdk-node or by hand
 * ```
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` when a provider given lacks `getTracer` or
 *   `getMeter` (the setup in place, if any, is left as it was).
 */
export function instrument(options: InstrumentOptions = {}): void {
  // Checked before the setup in place is removed: a bad option used to stop all reporting.
  const { tracerProvider, meterProvider } = checked(options);
  const tracer = (tracerProvider ?? trace.getTracerProvider()).getTracer("evtwebsocket");
  const meter = (meterProvider ?? metrics.getMeterProvider()).getMeter("evtwebsocket");
  const known = active?.conns;
  uninstrument();
  const m = createInstruments(meter);
  const conns = new Map<string, ConnRecord>();
  // Each instrument() has its own key, so a record left by an earlier setup is not mistaken for ours.
  const REQUEST = Symbol("evtwebsocket.otel.request");
  // On a meter reported to before, the totals go on from there: a cumulative counter never goes back.
  let io = totals.get(meter);
  if (io === undefined) {
    io = { sent: 0, received: 0, sentBytes: 0, receivedBytes: 0 };
    totals.set(meter, io);
  }

  // A record lives as long as its connection. The queue gauge's callback also drops the records
  // of collected connections, but only a metric reader calls it: with tracing alone, each
  // connection ever made used to stay recorded (about 400 B) for the life of the process.
  const forget = new FinalizationRegistry<string>((id) => {
    if (conns.get(id)?.conn.deref() === undefined) conns.delete(id);
  });

  for (const [id, r] of known ?? []) {
    const conn = r.conn.deref();
    if (conn === undefined) continue;
    forget.register(conn, id);
    conns.set(id, { attrs: r.attrs, server: r.server, requests: new InFlight(), conn: r.conn, open: r.open });
    if (r.open) quietly((server) => m.open.add(1, server), r.server);
  }

  /** `r`'s connection is open on `url` (scheme, host and port): counted, and its spans say where. */
  const opened = (r: ConnRecord, id: string, url: string) => {
    // Already counted: a subscriber heard before ours sent or made a request at this open.
    if (r.open) m.open.add(-1, r.server);
    const { hostname, port, protocol } = new URL(url);
    r.server = {
      // An IPv6 address without the brackets a URL puts around it (semantic conventions: an IP address).
      "server.address": hostname.startsWith("[") ? hostname.slice(1, -1) : hostname,
      "server.port": Number(port || (protocol === "wss:" ? 443 : 80)),
    };
    r.attrs = { ...r.server, ...OK, "evtwebsocket.connection.id": id };
    m.open.add(1, r.server);
    r.open = true;
  };
  const create = (msg: Message): ConnRecord => {
    const attrs = { ...OK, "evtwebsocket.connection.id": msg.id };
    const r: ConnRecord = { attrs, server: {}, requests: new InFlight(), conn: new WeakRef(msg.conn) };
    conns.set(msg.id, r);
    forget.register(msg.conn, msg.id);
    return r;
  };
  const recordOf = (msg: Message): ConnRecord => {
    let r = conns.get(msg.id);
    if (r === undefined) {
      r = create(msg);
      // First heard of while open (it opened before instrument()): counted from now on.
      const { state, handshake } = msg.conn;
      if (state === "open" && handshake !== undefined) opened(r, msg.id, handshake.url);
    }
    return r;
  };
  /** A connection event, as a span event on each of its requests in flight. */
  const tell = (name: string, msg: Message, attrs: Attributes) => {
    for (let q = recordOf(msg).requests.first; q !== undefined; q = q.next) q.span.addEvent(name, attrs);
  };

  const subscriptions: Array<[string, (msg: Message) => void]> = [
    [CHANNELS.create, recordOf],
    [
      CHANNELS.open,
      (msg) => {
        opened(conns.get(msg.id) ?? create(msg), msg.id, msg.url as string);
        tell("evtwebsocket.open", msg, { "evtwebsocket.open.duration_ms": msg.durationMs as number });
      },
    ],
    [
      CHANNELS.close,
      (msg) => {
        const r = recordOf(msg);
        if (r.open) quietly((server) => m.open.add(-1, server), r.server);
        r.open = false;
        tell("evtwebsocket.close", msg, {
          "evtwebsocket.close.code": msg.code as number,
          "evtwebsocket.close.clean": msg.wasClean as boolean,
          "evtwebsocket.close.by": msg.closedBy as string,
        });
      },
    ],
    [
      CHANNELS.reconnecting,
      (msg) => {
        m.reconnects.add(1, { "evtwebsocket.reconnect.reason": msg.reason as string });
        tell("evtwebsocket.reconnecting", msg, {
          "evtwebsocket.reconnect.attempt": msg.attempt as number,
          "evtwebsocket.reconnect.reason": msg.reason as string,
        });
      },
    ],
    [CHANNELS.error, (msg) => tell("evtwebsocket.error", msg, { "error.type": errorType(msg.error) })],
    [CHANNELS.pong, (msg) => m.rtt.record((msg.rttMs as number) / 1000, recordOf(msg).server)],
    [
      CHANNELS.sent,
      (msg) => {
        recordOf(msg); // a connection open before instrument() is counted from here
        io.sent++;
        io.sentBytes += msg.bytes as number;
      },
    ],
    [
      CHANNELS.received,
      (msg) => {
        recordOf(msg);
        io.received++;
        io.receivedBytes += msg.bytes as number;
      },
    ],
  ];
  // Node hands a message to the subscribers it had when publishing began: a subscriber heard
  // before ours that calls uninstrument() (or instrument()) still has ours called after stop().
  // Ours then do nothing: an open counted after the count-off stayed counted, a span started
  // then never ended, and one ended by stop() was ended again.
  let live = true;
  const handlers = subscriptions.map(([name, fn]): [string, (msg: unknown) => void] => [
    name,
    (msg) => live && quietly(fn, msg as Message),
  ]);
  for (const [name, fn] of handlers) dc.subscribe(name, fn);

  const finish = (ctx: Message) => {
    const req = ctx[REQUEST] as RequestRecord | undefined;
    if (req === undefined || !live) return; // after stop(), which ended its span
    ctx[REQUEST] = undefined;
    req.conn.requests.remove(req);
    const error = ctx.error;
    const type = error === undefined ? undefined : errorType(error);
    let attrs = OK;
    if (type !== undefined) {
      attrs = { "evtwebsocket.request.outcome": OUTCOMES[type] ?? "error", "error.type": type };
      req.span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      req.span.setAttributes(attrs);
    }
    // A request made before the connection first opened learns the server's address now.
    if (req.attrs !== req.conn.attrs && req.attrs["server.address"] === undefined)
      req.span.setAttributes(req.conn.server);
    req.span.end();
    m.requestDuration.record((performance.now() - req.startedAt) / 1000, attrs);
  };
  const tracing = dc.tracingChannel<Message, Message>(CHANNELS.request);
  const start = (ctx: Message) => {
    if (!live) return;
    const conn = recordOf(ctx);
    const span = tracer.startSpan(
      "evtwebsocket request",
      { kind: SpanKind.CLIENT, attributes: conn.attrs },
      otelContext.active(),
    );
    const req: RequestRecord = {
      span,
      startedAt: performance.now(),
      conn,
      attrs: conn.attrs,
      prev: undefined,
      next: undefined,
    };
    conn.requests.add(req);
    // Kept on the context itself, as TracingChannel intends (a WeakMap costs the GC more).
    ctx[REQUEST] = req;
  };
  const traceHandlers = {
    start: (ctx: Message) => quietly(start, ctx),
    // A request refused at once has error and end, no asyncEnd: it is finished here.
    end: (ctx: Message) => ctx.error !== undefined && quietly(finish, ctx),
    asyncStart() {},
    asyncEnd: (ctx: Message) => quietly(finish, ctx),
    error() {},
  };
  tracing.subscribe(traceHandlers);

  const observeQueues = (result: ObservableResult) => {
    let queued = 0;
    for (const [id, r] of conns) {
      const conn = r.conn.deref();
      if (conn === undefined) conns.delete(id);
      else queued += conn.stats.queuedMessages;
    }
    result.observe(queued);
  };
  m.queueDepth.addCallback(observeQueues);
  const observeIo = (result: BatchObservableResult) => {
    result.observe(m.messages, io.sent, TRANSMIT);
    result.observe(m.messages, io.received, RECEIVE);
    result.observe(m.bytes, io.sentBytes, TRANSMIT);
    result.observe(m.bytes, io.receivedBytes, RECEIVE);
  };
  meter.addBatchObservableCallback(observeIo, [m.messages, m.bytes]);

  const stop = () => {
    live = false;
    for (const [name, fn] of handlers) dc.unsubscribe(name, fn);
    tracing.unsubscribe(traceHandlers);
    m.queueDepth.removeCallback(observeQueues);
    meter.removeBatchObservableCallback(observeIo, [m.messages, m.bytes]);
    // Requests still in flight are not followed any more: their spans end now rather than never.
    // Connections counted open are counted off: this setup no longer hears their close.
    for (const r of conns.values()) {
      for (const req of r.requests.clear()) quietly(endSpan, req.span);
      if (r.open) quietly((server) => m.open.add(-1, server), r.server);
    }
  };
  active = { stop, conns };
}

const endSpan = (span: Span) => span.end();

/**
 * Calls `fn`, ignoring a throw: a tracer or meter that throws (the OpenTelemetry API says they
 * must not) is ignored, as a logger that throws is. Thrown from a subscriber, it reached the
 * process as an uncaught exception on the next tick (Node rethrows it there), which ends a
 * process without a handler; thrown by a span's end() in stop(), it left the other spans
 * unended and came out of uninstrument().
 */
function quietly<A>(fn: (a: A) => unknown, a: A): void {
  try {
    fn(a);
  } catch {
    // Nowhere to report it: the connection is not this module's to tell.
  }
}

/**
 * Stops reporting: removes every subscription and callback `instrument()` made, and counts off
 * the connections it counted as open.
 */
export function uninstrument(): void {
  const setup = active;
  active = undefined;
  setup?.stop();
}

/**
 * `options`, once each provider given has the method `instrument()` calls on it.
 * @throws EvtWebSocketError `ERR_INVALID_OPTION`, naming the option.
 */
function checked(options: InstrumentOptions): InstrumentOptions {
  if (typeof options !== "object" || options === null)
    throw invalidOption(`instrument() options must be an object, not ${String(options)}`);
  const has = (name: keyof InstrumentOptions, method: string) => {
    const value = options[name] as unknown;
    if (value !== undefined && typeof (value as Record<string, unknown> | null)?.[method] !== "function")
      throw invalidOption(`option ${name} must have a ${method} function`);
  };
  has("tracerProvider", "getTracer");
  has("meterProvider", "getMeter");
  return options;
}

/** An error's `error.type`: its code (`ERR_…`), else its name. */
function errorType(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : error instanceof Error ? error.name : "unknown";
}
