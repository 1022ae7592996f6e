/** The fake socket of the no-network overhead benches (overhead.mjs, observe-overhead.mjs). */

/** A WebSocket that is open after a timer and echoes every message on a microtask. */
export class EchoSocket {
  readyState = 0;
  binaryType = "blob";
  bufferedAmount = 0;
  protocol = "";
  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;
  constructor() {
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.({});
    }, 0);
  }
  send(data) {
    queueMicrotask(() => this.onmessage?.({ data }));
  }
  close() {
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code: 1000, reason: "", wasClean: true }), 0);
  }
}
