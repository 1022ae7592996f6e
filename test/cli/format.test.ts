/** Rendering of timestamps, bodies, lines and stats, with and without colour. */

import { describe, expect, it } from "vitest";
import {
  dataLine,
  describeError,
  eventLine,
  formatStats,
  hex,
  renderBody,
  renderLine,
  shouldColor,
  timestamp,
} from "../../src/cli/format.js";

const at = new Date(2026, 0, 2, 3, 4, 5, 6);

describe("shouldColor", () => {
  it.each([
    [true, {}, true],
    [false, {}, false],
    [true, { NO_COLOR: "1" }, false],
    [true, { NO_COLOR: "" }, true],
    [false, { FORCE_COLOR: "1" }, true],
    [false, { FORCE_COLOR: "0" }, false],
    [true, { NO_COLOR: "1", FORCE_COLOR: "1" }, false],
  ] as const)("isTTY %s with %j gives %s", (isTTY, env, expected) => {
    expect(shouldColor({ isTTY }, env)).toBe(expected);
  });
});

describe("bodies", () => {
  it("pretty-prints JSON when asked, and leaves other text alone", () => {
    expect(renderBody('{"a":[1]}', { json: true, binary: false })).toBe('{\n  "a": [\n    1\n  ]\n}');
    expect(renderBody('{"a":[1]}', { json: false, binary: false })).toBe('{"a":[1]}');
    expect(renderBody("not json", { json: true, binary: false })).toBe("not json");
  });

  it("shows binary frames as hex with --binary, else as tagged text", () => {
    const bytes = new Uint8Array([104, 105, 0, 255]);
    expect(hex(bytes)).toBe("68 69 00 ff");
    expect(renderBody(bytes, { json: false, binary: true })).toBe("68 69 00 ff");
    expect(renderBody(new Uint8Array([104, 105]), { json: false, binary: false })).toBe("(binary 2 B) hi");
  });

  it("on a terminal, a binary frame's control characters are escaped, not written raw", () => {
    // Before: ESC, CR and the rest reached the terminal, which obeyed them (cleared the screen).
    const bytes = new Uint8Array(Buffer.from("h\x1b[2J\r\n\t\x00\x7f\u0085\u00e9", "utf8"));
    expect(renderBody(bytes, { json: false, binary: false })).toBe(
      String.raw`(binary 14 B) h\x1b[2J\r\n\t\x00\x7f\x85é`,
    );
    expect(renderBody(bytes, { json: false, binary: true })).toBe(
      "68 1b 5b 32 4a 0d 0a 09 00 7f c2 85 c3 a9",
    );
  });

  it("on a terminal, a text's control characters but newline and tab are escaped; in a pipeline it is as sent", () => {
    const text = "a\x1b[2J\r\nb\tc\u0085";
    const shown = "a\\x1b[2J\\r\nb\tc\\x85";
    expect(renderBody(text, { json: false, binary: false })).toBe(shown);
    expect(renderBody(text, { json: true, binary: false })).toBe(shown);
    expect(renderBody(text, { json: false, binary: false, pipeline: true })).toBe(text);
    expect(renderLine(text, { json: true, binary: false, pipeline: true })).toBe(text);
  });

  it("in a pipeline, shows binary frames as base64, as hex with --hex, as a JSON string with --json", () => {
    const bytes = new Uint8Array([0, 1, 254, 255]);
    expect(renderBody(bytes, { json: false, binary: false, pipeline: true })).toBe("AAH+/w==");
    expect(renderBody(bytes, { json: false, binary: true, pipeline: true })).toBe("00 01 fe ff");
    expect(renderBody(bytes, { json: true, binary: false, pipeline: true })).toBe('"AAH+/w=="');
    expect(renderLine(bytes, { json: true, binary: true, pipeline: true })).toBe('"00 01 fe ff"');
    // Text frames are unaffected.
    expect(renderLine('{"a": 1}', { json: true, binary: false, pipeline: true })).toBe('{"a":1}');
  });
});

describe("lines", () => {
  it("timestamps are local HH:MM:SS.mmm", () => {
    expect(timestamp(at)).toBe("03:04:05.006");
  });

  it("a data line has the timestamp, the marker and the body; continuation lines are indented", () => {
    expect(dataLine(false, at, "<", "a\nb")).toBe("03:04:05.006 < a\n               b");
    expect(dataLine(false, at, ">", "x")).toBe("03:04:05.006 > x");
  });

  it("colour wraps the timestamp dim and the marker green or cyan, and only with colour on", () => {
    expect(dataLine(true, at, "<", "x")).toBe("\u001b[2m03:04:05.006\u001b[22m \u001b[32m<\u001b[39m x");
    expect(eventLine(true, at, "connected")).toBe("\u001b[2m03:04:05.006 * connected\u001b[22m");
    expect(eventLine(false, at, "connected")).toBe("03:04:05.006 * connected");
  });

  it("errors show their code first", () => {
    expect(describeError({ code: "ERR_X", message: "went wrong" })).toBe("ERR_X: went wrong");
    expect(describeError(new Error("plain"))).toBe("plain");
  });
});

describe("formatStats", () => {
  it("lists every counter, and the RTT once there is one", () => {
    const stats = {
      messagesSent: 2,
      messagesReceived: 3,
      bytesSent: 10,
      bytesReceived: 30,
      reconnects: 1,
      pendingRequests: 0,
      queuedMessages: 4,
    };
    const text = formatStats(stats, "open");
    expect(text).toMatch(/state\s+open/);
    expect(text).toMatch(/sent\s+2 messages, 10 bytes/);
    expect(text).toMatch(/received\s+3 messages, 30 bytes/);
    expect(text).toMatch(/reconnects\s+1/);
    expect(text).toMatch(/queued\s+4 messages/);
    expect(text).toMatch(/last RTT\s+-/);
    expect(formatStats({ ...stats, lastRttMs: 1.25 }, "open")).toMatch(/last RTT\s+1\.3 ms/);
  });
});
