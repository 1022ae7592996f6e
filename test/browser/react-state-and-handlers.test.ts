/**
 * `evtwebsocket/react` in Debian's Chromium (React 19 and 18, StrictMode on): what `state` and
 * `error` show (after a refusal, an invalid URL, the reconnect policy giving up, a close() while
 * dialling), options written inline and whose options a shared connection takes,
 * `useConnEvent`'s handlers (one that throws, one left out, the one of the render being
 * committed), URL changes while dialling or null, and remounts under a new key, all against a
 * real `ws` server that counts the sockets it sees. The tests pin the README's sentences, and
 * what a user sees in those cases.
 */

import { describe, expect, it } from "vitest";
import { startServer, until } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { mount, REACTS, waitState, withReactRig } from "./react-rig.js";
import { inPage } from "./rig.js";

type Spec = {
  id: string;
  key?: string;
  url: string | null;
  share?: string;
  reconnect?: false | { minDelayMs: number; maxDelayMs: number; maxAttempts?: number };
  throwOn?: string;
  /** Passes `undefined` as a useConnEvent handler, as an optional `onMessage` prop would. */
  noHandler?: boolean;
  /** Renders {@link APP}'s `Latest` (a "state" handler naming this, a child that closes at "b") instead. */
  user?: string;
};

declare global {
  interface Window {
    mount(specs: Spec[]): void;
    rerender(): void;
    dials: number;
    log: string[];
    errorCodes: Record<string, string | undefined>;
    /** What the error boundary caught. */
    caught: string[];
    /** A connection kept by a test, to compare with a later render's. */
    kept: unknown;
  }
}

const APP = `
import { Component, StrictMode, useEffect, useState, version } from "react";
import { flushSync } from "react-dom";
import { createRoot } from "react-dom/client";
import { Conn } from "./src/index.ts";
import { useConn, useConnEvent } from "./src/react/index.ts";

const w = window;
Object.assign(w, { dials: 0, states: {}, errorCodes: {}, conns: {}, log: [], caught: [], reactVersion: version });
const dial = Conn.prototype.dial;
Conn.prototype.dial = function (...args) {
  w.dials++;
  return dial.apply(this, args);
};

function Probe({ id, url, share, reconnect, throwOn, noHandler, tick }) {
  const { conn, state, error } = useConn(url, {
    share,
    reconnect: reconnect ?? false,
    onMessage: (m) => w.log.push(id + " option-msg " + m + " tick " + tick),
  });
  w.states[id] = state;
  w.errorCodes[id] = error?.code;
  w.conns[id] = conn;
  useConnEvent(conn, "message", (m) => {
    w.log.push(id + " msg " + m);
    if (throwOn === "message") throw new Error("handler threw");
  });
  useConnEvent(conn, "state", ({ newState }) => {
    w.log.push(id + " state " + newState);
    if (throwOn === "state") throw new Error("state handler threw");
  });
  useConnEvent(conn, "message", noHandler ? undefined : () => {});
  return <p>{id}: {state} {error?.code}</p>;
}

// A child's effect closes the connection in the commit that renders user "b": the parent's
// handler called then must be the one of that render.
function Latest({ id, url, user }) {
  const { conn, state } = useConn(url, { reconnect: false });
  w.states[id] = state;
  useConnEvent(conn, "state", ({ newState }) => w.log.push(id + " " + user + " " + newState));
  return <Closer conn={conn} user={user} />;
}
function Closer({ conn, user }) {
  useEffect(() => {
    if (user === "b") conn?.close();
  }, [conn, user]);
  return null;
}

class Catch extends Component {
  state = { failed: false };
  static getDerivedStateFromError() { return { failed: true }; }
  componentDidCatch(e) { w.caught.push(String(e.code) + " " + e.message); }
  render() { return this.state.failed ? null : this.props.children; }
}

let specs = [];
let bump = () => {};
function App() {
  const [tick, setTick] = useState(0);
  bump = () => setTick((t) => t + 1);
  return specs.map((s) => (
    <Catch key={s.key ?? s.id}>{s.user ? <Latest {...s} /> : <Probe {...s} tick={tick} />}</Catch>
  ));
}

const root = createRoot(document.getElementById("root"));
w.mount = (next) => {
  specs = next;
  flushSync(() => root.render(<StrictMode><App /></StrictMode>));
};
w.rerender = () => flushSync(() => bump());
w.mount([]);
w.ready = true;
`;

const env = withReactRig(APP);
const { closes } = env;

describe("evtwebsocket/react: state, error and handlers (StrictMode on)", requireTools("chromium"), () => {
  describe.each(REACTS)("with React $version", ({ version, path }) => {
    it("options written inline (a new object each render) never reconnect; their callbacks stay those of the render that made the connection, as documented", async () => {
      const page = await env.open(path, version);
      const before = env.server.connections;
      const closed = closes.length;
      const dials = await inPage(page, null, () => window.dials);
      await mount(page, [{ id: "a", url: env.server.url }]);
      await waitState(page, "a", "open");
      for (let i = 0; i < 5; i++) await inPage(page, null, () => window.rerender());
      await inPage(page, null, () => {
        window.log.length = 0;
        (window.conns.a as { send(m: string): void }).send("hi");
      });
      await inPage(page, null, () => window.waitFor(() => window.log.length === 2, "the echo"));
      // useConnEvent calls the latest handler; the option's callback is the one the connection
      // was made with (tick 0), as the README says ("Callbacks in the options are fixed then too").
      expect(await inPage(page, null, () => window.log.sort())).toEqual([
        "a msg hi",
        "a option-msg hi tick 0",
      ]);
      expect(await inPage(page, null, () => window.dials)).toBe(dials + 1);
      expect(env.server.connections).toBe(before + 1);
      expect(closes.length).toBe(closed);
      await mount(page, []);
      await until(() => closes.length === closed + 1, "the close after the unmount");
      await page.context().close();
    });

    it("state and error after a refusal, after the reconnect policy gives up, and after close()", async () => {
      const page = await env.open(path, version);
      let refuse = true;
      const picky = await startServer({ verifyClient: (_i, cb) => (refuse ? cb(false, 401) : cb(true)) });
      const retry = { minDelayMs: 10, maxDelayMs: 20, maxAttempts: 2 };
      const read = (id: string) => inPage(page, id, (i) => [window.states[i], window.errorCodes[i]]);
      try {
        await mount(page, [
          { id: "refused", url: picky.url },
          { id: "retried", url: `${picky.url}/x`, reconnect: retry },
        ]);
        await waitState(page, "refused", "closed");
        await waitState(page, "retried", "closed");
        // A browser's WebSocket does not show the HTTP status: a refusal is a failed dial.
        expect(await read("refused")).toEqual(["closed", "ERR_DIAL_FAILED"]);
        expect(await read("retried")).toEqual(["closed", "ERR_RECONNECT_EXHAUSTED"]);
        refuse = false;
        await mount(page, [{ id: "dropped", url: picky.url, reconnect: retry }]);
        await waitState(page, "dropped", "open");
        expect(await read("dropped")).toEqual(["open", undefined]);
        await picky.stop();
        await waitState(page, "dropped", "closed");
        expect(await read("dropped")).toEqual(["closed", "ERR_RECONNECT_EXHAUSTED"]);
        await picky.start();
        await mount(page, [{ id: "closer", url: picky.url }]);
        await waitState(page, "closer", "open");
        await inPage(page, null, () => (window.conns.closer as { close(): Promise<void> }).close());
        await waitState(page, "closer", "closed");
        expect(await read("closer")).toEqual(["closed", undefined]);
        await mount(page, []);
        await until(() => picky.clients.size === 0, "no socket left");
      } finally {
        await picky.close();
      }
      await page.context().close();
    });

    it("an invalid URL: state idle, error ERR_INVALID_URL, one dial under StrictMode, no socket", async () => {
      const page = await env.open(path, version);
      await mount(page, [
        { id: "own", url: "nope://x" },
        { id: "shared", url: "nope://y", share: "b" },
      ]);
      await inPage(page, null, () =>
        window.waitFor(
          () => window.errorCodes.own !== undefined && window.errorCodes.shared !== undefined,
          "the errors",
        ),
      );
      expect(await inPage(page, null, () => [window.states, window.errorCodes, window.dials])).toEqual([
        { own: "idle", shared: "idle" },
        { own: "ERR_INVALID_URL", shared: "ERR_INVALID_URL" },
        2,
      ]);
      await mount(page, []);
      await page.context().close();
    });

    it("a useConnEvent handler that throws shows as ERR_CALLBACK_THREW; the connection stays open and the other handlers are called", async () => {
      const page = await env.open(path, version);
      const closed = closes.length;
      await mount(page, [
        { id: "t", url: env.server.url, share: "th", throwOn: "message" },
        { id: "u", url: env.server.url, share: "th" },
      ]);
      await waitState(page, "t", "open");
      await inPage(page, null, () => {
        window.log.length = 0;
        (window.conns.t as { send(m: string): void }).send("x");
      });
      await inPage(page, null, () =>
        window.waitFor(() => window.errorCodes.u === "ERR_CALLBACK_THREW", "the error"),
      );
      expect(await inPage(page, null, () => window.log.filter((l) => l.includes(" msg ")).sort())).toEqual([
        "t msg x",
        "u msg x",
      ]);
      expect(await inPage(page, null, () => [window.states.t, window.states.u, window.errorCodes.t])).toEqual(
        ["open", "open", "ERR_CALLBACK_THREW"],
      );
      expect(closes.length).toBe(closed);
      await mount(page, []);
      await until(() => closes.length === closed + 1, "the close after the unmount");
      await page.context().close();
    });

    it("a useConnEvent handler that is not a function (an optional prop left out) is refused with ERR_INVALID_OPTION, before any dial", async () => {
      const page = await env.open(path, version);
      const before = env.server.connections;
      const dials = await inPage(page, null, () => window.dials);
      await mount(page, [{ id: "nh", url: env.server.url, noHandler: true }]);
      await inPage(page, null, () => window.waitFor(() => window.caught.length > 0, "the refusal"));
      // It used to subscribe it anyway: every message then threw a TypeError, shown as
      // ERR_CALLBACK_THREW in error, while conn.on() refuses such a listener at once.
      expect(await inPage(page, null, () => window.caught[0])).toBe(
        'ERR_INVALID_OPTION useConnEvent("message"): the handler must be a function, got undefined',
      );
      expect(await inPage(page, null, () => window.dials)).toBe(dials);
      expect(env.server.connections).toBe(before);
      await mount(page, []);
      await page.context().close();
    });

    it("useConnEvent calls the handler of the render being committed, also for an event a child's effect causes in that commit", async () => {
      const page = await env.open(path, version);
      const closed = closes.length;
      await mount(page, [{ id: "L", url: env.server.url, user: "a" }]);
      await waitState(page, "L", "open");
      await inPage(page, null, () => {
        window.log.length = 0;
      });
      await mount(page, [{ id: "L", url: env.server.url, user: "b" }]);
      await waitState(page, "L", "closed");
      // The child's effect ran before the parent's: the handler was updated in a passive effect
      // too, after it, so the close was told to the previous render's handler ("L a closed").
      expect(await inPage(page, null, () => window.log)).toEqual(["L b closed"]);
      await until(() => closes.length === closed + 1, "the server sees the close");
      await mount(page, []);
      await page.context().close();
    });

    it("close() while the handshake is held shows no error, as close() on an open connection does", async () => {
      const page = await env.open(path, version);
      const held: Array<() => void> = [];
      const slow = await startServer({ verifyClient: (_i, cb) => void held.push(() => cb(true)) });
      try {
        // One at a time: a browser holds one WebSocket per host in CONNECTING (RFC 6455 4.1).
        for (const [ids, share] of [
          [["c1", "c2"], "cc"],
          [["own"], undefined],
        ] as const) {
          await mount(
            page,
            ids.map((id) => ({ id, url: slow.url, share })),
          );
          await until(() => held.length === 1, "the handshake held");
          await inPage(page, ids[0], (id) => void (window.conns[id] as { close(): Promise<void> }).close());
          for (const id of ids) await waitState(page, id, "closed");
          // The dial's rejection (ERR_CLOSED: the user's own close()) used to show as the error
          // ("failed: ERR_CLOSED" on a page that renders it), only when closed while connecting.
          expect(await inPage(page, ids, (all) => all.map((id) => window.errorCodes[id]))).toEqual(
            ids.map(() => undefined),
          );
          await mount(page, []);
          for (const go of held.splice(0)) go();
          await until(() => slow.clients.size === 0, "no socket left");
        }
      } finally {
        for (const go of held) go();
        await slow.close();
      }
      await page.context().close();
    });

    it("a shared connection takes the options of the component that makes it, not those of one that joins, also once the maker is gone", async () => {
      const page = await env.open(path, version);
      const retry = { minDelayMs: 10, maxDelayMs: 20 };
      const own = await startServer();
      try {
        // Made without reconnect, joined with it: a drop ends it for both.
        await mount(page, [{ id: "m1", url: own.url, share: "p1" }]);
        await waitState(page, "m1", "open");
        await mount(page, [
          { id: "m1", url: own.url, share: "p1" },
          { id: "j1", url: own.url, share: "p1", reconnect: retry },
        ]);
        await waitState(page, "j1", "open");
        await mount(page, [{ id: "j1", url: own.url, share: "p1", reconnect: retry }]);
        own.dropAll();
        await waitState(page, "j1", "closed");
        await mount(page, []);
        await until(() => own.clients.size === 0, "no socket left");
        // Made with reconnect, joined without: a drop is retried for both.
        const before = own.connections;
        await mount(page, [{ id: "m2", url: own.url, share: "p2", reconnect: retry }]);
        await waitState(page, "m2", "open");
        await mount(page, [
          { id: "m2", url: own.url, share: "p2", reconnect: retry },
          { id: "j2", url: own.url, share: "p2" },
        ]);
        await waitState(page, "j2", "open");
        await mount(page, [{ id: "j2", url: own.url, share: "p2" }]);
        own.dropAll();
        await until(() => own.connections === before + 2, "the reconnect");
        await waitState(page, "j2", "open");
        await mount(page, []);
        await until(() => own.clients.size === 0, "no socket left");
      } finally {
        await own.close();
      }
      await page.context().close();
    });

    it("a component remounted under a new key in one commit keeps a shared connection (no socket, no close); one of its own is made anew", async () => {
      const page = await env.open(path, version);
      const before = env.server.connections;
      const closed = closes.length;
      const own = `${env.server.url}/own`;
      await mount(page, [
        { id: "k", key: "1", url: env.server.url, share: "s" },
        { id: "o", key: "1o", url: own },
      ]);
      await waitState(page, "k", "open");
      await waitState(page, "o", "open");
      await inPage(page, null, () => {
        window.kept = window.conns.k;
      });
      await mount(page, [
        { id: "k", key: "2", url: env.server.url, share: "s" },
        { id: "o", key: "2o", url: own },
      ]);
      await waitState(page, "o", "open");
      expect(
        await inPage(page, null, () => window.conns.k === window.kept && window.states.k === "open"),
      ).toBe(true);
      // The shared one: still the one socket. The own one: the new component's, and the old one's closed.
      await until(() => closes.length === closed + 1, "the old component's own connection closed");
      expect(env.server.connections).toBe(before + 3);
      expect(env.server.clients.size).toBe(2);
      await mount(page, []);
      await until(() => closes.length === closed + 3, "every close");
      await page.context().close();
    });

    it("a URL changed while the handshake is held, and back: one socket left, on the first URL", async () => {
      const page = await env.open(path, version);
      const held: Array<() => void> = [];
      let hold = true;
      const urls = new WeakMap<object, string | undefined>();
      const slow = await startServer({
        verifyClient: (_i, cb) => void (hold ? held.push(() => cb(true)) : cb(true)),
        onConnection: (ws, req) => void urls.set(ws, req.url),
      });
      try {
        for (const share of [undefined, "z"]) {
          await mount(page, [{ id: "a", url: `${slow.url}/one`, share }]);
          await until(() => held.length === 1, "the first handshake held");
          await mount(page, [{ id: "a", url: `${slow.url}/two`, share }]);
          await mount(page, [{ id: "a", url: `${slow.url}/one`, share }]);
          await until(() => held.length >= 2, "a later handshake held");
          hold = false;
          for (const go of held.splice(0)) go();
          await waitState(page, "a", "open");
          // Sockets the client gave up on may still be accepted, then closed: wait for them to go.
          await until(
            () => slow.clients.size === 1 && [...slow.clients].every((ws) => ws.readyState === ws.OPEN),
            "one socket left",
          );
          expect(urls.get([...slow.clients][0]!)).toBe("/one");
          await mount(page, []);
          await until(() => slow.clients.size === 0, "no socket left");
          hold = true;
        }
      } finally {
        await slow.close();
      }
      await page.context().close();
    });

    it("null, then a URL, then null: no dial while null, no socket left", async () => {
      const page = await env.open(path, version);
      const before = env.server.connections;
      const closed = closes.length;
      const dials = await inPage(page, null, () => window.dials);
      await mount(page, [{ id: "n", url: null, share: "nn" }]);
      expect(await inPage(page, null, () => [window.states.n, window.conns.n, window.dials])).toEqual([
        "idle",
        null,
        dials,
      ]);
      await mount(page, [{ id: "n", url: env.server.url, share: "nn" }]);
      await waitState(page, "n", "open");
      await mount(page, [{ id: "n", url: null, share: "nn" }]);
      expect(await inPage(page, null, () => [window.states.n, window.conns.n])).toEqual(["idle", null]);
      await until(() => closes.length === closed + 1, "the close");
      expect(env.server.connections).toBe(before + 1);
      expect(await inPage(page, null, () => window.dials)).toBe(dials + 1);
      await mount(page, []);
      await page.context().close();
    });
  });
});
