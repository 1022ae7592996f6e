/**
 * Adapter for any WHATWG `WebSocket` constructor: browsers, Deno, Bun, workers, Node 22+'s
 * global, polyfills. Binary frames are asked for as `ArrayBuffer` and handed on as
 * `Uint8Array`, never as `Blob`. WHATWG sockets have no ping frames and no custom headers;
 * the factory says so and the connection rejects options that need them.
 */

import { byteLength, type Data } from "../codec.js";
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
      let closeCalled = false;
      // A polyfill without `protocol`: no subprotocol, as WHATWG says ("").
      socket.onopen = () => events.onOpen(socket.protocol ?? "");
      const deliver = (data: unknown) => {
        if (typeof data === "string") return events.onMessage(data, byteLength(data));
        // An ArrayBuffer (`buffer` undefined) or a view of one, from any realm.
        const { buffer, byteOffset, byteLength: size } = data as Uint8Array;
        if (size !== undefined) events.onMessage(new Uint8Array(buffer ?? data, byteOffset, size), size);
      };
      // A Blob (a polyfill that ignores binaryType) is read first; what follows waits its turn.
      let reading: Promise<unknown> | undefined;
      socket.onmessage = ({ data }) => {
        if (reading || (data as Blob).arrayBuffer)
          reading = Promise.all([reading, (data as Blob).arrayBuffer?.() ?? data]).then(
            // Delivered unless the socket was terminated (detached) meanwhile.
            ([, read]) => socket.onmessage && deliver(read),
            noop,
          );
        else deliver(data);
      };
      socket.onerror = (event) => {
        lastError = (event as { error?: unknown })?.error ?? event;
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
            // No close frame is visible here: a clean end we did not ask for began at the server.
            closedBy: closeCalled ? "client" : event.wasClean ? "server" : "network",
          });
        };
        reading?.then(end) ?? end();
      };
      const detach = () => {
        socket.onopen = null;
        socket.onmessage = null;
        socket.onerror = null;
        socket.onclose = null;
      };
      return {
        send: (data: Data) => {
          // Closing, a WHATWG socket drops what it is given without a word: refuse it instead.
          if (socket.readyState !== 1) return -1;
          socket.send(data as string | ArrayBufferView);
          return byteLength(data);
        },
        close: (code, reason) => {
          closeCalled = true;
          socket.close(code, reason);
        },
        terminate: () => {
          detach();
          // Some implementations (ws used as a WHATWG constructor) raise an error event when a
          // handshake is abandoned; with no handler it would be thrown.
          socket.onerror = noop;
          try {
            socket.close();
          } catch {
            // Already closing: nothing more can be done with a WHATWG socket.
          }
        },
        get bufferedAmount() {
          return socket.bufferedAmount;
        },
      };
    },
  };
}
