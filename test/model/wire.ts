/**
 * What the model's messages look like on the wire, for each codec a run can use: plain sends,
 * requests and their responses, unsolicited messages, garbage, application pings and pongs.
 * Every payload names the call that made it ("s7", "q7"), so the books can tell which call a
 * frame the transport accepted belongs to.
 */

import type { Data } from "../../src/codec.js";
import type { ModelConfig } from "./config.js";

/** A message before encoding (an object for json(), a string for raw). */
export type Msg = unknown;

/** What a frame handed to the transport carries. */
export type FrameKind = { kind: "send" | "request"; key: string } | { kind: "ping" } | undefined;

/** Payloads of each kind, for one codec. */
export interface Wire {
  send(n: number, wide: boolean): Msg;
  /** A request keyed `key`; `withId` false leaves the id out (json: no match possible). */
  request(key: string, withId: boolean): Msg;
  response(key: string): Data;
  unsolicited(n: number): Data;
  /** A frame the codec cannot decode (json), or binary (raw). */
  garbage(): Data;
  ping: Msg;
  pong: Data;
  classify(data: Data): FrameKind;
  /** The key ("s7") of a plain send's body as given to `send()`; undefined for anything else. */
  sendKey(msg: Msg): string | undefined;
  /** The request key a received response carries. */
  responseKey(msg: Msg): string | undefined;
  isPong(msg: Msg): boolean;
}

/** Non-ASCII text (2- and 4-byte UTF-8), so byte counts differ from string lengths. */
const WIDE = "é😀";

/** json() with `messageId: m => m.id`. */
const jsonWire: Wire = {
  send: (n, wide) => (wide ? { t: "s", n, x: WIDE } : { t: "s", n }),
  request: (key, withId) => (withId ? { id: key, t: "q" } : { t: "q", k: key }),
  response: (key) => JSON.stringify({ id: key, ok: true }),
  unsolicited: (n) => JSON.stringify({ t: "m", n }),
  garbage: () => "{not json",
  ping: { t: "ping" },
  pong: JSON.stringify({ t: "pong" }),
  classify(data) {
    if (typeof data !== "string") return undefined;
    const m = JSON.parse(data) as { t?: string; n?: number; id?: string; k?: string };
    if (m.t === "ping") return { kind: "ping" };
    if (m.t === "s") return { kind: "send", key: `s${m.n}` };
    if (m.t === "q") return { kind: "request", key: m.id ?? m.k ?? "" };
    return undefined;
  },
  sendKey(msg) {
    const m = msg as { t?: string; n?: number } | null;
    return m?.t === "s" ? `s${m.n}` : undefined;
  },
  responseKey: (msg) => (msg as { id?: string } | null)?.id,
  isPong: (msg) => (msg as { t?: string } | null)?.t === "pong",
};

/** Raw strings, `matchMsg: (req, resp) => resp === req + ":ok"`. */
const rawWire: Wire = {
  send: (n, wide) => `s${n}${wide ? WIDE : ""}`,
  request: (key) => key,
  response: (key) => `${key}:ok`,
  unsolicited: (n) => `m${n}`,
  garbage: () => new Uint8Array([0xff, 0x00, 0x7f]),
  ping: "ping",
  pong: "pong",
  classify(data) {
    if (typeof data !== "string") return undefined;
    if (data === "ping") return { kind: "ping" };
    const m = /^([sq])(\d+)/.exec(data);
    if (m === null) return undefined;
    return { kind: m[1] === "s" ? "send" : "request", key: `${m[1]}${m[2]}` };
  },
  sendKey(msg) {
    const m = typeof msg === "string" ? /^s(\d+)/.exec(msg) : null;
    return m === null ? undefined : `s${m[1]}`;
  },
  responseKey: (msg) => (typeof msg === "string" && msg.endsWith(":ok") ? msg.slice(0, -3) : undefined),
  isPong: (msg) => msg === "pong",
};

export function wireFor(codec: ModelConfig["codec"]): Wire {
  return codec === "json" ? jsonWire : rawWire;
}

/** A message as a line of script. */
export function describeMsg(msg: Msg): string {
  if (typeof msg === "string") return msg;
  return msg instanceof Uint8Array ? `<${msg.length} bytes>` : JSON.stringify(msg);
}
