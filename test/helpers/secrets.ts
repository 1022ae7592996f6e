/**
 * Where the redaction tests (logger, diagnostics channels, security) put the secret canary of
 * chaos/canary.ts: a URL and a subprotocol that carry it. The scanner is canary.ts's.
 */

import { CANARY } from "../../chaos/canary.js";

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
