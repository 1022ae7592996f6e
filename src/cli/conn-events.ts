/**
 * Prints a connection's life (connected, closed, reconnecting, pong, errors) through a
 * {@link Printer}. Messages are not handled here: the session prints them as data, a script
 * as responses or asides.
 */

import type { CloseInfo, Conn, ReconnectingInfo } from "../index.js";
import { formatRtt } from "./format.js";
import type { Printer } from "./printer.js";

/** The event line for a closed connection: code, reason, and whether it comes back. */
export function describeClose(info: CloseInfo): string {
  const reason = info.reason === "" ? "" : ` "${info.reason}"`;
  const clean = info.wasClean ? "" : ", not clean";
  const next = info.willReconnect ? ", will reconnect" : "";
  return `closed ${info.code}${reason}${clean}${next}`;
}

/** The event line for a backoff wait, with the wait the server asked for when it set one. */
export function describeReconnecting(info: ReconnectingInfo): string {
  const server = info.serverDelayMs === undefined ? "" : ` (the server asked for ${info.serverDelayMs} ms)`;
  return `reconnecting in ${Math.round(info.delayMs)} ms, attempt ${info.attempt}${server}`;
}

/** The event line for an opened connection, with the subprotocol the server chose, if any. */
export function describeConnected(shownUrl: string, protocol: string): string {
  return `connected to ${shownUrl}${protocol === "" ? "" : ` (subprotocol ${protocol})`}`;
}

/**
 * Subscribes `printer` to `conn`'s events; returns the function that unsubscribes.
 *
 * @param shownUrl - the URL as printed (no credentials or query).
 * @param showPong - whether to print this pong: the heartbeat's pongs are noise unless `-v`
 *   asks for them (the session also shows the one that answers `/ping`).
 */
export function printConnEvents(
  conn: Conn,
  printer: Printer,
  shownUrl: string,
  showPong: () => boolean = () => false,
): () => void {
  const offs = [
    conn.on("connected", () => printer.event(describeConnected(shownUrl, conn.protocol))),
    conn.on("close", (info) => printer.event(describeClose(info))),
    conn.on("reconnecting", (info) => printer.event(describeReconnecting(info))),
    conn.on("pong", (info) => {
      if (showPong()) printer.event(`pong, RTT ${formatRtt(info.rttMs)}`);
    }),
    conn.on("error", (error) => printer.error(error)),
  ];
  return () => {
    for (const off of offs) off();
  };
}
