/**
 * Adversarial review of the eleventh pass's fixes, on real sockets (127.0.0.1): options of
 * Node's `http.request` that ws hands on from the `tls` object, and `authorize` verdicts no
 * HTTP answer can say. What held is listed in the report of this review.
 */

import * as tls from "node:tls";
import { describe, expect, it } from "vitest";
import { Conn, EvtWebSocketError } from "../src/index.js";
import { createSharedConn } from "../src/shared/index.js";
import { createTestServer } from "../src/testing/index.js";
import { mintChain } from "./helpers/cert.js";
import { conn, fast, onCleanup, server, uncaughtExceptions } from "./helpers/harness.js";
import { handProxy, tunnel } from "./helpers/proxy.js";
import { until } from "./helpers/server.js";
import { fill, stalledServer } from "./helpers/stalled-server.js";

describe("tls: keys of Node's http.request, which ws hands on with its own, are refused too", () => {
  // Each changed the handshake before: auth sent a Basic Authorization header made from it,
  // setHost: false sent no Host, maxHeaderSize: 10 failed the server's 101 as a header overflow.
  it.each([
    ["auth", "user:secret"],
    ["setHost", false],
    ["maxHeaderSize", 10],
  ])("tls.%s: ERR_INVALID_OPTION naming it, before any handshake reaches the server", async (key, value) => {
    const s = await server();
    const c = conn({ reconnect: false, tls: { [key]: value } as never });
    const error = (await c.dial(s.url).catch((e: unknown) => e)) as EvtWebSocketError | undefined;
    expect(s.handshakes.map((h) => [h.headers.host, h.headers.authorization])).toEqual([]);
    expect(error?.code).toBe("ERR_INVALID_OPTION");
    expect(error?.message).toContain(`option tls.${key} `);
  });

  it.each([
    ["insecureHTTPParser", true],
    ["joinDuplicateHeaders", true],
    ["uniqueHeaders", ["x-a"]],
    ["setDefaultHeaders", false],
    ["method", "POST"],
    ["hostname", "localhost"],
    ["socketPath", "/tmp/none.sock"],
    ["protocol", "http:"],
    ["defaultPort", 1],
  ])("tls.%s: ERR_INVALID_OPTION naming it", async (key, value) => {
    const c = conn({ reconnect: false, tls: { [key]: value } as never });
    const error = (await c.dial("ws://127.0.0.1:9/").catch((e: unknown) => e)) as EvtWebSocketError;
    expect(error.code).toBe("ERR_INVALID_OPTION");
    expect(error.message).toContain(`option tls.${key} `);
  });

  it("tls.connect's own keys all still pass: a wss: dial with each of them opens", async () => {
    const pki = await mintChain("IP:127.0.0.1");
    onCleanup(async () => pki.remove());
    const s = await createTestServer({ tls: { cert: pki.serverCert, key: pki.serverKey } });
    onCleanup(() => s.close());
    const all: Record<string, unknown> = {
      ca: pki.ca,
      servername: "",
      ALPNProtocols: ["http/1.1"],
      ciphers: tls.DEFAULT_CIPHERS,
      ecdhCurve: "auto",
      minVersion: "TLSv1.2",
      maxVersion: "TLSv1.3",
      honorCipherOrder: false,
      sessionTimeout: 300,
      minDHSize: 1024,
      highWaterMark: 16384,
      checkServerIdentity: tls.checkServerIdentity,
      rejectUnauthorized: true,
      family: 4,
      hints: 0,
      localAddress: "127.0.0.1",
      noDelay: true,
      keepAlive: false,
      timeout: 0,
      host: "ignored.invalid",
      port: 9,
      path: "/ignored",
    };
    for (const [key, value] of Object.entries(all)) {
      const c = conn({ reconnect: false, tls: { ca: pki.ca, [key]: value } as never });
      await c.dial(s.url);
      await c.close();
    }
    const c = conn({
      reconnect: false,
      tls: { secureContext: tls.createSecureContext({ ca: pki.ca }) } as never,
    });
    await c.dial(s.url);
    await c.close();
    expect(s.connections).toBe(Object.keys(all).length + 1);
  });
});

describe("createTestServer: an authorize header no HTTP answer can hold is refused like a throw", () => {
  // Before, these reached the client as written: an unparsable answer ("Parse Error: Invalid
  // header token" / "Invalid header value char"), with no status, and nothing thrown at the test.
  it.each([
    ["a name with a space", { "Retry After": "2" }, '"Retry After"'],
    ["an empty name", { "": "2" }, '""'],
    ["a name with a colon", { "X-A:": "2" }, '"X-A:"'],
    ["a value with NUL", { "Retry-After": "2\0" }, '"Retry-After"'],
    ["a value with ESC", { "X-A": "\x1b[2J" }, '"X-A"'],
  ])(
    "%s: HTTP 500 at once, ERR_INVALID_OPTION naming authorize and the header, the server serves on",
    async (_, headers, says) => {
      const uncaught = uncaughtExceptions();
      let calls = 0;
      const s = await createTestServer({
        authorize: () => (++calls === 1 ? { status: 503, headers } : true),
      });
      onCleanup(() => s.close());
      const c = conn({ reconnect: false });
      const first = await c.dial(s.url).then(
        () => undefined,
        (e: EvtWebSocketError) => e,
      );
      expect(first?.details.status).toBe(500);
      await until(() => uncaught.length === 1, "the error thrown again");
      expect(uncaught[0]).toMatchObject({ code: "ERR_INVALID_OPTION" });
      expect((uncaught[0] as Error).message).toMatch(/^authorize of createTestServer\(\) /);
      expect((uncaught[0] as Error).message).toContain(says);
      await c.dial(s.url);
      expect(s.connections).toBe(1);
    },
  );

  it("valid headers still pass: a tab and non-ASCII text in a value, a number, every token character in a name", async () => {
    const headers = { "Retry-After": 1, "X-Note": "a\tb é", "!#$%&'*+-.^_`|~0aZ": "x" } as unknown as Record<
      string,
      string
    >;
    const s = await createTestServer({ authorize: () => ({ status: 503, headers }) });
    onCleanup(() => s.close());
    const c = conn({ reconnect: false });
    const error = (await c.dial(s.url).catch((e: unknown) => e)) as EvtWebSocketError;
    expect(error.details.status).toBe(503);
  });
});

describe("reconnect after 401 (1413884): only a proxy's 401 stops the retries", () => {
  const proxy401 = () =>
    handProxy((_n, client) => {
      client.end(
        'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="p"\r\nContent-Length: 0\r\n\r\n',
      );
    });

  it("a target server's 401 behind a working proxy is retried as before (details.status, no proxyStatus)", async () => {
    let calls = 0;
    const s = await createTestServer({ authorize: () => ++calls > 2 || 401 });
    onCleanup(() => s.close());
    const proxy = await handProxy(tunnel);
    const reconnecting: number[] = [];
    const c = conn({
      proxy: proxy.url,
      reconnect: fast,
      onReconnecting: (i) => void reconnecting.push(i.attempt),
    });
    await c.dial(s.url);
    expect(reconnecting).toEqual([1, 2]);
    expect(proxy.connects).toHaveLength(3);
    expect(s.connections).toBe(1);
  });

  it("a target server's 401 on a direct handshake is retried as before", async () => {
    let calls = 0;
    const s = await createTestServer({ authorize: () => ++calls > 1 || 401 });
    onCleanup(() => s.close());
    const c = conn({ reconnect: fast });
    await c.dial(s.url);
    expect(s.handshakes).toHaveLength(2);
  });

  it("a proxy's 401 is retried when shouldReconnect says true (and only then)", async () => {
    const s = await server();
    const proxy = await proxy401();
    const seen: (number | undefined)[] = [];
    const c = conn({
      proxy: proxy.url,
      reconnect: {
        ...fast,
        maxAttempts: 2,
        shouldReconnect: (i) => {
          seen.push(i.proxyStatus);
          return true;
        },
      },
    });
    const error = (await c.dial(s.url).catch((e: unknown) => e)) as EvtWebSocketError;
    expect(error.code).toBe("ERR_RECONNECT_EXHAUSTED");
    expect(seen).toEqual([401, 401, 401]);
    expect(proxy.connects).toHaveLength(3);
  });
});

describe('"drain" after the watch ended (1963f40): a listener added later is not left without its drain', () => {
  const KiB = 1024;
  const marks = { lowWaterMark: 64 * KiB, highWaterMark: 256 * KiB };

  it("the buffer above highWaterMark when the last listener leaves, a watched send ending the watch, more sends unwatched: a listener added then hears the fall once", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>(marks);
    await c.dial(s.url);
    const off = c.on("drain", () => {});
    let sent = fill(c, 256 * KiB);
    off();
    c.send(new Uint8Array(8)); // the first watched send after the last listener left: ends the watch
    sent += 8 + fill(c, 512 * KiB); // unwatched from here
    const heard: number[] = [];
    c.on("drain", () => void heard.push(c.bufferedAmount));
    s.resume();
    await until(() => heard.length === 1, "the drain");
    await until(() => s.bytes === sent, "every byte");
    expect(heard[0]).toBeLessThanOrEqual(64 * KiB);
    expect(heard).toHaveLength(1);
  });

  it("a listener re-added before the next send keeps the watch: it hears the drain of what was sent in between", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>(marks);
    await c.dial(s.url);
    const off = c.on("drain", () => {});
    off();
    const heard: number[] = [];
    c.on("drain", () => void heard.push(c.bufferedAmount));
    const sent = fill(c, 256 * KiB);
    s.resume();
    await until(() => heard.length === 1, "the drain");
    await until(() => s.bytes === sent, "every byte");
    expect(heard).toHaveLength(1);
  });

  it("drained() pending while the last listener leaves: the waiter still settles, and a listener added later still hears a later fill", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>(marks);
    await c.dial(s.url);
    const off = c.on("drain", () => {});
    let sent = fill(c, 256 * KiB);
    const waiting = c.drained();
    off();
    sent += fill(c, 300 * KiB);
    s.resume();
    await waiting;
    expect(c.bufferedAmount).toBeLessThanOrEqual(64 * KiB);
    await until(() => s.bytes === sent, "every byte");
    for (const ws of s.sockets) ws.pause();
    const heard: number[] = [];
    c.on("drain", () => void heard.push(c.bufferedAmount));
    sent += fill(c, 256 * KiB);
    s.resume();
    await until(() => heard.length === 1, "the second drain");
    await until(() => s.bytes === sent, "every byte again");
  });

  it("a reconnect after the last listener left above highWaterMark: a listener added on the new socket hears its drain", async () => {
    const s = await stalledServer();
    const c = conn<Uint8Array, Uint8Array>({ ...marks, reconnect: fast });
    await c.dial(s.url);
    const off = c.on("drain", () => {});
    fill(c, 256 * KiB);
    off();
    c.send(new Uint8Array(8));
    s.sockets[0]!.terminate(); // the first socket gone with what it buffered
    await until(() => s.sockets.length === 2 && c.state === "open", "the reconnect");
    const heard: number[] = [];
    c.on("drain", () => void heard.push(c.bufferedAmount));
    const before = s.bytes;
    const sent = fill(c, 256 * KiB);
    s.resume();
    await until(() => heard.length >= 1, "the drain on the new socket");
    await until(() => s.bytes - before >= sent, "every byte of the new socket");
    expect(heard[0]).toBeLessThanOrEqual(64 * KiB);
  });
});

describe("shown() (33546ef) never throws: a check throws its own error for a value no conversion can show", () => {
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const trapping = new Proxy(
    {},
    {
      get() {
        throw new Error("trap");
      },
    },
  );
  // Both threw Object.prototype.toString's TypeError (or the trap's error) out of the check.
  it.each([
    ["a revoked Proxy", revoked.proxy],
    ["a Proxy whose get trap throws", trapping],
  ])(
    "%s: createSharedConn(name) and a Conn option both throw ERR_INVALID_OPTION naming the option",
    (_, value) => {
      const thrown = (f: () => unknown) => {
        try {
          f();
        } catch (error) {
          return error;
        }
        return undefined;
      };
      const shared = thrown(() => createSharedConn(value as never)) as EvtWebSocketError;
      expect(shared).toBeInstanceOf(EvtWebSocketError);
      expect(shared).toMatchObject({
        code: "ERR_INVALID_OPTION",
        message: expect.stringContaining("got object"),
      });
      const option = thrown(() => new Conn({ requestTimeoutMs: value as never })) as EvtWebSocketError;
      expect(option).toBeInstanceOf(EvtWebSocketError);
      expect(option).toMatchObject({
        code: "ERR_INVALID_OPTION",
        message: expect.stringContaining("requestTimeoutMs"),
      });
    },
  );
});
