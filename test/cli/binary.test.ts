/**
 * Binary frames in and out of `evtws` (issue 20, part 4): `--binary-in base64|hex` decodes each
 * line into the bytes of one binary frame; in a pipeline, binary frames print as base64, as hex
 * with `--hex`, and as a JSON string with `--json`. Checked byte for byte against a `ws` server
 * on 127.0.0.1 port 0 and against Python `websockets`; bad input is a usage mistake naming its
 * line, never replaced (raw bytes piped to `--binary-in base64` included).
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { requireTools } from "../helpers/tools.js";
import {
  type PythonServer,
  runCli,
  startCli,
  startPythonServer,
  startWsServerForTest,
  useSourceBundle,
} from "./helpers.js";

useSourceBundle();

/** Bytes a text frame could not carry: NUL, newline, CR, and invalid UTF-8. */
const BYTES = Buffer.from([0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x0a, 0x0d]);
const LONG = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 37) % 256));

/** Echoes every frame with its own type and bytes (the helper's reply would decode binary as UTF-8). */
function echoBytes(ws: WebSocket): void {
  ws.on("message", (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
}

describe("--binary-in and binary output, against ws", () => {
  it("--binary-in base64 sends the decoded bytes; the binary echoes print as base64 in a pipeline", async () => {
    const server = await startWsServerForTest(() => undefined, echoBytes);
    const lines = [BYTES.toString("base64"), LONG.toString("base64")];
    const run = await runCli(["-q", "--binary-in", "base64", "--match", "echo", server.url], {
      input: `${lines.join("\n")}\n`,
    });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(server.received).toEqual([`bin:${BYTES.toString("hex")}`, `bin:${LONG.toString("hex")}`]);
    expect(run.stdout).toBe(`${lines.join("\n")}\n`);
  });

  it("--binary-in hex with --hex: hex in (spaces and colons allowed), the same hex out", async () => {
    const server = await startWsServerForTest(() => undefined, echoBytes);
    const run = await runCli(["-q", "--binary-in", "hex", "--hex", "--match", "echo", server.url], {
      input: "00 01 7f 80 fe ff 0a 0d\nDE:AD:be:ef\n",
    });
    expect(run.code).toBe(0);
    expect(server.received).toEqual([`bin:${BYTES.toString("hex")}`, "bin:deadbeef"]);
    expect(run.stdout).toBe("00 01 7f 80 fe ff 0a 0d\nde ad be ef\n");
  });

  it("base64url input decodes too, and -x takes encoded messages", async () => {
    const server = await startWsServerForTest(() => undefined, echoBytes);
    const run = await runCli(
      ["-q", "--binary-in", "base64", "--match", "echo", "-x", BYTES.toString("base64url"), server.url],
      {},
    );
    expect(run.code).toBe(0);
    expect(server.received).toEqual([`bin:${BYTES.toString("hex")}`]);
    expect(run.stdout).toBe(`${BYTES.toString("base64")}\n`);
  });

  it("pushed binary frames stream as base64, as hex with --hex, as JSON strings with --json", async () => {
    const push = (ws: WebSocket) => {
      ws.send(BYTES, { binary: true });
      ws.send('{"t": 1}');
      ws.close(1000);
    };
    const server = await startWsServerForTest(() => undefined, push);
    const plain = await runCli(["-q", "-n", server.url]);
    const hex = await runCli(["-q", "-n", "--hex", server.url]);
    const json = await runCli(["-q", "-n", "--json", server.url]);
    expect([plain.code, hex.code, json.code]).toEqual([0, 0, 0]);
    expect(plain.stdout).toBe(`${BYTES.toString("base64")}\n{"t": 1}\n`);
    expect(hex.stdout).toBe('00 01 7f 80 fe ff 0a 0d\n{"t": 1}\n');
    expect(json.stdout).toBe(`"${BYTES.toString("base64")}"\n{"t":1}\n`);
    // Every line of --json output parses, so `| jq` never stops at a binary frame.
    expect(
      json.stdout
        .trimEnd()
        .split("\n")
        .map((line) => JSON.parse(line)),
    ).toEqual([BYTES.toString("base64"), { t: 1 }]);
  });

  it("a line that does not decode is a usage mistake naming its line: exit 2, nothing replaced", async () => {
    const server = await startWsServerForTest(() => undefined, echoBytes);
    const run = await runCli(["-q", "--binary-in", "base64", "--match", "echo", server.url], {
      input: "aGk=\naGk!\naGk=\n",
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      "evtws: ERR_USAGE: not sent: --binary-in base64 needs base64 (A-Z a-z 0-9 + / =) (line 2: aGk!)\n",
    );
    expect(server.received).toEqual(["bin:6869"]);
    expect(run.stdout).toBe("aGk=\n");
  });

  it("a bad -x message exits 2 before any connection; --binary-in with --json is refused", async () => {
    const server = await startWsServerForTest(() => undefined, echoBytes);
    const odd = await runCli(["--binary-in", "hex", "-x", "abc", server.url]);
    expect(odd.code).toBe(2);
    expect(odd.stderr).toBe(
      "evtws: -x message 1: not sent: --binary-in hex needs pairs of hex digits (0-9, a-f)\n",
    );
    const json = await runCli(["--binary-in", "hex", "--json", "-x", "00", server.url]);
    expect(json.code).toBe(2);
    expect(json.stderr).toMatch(/--binary-in.*cannot be used with option '--json'/);
    const unknown = await runCli(["--binary-in", "utf16", "-x", "00", server.url]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/"utf16" is not a binary encoding: use base64 or hex/);
    expect(server.handshakes).toHaveLength(0);
  });
});

describe("binary against Python websockets", requireTools("python3-websockets"), () => {
  let py: PythonServer;
  beforeAll(async () => {
    py = await startPythonServer();
  }, 20_000);
  afterAll(() => py?.stop());

  it("base64 in, the same bytes back from /echo, base64 out; hex likewise", async () => {
    const lines = [BYTES.toString("base64"), LONG.toString("base64")];
    const b64 = await runCli(["-q", "--binary-in", "base64", "--match", "echo", `${py.base}/echo`], {
      input: `${lines.join("\n")}\n`,
    });
    expect(b64.stderr).toBe("");
    expect(b64.stdout).toBe(`${lines.join("\n")}\n`);
    expect(b64.code).toBe(0);
    const hex = await runCli(["-q", "--binary-in", "hex", "--hex", "--match", "echo", `${py.base}/echo`], {
      input: `${LONG.toString("hex")}\n`,
    });
    expect(hex.code).toBe(0);
    expect(hex.stdout.trimEnd().replaceAll(" ", "")).toBe(LONG.toString("hex"));
  });

  it("streams /feed's binary push as base64 and its text push as text", async () => {
    const cli = startCli(["-q", "-n", `${py.base}/feed`]);
    try {
      cli.child.stdin.end();
      await cli.waitFor("stdout", /py text/);
      const pushed = Buffer.concat([Buffer.from([0x00, 0x01, 0xfe, 0xff]), Buffer.from("py")]);
      expect(cli.stdout()).toBe(`${pushed.toString("base64")}\npy text\n`);
    } finally {
      cli.kill();
    }
  });
});

describe("--binary-in with raw bytes piped (not base64 or hex text)", () => {
  it("stops at that line with exit 2, saying the line is not base64, not to use --binary-in", async () => {
    // Before: "not UTF-8 text; send bytes with --binary-in base64|hex", to one who gave it.
    const server = await startWsServerForTest();
    const cli = startCli(["-q", "--binary-in", "base64", server.url]);
    cli.child.stdin.end(Buffer.concat([Buffer.from("aGk=\n"), Buffer.from([0xe9, 0xff, 0x0a])]));
    const code = await cli.exited;
    expect(cli.stderr()).toBe(
      "evtws: ERR_USAGE: not sent: --binary-in base64 needs base64 (A-Z a-z 0-9 + / =) (line 2)\n",
    );
    expect(code).toBe(2);
    // (This helper server answers a binary frame with its bytes as text.)
    expect(cli.stdout()).toBe("hi\n");
    expect(server.received).toEqual(["bin:6869"]);
  });
});
