/**
 * What the tabs of a shared connection say to each other over their `BroadcastChannel`
 * (structured-cloned), how an error crosses it (as `{ code, message }`, rebuilt in each tab),
 * and what a post the structured clone refuses becomes. Who posts what, and when, is
 * `leader.ts`'s and `follower.ts`'s job.
 */

import type { ErrorCode } from "../index.js";
import type { Handshake } from "../types.js";
import type { WireSendOptions } from "./outgoing.js";
import { EvtWebSocketError, evtError } from "./public-error.js";
import type { SharedConnEvents } from "./types.js";

/**
 * One message between tabs: `t` says which. `l` names a leadership (a fresh id each time a tab
 * takes the lock): the leader announces its own, and a follower's send or request names the one
 * it last heard of. A leader serves only what is addressed to it; a follower posts what is not
 * acknowledged again when it hears of a new leadership, so a post that crossed the handover is
 * served once, by the new leader, in order.
 */
export type Wire =
  | { t: "hello" }
  | { t: "leader"; l: string }
  | { t: "dial"; url: string; sub: string | string[] | undefined; from?: string }
  | { t: "refused"; to: string; error: WireError }
  | { t: "send"; from: string; seq: number; body: unknown; o?: WireSendOptions; l: string | undefined }
  | { t: "ping" }
  | { t: "reconnect"; code: number; reason: string }
  | {
      t: "req";
      from: string;
      seq: number;
      body: unknown;
      timeoutMs: number | undefined;
      retry: boolean;
      l: string | undefined;
    }
  | { t: "ack"; to: string; seq: number; error?: WireError; dropped?: boolean }
  | { t: "res"; to: string; seq: number; value?: unknown; error?: WireError }
  | {
      t: "ev";
      name: keyof SharedConnEvents<unknown, unknown>;
      arg: unknown;
      join?: true;
      /** With `join`: the leadership that answers (see `l` above). */
      l?: string;
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

/**
 * Posts `message` on `channel` (none: this tab closed). A send or request the structured clone
 * refuses throws `ERR_INVALID_OPTION`; a leader's decoded message or response it refuses (one
 * holding a function) is replaced by an `ERR_DECODE` error, which the other tabs hear instead.
 */
export function post(channel: BroadcastChannel | undefined, message: Wire): void {
  try {
    channel?.postMessage(message);
  } catch (cause) {
    // Leader: a decoded message or response the structured clone refuses (one holding a
    // function). The other tabs hear why instead; a follower's request rejects.
    if (message.t === "send" || message.t === "req")
      throw evtError(
        "ERR_INVALID_OPTION",
        "cannot send: the message cannot be cloned to the leader tab",
        cause,
      );
    if (message.t !== "ev" && message.t !== "res") throw cause;
    const error = evtError("ERR_DECODE", "a decoded message could not be cloned to the other tabs", cause);
    if (message.t === "res")
      post(channel, { t: "res", to: message.to, seq: message.seq, error: toWire(error) });
    else if (message.name !== "error") post(channel, { t: "ev", name: "error", arg: toWire(error) });
  }
}
