/**
 * docs/cli.md's "Coming from wscat" section, checked two ways. Its option table names only
 * options `evtws --help` lists, so the mapping cannot drift from the CLI. Its five tasks are run
 * with both tools, wscat installed from the npm registry (test/cli/wscat), against real servers
 * on 127.0.0.1 port 0: evtws must get each task right, and what the wscat column says of wscat
 * must be what wscat does.
 */

import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import { type Chain, mintChain } from "../helpers/cert.js";
import { requireTools, WSCAT } from "../helpers/tools.js";
import {
  type CliProcess,
  defaultCli,
  idReply,
  root,
  runCli,
  startCli,
  startWsServerForTest,
  useSourceBundle,
  waitFor,
} from "./helpers.js";

useSourceBundle();

const section = (() => {
  const text = readFileSync(join(root, "docs/cli.md"), "utf8");
  return text.slice(text.indexOf("## Coming from wscat"), text.indexOf("## `evtws serve`"));
})();

it("every evtws option in docs/cli.md's wscat tables is one evtws --help lists", async () => {
  const rows = section.split("\n").filter((line) => line.startsWith("| ") && !line.startsWith("| ---"));
  // The evtws column is the last one; `serve --port` belongs to the serve command.
  const flags = new Set(
    rows.flatMap((row) => {
      const cells = row.split(/(?<!\\)\|/).map((cell) => cell.trim());
      const evtws = cells.at(-2) ?? "";
      return [...evtws.replaceAll(/evtws serve --port/g, "").matchAll(/(?<![\w-])(--?[a-z][\w-]*)/g)].map(
        (m) => m[1]!,
      );
    }),
  );
  expect(flags.size).toBeGreaterThan(10);
  const help = await runCli(["--help"]);
  expect(help.code).toBe(0);
  const listed = new Set([...help.stdout.matchAll(/(?<![\w-])(--?[a-z][\w-]*)/g)].map((m) => m[1]!));
  expect([...flags].filter((flag) => !listed.has(flag))).toEqual([]);
});

/** The task table's row for `task`: its wscat and evtws cells. */
function row(task: string): { wscat: string; evtws: string } {
  const line = section.split("\n").find((l) => l.startsWith(`| ${task} |`));
  if (line === undefined) throw new Error(`docs/cli.md has no row for "${task}"`);
  const [, wscat = "", evtws = ""] = line
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim())
    .slice(1);
  return { wscat, evtws };
}

/** Starts wscat with piped stdio; its stdin stays open until the test ends it. */
const wscat = (args: string[]): CliProcess => startCli(args, { cli: [WSCAT] });

describe("docs/cli.md's five tasks, done with wscat and with evtws", requireTools("wscat", "jq"), () => {
  it("send a message and print its answer", async () => {
    const { wscat: told, evtws: shown } = row("send a message and print its answer");
    expect(shown).toContain(`\`evtws -x '{"id":1}' URL\``);
    expect(told).toContain(`\`wscat -c URL -x '{"id":1}' -w 1\``);
    const server = await startWsServerForTest(idReply);
    // evtws, with its stdin at its end as in a script: the answer, exit 0.
    const evtws = await runCli(["-x", '{"id":1}', server.url]);
    expect(evtws.stdout).toBe('{"id":1,"ok":true}\n');
    expect(evtws.code).toBe(0);
    // wscat prints the answer while its stdin stays open, and nothing when its stdin has ended.
    const open = wscat(["-c", server.url, "-x", '{"id":1}', "-w", "1"]);
    expect(await open.exited).toBe(0);
    expect(open.stdout()).toBe('{"id":1,"ok":true}\n');
    const ended = await runCli(["-c", server.url, "-x", '{"id":1}', "-w", "1"], { cli: [WSCAT] });
    expect(ended.stdout).toBe("");
    expect(told).toMatch(/stdin/);
  });

  it("pipe a file of requests", async () => {
    const { wscat: told, evtws: shown } = row("pipe a file of requests");
    expect(shown).toContain("`evtws -q URL < requests.txt`");
    expect(told).toContain("`wscat -c URL < requests.txt`");
    // Answers 20 ms after the request, the later ids first: out of order.
    const server = await startWsServerForTest((text, _binary, ws) => {
      const id = (JSON.parse(text) as { id: number }).id;
      setTimeout(() => ws.send(JSON.stringify({ id, ok: true })), 50 - 5 * id);
      return undefined;
    });
    const requests = [1, 2, 3, 4, 5].map((id) => `{"id":${id}}\n`).join("");
    const evtws = await runCli(["-q", server.url], { input: requests });
    expect(evtws.stderr).toBe("");
    expect(evtws.code).toBe(0);
    expect(evtws.stdout).toBe([1, 2, 3, 4, 5].map((id) => `{"id":${id},"ok":true}\n`).join(""));
    // wscat reads the file before it has connected, and leaves at its end: no answer.
    const piped = await runCli(["-c", server.url], { input: requests, cli: [WSCAT] });
    expect(piped.stdout).not.toMatch(/"ok":true/);
  });

  it("follow a feed into jq", async () => {
    const { wscat: told, evtws: shown } = row("follow a feed into jq");
    expect(shown).toContain("`evtws -q -n --json URL`");
    expect(shown).toContain("`jq .price`");
    const server = await startWsServerForTest(idReply, (ws) => {
      for (const price of [1.5, 2, 2.5]) ws.send(JSON.stringify({ price }));
      setTimeout(() => ws.close(1000), 200);
    });
    const url = server.url;
    const shell = (command: string) =>
      new Promise<string>((resolve, reject) =>
        execFile("sh", ["-c", command], { cwd: root, timeout: 15_000 }, (error, stdout) =>
          error ? reject(error) : resolve(stdout),
        ),
      );
    const evtws = `${process.execPath} ${defaultCli().join(" ")}`;
    expect(await shell(`${evtws} -q -n --json ${url} </dev/null | jq .price`)).toBe("1.5\n2\n2.5\n");
    // wscat's lines are the messages as sent, while its stdin stays open; at its end, none.
    const wscatCli = `${process.execPath} ${WSCAT}`;
    expect(await shell(`sleep 4 | ${wscatCli} -c ${url} | jq .price`)).toBe("1.5\n2\n2.5\n");
    expect(await shell(`${wscatCli} -c ${url} </dev/null | jq .price`)).toBe("");
    expect(told).toMatch(/stdin/);
  });

  it("reconnect through a server restart", async () => {
    const { wscat: told, evtws: shown } = row("reconnect through a server restart");
    const command = `\`evtws -n --max-attempts inf --on-connect '{"op":"sub"}' URL\``;
    expect(shown).toContain(command);
    expect(told).toMatch(/exits on disconnect/);
    // Each subscription is answered with a price.
    let price = 0;
    const server = await startWsServerForTest((text) =>
      text === '{"op":"sub"}' ? JSON.stringify({ price: ++price }) : undefined,
    );
    const peer = server;
    const evtws = startCli([
      "-q",
      "-n",
      "--max-attempts",
      "inf",
      "--min-delay",
      "20ms",
      "--max-delay",
      "100ms",
      "--on-connect",
      '{"op":"sub"}',
      peer.url,
    ]);
    try {
      evtws.child.stdin.end();
      await evtws.waitFor("stdout", /"price":1/);
      await peer.stop();
      await peer.start();
      await evtws.waitFor("stdout", /"price":2/);
      expect(evtws.stdout()).toBe('{"price":1}\n{"price":2}\n');
      expect(peer.received).toEqual(['{"op":"sub"}', '{"op":"sub"}']);
      evtws.child.kill("SIGTERM");
      expect(await evtws.exited).toBe(143);
    } finally {
      evtws.kill();
    }
    // wscat subscribes, then leaves when the server goes: nothing after the restart.
    const w = wscat(["-c", peer.url]);
    try {
      await waitFor("wscat to connect", () => peer.clients.size === 1);
      w.send('{"op":"sub"}');
      await w.waitFor("stdout", /"price":3/);
      await peer.stop();
      expect(await w.exited).toBe(0);
      await peer.start();
    } finally {
      w.kill();
    }
  });

  describe("connect with a client certificate", () => {
    let pki: Chain;
    let https: Server;
    let wss: WebSocketServer;
    let url: string;
    beforeAll(async () => {
      pki = await mintChain();
      https = createServer({
        key: pki.serverKey,
        cert: pki.serverCert,
        ca: pki.ca,
        requestCert: true,
        rejectUnauthorized: true,
      });
      wss = new WebSocketServer({ server: https });
      wss.on("connection", (ws: WebSocket) => ws.on("message", (data) => ws.send(String(data))));
      await new Promise<void>((resolve) => https.listen(0, "127.0.0.1", resolve));
      url = `wss://127.0.0.1:${(https.address() as AddressInfo).port}/`;
    });
    afterAll(async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await new Promise((resolve) => https.close(resolve));
      pki.remove();
    });

    it("both tools, with --ca, --cert and --key", async () => {
      const { wscat: told, evtws: shown } = row("connect with a client certificate");
      expect(shown).toContain("`evtws --ca ca.pem --cert c.pem --key k.pem wss://host`");
      expect(told).toContain("`wscat -c wss://host --ca ca.pem --cert c.pem --key k.pem`");
      const tls = ["--ca", pki.files.ca, "--cert", pki.files.clientCert, "--key", pki.files.clientKey];
      const evtws = await runCli([...tls, "-x", '{"id":1}', url]);
      expect(evtws.stderr).toMatch(/connected to wss:/);
      expect(evtws.stdout).toBe('{"id":1}\n');
      expect(evtws.code).toBe(0);
      const w = wscat(["-c", url, ...tls, "-x", '{"id":1}', "-w", "1"]);
      expect(await w.exited).toBe(0);
      expect(w.stdout()).toBe('{"id":1}\n');
    });
  });
});
