/**
 * Closing the connection when `evtws` leaves: a close frame with 1000, then at most
 * {@link CLOSE_WAIT_MS} for the server's answer, so Ctrl-C or SIGTERM never hangs on a peer
 * that does not answer. The library's own close timeout (3 s) still ends the socket after.
 */

import type { Conn } from "../index.js";

/** The longest `evtws` waits for the close handshake before it exits, in ms. */
export const CLOSE_WAIT_MS = 1000;

/** Closes `conn` with 1000; resolves when the close handshake is done, or after `waitMs`. */
export async function closeWithin(conn: Conn, waitMs = CLOSE_WAIT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, waitMs);
  });
  try {
    await Promise.race([conn.close(1000).catch(() => {}), late]);
  } finally {
    clearTimeout(timer);
  }
}
