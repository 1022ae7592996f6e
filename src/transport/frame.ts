/**
 * Client data frames (RFC 6455 §5.2), built and masked in one buffer.
 *
 * Why not leave it to `ws`: without its optional native add-on, `ws` masks a client frame one
 * byte at a time, which was 60% of the CPU of a client sending 64 KiB messages. Here the payload
 * is masked four bytes at a time (or by that add-on where it is installed), and header and
 * payload are one buffer (one write). Only data frames are built here; the handshake, pings,
 * pongs, the closing handshake and everything received stay with `ws`. The masking key comes
 * from a cryptographically strong random pool, as in `ws`, one fresh key per frame.
 */

import { randomFillSync } from "node:crypto";
import { createRequire } from "node:module";

/** Opcode of a text frame. */
export const TEXT = 0x1;
/** Opcode of a binary frame. */
export const BINARY = 0x2;

const KEY_POOL_BYTES = 8192;
/** Random bytes for masking keys, made on the first frame (nothing is allocated at import). */
let keyPool: Buffer | undefined;
let keyPoolAt = KEY_POOL_BYTES;

type NativeMask = (
  source: Uint8Array,
  mask: Uint8Array,
  output: Uint8Array,
  offset: number,
  length: number,
) => void;

/**
 * `ws`'s optional native add-on, loaded as `ws` loads it (`WS_NO_BUFFER_UTIL` turns both off):
 * where it is installed, a user who installed it for `ws` gets it here too (with add-ons on, 64 KiB
 * sends read 0.58x raw `ws` with the word loop below, 0.99x with the add-on). Loaded on the first
 * frame whose payload is large enough to use it, not at import: a native add-on is work nobody
 * asked for yet, and its loader (node-gyp-build) reads `window`. `undefined` until then, or
 * where there is none; replaceable in tests to cover both paths (`loaded` is then set too).
 */
export const masking: { native: NativeMask | undefined; loaded: boolean } = {
  native: undefined,
  loaded: false,
};

/** The native mask, loading it on the first call. */
function nativeMask(): NativeMask | undefined {
  if (!masking.loaded) {
    masking.loaded = true;
    masking.native = loadNativeMask();
  }
  return masking.native;
}

function loadNativeMask(): NativeMask | undefined {
  if (process.env.WS_NO_BUFFER_UTIL) return undefined;
  try {
    // Resolved from this file, like a require() here: __filename in the CommonJS build.
    const from = typeof __filename === "string" ? __filename : import.meta.url;
    const mask = (createRequire(from)("bufferutil") as { mask?: unknown }).mask;
    return typeof mask === "function" ? (mask as NativeMask) : undefined;
  } catch {
    return undefined;
  }
}

/** Payloads from this size on go to the native mask when there is one (a call costs more below). */
const NATIVE_MASK_MIN = 1024;

/** Shorter payloads are masked byte by byte: a word view costs more than it saves. */
const WORD_MASK_MIN = 64;

/** The masking key rotated to a word boundary, read back as one platform-order word. */
const rotated = new Uint8Array(4);
const rotatedWord = new Uint32Array(rotated.buffer);

/**
 * Builds one final, masked, uncompressed data frame: a string as UTF-8 (`opcode` {@link TEXT}),
 * bytes as they are (`opcode` {@link BINARY}; the caller's bytes are copied, never changed).
 * `payloadBytes` must be the payload's exact size (`Buffer.byteLength` of a string). Returns
 * the frame; its payload is `frame.length - headerBytes(payloadBytes)` bytes.
 */
export function buildFrame(opcode: number, data: string | Uint8Array, payloadBytes: number): Buffer {
  const frame = Buffer.allocUnsafe(headerBytes(payloadBytes) + payloadBytes);
  writeFrame(frame, 0, opcode, data, payloadBytes);
  return frame;
}

/**
 * Writes the frame {@link buildFrame} would build into `target` at `offset` (the caller made
 * room for `headerBytes(payloadBytes) + payloadBytes` bytes) and returns where it ends.
 */
export function writeFrame(
  target: Buffer,
  offset: number,
  opcode: number,
  data: string | Uint8Array,
  payloadBytes: number,
): number {
  const at = offset + headerBytes(payloadBytes);
  const keyAt = at - 4;
  const end = at + payloadBytes;
  target[offset] = 0x80 | opcode;
  if (payloadBytes < 126) target[offset + 1] = 0x80 | payloadBytes;
  else if (payloadBytes <= 0xffff) {
    target[offset + 1] = 0x80 | 126;
    target.writeUInt16BE(payloadBytes, offset + 2);
  } else {
    target[offset + 1] = 0x80 | 127;
    target.writeUInt32BE(Math.floor(payloadBytes / 0x100000000), offset + 2);
    target.writeUInt32BE(payloadBytes >>> 0, offset + 6);
  }
  let pool = keyPool;
  if (pool === undefined || keyPoolAt === KEY_POOL_BYTES) {
    pool = keyPool ??= Buffer.allocUnsafeSlow(KEY_POOL_BYTES);
    randomFillSync(pool);
    keyPoolAt = 0;
  }
  const k = keyPoolAt;
  target[keyAt] = pool[k]!;
  target[keyAt + 1] = pool[k + 1]!;
  target[keyAt + 2] = pool[k + 2]!;
  target[keyAt + 3] = pool[k + 3]!;
  keyPoolAt = k + 4;
  if (typeof data === "string") {
    // Buffers here are not zero-filled: every byte must be written, or old memory would be sent.
    if (target.write(data, at, payloadBytes, "utf8") !== payloadBytes) throw new Error("UTF-8 size mismatch");
  } else target.set(data, at);
  const native = payloadBytes >= NATIVE_MASK_MIN ? nativeMask() : undefined;
  if (native !== undefined) {
    native(target.subarray(at, end), target.subarray(keyAt, at), target, at, payloadBytes);
  } else mask(target, at, end, keyAt);
  return end;
}

/** Size of the header {@link buildFrame} writes before a payload of `payloadBytes`. */
export function headerBytes(payloadBytes: number): number {
  return payloadBytes < 126 ? 6 : payloadBytes <= 0xffff ? 8 : 14;
}

/**
 * XORs `frame` from `at` to `end` with the 4-byte key at `keyAt`: byte by byte up to a word
 * boundary of the underlying memory, then a word at a time (the key rotated to match), then the
 * last bytes.
 */
function mask(frame: Buffer, at: number, end: number, keyAt: number): void {
  let i = at;
  if (end - at < WORD_MASK_MIN) {
    for (; i < end; i++) frame[i] = frame[i]! ^ frame[keyAt + ((i - at) & 3)]!;
    return;
  }
  for (; i < end && ((frame.byteOffset + i) & 3) !== 0; i++)
    frame[i] = frame[i]! ^ frame[keyAt + ((i - at) & 3)]!;
  const words = (end - i) >>> 2;
  if (words > 0) {
    const r = i - at;
    for (let k = 0; k < 4; k++) rotated[k] = frame[keyAt + ((r + k) & 3)]!;
    const key = rotatedWord[0]!;
    const view = new Uint32Array(frame.buffer, frame.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w] = view[w]! ^ key;
    i += words * 4;
  }
  for (; i < end; i++) frame[i] = frame[i]! ^ frame[keyAt + ((i - at) & 3)]!;
}
