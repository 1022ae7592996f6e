/**
 * Lines of a readable stream, read only as fast as they are consumed: the stream's own async
 * iterator pulls one chunk at a time, so a slow consumer pauses the producer (`seq 1 1e6 |
 * evtws …` holds at most a chunk and one partial line in memory), which `readline`'s
 * iterator does not promise.
 */

import { StringDecoder } from "node:string_decoder";

/** Yields each line of `input` without its `\n` (or `\r\n`); a last line without one too. */
export async function* readLines(input: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new StringDecoder("utf8");
  let rest = "";
  for await (const chunk of input) {
    rest += typeof chunk === "string" ? chunk : decoder.write(chunk);
    let start = 0;
    for (let nl = rest.indexOf("\n"); nl >= 0; nl = rest.indexOf("\n", start)) {
      const end = nl > start && rest.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      yield rest.slice(start, end);
      start = nl + 1;
    }
    rest = rest.slice(start);
  }
  rest += decoder.end();
  if (rest !== "") yield rest.endsWith("\r") ? rest.slice(0, -1) : rest;
}
