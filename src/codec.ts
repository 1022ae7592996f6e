/**
 * Codecs turn the user's message type into frames and back.
 *
 * `raw` passes frames through untouched (text frame ⇄ string, binary frame ⇄ Uint8Array).
 * `json()` sends JSON text frames and parses incoming text or binary frames as JSON. A codec
 * that throws while decoding makes the connection report `ERR_DECODE` and drop that one frame;
 * the connection itself stays up.
 */

/** A frame's payload: text frames are strings, binary frames are bytes. */
export type Data = string | Uint8Array;

/** Converts outgoing messages to frames and incoming frames to messages. */
export interface Codec<TIn, TOut> {
  /** Turns a message given to `send()`/`request()` into a frame. */
  encode(msg: TOut): Data;
  /** Turns a received frame into a message; throw to reject the frame. */
  decode(data: Data): TIn;
}

/**
 * What the {@link raw} codec sends: a string (a text frame), or bytes (a binary frame) as a
 * `Uint8Array`, an `ArrayBuffer` or any other view of one (`DataView`, `Float32Array`, Node's
 * `Buffer`), as a WHATWG `WebSocket` and `ws` take them. A `Blob` is not taken: its bytes can
 * only be read asynchronously (`await blob.bytes()`).
 */
export type Sendable = Data | ArrayBuffer | ArrayBufferView;

/**
 * The identity codec: what you send is what goes on the wire (an `ArrayBuffer` or a view as the
 * bytes it spans, not copied); what arrives is handed over.
 */
export const raw: Codec<Data, Sendable> = {
  encode: (msg) => {
    if (isData(msg)) return msg;
    if (msg instanceof ArrayBuffer) return new Uint8Array(msg);
    if (ArrayBuffer.isView(msg)) return new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
    throw new TypeError(
      `expected a string or bytes (Uint8Array, ArrayBuffer, a view), got ${describe(msg)} (use the json() codec for objects)`,
    );
  },
  decode: (data) => data,
};

/** True for what goes on the wire: a string (a text frame) or a `Uint8Array` (a binary one). */
export function isData(value: unknown): value is Data {
  return typeof value === "string" || value instanceof Uint8Array;
}

/** A value's type as messages name it: `null`, a primitive's `typeof`, or an object's constructor. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return value.constructor?.name ?? "object";
}

let textDecoder: TextDecoder | undefined;

/**
 * A codec for JSON text frames. `TIn` is the type of messages received, `TOut` of messages
 * sent; `json<Msg>()` types both as `Msg`.
 *
 * @example
 * ```ts
 * const conn = new Conn<Reply, Request>({ codec: json(), messageId: (m) => m.id });
 * ```
 */
export function json<TIn = unknown, TOut = TIn>(): Codec<TIn, TOut> {
  return {
    encode: (msg) => {
      const text = JSON.stringify(msg);
      if (text === undefined) throw new TypeError(`${describe(msg)} cannot be encoded as JSON`);
      return text;
    },
    decode: (data) => {
      if (typeof data === "string") return JSON.parse(data) as TIn;
      textDecoder ??= new TextDecoder("utf-8", { fatal: true });
      return JSON.parse(textDecoder.decode(data)) as TIn;
    },
  };
}

/** Any UTF-16 code unit outside ASCII (surrogates included). */
const NON_ASCII = /[\u0080-\uffff]/;

/** Byte length of a frame's payload as UTF-8, without allocating. */
export function byteLength(data: Data): number {
  if (typeof data !== "string") return data.byteLength;
  // The regex finds the first non-ASCII code unit 5-8x faster than the loop below would count
  // up to it (0.7-0.8 against 4-6 ns per character for 46 KB of JSON, Node 20); the WHATWG
  // transport counts every message sent and received. ASCII text ends here.
  const first = data.search(NON_ASCII);
  if (first < 0) return data.length;
  let bytes = first;
  for (let i = first; i < data.length; i++) {
    const c = data.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if ((c & 0xfc00) === 0xd800 && (data.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A high surrogate followed by a low one: one 4-byte character.
      bytes += 4;
      i++;
    } else bytes += 3; // lone surrogates too: they are encoded as U+FFFD, 3 bytes
  }
  return bytes;
}
