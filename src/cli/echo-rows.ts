/**
 * How many terminal rows a line typed at the prompt took once Enter was pressed, so the
 * session can replace that echo with its timestamped record.
 *
 * It counts as Node's readline lays the line out (readline places the cursor, so the terminal
 * agrees with it): character by character, a wide character that would straddle the last
 * column moved to the next row, a tab to the next multiple of 8, and the row Enter moves to.
 * Widths are those of single characters, as readline and terminals such as tmux count them:
 * an emoji joined by U+200D counts each of its parts, and U+FE0F adds nothing.
 * What it does not do: know the terminal; the caller passes its width.
 */

import { stripVTControlCharacters } from "node:util";
import stringWidth from "string-width";

/** readline's tab stop, in columns. */
const TAB = 8;

/**
 * The rows between the start of the echoed `prompt + line` and the row the cursor went to after
 * Enter: 1 for a line that fits, 2 for one that exactly fills a row (the cursor wraps first).
 *
 * @param text - the prompt and the line as typed.
 * @param columns - the terminal's width in columns.
 */
export function echoRows(text: string, columns: number): number {
  let offset = 0;
  for (const char of stripVTControlCharacters(text)) {
    if (char === "\t") {
      offset += TAB - (offset % TAB);
      continue;
    }
    const width = stringWidth(char);
    if (width >= 2 && (offset + 1) % columns === 0) offset++;
    offset += width;
  }
  return Math.floor(offset / columns) + 1;
}
