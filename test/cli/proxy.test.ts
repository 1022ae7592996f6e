/**
 * `evtws --proxy` / `--no-proxy` and the proxy environment variables (read by default, as curl
 * does), through a real proxy-chain CONNECT proxy with authentication.
 */

import { describe, expect, it } from "vitest";
import { proxyChain } from "../helpers/proxy.js";
import { runCli, startWsServerForTest, useSourceBundle, type WsServer } from "./helpers.js";

useSourceBundle();

const echo = () => startWsServerForTest((text) => text);
const target = (s: WsServer) => new URL(s.url).host;

describe("evtws through an HTTP proxy", () => {
  it("--proxy with credentials: the session goes through the proxy", async () => {
    const server = await echo();
    const proxy = await proxyChain({ user: "u", password: "s3cr3tPw" });
    const run = await runCli([
      "--proxy",
      `http://u:s3cr3tPw@127.0.0.1:${proxy.port}`,
      "--match",
      "echo",
      "-x",
      "hi",
      server.url,
    ]);
    expect(run.stderr).not.toMatch(/ERR_/);
    expect(run.stderr).not.toContain("s3cr3tPw");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("hi\n");
    expect(proxy.connects).toEqual([target(server)]);
  });

  it("HTTP_PROXY is honoured by default, and --proxy wins over it", async () => {
    const server = await echo();
    const fromEnv = await proxyChain();
    const given = await proxyChain();
    const env = { HTTP_PROXY: fromEnv.url };
    const run = await runCli(["--match", "echo", "-x", "hi", server.url], { env });
    expect(run.code).toBe(0);
    expect(fromEnv.connects).toEqual([target(server)]);
    const run2 = await runCli(["--proxy", given.url, "--match", "echo", "-x", "hi", server.url], { env });
    expect(run2.code).toBe(0);
    expect(fromEnv.connects).toHaveLength(1);
    expect(given.connects).toEqual([target(server)]);
  });

  it("--no-proxy ignores HTTP_PROXY, and NO_PROXY bypasses it: the proxy sees nothing", async () => {
    const server = await echo();
    const proxy = await proxyChain();
    const run = await runCli(["--no-proxy", "--match", "echo", "-x", "hi", server.url], {
      env: { HTTP_PROXY: proxy.url },
    });
    expect(run.code).toBe(0);
    const run2 = await runCli(["--match", "echo", "-x", "hi", server.url], {
      env: { HTTP_PROXY: proxy.url, NO_PROXY: "127.0.0.1" },
    });
    expect(run2.code).toBe(0);
    expect(server.received).toEqual(["hi", "hi"]);
    expect(proxy.connects).toEqual([]);
  });

  it("a 407 exits 1 with ERR_DIAL_FAILED naming the proxy's answer, and never prints the password", async () => {
    const server = await echo();
    const proxy = await proxyChain({ user: "u", password: "right" });
    const run = await runCli([
      "--proxy",
      `http://u:wr0ngPa55@127.0.0.1:${proxy.port}`,
      "-x",
      "hi",
      server.url,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^evtws: ERR_DIAL_FAILED: .*proxy.*407/m);
    expect(run.stdout + run.stderr).not.toContain("wr0ngPa55");
  });
  it.each([
    "socks5://u:s3cretPw@127.0.0.1:1",
    "http://u:s3cretPw%zz@127.0.0.1:1",
    "http://u:2024#s3cretPw@127.0.0.1:1",
  ])(
    "--proxy %s is a usage mistake: exit 2 before dialling, naming --proxy, never printing the password",
    async (proxy) => {
      let connections = 0;
      const server = await startWsServerForTest(
        (text) => text,
        () => connections++,
      );
      const run = await runCli(["--proxy", proxy, "-x", "hi", server.url]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/^evtws: --proxy /);
      expect(run.stdout + run.stderr).not.toMatch(/s3cretPw|2024/);
      expect(connections).toBe(0);
    },
  );
  it("the embedded server (no URL) is reached directly: HTTP_PROXY does not carry 127.0.0.1 to the proxy", async () => {
    // A corporate machine has HTTP_PROXY set; `npm start` must still reach the server evtws
    // itself started on this machine (the proxy would dial its own 127.0.0.1, or nothing).
    const proxy = await proxyChain();
    const run = await runCli(["--match", "echo", "-x", "hi"], { env: { HTTP_PROXY: proxy.url } });
    expect(run.stderr).not.toMatch(/ERR_/);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("hi\n");
    expect(proxy.connects).toEqual([]);
    await proxy.close();
  });

  it("the embedded server with an explicit --proxy: the proxy given is used", async () => {
    const proxy = await proxyChain();
    const run = await runCli(["--proxy", proxy.url, "--match", "echo", "-x", "hi"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("hi\n");
    expect(proxy.connects).toHaveLength(1);
    await proxy.close();
  });
  it('--proxy "" turns the proxy variables off, as in curl: the proxy sees nothing', async () => {
    // curl: "If there is an environment variable setting a proxy, you can set proxy to \"\"
    // to override it." Before: exit 2, "--proxy must be an http:// URL".
    const server = await echo();
    const proxy = await proxyChain();
    const run = await runCli(["-q", "--proxy", "", "--match", "echo", "-x", "hi", server.url], {
      env: { HTTP_PROXY: proxy.url },
    });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("hi\n");
    expect(proxy.connects).toEqual([]);
    await proxy.close();
  });
});
