/**
 * What `evtws` says about mistakes on its command line (one line, exit 2, no stack trace, and
 * no secret quoted: a URL that does not parse is shown without its credentials, query or
 * fragment), `--help`, `--version`, and the built `bin`.
 */

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { idReply, root, runCli, startCli, startWsServerForTest, useSourceBundle } from "./helpers.js";

useSourceBundle();

const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;

/** Each bad command line and what its one-line message must say. */
const mistakes: [string[], RegExp][] = [
  [["ftp://example.com"], /URL scheme "ftp:" is not supported/],
  [["ws://"], /"ws:\/\/" is not a URL/],
  [["--min-delay", "abc", "ws://127.0.0.1:1"], /--min-delay.*"abc" is not a duration/],
  [["--ping-interval", "-1", "ws://127.0.0.1:1"], /--ping-interval.*"-1" is not a duration/],
  [["--max-attempts", "2.5", "ws://127.0.0.1:1"], /--max-attempts.*not a count/],
  [["--match", "sometimes", "ws://127.0.0.1:1"], /--match.*"sometimes" is not a match rule/],
  [["-H", "no colon here", "ws://127.0.0.1:1"], /--header.*is not a header: use "Name: value"/],
  [["--timeout"], /option '--timeout <s>' argument missing/],
  [["--bogus", "ws://127.0.0.1:1"], /unknown option '--bogus'/],
  [["ws://127.0.0.1:1", "extra"], /too many arguments/],
  [
    ["--min-delay", "5s", "--max-delay", "1s", "ws://127.0.0.1:1"],
    /--max-delay \(1000 ms\) must not be below --min-delay \(5000 ms\)/,
  ],
  [
    ["--ping-interval", "0", "--ping-msg", "hb", "ws://127.0.0.1:1"],
    /--ping-msg.*need --ping-interval above 0/,
  ],
  [["--concurrency", "-1", "ws://127.0.0.1:1"], /--concurrency.*"-1" is not a count/],
  // Checked by the library, in its units: the line still leads with the flag typed.
  [
    ["--connect-timeout", "0", "ws://127.0.0.1:1"],
    /^evtws: --connect-timeout: option connectTimeoutMs must be/,
  ],
  [
    ["--ping-interval", "5", "--pong-timeout", "99999999999", "ws://127.0.0.1:1"],
    /^evtws: --pong-timeout: option pongTimeoutMs must be/,
  ],
  [["--timeout", "9999999999", "-x", "a", "ws://127.0.0.1:1"], /^evtws: --timeout: option requestTimeoutMs/],
  // Before: `evtws: ERR_INVALID_OPTION: subprotocol must be …` from dial(), exit 1.
  [["-s", "chat, v2", "ws://127.0.0.1:1"], /^evtws: .*--subprotocol.*"chat, v2" is not a subprotocol/],
  [["-s", "", "ws://127.0.0.1:1"], /^evtws: .*--subprotocol.*"" is not a subprotocol/],
  [["-s", "a", "-s", "a", "ws://127.0.0.1:1"], /^evtws: .*--subprotocol.*"a" is offered twice/],
  [["serve", "--port", "70000"], /"70000" is not a port/],
  // Before: a Node timer cannot wait this long and fired at once: -w left after the response,
  // --drop-every cut every connection each millisecond (exit 1 here, or no exit at all).
  [["-w", "2147484", "-x", "a", "ws://127.0.0.1:1"], /--wait.*"2147484" is too long: at most 2147483 s/],
  [["serve", "--drop-every", "2147484"], /--drop-every.*"2147484" is too long/],
  [["serve", "--stall-after", "40000m"], /--stall-after.*"40000m" is too long/],
  [["serve", "--delay", "2147483648"], /--delay.*"2147483648" is too long: at most 2147483647 ms/],
  [["serve", "--echo", "--id-reply"], /cannot be used with/],
];

describe("evtws command-line mistakes", () => {
  it.each(mistakes)("%j: one clear line on stderr, exit 2, no stack trace", async (args, message) => {
    const run = await runCli(args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^evtws: /);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("usage mistakes are found before connecting", () => {
  it("--json with an -x message that is not JSON exits 2 and never dials", async () => {
    // Before: `ERR_USAGE` printed after the connection opened, and exit 1.
    const server = await startWsServerForTest();
    const run = await runCli(["--json", "-x", '{"id":1}', "-x", "notjson", server.url]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe("evtws: -x message 2: not sent: --json is on and this is not JSON\n");
    expect(server.handshakes).toHaveLength(0);
  });

  it("a piped line that is not JSON under --json stops the run with exit 2, naming the line", async () => {
    const server = await startWsServerForTest(idReply);
    const run = await runCli(["-q", "--json", server.url], { input: '{"id":1}\n\nnope\n{"id":2}\n' });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('{\n  "id": 1,\n  "ok": true\n}\n');
    expect(run.stderr).toBe("evtws: ERR_USAGE: not sent: --json is on and this is not JSON (line 3: nope)\n");
    expect(server.received).toEqual(['{"id":1}']);
  });
});

describe("stdin that is not UTF-8", () => {
  it("a piped line that is not UTF-8 stops the run with exit 2, naming the line; nothing is replaced", async () => {
    // Before: the byte 0xe9 (a Latin-1 "é") was sent as U+FFFD, silently, and the run exited 0.
    const server = await startWsServerForTest();
    const cli = startCli(["-q", server.url]);
    cli.child.stdin.end(
      Buffer.concat([Buffer.from("one\ncaf"), Buffer.from([0xe9]), Buffer.from("\nthree\n")]),
    );
    const code = await cli.exited;
    expect(cli.stderr()).toBe(
      "evtws: ERR_USAGE: not sent: not UTF-8 text; send bytes with --binary-in base64|hex (line 2)\n",
    );
    expect(code).toBe(2);
    expect(cli.stdout()).toBe("one\n");
    expect(server.received).toEqual(["one"]);
  });

  it("UTF-8 split across reads and \\r\\n line ends arrive intact", async () => {
    const server = await startWsServerForTest();
    const cli = startCli(["-q", server.url]);
    const bytes = Buffer.from("caf\u00e9 \u4e2d\r\n\u{1f600}\r\n");
    // One byte at a time: every multi-byte character and every \r\n is split between writes.
    for (const byte of bytes) cli.child.stdin.write(Buffer.from([byte]));
    cli.child.stdin.end();
    expect(await cli.exited).toBe(0);
    expect(cli.stdout()).toBe("caf\u00e9 \u4e2d\n\u{1f600}\n");
    expect(server.received).toEqual(["caf\u00e9 \u4e2d", "\u{1f600}"]);
  });
});

describe("secrets in a mistyped command line", () => {
  it("-H with its colon forgotten is refused without quoting the value", async () => {
    // Before: commander and evtws both quoted it, `"Authorization Bearer S3CRET" is not a header`,
    // into a CI log.
    const run = await runCli([
      "-H",
      "X-Tag: a",
      "-H",
      "Authorization Bearer S3CRET",
      "-x",
      "hi",
      "ws://127.0.0.1:1",
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'evtws: --header 2 is not a header: use "Name: value" (not shown: it may hold a secret)\n',
    );
  });

  it("a URL that does not parse is quoted without its credentials", async () => {
    const run = await runCli(["-x", "hi", "ws://alice:S3CRET@[::1"]);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toContain("S3CRET");
    expect(run.stderr).not.toContain("alice");
    expect(run.stderr).toBe('evtws: "ws://…@[::1" is not a URL: use ws://host[:port][/path] or wss://…\n');
    // A token in the query, as many servers take it, neither.
    const query = await runCli(["-x", "hi", "ws://127.0.0.1:99999/feed?token=S3CRET"]);
    expect(query.code).toBe(2);
    expect(query.stderr).toBe(
      'evtws: "ws://127.0.0.1:99999/feed?…" is not a URL: use ws://host[:port][/path] or wss://…\n',
    );
  });
});

describe("a URL that does not parse, quoted in the usage error", () => {
  it.each([
    ["a / in the password", "ws://alice:S3/CRET@example.com:99999/", '"ws://…@example.com:99999/"'],
    ["a # in the password", "wss://alice:S3#CRET@example.com:99999/", '"wss://…@example.com:99999/"'],
    ["an @ in the password, no scheme", "alice:S3@CRET@example.com:99999", '"…@example.com:99999"'],
  ])("%s: no part of the credentials shown", async (_, url, shown) => {
    // Before: the credentials were hidden only up to a /, ? or #: "S3/CRET" showed its end and
    // "S3#CRET" whole. A password with such a character is what makes the URL fail to parse.
    const run = await runCli(["-x", "hi", url]);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toMatch(/S3|CRET|alice/);
    expect(run.stderr).toBe(`evtws: ${shown} is not a URL: use ws://host[:port][/path] or wss://…\n`);
  });
});

describe("a URL that does not parse, quoted in the usage error: no query or fragment text", () => {
  it.each([
    [
      "an @ in the query (the last @ is not the userinfo's)",
      "ws://example.com:99999/feed?user=me@example.com&token=S3CRET",
      '"ws://…@example.com…"',
    ],
    [
      "a token in the fragment",
      "ws://example.com:99999/feed#access_token=S3CRET",
      '"ws://example.com:99999/feed#…"',
    ],
    [
      "a session id in the path's parameters",
      "ws://example.com:99999/app;jsessionid=S3CRET",
      '"ws://example.com:99999/app…"',
    ],
    [
      "an IPv6 literal with a zone id and credentials",
      "ws://alice:S3CRET@[fe80::1%eth0]:8080/",
      '"ws://…@[fe80::1%eth0]:8080/"',
    ],
  ])("%s", async (_, url, shown) => {
    // Before: the first showed "ws://…@example.com&token=S3CRET" (hiding up to the last @ took
    // the query's ? with it), the second and third their secret whole.
    const run = await runCli(["-x", "hi", url]);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toMatch(/S3CRET|alice/);
    expect(run.stderr).toBe(`evtws: ${shown} is not a URL: use ws://host[:port][/path] or wss://…\n`);
  });
});

describe("evtws --help and --version", () => {
  it("--help lists every option and exits 0", async () => {
    const run = await runCli(["--help"]);
    expect(run.code).toBe(0);
    for (const option of [
      "--subprotocol",
      "--header",
      "--no-reconnect",
      "--min-delay",
      "--max-delay",
      "--max-attempts",
      "--ping-interval",
      "--ping-msg",
      "--pong-timeout",
      "--json",
      "--match",
      "--binary",
      "--insecure",
      "--quiet",
      "--execute",
      "--timeout",
    ]) {
      expect(run.stdout).toContain(option);
    }
  });

  it("--help shows readable defaults and keeps each example apart from its description", async () => {
    // Before: `(default: {"kind":"id","path":["id"]})`, `(default: [])`, and
    // "evtws serve --port 8080 --drop-every 10 watch your client reconnect" on one line.
    const run = await runCli(["--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/--match <rule>[\s\S]*?\(default: id\)/);
    expect(run.stdout).not.toMatch(/default: [[{]/);
    const lines = run.stdout
      .slice(run.stdout.indexOf("Examples:\n") + 10)
      .trimEnd()
      .split("\n");
    expect(lines.length).toBeGreaterThan(3);
    const column = 42;
    for (const [i, line] of lines.entries()) {
      const next = lines[i + 1] ?? "";
      const descriptionBelow = line.length < column && next.startsWith(" ".repeat(column));
      const commandThenDescription = line.slice(column - 2, column) === "  " && line[column] !== " ";
      const descriptionAlone = line.startsWith(" ".repeat(column)) && line[column] !== " ";
      const commandAlone = /^ {2}\S/.test(line) && next.startsWith(" ".repeat(column));
      expect(descriptionBelow || commandThenDescription || descriptionAlone || commandAlone, line).toBe(true);
    }
  });

  it("serve --help lists the fault injection options", async () => {
    const run = await runCli(["serve", "--help"]);
    expect(run.code).toBe(0);
    for (const option of ["--port", "--echo", "--id-reply", "--drop-every", "--stall-after", "--delay"]) {
      expect(run.stdout).toContain(option);
    }
  });

  it("--version prints the package version", async () => {
    const run = await runCli(["--version"]);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(version);
  });
});

describe("the built bin (npm test builds before testing)", () => {
  const bin = join(root, "dist/cli.js");

  it("package.json points bin.evtws at dist/cli.js, which starts with a node shebang", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      bin?: Record<string, string>;
    };
    expect(pkg.bin?.evtws).toBe("./dist/cli.js");
    expect(existsSync(bin), "dist/cli.js is missing: run `npx tsup` (npm test does)").toBe(true);
    expect(readFileSync(bin, "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true);
  });

  it("runs on its own and prints the version", async () => {
    const run = await runCli(["--version"], { cli: [bin] });
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(version);
  });
});
