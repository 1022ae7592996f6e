/**
 * Lines of a readable stream, read only as fast as they are consumed: the stream's own async
 * iterator pulls one chunk at a time, so a slow consumer pauses the producer (`seq 1 1e6 |
 * evtws …` holds at most a chunk and one partial line in memory), which `readline`'s
 * iterator does not promise.
 *
 * Lines are split on bytes and each is decoded as UTF-8 on its own, strictly: a line that is
 * not UTF-8 is refused with {@link NotUtf8Error}, never sent with its bytes replaced by U+FFFD
 * (a text frame cannot carry them; `--binary-in` sends bytes). A byte order mark that starts
 * the input is dropped.
 */

import { UsageError } from "./parse.js";

/** A line of input that is not UTF-8 text; the lines before it were yielded. */
export class NotUtf8Error extends UsageError {
  constructor() {
    super("not sent: not UTF-8 text; send bytes with --binary-in base64|hex");
  }
}

/**
 * Yields each line of `input` without its `\n` (or `\r\n`); a last line without one too.
 *
 * @throws NotUtf8Error, from the iterator, at the first line that is not UTF-8.
 */
export async function* readLines(input: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  // ignoreBOM keeps a U+FEFF that starts a line in its text: each line is decoded on its own,
  // and only the stream's first bytes can be a byte order mark (a file saved by Notepad), which
  // is dropped there, as the WHATWG decoder does for a whole stream (RFC 8259 lets JSON
  // readers ignore it; a server would refuse it in the line).
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let first = true;
  const decode = (line: Buffer): string => {
    const end = line.length > 0 && line[line.length - 1] === 13 ? line.length - 1 : line.length;
    let text: string;
    try {
      text = decoder.decode(line.subarray(0, end));
    } catch {
      throw new NotUtf8Error();
    }
    if (first) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) return text.slice(1);
    }
    return text;
  };
  // The pieces of the line being read, joined once its end comes: a line spread over many
  // chunks costs one copy, not one per chunk.
  let pieces: Buffer[] = [];
  for await (const chunk of input) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    let start = 0;
    for (let nl = bytes.indexOf(10); nl >= 0; nl = bytes.indexOf(10, start)) {
      pieces.push(bytes.subarray(start, nl));
      const line = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
      pieces = [];
      start = nl + 1;
      yield decode(line);
    }
    if (start < bytes.length) pieces.push(bytes.subarray(start));
  }
  if (pieces.length > 0) yield decode(Buffer.concat(pieces));
}
