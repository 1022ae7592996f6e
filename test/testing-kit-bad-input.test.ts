/**
 * The testing kit refuses bad input at once with `ERR_INVALID_OPTION` (or `ERR_INVALID_URL`)
 * naming the option: dropAll() codes and reasons no close frame can carry, restart() durations,
 * fault proxy targets (without their secrets), ports, values String() cannot show, waitFor()
 * predicates that are not functions, and createTestServer() handlers that are not.
 */

import { describe, expect, it } from "vitest";
import { EvtWebSocketError } from "../src/index.js";
import { createFaultProxy, createTestServer, WaitForTimeoutError, waitFor } from "../src/testing/index.js";
import { conn } from "./helpers/harness.js";
import { kitProxy, kitServer, warnings } from "./helpers/kit.js";

describe("createTestServer: bad input", () => {
  it.each([
    [1005, "", "option code of dropAll()"],
    [1006, "", "option code of dropAll()"],
    [999, "", "option code of dropAll()"],
    [5000, "", "option code of dropAll()"],
    [4000.5, "", "option code of dropAll()"],
    [4000, "é".repeat(62), "option reason of dropAll()"],
  ])(
    "dropAll(%s, reason) with a code or reason no close frame can carry rejects with ERR_INVALID_OPTION and closes no client",
    async (code, reason, named) => {
      const server = await kitServer();
      const c = conn({ reconnect: false });
      await c.dial(server.url);
      await waitFor(() => server.clients.size === 1);
      // It used to throw ws's bare TypeError or RangeError for the first client (and resolve when
      // there was none).
      await expect(server.dropAll(code, reason)).rejects.toMatchObject({
        name: "EvtWebSocketError",
        code: "ERR_INVALID_OPTION",
        message: expect.stringContaining(named),
      });
      expect(server.clients.size).toBe(1);
      expect(c.state).toBe("open");
      await server.close();
      await expect(
        createTestServer().then((s) => s.dropAll(code, reason).finally(() => s.close())),
      ).rejects.toMatchObject({
        code: "ERR_INVALID_OPTION",
      });
    },
  );
});

describe("createTestServer: restart() durations", () => {
  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31])(
    "restart(%s) rejects with ERR_INVALID_OPTION naming downMs, and drops no client",
    async (downMs) => {
      const seen = warnings();
      const server = await kitServer();
      const c = conn({ reconnect: false });
      await c.dial(server.url);
      await waitFor(() => server.clients.size === 1);
      // Infinity and 2^31 used to stay down 1 ms (a timer that long fires at once, with a
      // TimeoutOverflowWarning); -1 and NaN not at all.
      await expect(server.restart(downMs)).rejects.toMatchObject({
        name: "EvtWebSocketError",
        code: "ERR_INVALID_OPTION",
        message: expect.stringContaining("option downMs of restart()"),
      });
      expect(c.state).toBe("open");
      expect(server.clients.size).toBe(1);
      expect(seen).not.toContain("TimeoutOverflowWarning");
    },
  );
});

describe("createFaultProxy: bad input", () => {
  it.each([
    ["not a url", "not a URL"],
    ["ftp://user:secret@127.0.0.1:21/path-secret", 'scheme "ftp:"'],
    ["localhost:8080", 'scheme "localhost:"'],
  ])(
    "createFaultProxy(%j) rejects with ERR_INVALID_URL naming targetUrl, without the URL's secrets",
    async (target, says) => {
      // "not a url" used to be Node's bare TypeError; ftp: was proxied to port 80 without a word.
      const error = (await createFaultProxy(target).then(
        (proxy) => proxy.close(),
        (e: unknown) => e,
      )) as Error & { code?: string };
      expect(error).toMatchObject({ name: "EvtWebSocketError", code: "ERR_INVALID_URL" });
      expect(error.message).toContain("targetUrl of createFaultProxy()");
      expect(error.message).toContain(says);
      expect(error.message).not.toMatch(/secret/);
    },
  );
});

describe("createTestServer and createFaultProxy: bad ports", () => {
  it.each([-1, 65_536, 80.5, Number.NaN])(
    "createTestServer and createFaultProxy refuse port %j with ERR_INVALID_OPTION naming it",
    async (port) => {
      // They used to reject with Node's bare RangeError.
      await expect(createTestServer({ port })).rejects.toMatchObject({
        name: "EvtWebSocketError",
        code: "ERR_INVALID_OPTION",
        message: expect.stringContaining("option port of createTestServer()"),
      });
      await expect(createFaultProxy("ws://127.0.0.1:1/", { port })).rejects.toMatchObject({
        name: "EvtWebSocketError",
        code: "ERR_INVALID_OPTION",
        message: expect.stringContaining("option port of createFaultProxy()"),
      });
    },
  );
});

describe("bad values String() cannot show", () => {
  // Each check quoted the value with String(), which throws for these: the call threw a
  // TypeError (or the thrown 1) instead of ERR_INVALID_OPTION naming the option.
  const unprintable: [string, unknown][] = [
    ["an object without a prototype", Object.create(null)],
    [
      "an object whose toString throws",
      {
        toString: () => {
          throw 1;
        },
      },
    ],
  ];
  /** The rest of each message, after "must be". */
  const MUST: Record<string, string> = {
    "option port of createTestServer()": "a whole number from 0 to 65535",
    "option port of createFaultProxy()": "a whole number from 0 to 65535",
    "option downMs of restart()": "a number from 0 to 2147483647",
    "option code of dropAll()": "a close code a frame can carry (1000-1003, 1007-1014, 3000-4999)",
    "option ms of latency()": "a number from 0 to 2147483647",
    "option bytesPerSecond of bandwidth()": "a number >= 0",
  };
  /** What `call` throws or rejects with. */
  async function refusal(call: () => unknown): Promise<unknown> {
    try {
      await call();
    } catch (e) {
      return e;
    }
    return undefined;
  }

  it.each(unprintable)(
    "%s: every kit check refuses it with ERR_INVALID_OPTION naming the option",
    async (_, v) => {
      const server = await kitServer();
      const proxy = await kitProxy(server.url);
      const calls: [string, () => unknown][] = [
        ["option port of createTestServer()", () => createTestServer({ port: v as number })],
        ["option port of createFaultProxy()", () => createFaultProxy(server.url, { port: v as number })],
        ["option downMs of restart()", () => server.restart(v as number)],
        ["option code of dropAll()", () => server.dropAll(v as number)],
        ["option ms of latency()", () => proxy.latency(v as number)],
        ["option bytesPerSecond of bandwidth()", () => proxy.bandwidth(v as number)],
      ];
      const got: string[] = [];
      for (const [, call] of calls) {
        const e = (await refusal(call)) as { name?: string; code?: string; message?: string } | undefined;
        got.push(`${e?.name} ${e?.code}: ${e?.message}`);
      }
      // All six at once, so a failure shows every check that threw something else.
      expect(got).toEqual(
        calls.map(
          ([named]) =>
            `EvtWebSocketError ERR_INVALID_OPTION: ${named} must be ${MUST[named]}, got object${named.includes("dropAll") ? "; sendRaw() writes any other" : ""}`,
        ),
      );
    },
  );
});

describe("waitFor() and createTestServer() handlers: not a function", () => {
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
