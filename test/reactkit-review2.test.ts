/**
 * A second adversarial review of `evtwebsocket/testing` (and, in Node, of `evtwebsocket/react`),
 * as an application's own tests would use them: each test is a way a promise of
 * docs/testing.md or of the TSDoc broke, reproduced against real sockets.
 *
 * A handler that throws is rethrown as an uncaught exception, which vitest reports as a run
 * error even when a test listens for it; those tests run their server in a child Node process
 * that records the uncaught exceptions and prints what it saw.
 */

import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { Conn, EvtWebSocketError } from "../src/index.js";
import { createFaultProxy, createTestServer, WaitForTimeoutError, waitFor } from "../src/testing/index.js";
import { REACT_18 } from "./helpers/react-18.js";

const root = fileURLToPath(new URL("../", import.meta.url));

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

describe("the kit refuses bad input at once, naming it", () => {
  it.each([
    ["the condition's value, true", true],
    ["the condition's value, false", false],
    ["a promise", Promise.resolve(1)],
    ["null", null],
  ])(
    "waitFor(%s) rejects with ERR_INVALID_OPTION naming predicate, not a WaitForTimeoutError",
    async (_, bad) => {
      const error = await waitFor(bad as never, { timeoutMs: 50 }).then(
        () => "resolved",
        (e: unknown) => e,
      );
      // It used to call it, count the TypeError as "not yet" and time out (after 4 s by default).
      expect(error).not.toBeInstanceOf(WaitForTimeoutError);
      expect(error).toBeInstanceOf(EvtWebSocketError);
      expect(error).toMatchObject({
        code: "ERR_INVALID_OPTION",
        message: expect.stringMatching(/^predicate of waitFor\(\) must be a function/),
      });
    },
  );

  it.each(["authorize", "onConnection", "onMessage"])(
    "createTestServer({ %s: not a function }) rejects with ERR_INVALID_OPTION naming the option, listening nowhere",
    async (name) => {
      const error = await createTestServer({ [name]: true } as never).then(
        async (server) => {
          await server.close();
          return "listening";
        },
        (e: unknown) => e,
      );
      // It used to listen, then throw a TypeError at each handshake or message.
      expect(error).toBeInstanceOf(EvtWebSocketError);
      expect(error).toMatchObject({
        code: "ERR_INVALID_OPTION",
        message: `option ${name} of createTestServer() must be a function, got boolean`,
      });
    },
  );
});

describe("createTestServer: close() during restart()", () => {
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

describe("nothing of the kit outlives close()", () => {
  /** The process's active handles by kind (timers, TCP sockets and listeners), without stdio. */
  const handles = () => {
    const counts: Record<string, number> = {};
    for (const kind of process.getActiveResourcesInfo()) {
      if (kind === "PipeWrap" || kind === "TTYWrap") continue;
      counts[kind] = (counts[kind] ?? 0) + 1;
    }
    return counts;
  };

  it("a server stalled with a held handshake and closed during restart(downMs), a proxy holding bytes behind latency and a close behind blackhole, waitFor timeouts: every handle is gone after close()", async () => {
    const baseline = handles();
    const server = await createTestServer();
    const proxy = await createFaultProxy(server.url);
    const conns: Conn[] = [];
    const make = () => {
      const c = new Conn({ reconnect: false, connectTimeoutMs: 60_000 });
      conns.push(c);
      return c;
    };
    // Bytes held behind a long latency: the proxy's pipe holds a timer for them.
    const held = make();
    await held.dial(proxy.url);
    await proxy.latency(60_000, { direction: "upstream" });
    held.send("x".repeat(200_000));
    // A close hidden by a blackhole: the proxy keeps the server's side open until heal().
    await proxy.latency(0);
    const hidden = make();
    await hidden.dial(proxy.url);
    await waitFor(() => server.clients.size === 2);
    await proxy.blackhole();
    await hidden.close();
    await proxy.latency(60_000, { direction: "upstream" });
    held.send("y".repeat(200_000));
    // A handshake held by a stall, and a restart waiting out its downtime when close() comes.
    await server.stall();
    const stalled = make();
    void stalled.dial(server.url).catch(() => {});
    await waitFor(() => server.heldHandshakes === 1);
    await expect(waitFor(() => new Promise(() => {}), { timeoutMs: 20 })).rejects.toBeInstanceOf(
      WaitForTimeoutError,
    );
    const restarting = server.restart(60_000);
    await proxy.close();
    await server.close();
    for (const c of conns) await c.close();
    let now = "";
    await waitFor(
      () => {
        const counts = handles();
        now = JSON.stringify(counts);
        return Object.entries(counts).every(([kind, n]) => n <= (baseline[kind] ?? 0));
      },
      { message: `the handles to be back to at most ${JSON.stringify(baseline)}` },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; still active: ${now}`);
    });
    await restarting;
  });
});

/** Server rendering of both hooks in a child Node process, React in development mode, console.error recorded. */
const SSR = `
import { createElement, version } from "react";
import { renderToString } from "react-dom/server";
import { Conn } from "./src/index.ts";
import { useConn, useConnEvent } from "./src/react/index.ts";
let dials = 0;
const dial = Conn.prototype.dial;
Conn.prototype.dial = function (...args) { dials++; return dial.apply(this, args); };
const errors = [];
console.error = (...args) => void errors.push(args.join(" ").slice(0, 120));
function Status({ url }) {
  const { conn, state } = useConn(url, { share: "ssr" });
  useConnEvent(conn, "message", () => {});
  return createElement("p", null, state);
}
const html = renderToString(createElement(Status, { url: "ws://127.0.0.1:9/" }));
process.stdout.write(JSON.stringify({ major: version.split(".")[0], html, dials, errors }));
`;

describe("evtwebsocket/react on the server", () => {
  it.each([
    ["19", {}],
    ["18", REACT_18],
  ])("React %s renders useConn and useConnEvent with no socket and no warning", async (major, alias) => {
    const result = await build({
      stdin: { contents: SSR, resolveDir: root, loader: "ts" },
      absWorkingDir: root,
      bundle: true,
      write: false,
      format: "cjs",
      platform: "node",
      target: "node20",
      alias,
      define: { "process.env.NODE_ENV": '"development"' },
      external: ["ws", "bufferutil", "utf-8-validate"],
      logLevel: "silent",
    });
    const child = spawnSync(process.execPath, ["-"], { cwd: root, input: result.outputFiles[0]!.contents });
    // A layout effect would keep the handler up to date as well, but React 18 warns on the
    // server for each ("useLayoutEffect does nothing on the server"); the insertion effect does not.
    expect(JSON.parse(child.stdout.toString())).toEqual({ major, html: "<p>idle</p>", dials: 0, errors: [] });
  });
});
