/**
 * The read path for the common frame: a whole, unfragmented, unmasked text or binary frame, read
 * straight from the chunk the socket delivered, in front of ws's receiver.
 *
 * ws's receiver copies each frame's header and payload into buffers of their own, collects
 * fragments into an array and raises two events per message: for a 32-byte push that was about
 * half of the client's CPU. Here each chunk is walked frame by frame. A whole text or binary
 * frame with FIN set, no RSV bit, no mask and a 7- or 16-bit length from 1 up to `maxPayload` is
 * decoded in place (text as UTF-8 straight from the chunk) and handed on as one call. Every
 * other frame goes to ws, in order, as its own write: a control frame (ws answers pings and close
 * frames), a fragment or any frame inside a fragmented message, an empty or 64-bit-length frame,
 * a masked or RSV frame (ws fails the connection), one over `maxPayload` (ws fails it with 1009
 * as soon as it reads the header), and a frame the chunk's end cuts (the path counts what ws
 * still needs of it, from the frame's header, and hands ws that much of the next chunk first; a
 * cut header is kept, at most 13 bytes, until its size is known). So ws only ever starts reading
 * at a frame's first byte, and messages keep their order. Once the connection stops reading (a
 * message's handler closed or ended it, text that was not UTF-8 failed it), or ws's receiver is
 * not between frames where it should be, the path stops for good and ws reads the rest, exactly
 * as it did before this path existed; after ws read a close frame or failed the connection,
 * nothing more is handed to it, as ws itself reads nothing more then.
 *
 * It relies on ws's receiver (8.x, `lib/receiver.js`): `write()` is how ws's socket listener hands
 * it a chunk; `_state` 0 (GET_INFO) with `_bufferedBytes` 0 is between frames, `_fragmented`
 * non-zero inside a fragmented message, `_errored` after it failed the connection, `_maxPayload`
 * its bound; from Node's `Writable`, `writableEnded` once it read a close frame. Where a field is
 * missing or of another type (a ws that changed), the path is not installed and ws reads all.
 */

import type { Writable } from "node:stream";

/** The fields of ws's receiver this path reads (see the module header), and the path's own. */
type Receiver = Writable & {
  _state: number;
  _bufferedBytes: number;
  _fragmented: number;
  _errored: boolean;
  _maxPayload: number;
  /** Where the messages read here go. */
  [kSink]: FrameSink;
  /**
   * Bytes ws still needs to finish the frame it was handed cut (its header was read here); -1
   * once the path stopped following the frames (the connection stopped reading): ws reads all.
   */
  [kOwed]: number;
  /** The start of a frame whose header the chunk's end cut (handed to ws too), to learn its size. */
  [kHead]: Buffer | undefined;
};

/** Where whole messages read here go: the socket (ws-socket.ts). */
export interface FrameSink {
  /** True while a message read here may be handed on: the connection is open and not failed. */
  readonly reading: boolean;
  /** One whole message, the payload at `chunk[start, end)`: text (UTF-8) or binary. */
  frame(chunk: Buffer, start: number, end: number, binary: boolean): void;
}

// The path's state lives on the receiver itself, in three fields, and its `write` is one function
// for every socket: an idle connection pays about 70 bytes of JS heap for it (a reader object and a
// closure per socket cost about 225).
const kSink = Symbol("evtwebsocket.sink");
const kOwed = Symbol("evtwebsocket.owed");
const kHead = Symbol("evtwebsocket.head");

/** Set to false to hand every chunk to ws's receiver (the tests compare both paths). */
export const fastRead = { enabled: true };

/** ws's receiver's own `write` (Node's `Writable.prototype.write`), taken from the first one. */
let wsWrite: ((chunk: Buffer) => boolean) | undefined;

/**
 * Puts the read path in front of ws's receiver (`receiver` is ws's `_receiver`); false, and
 * nothing changed, when the receiver is not one this path knows.
 */
export function installReader(receiver: unknown, sink: FrameSink): boolean {
  const r = receiver as Partial<Receiver> | undefined;
  if (
    !fastRead.enabled ||
    typeof r?.write !== "function" ||
    (wsWrite !== undefined && r.write !== wsWrite) ||
    typeof r._state !== "number" ||
    typeof r._bufferedBytes !== "number" ||
    typeof r._fragmented !== "number" ||
    typeof r._errored !== "boolean" ||
    typeof r._maxPayload !== "number"
  )
    return false;
  wsWrite ??= r.write as (chunk: Buffer) => boolean;
  r[kSink] = sink;
  r[kOwed] = 0;
  r[kHead] = undefined;
  // ws's socket listener calls `receiver.write(chunk)` and pauses the socket when it returns false.
  r.write = write as Writable["write"];
  return true;
}

/** The receiver's `write`: each chunk the socket reads passes here. */
function write(this: Receiver, chunk: Buffer): boolean {
  if (this[kOwed] < 0) return toWs(this, chunk);
  let at = 0;
  const cut = this[kHead];
  if (cut !== undefined) {
    // A header is at most 14 bytes: with 14 more, its size is known.
    const head = Buffer.concat([cut, chunk.subarray(0, 14)]);
    const size = anyFrameSize(head, 0);
    if (size === 0) {
      this[kHead] = head; // still cut: the chunk was shorter than the header's rest
      return toWs(this, chunk);
    }
    this[kHead] = undefined;
    if (size < 0) return stop(this, chunk, 0);
    this[kOwed] = size - cut.length;
  }
  const owed = this[kOwed];
  if (owed > 0) {
    at = Math.min(owed, chunk.length);
    this[kOwed] = owed - at;
    const more = toWs(this, at === chunk.length ? chunk : chunk.subarray(0, at));
    if (at === chunk.length) return more;
  }
  return read(this, chunk, at);
}

/**
 * Reads the chunk from `at` on, frame by frame: the frames this path takes are handed on here,
 * every other frame goes to ws, whole, or cut by the chunk's end (then what ws still needs of it
 * is counted, and handed to it first from the next chunk).
 */
function read(r: Receiver, chunk: Buffer, at: number): boolean {
  const max = r._maxPayload;
  const sink = r[kSink];
  while (at < chunk.length) {
    // ws read a close frame or failed the connection: it reads nothing more, nor does this path.
    if (r._errored || r.writableEnded) return true;
    if (!sink.reading || r._state !== 0 || r._bufferedBytes !== 0 || r.writableLength !== 0)
      return stop(r, chunk, at);
    // Within a fragmented message every frame is ws's (a whole data frame there is an error).
    const fast = r._fragmented === 0 ? frameSize(chunk, at, max) : -1;
    if (fast > 0 && at + fast <= chunk.length) {
      const b1 = chunk[at + 1]!;
      const start = b1 === 126 ? at + 4 : at + 2;
      sink.frame(chunk, start, at + fast, chunk[at] === 0x82);
      at += fast;
      continue;
    }
    const size = anyFrameSize(chunk, at);
    if (size < 0) return stop(r, chunk, at);
    if (size === 0 || at + size > chunk.length) {
      if (size === 0)
        r[kHead] = Buffer.from(chunk.subarray(at)); // a copy of at most 13 bytes
      else r[kOwed] = at + size - chunk.length;
      return toWs(r, chunk.subarray(at));
    }
    toWs(r, chunk.subarray(at, at + size));
    at += size;
  }
  return true;
}

/** Stops following the frames for good: ws reads the rest of this chunk and every later one. */
function stop(r: Receiver, chunk: Buffer, at: number): boolean {
  r[kOwed] = -1;
  return toWs(r, at === 0 ? chunk : chunk.subarray(at));
}

/**
 * Hands `chunk` to ws's receiver; drops it once ws read a close frame or failed the connection,
 * as ws stops reading then (the rest of its chunk is never read).
 */
function toWs(r: Receiver, chunk: Buffer): boolean {
  if (r._errored || r.writableEnded || r.destroyed) return true;
  return wsWrite!.call(r, chunk);
}

/**
 * The whole size (header included) of the frame at `at` when this path takes it: FIN and text
 * (0x81) or binary (0x82), no RSV bit, no mask, a 7- or 16-bit length from 1 to `max` (0: no
 * bound). 0 when the chunk ends within such a frame's header; -1 for any other frame (ws's).
 */
function frameSize(chunk: Buffer, at: number, max: number): number {
  const b0 = chunk[at]!;
  if (b0 !== 0x81 && b0 !== 0x82) return -1;
  if (at + 2 > chunk.length) return 0;
  let length = chunk[at + 1]!; // the mask bit clear: under 128
  let header = 2;
  if (length === 126) {
    if (at + 4 > chunk.length) return 0;
    length = (chunk[at + 2]! << 8) | chunk[at + 3]!;
    header = 4;
  } else if (length > 126) return -1; // masked, or a 64-bit length
  return length === 0 || (length > max && max > 0) ? -1 : header + length;
}

/**
 * The whole size of any frame at `at` (mask key included): 0 when the chunk ends within its
 * header, -1 for a length past 2^53 (ws fails the connection).
 */
function anyFrameSize(chunk: Buffer, at: number): number {
  if (at + 2 > chunk.length) return 0;
  const b1 = chunk[at + 1]!;
  const key = b1 & 0x80 ? 4 : 0;
  const length = b1 & 0x7f;
  if (length < 126) return 2 + key + length;
  if (length === 126) return at + 4 > chunk.length ? 0 : 4 + key + chunk.readUInt16BE(at + 2);
  if (at + 10 > chunk.length) return 0;
  const high = chunk.readUInt32BE(at + 2);
  return high >= 0x200000 ? -1 : 10 + key + high * 0x100000000 + chunk.readUInt32BE(at + 6);
}
