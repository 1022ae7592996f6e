/**
 * One direction of a fault proxy's connection: copies bytes from one socket to the other
 * through the faults of that direction (latency, bandwidth, blackhole), in order, with
 * backpressure. What it does not do: accept connections, close the pair, or change the faults
 * (src/testing/fault-proxy.ts and fault-settings.ts do).
 */

import type * as net from "node:net";

/** A direction: `"upstream"` is client to server, `"downstream"` server to client. */
export type Way = "upstream" | "downstream";

/** The faults of a proxy, per direction, which its pipes read as each chunk comes. */
export interface Faults {
  /** Delay of every chunk, in ms; 0 for none. */
  latencyMs: Record<Way, number>;
  /** Rate limit, in bytes per second; 0 for none. */
  bytesPerSecond: Record<Way, number>;
  /** Whether bytes (and, see fault-proxy.ts, closes) are dropped. */
  blackholed: Record<Way, boolean>;
  /** Each open pipe's `release()`: re-times what it still delays under the faults left (one was set to 0). */
  releases: Record<Way, Set<() => void>>;
}

/**
 * A wait of `ms` as setTimeout takes it: at least 1 ms, at most 2^31-1 ms (a longer one would
 * fire after 1 ms, again and again); a chunk due later is checked again then.
 */
function timerMs(ms: number): number {
  return Math.min(Math.max(1, ms), 2_147_483_647);
}

/**
 * Copies `from` to `to` through the current `faults` of `way`, keeping order under latency, and
 * ends `to` after the last byte once `from` ends. Gives whether it still delays bytes.
 */
export function pipe(from: net.Socket, to: net.Socket, way: Way, faults: Faults): () => boolean {
  const { latencyMs, bytesPerSecond, blackholed, releases } = faults;
  const delayed: Array<{ at: number; due: number; chunk: Buffer }> = [];
  let timer: NodeJS.Timeout | undefined;
  let queuedBytes = 0;
  let wireFreeAt = 0;
  let lastDue = 0;
  let throttled = false;
  /** `from` ended: `to` is ended once the delayed bytes went on and no blackhole holds the close. */
  let ending = false;
  let endTimer: NodeJS.Timeout | undefined;
  const finish = (): void => {
    clearTimeout(endTimer);
    endTimer = undefined;
    if (blackholed[way]) return; // the close goes through no more than bytes do; release() retries
    if (delayed.length > 0) endTimer = setTimeout(finish, 5);
    else to.end();
  };
  // Reading resumes once few bytes wait here and `to` takes more (a receiver that reads
  // nothing stops the sender, as TCP would, instead of the proxy holding all it sends).
  const resumeIfRoom = (): void => {
    if (throttled && queuedBytes < 16 * 1024 && !to.writableNeedDrain) {
      throttled = false;
      from.resume();
    }
  };
  to.on("drain", resumeIfRoom);
  const flushDue = (): void => {
    timer = undefined;
    const now = performance.now();
    while (delayed.length > 0 && delayed[0]!.due <= now) {
      const { chunk } = delayed.shift()!;
      queuedBytes -= chunk.length;
      if (!to.destroyed && !blackholed[way]) to.write(chunk);
    }
    resumeIfRoom();
    if (delayed.length > 0) timer = setTimeout(flushDue, timerMs(delayed[0]!.due - now));
  };
  // A fault was lifted: what waits is due as if the faults left had applied since it came (at
  // once, in order, when none is left).
  const release = (): void => {
    const delayMs = latencyMs[way];
    const rate = bytesPerSecond[way];
    wireFreeAt = 0;
    lastDue = 0;
    for (const entry of delayed) {
      if (rate > 0) wireFreeAt = Math.max(entry.at, wireFreeAt) + (entry.chunk.length / rate) * 1000;
      entry.due = Math.max(lastDue, (rate > 0 ? wireFreeAt : entry.at) + delayMs);
      lastDue = entry.due;
    }
    clearTimeout(timer);
    flushDue();
    if (ending) finish();
  };
  releases[way].add(release);
  from.on("data", (chunk: Buffer) => {
    if (blackholed[way] || to.destroyed) return;
    const delayMs = latencyMs[way];
    const rate = bytesPerSecond[way];
    if (delayMs === 0 && rate === 0 && delayed.length === 0) {
      if (!to.write(chunk)) {
        from.pause();
        to.once("drain", () => from.resume());
      }
      return;
    }
    const now = performance.now();
    // Under a rate a chunk (up to 64 KiB) goes on in pieces of 100 ms worth, as Toxiproxy's
    // bandwidth toxic sends them: a slow line trickles instead of falling silent for the whole
    // chunk's time and then bursting (a heartbeat would rightly call that silence dead). At
    // least 128 bytes a piece, so a crawling rate holds a few hundred pieces, not one per byte.
    const size = rate > 0 ? Math.max(128, Math.floor(rate / 10)) : chunk.length;
    for (let start = 0; start < chunk.length; start += size) {
      const piece = size < chunk.length ? chunk.subarray(start, start + size) : chunk;
      if (rate > 0) wireFreeAt = Math.max(now, wireFreeAt) + (piece.length / rate) * 1000;
      const due = Math.max(lastDue, (rate > 0 ? wireFreeAt : now) + delayMs);
      lastDue = due;
      delayed.push({ at: now, due, chunk: piece });
    }
    queuedBytes += chunk.length;
    if (queuedBytes > 64 * 1024 && !throttled) {
      throttled = true;
      from.pause();
    }
    timer ??= setTimeout(flushDue, timerMs(delayed[0]!.due - now));
  });
  from.on("end", () => {
    ending = true;
    finish();
  });
  from.on("close", (hadError: boolean) => {
    if (timer !== undefined && to.destroyed) clearTimeout(timer);
    // A reset (no "end"): what came before it still goes on, then `to` is closed, as by a FIN.
    if (hadError && !ending) {
      ending = true;
      finish();
    }
  });
  to.on("close", () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    clearTimeout(endTimer);
    delayed.length = 0;
    releases[way].delete(release);
  });
  return () => delayed.length > 0;
}
