/**
 * The public API's types as a user's compiler sees them: event listener arguments, a codec's
 * message types flowing to every method, the `send()` overloads, option function types, error
 * codes that narrow, and the React, OpenTelemetry and testing entries. Checked by `tsc`
 * (`npm run typecheck` covers test/); the bodies are compiled, never run. Each negative check is
 * a `// @ts-expect-error` on a call that must not compile, so tsc fails if it ever does.
 */

import type { MeterProvider, TracerProvider } from "@opentelemetry/api";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  type AttemptContext,
  type CloseInfo,
  Conn,
  type ConnEvents,
  type ConnOptions,
  type Data,
  type DisconnectInfo,
  ErrorCode,
  EvtWebSocketError,
  isEvtWebSocketError,
  json,
  type MessageKey,
  type PongInfo,
  type ReconnectingInfo,
  raw,
  type Sendable,
  type SendResult,
  type State,
  type StateChange,
  type WebSocketConstructorLike,
} from "../src/index.js";
import { type InstrumentOptions, instrument, uninstrument } from "../src/otel/index.js";
import { type UseConnResult, useConn, useConnEvent } from "../src/react/index.js";
import { createSharedConn, type Role, type SharedConn, type SharedConnOptions } from "../src/shared/index.js";
import {
  createFaultProxy,
  createTestServer,
  type FaultProxy,
  type HandshakeInfo,
  type TestServer,
  WaitForTimeoutError,
  waitFor,
} from "../src/testing/index.js";

/** A request and its answer, as a typed JSON protocol has them. */
interface Req {
  id: number;
  op: "get" | "put";
}
interface Res {
  id: number;
  value: string;
}

/** Type checks are compiled by tsc; at run time each test only needs its function to exist. */
const compiled = (check: (...args: never[]) => unknown) => expect(typeof check).toBe("function");

describe("event listeners", () => {
  it("each event of ConnEvents gets its own argument, then the Conn last", () => {
    compiled((c: Conn<Res, Req>) => {
      type Self = Conn<Res, Req>;
      c.on("connected", (conn) => expectTypeOf(conn).toEqualTypeOf<Self>());
      c.on("message", (msg, conn) => {
        expectTypeOf(msg).toEqualTypeOf<Res>();
        expectTypeOf(conn).toEqualTypeOf<Self>();
      });
      c.on("error", (err, conn) => {
        expectTypeOf(err).toEqualTypeOf<EvtWebSocketError>();
        expectTypeOf(conn).toEqualTypeOf<Self>();
      });
      c.on("close", (info, conn) => {
        expectTypeOf(info).toEqualTypeOf<CloseInfo>();
        expectTypeOf(conn).toEqualTypeOf<Self>();
      });
      c.on("reconnecting", (info, conn) => {
        expectTypeOf(info).toEqualTypeOf<ReconnectingInfo>();
        expectTypeOf(conn).toEqualTypeOf<Self>();
      });
      c.on("pong", (info, conn) => {
        expectTypeOf(info).toEqualTypeOf<PongInfo>();
        expectTypeOf(conn).toEqualTypeOf<Self>();
      });
      c.on("state", (change, conn) => {
        expectTypeOf(change).toEqualTypeOf<StateChange>();
        expectTypeOf(change.newState).toEqualTypeOf<State>();
        expectTypeOf(conn).toEqualTypeOf<Self>();
      });
      c.on("drain", (conn) => expectTypeOf(conn).toEqualTypeOf<Self>());
      expectTypeOf(c.on("drain", () => {})).toEqualTypeOf<() => void>();
      expectTypeOf<keyof ConnEvents<Res, Req>>().toEqualTypeOf<
        "connected" | "message" | "error" | "close" | "reconnecting" | "pong" | "state" | "drain"
      >();
      // @ts-expect-error no such event
      c.on("open", () => {});
      // @ts-expect-error a message listener gets a Res, not a Req
      c.on("message", (msg: Req) => void msg);
      // @ts-expect-error the close listener gets a CloseInfo, not a number
      c.on("close", (code: number) => void code);
    });
  });

  it("the on* options get the same arguments, the connection last and typed", () => {
    compiled(() => {
      new Conn({
        codec: json<Res, Req>(),
        onConnected: (conn) => expectTypeOf(conn).toEqualTypeOf<Conn<Res, Req>>(),
        onMessage: (msg, conn) =>
          expectTypeOf<[typeof msg, typeof conn]>().toEqualTypeOf<[Res, Conn<Res, Req>]>(),
        onError: (err) => expectTypeOf(err.code).toEqualTypeOf<ErrorCode>(),
        onClose: (info) => expectTypeOf(info.closedBy).toEqualTypeOf<"client" | "server" | "network">(),
        onReconnecting: (info) => expectTypeOf(info.delayMs).toEqualTypeOf<number>(),
      });
    });
  });

  it("options written apart as ConnOptions<TIn, TOut> type the connection their callbacks get", () => {
    compiled(() => {
      const options: ConnOptions<Res, Req> = {
        codec: json<Res, Req>(),
        onConnected: (conn) => conn.send({ id: 1, op: "get" }),
        onMessage: (msg, conn) =>
          expectTypeOf<[typeof msg, typeof conn]>().toEqualTypeOf<[Res, Conn<Res, Req>]>(),
      };
      return new Conn(options);
    });
  });
});

describe("a codec's types flow to every method", () => {
  it("json<TIn, TOut>() types onMessage, request(), messages() and the body of send()", () => {
    compiled(async () => {
      const c = new Conn({ codec: json<Res, Req>(), messageId: (m) => m.id });
      expectTypeOf(c).toEqualTypeOf<Conn<Res, Req>>();
      expectTypeOf(c.request({ id: 1, op: "get" })).toEqualTypeOf<Promise<Res>>();
      for await (const msg of c.messages()) expectTypeOf(msg).toEqualTypeOf<Res>();
      for await (const msg of c) expectTypeOf(msg).toEqualTypeOf<Res>();
      // @ts-expect-error a request body must be a Req
      c.request({ id: 1, op: "delete" });
      // @ts-expect-error a send body must be a Req, not a Res
      c.send({ id: 1, value: "x" });
      // @ts-expect-error a string is not a Req
      c.send("get 1");
    });
  });

  it("no codec means raw frames: string | Uint8Array in, a string or bytes (Sendable) out", () => {
    compiled(async () => {
      const c = new Conn();
      expectTypeOf(c).toEqualTypeOf<Conn<Data, Sendable>>();
      expectTypeOf(new Conn({ codec: raw })).toEqualTypeOf<Conn<Data, Sendable>>();
      expectTypeOf(c.request("x")).toEqualTypeOf<Promise<string | Uint8Array>>();
      c.send(new ArrayBuffer(8));
      // @ts-expect-error an object needs a codec
      c.send({ op: "get" });
    });
  });

  it("json<Msg>() types both ways as Msg, as a protocol with one message type wants", () => {
    compiled(() => {
      type Msg = { id: number; op: string };
      const c = new Conn({ codec: json<Msg>(), messageId: (m) => m.id });
      expectTypeOf(c).toEqualTypeOf<Conn<Msg, Msg>>();
      // @ts-expect-error a send body must be a Msg
      c.send({ id: "1" });
    });
  });

  it("the message type can come from the Conn's type arguments instead of the codec's", () => {
    compiled(() => {
      const c = new Conn<Res, Req>({ codec: json() });
      expectTypeOf(c.request({ id: 2, op: "put" })).toEqualTypeOf<Promise<Res>>();
      // @ts-expect-error the codec's types must match the Conn's
      new Conn<Res, Req>({ codec: json<Req, Res>() });
    });
  });
});

describe("send()", () => {
  it("takes options or a callback, and returns SendResult either way", () => {
    compiled((c: Conn<Res, Req>, signal: AbortSignal) => {
      const body: Req = { id: 1, op: "get" };
      expectTypeOf(c.send(body)).toEqualTypeOf<SendResult>();
      expectTypeOf(c.send(body, { volatile: true, signal, maxAgeMs: 100 })).toEqualTypeOf<SendResult>();
      expectTypeOf(
        c.send(body, (resp, conn) =>
          expectTypeOf<[typeof resp, typeof conn]>().toEqualTypeOf<[Res, Conn<Res, Req>]>(),
        ),
      ).toEqualTypeOf<SendResult>();
      expectTypeOf<SendResult>().toEqualTypeOf<"sent" | "queued" | "dropped">();
      // @ts-expect-error options and a callback do not mix: no third argument
      c.send(body, { volatile: true }, () => {});
      // @ts-expect-error request() options are not send() options
      c.send(body, { timeoutMs: 100 });
      // @ts-expect-error the callback's response is a Res
      c.send(body, (resp: Req) => void resp);
    });
  });

  it("request() takes a timeout, a signal and retryOnReconnect, and nothing else", () => {
    compiled((c: Conn<Res, Req>, signal: AbortSignal) => {
      c.request({ id: 1, op: "get" }, { timeoutMs: 100, signal, retryOnReconnect: true });
      // @ts-expect-error volatile is send()'s
      c.request({ id: 1, op: "get" }, { volatile: true });
    });
  });
});

describe("option functions", () => {
  it("matchMsg and messageId get the codec's types", () => {
    compiled(() => {
      new Conn({
        codec: json<Res, Req>(),
        matchMsg: (req, resp) => {
          expectTypeOf<[typeof req, typeof resp]>().toEqualTypeOf<[Req, Res]>();
          return req.id === resp.id;
        },
        messageId: (msg) => {
          expectTypeOf(msg).toEqualTypeOf<Res | Req>();
          return msg.id;
        },
        isPong: (msg) => expectTypeOf(msg).toEqualTypeOf<Res>() === undefined,
      });
      expectTypeOf<ReturnType<NonNullable<ConnOptions<Res, Req>["messageId"]>>>().toEqualTypeOf<
        MessageKey | undefined
      >();
      // @ts-expect-error matchMsg must return a boolean
      new Conn({ codec: json<Res, Req>(), matchMsg: (req: Req) => req.id });
      // @ts-expect-error pingMsg is a Req (or a function returning one)
      new Conn({ codec: json<Res, Req>(), pingMsg: "ping" });
    });
  });

  it("pingMsg is checked against the codec's TOut and does not widen it", () => {
    compiled(() => {
      const fixed = new Conn({ codec: json<Res, Req>(), pingMsg: { id: 0, op: "get" } });
      const built = new Conn({ codec: json<Res, Req>(), pingMsg: (): Req => ({ id: 0, op: "get" }) });
      expectTypeOf(fixed).toEqualTypeOf<Conn<Res, Req>>();
      expectTypeOf(built).toEqualTypeOf<Conn<Res, Req>>();
      // @ts-expect-error still a Req: op is "get" or "put"
      built.send({ id: 1, op: "delete" });
      // @ts-expect-error pingMsg is a Req, not any object with an id
      new Conn({ codec: json<Res, Req>(), pingMsg: { id: 0 } });
      // @ts-expect-error tsc widens an unannotated function's literal ({ op: string }): refused
      // rather than widening TOut to it (annotate the return, or `as const`)
      new Conn({ codec: json<Res, Req>(), pingMsg: () => ({ id: 0, op: "get" }) });
    });
  });

  it("the URL, the headers and the reconnect policy may be functions, typed by their context", () => {
    compiled(async (c: Conn) => {
      await c.dial((ctx) => {
        expectTypeOf(ctx).toEqualTypeOf<AttemptContext>();
        expectTypeOf(ctx.lastError).toEqualTypeOf<EvtWebSocketError | undefined>();
        return ctx.attempt > 1 ? new URL("wss://backup.example/") : "wss://example/";
      });
      await c.dial(async () => "wss://example/");
      new Conn({
        headers: async (ctx) => ({ authorization: `Bearer ${ctx.attempt}` }),
        reconnect: {
          shouldReconnect: (info) => {
            expectTypeOf(info).toEqualTypeOf<DisconnectInfo>();
            return info.code !== 4001;
          },
        },
      });
      // @ts-expect-error the URL function returns a string or a URL
      await c.dial(() => 42);
      // @ts-expect-error header values are strings
      new Conn({ headers: () => ({ "x-retry": 1 }) });
      // @ts-expect-error shouldReconnect returns a boolean
      new Conn({ reconnect: { shouldReconnect: () => "yes" } });
    });
  });

  it("the WebSocket option takes the platform's WHATWG WebSocket constructor as it is", () => {
    compiled(() => {
      expectTypeOf(globalThis.WebSocket).toExtend<WebSocketConstructorLike>();
      new Conn({ WebSocket: globalThis.WebSocket });
      // @ts-expect-error a socket, not its constructor
      new Conn({ WebSocket: new globalThis.WebSocket("ws://127.0.0.1:1") });
    });
  });
});

describe("errors", () => {
  it("EvtWebSocketError.code is a union of literals that narrows", () => {
    compiled((err: EvtWebSocketError) => {
      expectTypeOf(err.code).toEqualTypeOf<ErrorCode>();
      expectTypeOf<ErrorCode>().toExtend<`ERR_${string}`>();
      if (err.code === "ERR_REQUEST_TIMEOUT") expectTypeOf(err.code).toEqualTypeOf<"ERR_REQUEST_TIMEOUT">();
      if (err.code === ErrorCode.CLOSED) expectTypeOf(err.code).toEqualTypeOf<"ERR_CLOSED">();
      // @ts-expect-error no such code: the comparison can never be true
      if (err.code === "ERR_TIMEOUT") return;
      // @ts-expect-error codes are not free strings
      new EvtWebSocketError("ERR_SOMETHING", "no");
    });
  });

  it("isEvtWebSocketError(value, code) narrows the value to an error with that code", () => {
    compiled((value: unknown) => {
      if (isEvtWebSocketError(value)) expectTypeOf(value.code).toEqualTypeOf<ErrorCode>();
      if (isEvtWebSocketError(value, "ERR_QUEUE_FULL")) {
        expectTypeOf(value).toExtend<EvtWebSocketError>();
        expectTypeOf(value.code).toEqualTypeOf<"ERR_QUEUE_FULL">();
      }
      if (isEvtWebSocketError(value, ErrorCode.DIAL_FAILED)) {
        expectTypeOf(value.code).toEqualTypeOf<"ERR_DIAL_FAILED">();
      }
      // @ts-expect-error no such code
      isEvtWebSocketError(value, "ERR_NOPE");
    });
  });
});

describe("evtwebsocket/react", () => {
  it("useConn's result carries the codec's types; useConnEvent's handler gets the event's arguments", () => {
    compiled(() => {
      const result = useConn("wss://example/", { codec: json<Res, Req>(), share: "feed" });
      expectTypeOf(result).toEqualTypeOf<UseConnResult<Res, Req>>();
      expectTypeOf(result.conn).toEqualTypeOf<Conn<Res, Req> | null>();
      expectTypeOf(result.state).toEqualTypeOf<State>();
      expectTypeOf(result.error).toEqualTypeOf<EvtWebSocketError | undefined>();
      expectTypeOf(useConn(null).conn).toEqualTypeOf<Conn<Data, Sendable> | null>();
      useConnEvent(result.conn, "message", (msg, conn) =>
        expectTypeOf<[typeof msg, typeof conn]>().toEqualTypeOf<[Res, Conn<Res, Req>]>(),
      );
      useConnEvent(result.conn, "close", (info) => expectTypeOf(info).toEqualTypeOf<CloseInfo>());
      // @ts-expect-error no such event
      useConnEvent(result.conn, "opened", () => {});
      // @ts-expect-error the URL is a string or null
      useConn(new URL("wss://example/"));
    });
  });
});

describe("evtwebsocket/shared", () => {
  it("createSharedConn() types as new Conn() does: raw frames by default, the codec's types otherwise", () => {
    compiled(async () => {
      const plain = createSharedConn("feed");
      expectTypeOf(plain).toEqualTypeOf<SharedConn<Data, Sendable>>();
      plain.send(new Float32Array(2));
      // @ts-expect-error without a codec a body is a string or bytes, as for a Conn
      plain.send(42);
      const typed = createSharedConn("feed", { codec: json<Res, Req>(), messageId: (m) => m.id });
      expectTypeOf(typed).toEqualTypeOf<SharedConn<Res, Req>>();
      expectTypeOf(await typed.request({ id: 1, op: "get" })).toEqualTypeOf<Res>();
      typed.on("role", (role, conn) =>
        expectTypeOf<[typeof role, typeof conn]>().toEqualTypeOf<[Role, SharedConn<Res, Req>]>(),
      );
      const options: SharedConnOptions<Res, Req> = {
        onMessage: (msg, conn) =>
          expectTypeOf<[typeof msg, typeof conn]>().toEqualTypeOf<[Res, SharedConn<Res, Req>]>(),
      };
      expectTypeOf(createSharedConn("feed", options)).toEqualTypeOf<SharedConn<Res, Req>>();
      // @ts-expect-error a request body must be a Req
      typed.request({ id: 1 });
    });
  });
});

describe("evtwebsocket/otel", () => {
  it("instrument() takes optional providers and nothing else", () => {
    compiled((tracerProvider: TracerProvider, meterProvider: MeterProvider) => {
      expectTypeOf(instrument).parameter(0).toEqualTypeOf<InstrumentOptions | undefined>();
      expectTypeOf(instrument({ tracerProvider, meterProvider })).toEqualTypeOf<void>();
      instrument();
      uninstrument();
      // @ts-expect-error a tracer provider, not a tracer's name
      instrument({ tracerProvider: "evtwebsocket" });
      // @ts-expect-error no such option
      instrument({ tracer: tracerProvider });
    });
  });
});

describe("evtwebsocket/testing", () => {
  it("the kit's factories resolve to their handles; waitFor resolves with the predicate's value", () => {
    compiled(async () => {
      const server = await createTestServer({
        onConnection: (client, handshake) => {
          expectTypeOf(handshake).toEqualTypeOf<HandshakeInfo>();
          client.send("hello");
        },
        authorize: ({ headers }) => headers.authorization === "Bearer good" || 401,
      });
      expectTypeOf(server).toEqualTypeOf<TestServer>();
      expectTypeOf(await createFaultProxy(server.url)).toEqualTypeOf<FaultProxy>();
      expectTypeOf(await waitFor(() => server.connections > 0 && server)).toExtend<TestServer | true>();
      expectTypeOf(await waitFor(() => server.received.at(-1))).toEqualTypeOf<string | Buffer>();
      expectTypeOf(new WaitForTimeoutError("x")).toExtend<Error>();
      // @ts-expect-error authorize answers a boolean, a status or a refusal
      await createTestServer({ authorize: () => "no" });
    });
  });
});
