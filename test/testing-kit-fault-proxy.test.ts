/**
 * The testing kit's fault proxy (`createFaultProxy`) at the edges of its faults, on real sockets:
 * lifting a fault (or one of two) forwards what it held, a clean close or a reset stays what it
 * was behind latency and bandwidth, a blackhole hides a close until heal(), backpressure reaches
 * the sender, no half-closed connection, a target that refuses, refuse() during heal(), and a
 * bandwidth too low for a timer. Each test is a way the kit broke a promise of docs/testing.md.
 */

import * as net from "node:net";
import { describe, expect, it } from "vitest";
import type { CloseInfo, EvtWebSocketError } from "../src/index.js";
import { type FaultProxy, WaitForTimeoutError, waitFor } from "../src/testing/index.js";
import { conn, onCleanup } from "./helpers/harness.js";
import { kitProxy, kitServer, listening, warnings } from "./helpers/kit.js";
import { tcpServer } from "./helpers/raw-server.js";

/** A client behind `proxy` whose frame "held" waits in the proxy under the fault `impose`. */
async function holdOne(impose: (proxy: FaultProxy) => Promise<void>) {
  const server = await kitServer({ onMessage: () => {} });
  const proxy = await kitProxy(server.url);
  const received: unknown[] = [];
  const c = conn({ reconnect: false, onMessage: (m) => void received.push(m) });
  await c.dial(proxy.url);
  await waitFor(() => server.clients.size === 1);
  await impose(proxy);
  c.send("held");
  // A trip the other way, unaffected: by then the proxy has read "held" (sent before it).
  for (const ws of server.clients) ws.send("down");
  await waitFor(() => received.length === 1);
  expect(server.received).toEqual([]);
  return { server, proxy, c, received };
}

/**
 * A plain TCP server on 127.0.0.1 that records what each connection sends and whether it ended
 * (or, with `read: false`, reads nothing).
 */
async function tcpTarget({ read = true } = {}) {
  const seen = { data: "", ended: false, closed: false };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    if (!read) socket.pause();
    socket.on("data", (chunk) => {
      seen.data += chunk.toString();
    });
    socket.on("end", () => {
      seen.ended = true;
    });
    socket.on("close", () => {
      seen.closed = true;
      sockets.delete(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onCleanup(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`, seen };
}

/** A plain TCP client of `proxy`, connected, destroyed when the test ends. */
async function tcpClient(proxy: FaultProxy) {
  const socket = net.connect({ host: "127.0.0.1", port: proxy.port });
  socket.on("error", () => {});
  onCleanup(async () => void socket.destroy());
  await new Promise((resolve) => socket.once("connect", resolve));
  const closed = new Promise((resolve) => socket.once("close", resolve));
  return { socket, closed };
}

describe("createFaultProxy: a bandwidth too low for a timer", () => {
  it("a bandwidth so low that a chunk is due past what a timer holds waits, without a timer firing every millisecond", async () => {
    const seen = warnings();
    // 1 byte every 11.6 days: the client's frame is due in months, past 2^31-1 ms.
    const { server, received } = await holdOne((proxy) =>
      proxy.bandwidth(0.000001, { direction: "upstream" }),
    );
    // The proxy read "held" before the server's messages reached it: three trips the other way
    // (holdOne's and two more) are many event-loop turns after its timer was armed.
    for (const n of [2, 3]) {
      for (const ws of server.clients) ws.send(`down ${n}`);
      await waitFor(() => received.length === n);
    }
    // It used to arm a timer too long for setTimeout: it fired after 1 ms, again and again,
    // with a TimeoutOverflowWarning each time.
    expect(seen).not.toContain("TimeoutOverflowWarning");
    expect(server.received).toEqual([]);
  });
});

describe("createFaultProxy: lifting a fault", () => {
  it.each([
    ["heal()", (p: FaultProxy) => p.latency(600_000, { direction: "upstream" }), (p: FaultProxy) => p.heal()],
    [
      "latency(0)",
      (p: FaultProxy) => p.latency(600_000, { direction: "upstream" }),
      (p: FaultProxy) => p.latency(0),
    ],
    [
      "heal() after bandwidth()",
      (p: FaultProxy) => p.bandwidth(1, { direction: "upstream" }),
      (p: FaultProxy) => p.heal(),
    ],
    [
      "bandwidth(0)",
      (p: FaultProxy) => p.bandwidth(1, { direction: "upstream" }),
      (p: FaultProxy) => p.bandwidth(0, { direction: "upstream" }),
    ],
  ] as const)(
    "%s forwards the bytes the proxy still holds at once, and what follows without delay",
    async (_, impose, lift) => {
      const { server, proxy, c } = await holdOne(impose);
      await lift(proxy);
      c.send("after");
      // They used to keep their old due time (ten minutes here), and "after" waited behind them.
      await waitFor(() => server.received.length === 2, { message: "both messages to arrive" });
      expect(server.received).toEqual(["held", "after"]);
    },
  );
});

describe("createFaultProxy: the end of a connection", () => {
  it.each([
    ["latency(50)", (p: FaultProxy) => p.latency(50)],
    ["bandwidth(20000)", (p: FaultProxy) => p.bandwidth(20_000)],
  ])("a clean close through %s stays clean: the bytes before a TCP close still go on", async (_, impose) => {
    const server = await kitServer();
    const proxy = await kitProxy(server.url);
    const closes: CloseInfo[] = [];
    const c = conn({ reconnect: false, onClose: (info) => void closes.push(info) });
    await c.dial(proxy.url);
    await impose(proxy);
    await c.close();
    // The server answers the close frame and ends TCP at once: the proxy used to drop its
    // answer, still delayed, when that TCP ended, and the client saw 1006.
    expect(closes).toEqual([expect.objectContaining({ code: 1000, wasClean: true })]);
  });
});

describe("createFaultProxy: a blackhole keeps TCP open", () => {
  it("a server that drops its TCP connection behind blackhole() goes unnoticed: the client's heartbeat finds it dead", async () => {
    const server = await kitServer();
    const proxy = await kitProxy(server.url);
    const errors: string[] = [];
    const c = conn({
      reconnect: false,
      pingIntervalMs: 50,
      pongTimeoutMs: 100,
      onError: (e) => void errors.push(e.code),
    });
    await c.dial(proxy.url);
    await waitFor(() => server.clients.size === 1);
    await proxy.blackhole();
    await server.dropAll(); // destroys the server's TCP socket
    await waitFor(() => c.state === "closed", { message: "the client to give up" });
    // It used to pass the close on at once: the client saw 1006 (ERR_DISCONNECTED), as if the
    // network were fine.
    expect(errors).toEqual(["ERR_PONG_TIMEOUT"]);
    // The client's own close (its TCP is gone too) ends the pair.
    await waitFor(() => proxy.activeConnections === 0, { message: "the pair to end" });
  });

  it("a client that goes away behind blackhole() stays connected for the server until heal()", async () => {
    const server = await kitServer();
    const proxy = await kitProxy(server.url);
    const c = conn({ reconnect: false });
    await c.dial(proxy.url);
    await waitFor(() => server.clients.size === 1);
    await proxy.blackhole();
    await c.close(); // its close frame goes into the blackhole; it drops TCP after a wait
    await waitFor(() => proxy.activeConnections === 0, { message: "the proxy to see the client go" });
    // A round trip on a second connection: by then a close passed on would have reached the server.
    const direct = conn({ reconnect: false, matchMsg: (req, resp) => req === resp });
    await direct.dial(server.url);
    expect(await direct.request("round trip")).toBe("round trip");
    // It used to be passed on at once.
    expect(server.clients.size).toBe(2);
    await proxy.heal();
    await waitFor(() => server.clients.size === 1, { message: "the close passed on after heal()" });
  });
});

describe("createFaultProxy: a target that refuses", () => {
  it("the proxy accepts, then closes the client's connection: the handshake fails, not with ECONNREFUSED", async () => {
    // A port that was free a moment ago: nothing listens on it.
    const free = net.createServer();
    await new Promise<void>((resolve) => free.listen(0, "127.0.0.1", resolve));
    const port = (free.address() as net.AddressInfo).port;
    await new Promise((resolve) => free.close(resolve));
    const proxy = await kitProxy(`ws://127.0.0.1:${port}/`);
    const c = conn({ reconnect: false });
    const error = (await c.dial(proxy.url).catch((e: unknown) => e)) as EvtWebSocketError;
    expect(error.code).toBe("ERR_DIAL_FAILED");
    expect((error.cause as NodeJS.ErrnoException | undefined)?.code).not.toBe("ECONNREFUSED");
    await waitFor(() => proxy.activeConnections === 0);
    expect(proxy.totalConnections).toBe(1);
  });
});

describe("createFaultProxy: a client gone before its last bytes", () => {
  it("a client gone while its last bytes are still delayed no longer counts in activeConnections; heal() still delivers them", async () => {
    const server = await kitServer({ onMessage: () => {} });
    const proxy = await kitProxy(server.url);
    const c = conn({ reconnect: false });
    await c.dial(proxy.url);
    await waitFor(() => server.clients.size === 1);
    await proxy.latency(600_000, { direction: "upstream" });
    c.send("held");
    // Its close frame waits behind "held"; after its close timeout the client drops TCP.
    await c.close();
    // It counted until its bytes had gone on (ten minutes here).
    await waitFor(() => proxy.activeConnections === 0, { message: "the client to stop counting" });
    expect(server.clients.size).toBe(1); // the upstream side stays, for the bytes
    await proxy.heal();
    await waitFor(() => server.clients.size === 0, { message: "the close frame to arrive" });
    expect(server.received).toEqual(["held"]);
  });
});

describe("createFaultProxy: refuse() during heal()", () => {
  it("refuse() called while heal() is still listening again wins: nothing listens afterwards", async () => {
    const server = await kitServer();
    const proxy = await kitProxy(server.url);
    await proxy.refuse();
    const healing = proxy.heal();
    await proxy.refuse();
    await healing;
    // heal()'s listen used to complete after it and take the port back.
    expect(await listening(proxy.port)).toBe(false);
    await proxy.heal();
    expect(await listening(proxy.port)).toBe(true);
  });
});

describe("createFaultProxy: a close waiting for its delayed bytes, then a blackhole", () => {
  it("a client's close held behind latency, then blackhole() and heal(): the server gets the bytes, then the close", async () => {
    const target = await tcpTarget();
    const proxy = await kitProxy(target.url);
    await proxy.latency(600_000, { direction: "upstream" });
    const client = await tcpClient(proxy);
    client.socket.end("last words");
    await client.closed; // the proxy read the client's FIN: it waits for "last words" to go on
    await proxy.blackhole();
    // A timer turn after the proxy's checks for the close (they run every few ms).
    await new Promise((resolve) => setTimeout(resolve, 50));
    await proxy.heal();
    // The close, seen while the blackhole was on, was dropped for good: the server's
    // connection stayed open forever.
    await waitFor(() => target.seen.ended, { message: "the close to reach the server" });
    expect(target.seen.data).toBe("last words");
  });
});

describe("createFaultProxy: backpressure under latency and bandwidth", () => {
  const MiB = 1024 * 1024;
  it.each([
    ["latency(1)", (p: FaultProxy) => p.latency(1)],
    ["bandwidth(1 GB/s)", (p: FaultProxy) => p.bandwidth(1e9)],
  ])(
    "through %s, a sender to a server that reads nothing stops: the proxy does not take all it sends",
    async (_, impose) => {
      const target = await tcpTarget({ read: false });
      const proxy = await kitProxy(target.url);
      await impose(proxy);
      const { socket } = await tcpClient(proxy);
      let flushed = 0;
      const chunk = Buffer.alloc(64 * 1024);
      const pump = (): void => {
        while (!socket.destroyed) {
          const room = socket.write(chunk, () => {
            flushed += chunk.length;
          });
          if (!room) return void socket.once("drain", pump);
        }
      };
      pump();
      // 128 MiB is more than the socket buffers of both hops hold (Linux tops them at 2 x 36 MiB
      // by default): a sender gets this far only if the proxy keeps reading. It did, the bytes piled
      // up in the proxy's memory (about 100 MB/s here); without a fault it stopped, as TCP does.
      const swallowed = waitFor(() => flushed >= 128 * MiB, {
        timeoutMs: 5000,
        message: "128 MiB to leave the client",
      });
      await expect(swallowed).rejects.toBeInstanceOf(WaitForTimeoutError);
    },
  );
});

describe("createFaultProxy: no half-closed connection", () => {
  it("a client that shuts down its sending side gets no answer after it, as docs/testing.md says", async () => {
    const sockets: net.Socket[] = [];
    let asked = "";
    let answered = false;
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      sockets.push(socket);
      socket.on("error", () => {});
      socket.on("data", (chunk) => {
        asked += chunk.toString();
      });
      socket.on("end", () => socket.end("answer"));
      socket.on("close", () => {
        answered = true;
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    onCleanup(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    });
    const proxy = await kitProxy(`ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    const client = net.connect({ host: "127.0.0.1", port: proxy.port, allowHalfOpen: true });
    client.on("error", () => {});
    onCleanup(async () => void client.destroy());
    let answer = "";
    client.on("data", (chunk) => {
      answer += chunk.toString();
    });
    const ended = new Promise((resolve) => client.once("end", resolve));
    await new Promise((resolve) => client.once("connect", resolve));
    client.end("question");
    await ended; // the proxy ends the client's connection at the client's FIN
    await waitFor(() => answered, { message: "the server to answer and close" });
    expect(asked).toBe("question");
    expect(answer).toBe("");
  });
});

describe("createFaultProxy: a reset behind latency", () => {
  it("bytes a server sent before it reset its connection (RST) still reach the client, as without latency", async () => {
    const sockets: net.Socket[] = [];
    let wrote = false;
    const server = net.createServer((socket) => {
      sockets.push(socket);
      socket.on("error", () => {});
      socket.write("bye", () => {
        wrote = true;
      });
      // "ping" came the other way after "bye" was written: by then the proxy has read "bye" (a
      // reset sooner would throw away bytes unread on any network).
      socket.on("data", () => socket.resetAndDestroy());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    onCleanup(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    });
    const proxy = await kitProxy(`ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    await proxy.latency(100, { direction: "downstream" });
    const client = await tcpClient(proxy);
    let got = "";
    client.socket.on("data", (chunk) => {
      got += chunk.toString();
    });
    await waitFor(() => wrote);
    client.socket.write("ping");
    await client.closed;
    // The RST dropped the pair at once, with "bye" still delayed: the client got only the close.
    expect(got).toBe("bye");
  });
});

describe("createFaultProxy: lifting one of two faults", () => {
  it.each([
    [
      "bandwidth(0) under latency(1)",
      async (p: FaultProxy) => {
        await p.bandwidth(1, { direction: "upstream" });
        await p.latency(1, { direction: "upstream" });
      },
      (p: FaultProxy) => p.bandwidth(0, { direction: "upstream" }),
    ],
    [
      "latency(0) under bandwidth(1 MB/s)",
      async (p: FaultProxy) => {
        await p.latency(600_000, { direction: "upstream" });
        await p.bandwidth(1e6, { direction: "upstream" });
      },
      (p: FaultProxy) => p.latency(0, { direction: "upstream" }),
    ],
  ])(
    "%s: the bytes held go on as the fault left times them, not as the lifted one did",
    async (_, impose, lift) => {
      // "held" is a 10-byte frame: 10 s at 1 B/s.
      const { server, proxy } = await holdOne(impose);
      await lift(proxy);
      // They kept the due time of the fault lifted (10 s, or ten minutes).
      await waitFor(() => server.received.length === 1, { message: "the message to arrive" });
      expect(server.received).toEqual(["held"]);
    },
  );
});

describe("createFaultProxy: bandwidth trickles", () => {
  it("a 40 KB write under bandwidth(20 KB/s) goes on in pieces of 100 ms worth, as Toxiproxy's toxic sends them, not as one burst after 2 s", async () => {
    const reads: number[] = [];
    const { port } = await tcpServer((socket) => {
      socket.on("error", () => {});
      socket.on("data", (chunk: Buffer) => void reads.push(chunk.length));
    });
    const proxy = await kitProxy(`ws://127.0.0.1:${port}`);
    await proxy.bandwidth(20_000, { direction: "upstream" });
    const { socket } = await tcpClient(proxy);
    socket.write(Buffer.alloc(40_000, 1));
    await waitFor(() => reads.reduce((a, b) => a + b, 0) === 40_000, {
      message: "every byte",
      timeoutMs: 20_000,
    });
    // 20 pieces of 2,000 bytes, read separately unless the process was too slow to tell them apart.
    expect(Math.max(...reads)).toBeLessThan(40_000);
    expect(reads.length).toBeGreaterThanOrEqual(5);
  });
});
