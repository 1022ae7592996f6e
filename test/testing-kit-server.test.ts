/**
 * The testing kit's server (`createTestServer`) through its life cycle, on real sockets: two
 * restart()s at once, restart() or close() during the other, clients once either resolves,
 * dropAll() during a stall, and handlers that throw. Each test is a way the kit broke a promise
 * of docs/testing.md or the TSDoc.
 */

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type CloseInfo, Conn } from "../src/index.js";
import { createTestServer, waitFor } from "../src/testing/index.js";
import { conn } from "./helpers/harness.js";
import { kitProxy, kitServer, listening } from "./helpers/kit.js";

describe("createTestServer: two restart()s at once", () => {
  it.each([
    [0, 0],
    [50, 0],
  ])("two restart()s at once (downMs %i and %i) both resolve and the server listens again", async (a, b) => {
    const server = await kitServer();
    const c = conn({ reconnect: { minDelayMs: 5, maxDelayMs: 20 } });
    await c.dial(server.url);
    // The second used to fail with EADDRINUSE: each listened on the port itself.
    await Promise.all([server.restart(a), server.restart(b)]);
    await waitFor(() => server.connections >= 2 && server.clients.size === 1 && c.state === "open", {
      message: "the client back",
    });
  });
});

describe("createTestServer and createFaultProxy after close()", () => {
  it("restart() after close() does not listen again (as heal() after the proxy's close())", async () => {
    const server = await kitServer();
    await server.close();
    await server.restart();
    // It used to bring the closed server back, listening until the process ended.
    expect(await listening(server.port)).toBe(false);
    const proxy = await kitProxy(server.url);
    await proxy.close();
    await proxy.heal();
    expect(await listening(proxy.port)).toBe(false);
  });
});

describe("createTestServer: clients", () => {
  it.each(["restart", "close"] as const)(
    "once %s() resolves, clients no longer lists the connections it destroyed",
    async (method) => {
      const server = await kitServer();
      const c = conn({ reconnect: false });
      await c.dial(server.url);
      await waitFor(() => server.clients.size === 1);
      await server[method]();
      // They used to stay listed (readyState CLOSING) a while longer: after restart(), a
      // waitFor(() => server.clients.size === 1) for the reconnect passed on the old one.
      expect(server.clients.size).toBe(0);
    },
  );
});

describe("createTestServer: dropAll() during a stall", () => {
  it("dropAll(code) during stall() holds the close frame like every write: it goes out, and dropAll resolves, after resume()", async () => {
    const server = await kitServer();
    const closes: CloseInfo[] = [];
    const c = conn({ reconnect: false, onClose: (info) => void closes.push(info) });
    await c.dial(server.url);
    await waitFor(() => server.clients.size === 1);
    await server.stall();
    let dropped = false;
    const dropping = server.dropAll(4001, "bye").then(() => {
      dropped = true;
    });
    // A round trip on a second connection (held, then answered by resume()): the close frame
    // has had every chance to go out by then, and has not.
    const other = conn({ reconnect: false });
    const dialing = other.dial(server.url);
    await waitFor(() => server.heldHandshakes === 1);
    expect(closes).toEqual([]);
    expect(dropped).toBe(false);
    await server.resume();
    await dialing;
    await dropping;
    await waitFor(() => closes.length === 1);
    expect(closes[0]).toMatchObject({ code: 4001, reason: "bye", wasClean: true });
  });
});

describe("createTestServer: close() while restart() destroys the connections", () => {
  it("close() called while restart() destroys the connections resolves once clients no longer lists them", async () => {
    const server = await kitServer();
    const c = conn({ reconnect: false });
    await c.dial(server.url);
    await waitFor(() => server.clients.size === 1);
    const restarting = server.restart();
    await null; // restart() has begun: it destroyed the connection and waits for it to go
    await server.close();
    // close() found nothing left to stop and resolved at once, the connection still listed.
    expect(server.clients.size).toBe(0);
    await restarting;
    expect(await listening(server.port)).toBe(false);
  });
});

describe("createTestServer: close() during restart(downMs)", () => {
  it("close() while restart(downMs) stays down ends the wait: restart() resolves at once (its timer cleared)", async () => {
    const server = await kitServer();
    let restarted = false;
    void server.restart(600_000).then(() => {
      restarted = true;
    });
    // Down: the listener is closed; restart() waits out downMs.
    await waitFor(async () => !(await listening(server.port)), { message: "the server to go down" });
    await new Promise((resolve) => setImmediate(resolve));
    await server.close();
    // Its ten-minute timer ran on after close(), holding the process (and restart()) that long.
    await waitFor(() => restarted, { message: "restart() to resolve" });
    expect(await listening(server.port)).toBe(false);
  });
});

const root = fileURLToPath(new URL("../", import.meta.url));

/*
 * A handler that throws is rethrown as an uncaught exception, which vitest reports as a run
 * error even when a test listens for it; those tests run their server in a child Node process
 * that records the uncaught exceptions and prints what it saw.
 */

/**
 * Runs `body` (JavaScript, top-level await allowed, `createTestServer`, `waitFor` and `Conn` in
 * scope, `uncaught` listing the messages of uncaught exceptions) in a child Node process and
 * gives what it passed to `done(result)`. The child is killed if it has not printed in 15 s
 * (a server whose `close()` never resolves, say), and `done` then never came: the result is
 * `"hung"`.
 */
async function inChild(body: string): Promise<unknown> {
  const code = `
    import { Conn } from "./src/index.ts";
    import { createTestServer, waitFor } from "./src/testing/index.ts";
    const uncaught = [];
    process.on("uncaughtException", (e) => uncaught.push(String(e.message)));
    const done = (result) => { process.stdout.write(JSON.stringify(result)); process.exit(0); };
    ${body}
  `;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const killer = setTimeout(() => child.kill(), 15_000);
  let out = "";
  for await (const chunk of child.stdout) out += chunk;
  clearTimeout(killer);
  return out === "" ? "hung" : JSON.parse(out);
}

describe("createTestServer: handlers that throw (a failed expect() inside one, say)", () => {
  it("onMessage that throws: the error is uncaught, the client's later messages are still read, and close() resolves", async () => {
    const result = await inChild(`
      let calls = 0;
      const server = await createTestServer({
        onMessage: (data, client) => {
          if (++calls === 1) throw new Error("expect failed in onMessage");
          client.send("ok " + data);
        },
      });
      const got = [];
      const conn = new Conn({ reconnect: false, onMessage: (m) => void got.push(m) });
      await conn.dial(server.url);
      conn.send("a");
      conn.send("b");
      await waitFor(() => got.length === 1, { timeoutMs: 3000 }).catch(() => {});
      await conn.close();
      await server.close();
      done({ uncaught, got, received: server.received, clients: server.clients.size });
    `);
    // It used to throw inside ws's reader: "b" was never read, the client's close frame never
    // answered, and server.close() waited forever for the connection's "close" (the child hung).
    expect(result).toEqual({
      uncaught: ["expect failed in onMessage"],
      got: ["ok b"],
      received: ["a", "b"],
      clients: 0,
    });
  }, 30_000);

  it("authorize that throws refuses the handshake with HTTP 500 at once, instead of leaving it unanswered", async () => {
    const result = await inChild(`
      let calls = 0;
      const server = await createTestServer({
        authorize: () => {
          if (++calls === 1) throw new Error("expect failed in authorize");
          return true;
        },
      });
      // Far past the test's timeout: a handshake left unanswered would hang here.
      const conn = new Conn({ reconnect: false, connectTimeoutMs: 60_000 });
      const first = await conn.dial(server.url).then(() => "open", (e) => e.code + " " + e.message);
      const second = await conn.dial(server.url).then(() => "open", (e) => e.code);
      await conn.close();
      await server.close();
      done({ uncaught, first, second, handshakes: server.handshakes.length, connections: server.connections });
    `);
    expect(result).toEqual({
      uncaught: ["expect failed in authorize"],
      first: expect.stringMatching(/^ERR_\w+ .*HTTP 500/),
      second: "open",
      handshakes: 2,
      connections: 1,
    });
  }, 30_000);

  it("onConnection that throws while resume() answers held handshakes: resume() still resolves, every held one answered", async () => {
    const result = await inChild(`
      let calls = 0;
      const server = await createTestServer({
        onConnection: () => {
          if (++calls === 1) throw new Error("expect failed in onConnection");
        },
      });
      await server.stall();
      const conns = [new Conn({ reconnect: false }), new Conn({ reconnect: false })];
      const dials = conns.map((c) => c.dial(server.url).then(() => "open", (e) => e.code));
      await waitFor(() => server.heldHandshakes === 2);
      const resumed = await server.resume().then(() => "resolved", (e) => "rejected " + e.message);
      const states = await Promise.all(dials);
      for (const c of conns) await c.close();
      await server.close();
      done({ uncaught, resumed, states, connections: server.connections });
    `);
    // It used to throw out of resume(): the handshakes held after the first were never answered.
    expect(result).toEqual({
      uncaught: ["expect failed in onConnection"],
      resumed: "resolved",
      states: ["open", "open"],
      connections: 2,
    });
  }, 30_000);
});

describe("createTestServer: close() while restart(downMs) is still stopping", () => {
  it("close() while restart(downMs) is still stopping (a client connected) ends it: restart() does not go on to wait out downMs", async () => {
    const server = await createTestServer();
    const client = new Conn({ reconnect: false });
    await client.dial(server.url);
    let restarted = false;
    void server.restart(600_000).then(() => {
      restarted = true;
    });
    // Microtasks only: restart() has begun stopping, and cannot have finished, since its client's
    // socket closes in a later turn of the event loop.
    for (let i = 0; i < 5; i++) await Promise.resolve();
    await server.close();
    // It used to find close() over once stopped, then wait out its ten minutes all the same,
    // holding a timer (and the process) after close() resolved.
    await waitFor(() => restarted, { message: "restart() to resolve" });
    await client.close();
  });
});
