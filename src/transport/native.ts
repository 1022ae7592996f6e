/**
 * Adapter for any WHATWG `WebSocket` constructor: browsers, Deno, Bun, workers, Node 22+'s
 * global, polyfills. Binary frames are asked for as `ArrayBuffer` and handed on as
 * `Uint8Array`, never as `Blob`. WHATWG sockets have no ping frames and no custom headers;
 * the factory says so and the connection rejects options that need them.
 */

import { byteLength, type Data } from "../codec.js";
import { namesUrl } from "../url.js";
import type { TransportEvents, TransportFactory, WebSocketConstructorLike, WebSocketLike } from "./types.js";

function noop(): void {}

/** Creates a transport factory for the given WHATWG-compatible constructor. */
export function createNativeTransport(WebSocketImpl: WebSocketConstructorLike): TransportFactory {
  return {
    name: "WebSocket",
    canPing: false,
    canSendHeaders: false,
    open(url, options, events: TransportEvents) {
      const socket: WebSocketLike = new WebSocketImpl(url, options.protocols);
      socket.binaryType = "arraybuffer";
      let lastError: unknown;
      let closeCalled: boolean | undefined;
      // A polyfill without `protocol`: no subprotocol, as WHATWG says ("").
      socket.onopen = () => events.onOpen(socket.protocol || "");
      // Text, or an ArrayBuffer (`buffer` undefined) or a view of one, from any realm, as bytes.
      const deliver = (data: Data) => {
        if (typeof data !== "string")
          data = new Uint8Array(data.buffer ?? data, data.byteOffset, data.byteLength);
        events.onMessage(data, byteLength(data));
      };
      // A Blob (a polyfill that ignores binaryType) is read first; what follows waits its turn.
      let reading: Promise<unknown> | undefined;
      socket.onmessage = ({ data }) => {
        if (reading || (data as Blob).arrayBuffer)
          reading = Promise.all([reading, (data as Blob).arrayBuffer?.() ?? data]).then(
            // Delivered unless the socket was terminated (detached) meanwhile.
            ([, read]) => socket.onmessage && deliver(read as never),
            noop,
          );
        else deliver(data as Data);
      };
      socket.onerror = (event) => {
        lastError = (event as { error?: unknown } | undefined)?.error ?? event;
        // Bun's error names the whole URL, path and query (secrets) included: not kept.
        if (namesUrl((lastError as Error | undefined)?.message, url)) lastError = undefined;
      };
      socket.onclose = (event) => {
        // Reported after the messages still being read, unless terminated (detached) meanwhile.
        const end = () => {
          if (!socket.onclose) return;
          detach();
          events.onClose({
            // Deno reports 0 for a socket that ended without a close frame; WHATWG says 1006.
            code: event.code || 1006,
            reason: event.reason,
            wasClean: event.wasClean,
            error: lastError,
            // No close frame is visible here, but any code but 1006 came in one: an end we did not
            // ask for began at the server, clean or not (a 1009 while our big send was still going).
            closedBy: closeCalled ? "client" : event.code && event.code !== 1006 ? "server" : "network",
          });
        };
        reading?.then(end) ?? end();
      };
      // Some implementations (ws used as a WHATWG constructor) raise an error event when a
      // handshake is abandoned; with no handler it would be thrown.
      const detach = () => {
        socket.onopen = socket.onmessage = socket.onclose = null;
        socket.onerror = noop;
      };
      return {
        send: (data: Data) => {
          // Closing, a WHATWG socket drops what it is given without a word: refuse it instead.
          if (socket.readyState !== 1) return -1;
          // A view of a SharedArrayBuffer or a resizable ArrayBuffer: the runtimes refuse it (Bun,
          // Deno) or send it as text (Node 24), so a copy of its bytes goes instead (of every view
          // where ArrayBuffers have no `resizable` yet: Firefox before 128, Safari before 16.4).
          // A string has no `buffer`, and slice() of all of it is the string itself.
          socket.send(
            (data as { buffer?: { resizable?: boolean } }).buffer?.resizable === false ? data : data.slice(),
          );
          return byteLength(data);
        },
        close: (code, reason) => {
          // Already closing (the peer's close frame came first): the closing was the server's.
          closeCalled = socket.readyState < 2;
          socket.close(code, reason);
        },
        terminate: () => {
          detach();
          // Without arguments a WHATWG close() never throws; closing or closed, it does nothing.
          socket.close();
        },
        get bufferedAmount() {
          return socket.bufferedAmount;
        },
      };
    },
  };
}
