/**
 * Where the redaction tests (logger, diagnostics channels, security) put the secret canary of
 * chaos/canary.ts: a URL and a subprotocol that carry it; and what the diagnostics channels
 * publish, to scan. The scanner is canary.ts's.
 */

import dc from "node:diagnostics_channel";
import { CANARY } from "../../chaos/canary.js";
import { CHANNELS } from "../../src/channel-names.js";
import { onCleanup } from "./harness.js";

/** `base` with the canary in the userinfo password, the path and the `token=` query, then `moreQuery` (`&name=value`…). */
export function secretUrl(base: string, moreQuery = ""): string {
  const u = new URL(base);
  u.username = "user";
  u.password = CANARY;
  u.pathname = `/socket/${CANARY}`;
  u.search = `?token=${CANARY}${moreQuery}`;
  return u.href;
}

/** A subprotocol that carries the canary. */
export const SUBPROTOCOL = `v1.${CANARY}`;

/**
 * Every message published on evtwebsocket's `diagnostics_channel` channels (not the request
 * TracingChannel) from now until the test ends, each without its `conn`: what a subscriber
 * would be handed, to scan for a secret.
 */
export function channelMessages(): unknown[] {
  const produced: unknown[] = [];
  for (const name of Object.values(CHANNELS)) {
    if (name === CHANNELS.request) continue;
    const fn = (m: unknown) => {
      const { conn: _, ...rest } = m as Record<string, unknown>;
      produced.push(rest);
    };
    dc.subscribe(name, fn);
    onCleanup(async () => void dc.unsubscribe(name, fn));
  }
  return produced;
}

/** As channelMessages(), each with the kind of its channel (CHANNELS' key: "open", "reconnecting"…). */
export function channelMessagesWithKind(): Array<[string, Record<string, unknown>]> {
  const seen: Array<[string, Record<string, unknown>]> = [];
  for (const [kind, name] of Object.entries(CHANNELS)) {
    if (kind === "request") continue;
    const fn = (m: unknown) => {
      const { conn: _, ...rest } = m as Record<string, unknown>;
      seen.push([kind, rest]);
    };
    dc.subscribe(name, fn);
    onCleanup(async () => void dc.unsubscribe(name, fn));
  }
  return seen;
}
