/**
 * What the tabs of a shared connection say to each other over their `BroadcastChannel`
 * (structured-cloned), and how an error crosses it (as `{ code, message }`, rebuilt in each
 * tab). Types and conversions only: who posts what, and when, is `shared-conn.ts`'s job.
 */

import { type ErrorCode, EvtWebSocketError } from "../index.js";
import type { Handshake } from "../types.js";
import type { WireSendOptions } from "./outgoing.js";
import type { SharedConnEvents } from "./types.js";

/** One message between tabs: `t` says which. */
export type Wire =
  | { t: "hello" }
  | { t: "leader" }
  | { t: "dial"; url: string; sub: string | string[] | undefined; from?: string }
  | { t: "refused"; to: string; error: WireError }
  | { t: "send"; from: string; seq: number; body: unknown; o?: WireSendOptions }
  | { t: "ping" }
  | { t: "req"; from: string; seq: number; body: unknown; timeoutMs: number | undefined; retry: boolean }
  | { t: "ack"; to: string; seq: number; error?: WireError; dropped?: true }
  | { t: "res"; to: string; seq: number; value?: unknown; error?: WireError }
  | {
      t: "ev";
      name: keyof SharedConnEvents<unknown, unknown>;
      arg: unknown;
      join?: true;
      /** With "connected" and "state": the leader's subprotocol and handshake. */
      p?: string;
      h?: Handshake;
    };

/** An error as it crosses between tabs. */
export type WireError = { code: ErrorCode; message: string };

/** The part of the Web Locks API the election uses. */
export type Locks = {
  request(name: string, options: { signal: AbortSignal }, grant: () => Promise<void>): Promise<void>;
};

/** The prefix of the lock's and the channel's names. */
export const PREFIX = "evtwebsocket:";

/** An error as it crosses to the other tabs; anything else becomes `ERR_DISCONNECTED`. */
export const toWire = (e: unknown): WireError =>
  e instanceof EvtWebSocketError
    ? { code: e.code, message: e.message }
    : { code: "ERR_DISCONNECTED", message: String(e) };
/** An error from another tab, as this tab's {@link EvtWebSocketError}. */
export const fromWire = (e: WireError) => new EvtWebSocketError(e.code, e.message);
