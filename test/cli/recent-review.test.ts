/**
 * Adversarial review of the tenth pass's late CLI changes (recent-review), against a real
 * server: giving up under -n/-w, the byte order mark at the start of stdin, -H joined by name,
 * and the usage error quoting a URL that does not parse.
 */

import { describe, expect, it } from "vitest";
import { idReply, runCli, startCli, startWsServerForTest, useSourceBundle, waitFor } from "./helpers.js";

useSourceBundle();

const ECHO = ["-q", "--match", "echo"];

describe("--max-attempts 0 under -n/-w: no retry asked for, so no give-up (as --no-reconnect)", () => {
  it.each([[["-q", "-n", "--max-attempts", "0"]], [["-q", "-w", "2", "--max-attempts", "0"]]])(
    "%j, the server closing with 1000: exit 0, nothing said, as with --no-reconnect",
    async (args) => {
      // Before: "evtws: ERR_RECONNECT_EXHAUSTED: gave up after 0 reconnect attempts: closed 1000
      // bye", exit 1, for no retry asked for and none made (--no-reconnect ended with 0).
      const server = await startWsServerForTest(idReply, (ws) => setTimeout(() => ws.close(1000, "bye"), 50));
      const run = await runCli([...args, server.url]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(server.handshakes).toHaveLength(1);
    },
  );

  it("-n --max-attempts 0 without -q: the event lines are --no-reconnect's, no give-up among them", async () => {
    // Before (with the exit fixed alone): "! ERR_RECONNECT_EXHAUSTED: gave up after 0 reconnect
    // attempts" among the events of a run that exits 0.
    const server = await startWsServerForTest(idReply, (ws) => setTimeout(() => ws.close(1000, "bye"), 50));
    const runs = [];
    for (const flag of ["--max-attempts", "--no-reconnect"])
      runs.push(await runCli(["-n", ...(flag === "--no-reconnect" ? [flag] : [flag, "0"]), server.url]));
    const events = runs.map((run) => run.stderr.replace(/^[\d:.]+ /gm, "").replace(/:\d+\//g, ":PORT/"));
    expect(runs.map((run) => run.code)).toEqual([0, 0]);
    expect(events[0]).toBe(events[1]);
    expect(events[0]).not.toMatch(/gave up|EXHAUSTED/);
  });

  it("--max-attempts 1, the server closing every connection with 1000: one retry made, then exit 1 and both told (held)", async () => {
    const server = await startWsServerForTest(idReply, (ws) => setTimeout(() => ws.close(1000, "bye"), 50));
    const run = await runCli(["-q", "-n", "--max-attempts", "1", "--min-delay", "10", server.url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      "evtws: ERR_RECONNECT_EXHAUSTED: gave up after 1 reconnect attempts: closed 1000 bye\n",
    );
    expect(server.handshakes).toHaveLength(2);
  });

  it("--max-attempts 0, the server closing with 4001: reported as the close, exit 1, as with --no-reconnect", async () => {
    // Before: "gave up after 0 reconnect attempts: closed 4001 go away".
    const server = await startWsServerForTest(idReply, (ws) =>
      setTimeout(() => ws.close(4001, "go away"), 50),
    );
    const run = await runCli(["-q", "-n", "--max-attempts", "0", server.url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe("evtws: closed 4001 go away\n");
  });
});

describe("a byte order mark at the start of stdin (held)", () => {
  it("split across two writes (EF, then BB BF and the line): dropped, the line sent as typed", async () => {
    const server = await startWsServerForTest();
    const cli = startCli([...ECHO, server.url]);
    // Once the CLI runs (it has dialled), so the two writes reach it as two reads.
    await waitFor("the handshake", () => server.handshakes.length === 1);
    cli.child.stdin.write(Buffer.from([0xef]));
    await new Promise((r) => setTimeout(r, 100));
    cli.child.stdin.end(Buffer.concat([Buffer.from([0xbb, 0xbf]), Buffer.from('{"a":1}\n')]));
    expect(await cli.exited).toBe(0);
    expect(server.received).toEqual(['{"a":1}']);
    expect(cli.stdout()).toBe('{"a":1}\n');
  });

  it("stdin that is only a byte order mark: nothing sent, exit 0", async () => {
    const server = await startWsServerForTest();
    const run = await runCli([...ECHO, server.url], { input: "\uFEFF" });
    expect(run.code).toBe(0);
    expect(server.received).toEqual([]);
    expect(run.stderr).toBe("");
  });

  it("a byte order mark that starts the second line is not the stream's: kept in what is sent", async () => {
    const server = await startWsServerForTest();
    const run = await runCli([...ECHO, server.url], { input: "\uFEFFone\n\uFEFFtwo\n" });
    expect(run.code).toBe(0);
    expect(server.received).toEqual(["one", "\uFEFFtwo"]);
  });
});

describe("-H given more than once (held)", () => {
  it("Cookie and cookie joined with '; ' under the first spelling, X-A and x-a with ', ', __proto__ and __PROTO__ joined", async () => {
    const server = await startWsServerForTest();
    const headers = [
      "Cookie: a=1",
      "cookie: b=2",
      "X-A: 1",
      "x-a: 2",
      "__proto__: p",
      "__PROTO__: q",
      "constructor: c",
    ];
    const run = await runCli([...headers.flatMap((h) => ["-H", h]), ...ECHO, server.url]);
    expect(run.code).toBe(0);
    const raw = server.handshakes[0]?.rawHeaders ?? [];
    const lines = raw.flatMap((v, i) => (i % 2 === 0 ? [`${v}: ${raw[i + 1]}`] : []));
    expect(lines.filter((l) => /^(cookie|x-a|__proto__|constructor):/i.test(l))).toEqual([
      "Cookie: a=1; b=2",
      "X-A: 1, 2",
      "__proto__: p, q",
      "constructor: c",
    ]);
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
