/**
 * React bindings: `useConn(url, options)` and `useConnEvent(conn, event, handler)`.
 *
 * The connection is made and dialled in an effect, never during render, so server rendering
 * makes no socket and renders the state "idle". Components that pass the same URL and the same
 * `share` key hold one connection between them, counted by reference; the last one to unmount
 * closes it; one that takes it while it is closed (its dial failed, or `close()` was called)
 * dials it again, for all who share it. A release does not close at once: it waits one task,
 * so StrictMode's mount, unmount and mount in development neither leaves two sockets nor opens
 * and closes one.
 *
 * What a change does: a new `url` (or `share` key) releases the old connection and takes the
 * new one (the render in between returns "idle" and no `conn`, never the old one); `null`
 * releases it and holds none ("not now"). The other options are read once,
 * when the connection is made: options written inline (a new object on every render) never
 * reconnect, and a change to them applies only to the next connection (after a URL change or a
 * remount). A shared connection takes the options of the component that makes it; those of
 * the components that join it later are not used (but see their callbacks below). Callbacks in
 * the options are fixed at that moment too; for handlers that see the
 * latest props, use {@link useConnEvent}. On a shared connection, every component's callbacks
 * (`onConnected`, `onMessage`, `onError`, `onClose`, `onReconnecting`) are called, each while its
 * component is mounted: they are subscribed as the matching events when the component takes the
 * connection and unsubscribed when it lets go, so one that unmounts hears nothing more.
 *
 * This module does not render anything, keep messages in state, or retry beyond the
 * connection's own reconnect policy (but for the dial again when a component takes a closed
 * shared connection, above).
 */

import { useEffect, useInsertionEffect, useRef, useState } from "react";
import {
  Conn,
  type ConnEvents,
  type ConnOptions,
  type Data,
  ErrorCode,
  EvtWebSocketError,
  type Sendable,
  type State,
} from "../index.js";

/** Options of {@link useConn}: `Conn`'s, plus what to share by. */
export interface UseConnOptions<TIn, TOut> extends ConnOptions<TIn, TOut, Conn<TIn, TOut>> {
  /**
   * Components that pass the same URL and the same `share` key use one connection, closed when
   * the last of them unmounts. Without it, each component has its own connection.
   * @default undefined (not shared)
   */
  share?: string;
  /** Subprotocols offered on `dial()`. */
  protocols?: string | string[];
}

/** What {@link useConn} returns. */
export interface UseConnResult<TIn, TOut> {
  /** The connection; null while the URL is null and during server rendering. */
  conn: Conn<TIn, TOut> | null;
  /** Its state ("idle" while there is no connection). */
  state: State;
  /**
   * The latest error it reported (the dial's failure included, but not a `close()`, even one
   * that cut the dial short) since it last opened; undefined when none, and again once the
   * connection is open.
   */
  error: EvtWebSocketError | undefined;
}

interface Entry {
  // biome-ignore lint/suspicious/noExplicitAny: one registry holds connections of every message type.
  conn: Conn<any, any>;
  refs: number;
  closing: ReturnType<typeof setTimeout> | undefined;
  error: EvtWebSocketError | undefined;
  /** The hooks to tell when a failed dial sets `error` (it reports through its promise, not an event). */
  failed: Set<() => void>;
  /** Dials the connection (again), with a fresh `error`. */
  dial: () => void;
}

const shared = new Map<string, Entry>();
/** The callback options and the events they become on a shared connection. */
const CALLBACKS = [
  ["onConnected", "connected"],
  ["onMessage", "message"],
  ["onError", "error"],
  ["onClose", "close"],
  ["onReconnecting", "reconnecting"],
] as const;

/**
 * Refuses, as `Conn` refuses it, a callback option that is not a function; called before the
 * shared connection is taken, so a refused component dials nothing.
 */
function check<TIn, TOut>(options: UseConnOptions<TIn, TOut>): void {
  for (const [option] of CALLBACKS) {
    const callback = options[option];
    if (callback !== undefined && typeof callback !== "function")
      throw new EvtWebSocketError(ErrorCode.INVALID_OPTION, `option ${option} must be a function`);
  }
}

/** Subscribes one component's (checked) callback options to a shared connection; returns what unsubscribes them. */
function subscribe<TIn, TOut>(conn: Conn<TIn, TOut>, options: UseConnOptions<TIn, TOut>): Array<() => void> {
  const offs: Array<() => void> = [];
  for (const [option, event] of CALLBACKS) {
    const callback = options[option];
    if (callback !== undefined) offs.push(conn.on(event, callback as never));
  }
  return offs;
}
/** Numbers the hooks that hold a connection of their own (no `share` key). */
let owners = 0;

/** Takes a reference to the connection for `key`, making and dialling it when there is none. */
function acquire<TIn, TOut>(key: string, url: string, options: UseConnOptions<TIn, TOut>): Entry {
  let entry = shared.get(key);
  if (entry === undefined) {
    const { share, protocols, ...rest } = options;
    // Shared: each component's callbacks are subscribed while it is mounted (see subscribe()).
    if (share !== undefined) for (const [option] of CALLBACKS) delete rest[option];
    const made: Entry = {
      conn: new Conn(rest),
      refs: 0,
      closing: undefined,
      error: undefined,
      failed: new Set(),
      dial() {
        made.error = undefined;
        made.conn.dial(url, protocols).catch((e: EvtWebSocketError) => {
          // close() while dialling is no failure, as it is none on an open connection.
          if (e.code === ErrorCode.CLOSED) return;
          made.error = e;
          for (const tell of made.failed) tell();
        });
      },
    };
    made.conn.on("error", (e) => {
      made.error = e;
    });
    // Open again: what went wrong before is over (listeners added first run first).
    made.conn.on("state", ({ newState }) => {
      if (newState === "open") made.error = undefined;
    });
    made.dial();
    entry = made;
    shared.set(key, entry);
  } else if (entry.conn.state === "closed") {
    // Closed for good (its dial failed, or close() was called): a component taking it wants it.
    entry.dial();
  }
  clearTimeout(entry.closing);
  entry.closing = undefined;
  entry.refs++;
  return entry;
}

/** Drops a reference; the last one closes the connection after one task, unless taken again. */
function release(key: string, entry: Entry): void {
  if (--entry.refs > 0) return;
  entry.closing = setTimeout(() => {
    shared.delete(key);
    void entry.conn.close();
  }, 0);
}

/**
 * A connection for this component: made and dialled after mount, closed after the last user
 * unmounts. See the module header for what a change of URL or options does.
 *
 * @param url - where to connect; `null` means "not now" (no connection).
 * @example
 * ```tsx
 * function Ticker() {
 *   const { conn, state } = useConn("wss://example.com/ticks", { share: "ticks", codec: json() });
 *   const [last, setLast] = useState<unknown>();
 *   useConnEvent(conn, "message", setLast);
 *   return <p>{state}: {JSON.stringify(last)}</p>;
 * }
 * ```
 */
export function useConn<TIn = Data, TOut = Sendable>(
  url: string | null,
  options: UseConnOptions<TIn, TOut> = {},
): UseConnResult<TIn, TOut> {
  const share = options.share;
  /** What the result is of: a result for another URL or share key is never returned. */
  const of = `${share}\n${url}`;
  const [[at, result], setResult] = useState<[string, UseConnResult<TIn, TOut>]>(["", idle]);
  /** This hook's own key when not shared: StrictMode's remount finds the connection it made. */
  const own = useRef(0);
  // biome-ignore lint/correctness/useExhaustiveDependencies: options are read once per connection (see the module header).
  useEffect(() => {
    if (url === null) {
      setResult(["", idle]);
      return;
    }
    if (share === undefined && own.current === 0) own.current = ++owners;
    // "s" and "o" keep shared keys and own keys apart.
    const key = share === undefined ? `o${own.current}\n${url}` : `s${share}\n${url}`;
    if (share !== undefined) check(options);
    const entry = acquire(key, url, options);
    const conn = entry.conn as Conn<TIn, TOut>;
    const offs = share === undefined ? [] : subscribe(conn, options);
    const update = () => setResult([of, { conn, state: conn.state, error: entry.error }]);
    update();
    const offState = conn.on("state", update);
    const offError = conn.on("error", update);
    entry.failed.add(update);
    return () => {
      for (const off of offs) off();
      offState();
      offError();
      entry.failed.delete(update);
      release(key, entry);
    };
  }, [url, share]);
  return at === of ? result : idle;
}

// biome-ignore lint/suspicious/noExplicitAny: holds no connection, so it fits every message type.
const idle: UseConnResult<any, any> = { conn: null, state: "idle", error: undefined };

/**
 * Subscribes to one event of `conn` while mounted, calling the latest `handler` (no
 * resubscription when the handler changes on each render): that of the render being committed,
 * from the start of its commit, so an event that an effect of that commit causes (a child's
 * `conn.close()`) reaches it. Nothing happens while `conn` is null.
 *
 * @throws EvtWebSocketError `ERR_INVALID_OPTION` (while rendering) for a `handler` that is not
 * a function, as `conn.on()` refuses one: pass a no-op for an optional handler prop.
 *
 * @example
 * ```tsx
 * useConnEvent(conn, "message", (msg) => setMessages((all) => [...all, msg]));
 * ```
 */
export function useConnEvent<TIn, TOut, K extends keyof ConnEvents<TIn, TOut>>(
  conn: Conn<TIn, TOut> | null,
  event: K,
  handler: ConnEvents<TIn, TOut>[K],
): void {
  if (typeof handler !== "function")
    throw new EvtWebSocketError(
      ErrorCode.INVALID_OPTION,
      `useConnEvent(${typeof event === "string" ? JSON.stringify(event) : typeof event}): the handler must be a function, got ${typeof handler}`,
    );
  const latest = useRef(handler);
  // Before any effect of the commit (a child's that closes `conn`, say) can cause an event, and
  // with no warning on the server, as a layout effect would give under React 18.
  useInsertionEffect(() => {
    latest.current = handler;
  });
  useEffect(() => {
    if (conn === null) return;
    const forward = (...args: unknown[]) => (latest.current as (...a: unknown[]) => unknown)(...args);
    return conn.on(event, forward as ConnEvents<TIn, TOut>[K]);
  }, [conn, event]);
}
