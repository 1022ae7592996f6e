/**
 * `evtwebsocket/react`'s `useConn` in Debian's Chromium as components come and go: a shared
 * connection joined after its dial failed, closed by one of its components, or recovering (its
 * `error` cleared for every component sharing it); a URL that changes (no render returns the
 * old URL's connection, no socket left when the handshake is held); a callback option refused
 * before any dial. Against a real `ws` server that counts the sockets it sees. React 19 and
 * React 18 (test/fixtures/react-18), StrictMode on.
 */

import { describe, expect, it } from "vitest";
import { startServer, until } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { mount, REACTS, waitState, withReactRig } from "./react-rig.js";
import { inPage } from "./rig.js";

type Spec = { id: string; url: string | null; share?: string; badOption?: boolean; retry?: boolean };

declare global {
  interface Window {
    mount(specs: Spec[]): void;
    dials: number;
    errorCodes: Record<string, string | undefined>;
    caught: string[];
    renders: { id: string; url: string | null; conn: unknown; state: string }[];
    msgs: string[];
  }
}

const APP = `
import { Component, StrictMode, version } from "react";
import { flushSync } from "react-dom";
import { createRoot } from "react-dom/client";
import { Conn } from "./src/index.ts";
import { useConn, useConnEvent } from "./src/react/index.ts";

const w = window;
Object.assign(w, { dials: 0, states: {}, errorCodes: {}, conns: {}, caught: [], renders: [], msgs: [], reactVersion: version });
const dial = Conn.prototype.dial;
Conn.prototype.dial = function (...args) {
  w.dials++;
  return dial.apply(this, args);
};

function Probe({ id, url, share, badOption, retry }) {
  const { conn, state, error } = useConn(url, {
    share,
    reconnect: retry ? { minDelayMs: 20, maxDelayMs: 50 } : false,
    ...(badOption ? { onMessage: "not a function" } : {}),
  });
  w.states[id] = state;
  w.errorCodes[id] = error?.code;
  w.conns[id] = conn;
  w.renders.push({ id, url, conn, state });
  useConnEvent(conn, "message", (m) => w.msgs.push(id + " " + m));
  return <p>{id}: {state}</p>;
}

class Catch extends Component {
  state = { failed: false };
  static getDerivedStateFromError() { return { failed: true }; }
  componentDidCatch(e) { w.caught.push(String(e.message)); }
  render() { return this.state.failed ? null : this.props.children; }
}

const root = createRoot(document.getElementById("root"));
w.mount = (specs) => flushSync(() => root.render(
  <StrictMode>{specs.map((s) => <Catch key={s.id}><Probe {...s} /></Catch>)}</StrictMode>,
));
w.ready = true;
`;

const env = withReactRig(APP);
const { closes } = env;

describe("evtwebsocket/react: sharing and URL changes (StrictMode on)", requireTools("chromium"), () => {
  describe.each(REACTS)("with React $version", ({ version, path }) => {
    it("a callback option that is not a function is refused before any socket is dialled (shared connection)", async () => {
      const page = await env.open(path, version);
      const before = env.server.connections;
      const closed = closes.length;
      await mount(page, [{ id: "bad", url: env.server.url, share: "x", badOption: true }]);
      await inPage(page, null, () => window.waitFor(() => window.caught.length > 0, "the refusal"));
      expect(await inPage(page, null, () => window.caught[0])).toBe("option onMessage must be a function");
      // It used to make and dial the connection, then refuse the option and close it: the
      // server saw a socket for a component that never ran.
      expect(await inPage(page, null, () => window.dials)).toBe(0);
      // A good component after it: its socket is the only one the server sees.
      await mount(page, [{ id: "good", url: env.server.url, share: "x" }]);
      await waitState(page, "good", "open");
      expect(env.server.connections).toBe(before + 1);
      expect(closes.length).toBe(closed);
      await mount(page, []);
      await until(() => closes.length === closed + 1, "the close after the unmount");
      await page.context().close();
    });
    it("after a URL change no render returns the old URL's connection or its state", async () => {
      const page = await env.open(path, version);
      const before = env.server.connections;
      const closed = closes.length;
      const one = `${env.server.url}/one`;
      const two = `${env.server.url}/two`;
      await mount(page, [{ id: "a", url: one }]);
      await waitState(page, "a", "open");
      await mount(page, [{ id: "a", url: two }]);
      await waitState(page, "a", "open");
      const rendered = await inPage(page, [one, two] as const, ([u1, u2]) => {
        const old = window.renders.find((r) => r.url === u1 && r.conn !== null)?.conn;
        return window.renders
          .filter((r) => r.url === u2)
          .map((r) =>
            r.conn === old ? `old ${r.state}` : r.conn === null ? `none ${r.state}` : `new ${r.state}`,
          );
      });
      // It used to render the old connection, "open", for the new URL until the effect ran:
      // an effect keyed on [url, state] would send on the socket about to be closed.
      expect(rendered.filter((r) => r.startsWith("old"))).toEqual([]);
      expect(rendered[0]).toBe("none idle");
      expect(rendered.at(-1)).toBe("new open");
      await until(() => closes.length === closed + 1, "the old URL's close");
      expect(env.server.connections).toBe(before + 2);
      // URL -> null -> the same URL: nothing of the old connection shows either.
      await mount(page, [{ id: "a", url: null }]);
      const from = await inPage(page, null, () => window.renders.length);
      await mount(page, [{ id: "a", url: two }]);
      await waitState(page, "a", "open");
      const again = await inPage(page, from, (n) =>
        window.renders.slice(n).map((r) => `${r.conn === null ? "none" : "conn"} ${r.state}`),
      );
      expect(again[0]).toBe("none idle");
      expect(again.at(-1)).toBe("conn open");
      await mount(page, []);
      await until(() => closes.length === closed + 3, "every close");
      expect(env.server.connections).toBe(before + 3);
      await page.context().close();
    });
    it("a component that joins a shared connection whose dial failed dials it again, for everyone who shares it", async () => {
      const page = await env.open(path, version);
      const later = await startServer();
      try {
        await later.stop();
        const pair = (x: string | null): Spec[] => [
          { id: "x", url: x, share: "r" },
          { id: "y", url: later.url, share: "r" },
        ];
        await mount(page, pair(later.url));
        await waitState(page, "x", "closed");
        await waitState(page, "y", "closed");
        expect(await inPage(page, null, () => [window.errorCodes.x, window.errorCodes.y])).toEqual([
          "ERR_DIAL_FAILED",
          "ERR_DIAL_FAILED",
        ]);
        await later.start();
        // x lets go and takes it again while y holds it: it used to get the failed connection,
        // closed for good, and nothing dialled until every component had let go.
        await mount(page, pair(null));
        await mount(page, pair(later.url));
        await waitState(page, "x", "open");
        await waitState(page, "y", "open");
        expect(await inPage(page, null, () => window.conns.x === window.conns.y)).toBe(true);
        // The failed dial's error is not reported for the new one.
        expect(await inPage(page, null, () => [window.errorCodes.x, window.errorCodes.y])).toEqual([
          undefined,
          undefined,
        ]);
        expect(later.connections).toBe(1);
        await mount(page, []);
        await until(() => later.clients.size === 0, "the close after the last unmount");
      } finally {
        await later.close();
      }
      await page.context().close();
    });
    it("error is cleared once the connection opens again: a failed attempt does not outlive the recovery", async () => {
      const page = await env.open(path, version);
      const later = await startServer();
      try {
        await later.stop();
        await mount(page, [{ id: "r", url: later.url, retry: true }]);
        await inPage(page, null, () =>
          window.waitFor(() => window.errorCodes.r === "ERR_DIAL_FAILED", "a failed attempt"),
        );
        await later.start();
        await waitState(page, "r", "open");
        expect(await inPage(page, null, () => window.errorCodes.r)).toBeUndefined();
        await mount(page, []);
        await until(() => later.clients.size === 0, "the close after the unmount");
      } finally {
        await later.close();
      }
      await page.context().close();
    });

    it("error is cleared for every component sharing the connection, one that joined after the failure included", async () => {
      const page = await env.open(path, version);
      const later = await startServer();
      try {
        await later.stop();
        await mount(page, [{ id: "s1", url: later.url, share: "k", retry: true }]);
        await inPage(page, null, () =>
          window.waitFor(() => window.errorCodes.s1 === "ERR_DIAL_FAILED", "a failed attempt"),
        );
        const both: Spec[] = [
          { id: "s1", url: later.url, share: "k", retry: true },
          { id: "s2", url: later.url, share: "k", retry: true },
        ];
        await mount(page, both);
        expect(await inPage(page, null, () => window.errorCodes.s2)).toBe("ERR_DIAL_FAILED"); // it joined the failing one
        await later.start();
        await waitState(page, "s1", "open");
        await waitState(page, "s2", "open");
        expect(await inPage(page, null, () => [window.errorCodes.s1, window.errorCodes.s2])).toEqual([
          undefined,
          undefined,
        ]);
        expect(later.connections).toBe(1); // one connection for both
        await mount(page, []);
        await until(() => later.clients.size === 0, "the close after the unmount");
      } finally {
        await later.close();
      }
      await page.context().close();
    });

    it("a URL change and an unmount while the handshake is held leave no socket open on the server", async () => {
      const page = await env.open(path, version);
      const held: Array<() => void> = [];
      let hold = true;
      const slow = await startServer({
        verifyClient: (_info, cb) => {
          held.push(() => cb(true));
          if (!hold) cb(true);
        },
      });
      try {
        await mount(page, [{ id: "a", url: `${slow.url}/one` }]);
        await until(() => held.length === 1, "the first handshake held");
        expect(await inPage(page, null, () => window.states.a)).toBe("connecting");
        // A new URL while the first handshake is held, then an unmount while the second is.
        await mount(page, [{ id: "a", url: `${slow.url}/two` }]);
        await until(() => held.length === 2, "the second handshake held");
        await mount(page, []);
        hold = false;
        for (const go of held) go();
        // A third component, not held: once it is open, the server is left with its socket only.
        await mount(page, [{ id: "c", url: `${slow.url}/three` }]);
        await waitState(page, "c", "open");
        await until(() => slow.clients.size === 1, "only the third socket open");
        expect(held.length).toBe(3);
        expect(await inPage(page, null, () => window.dials)).toBe(3);
        await mount(page, []);
        await until(() => slow.clients.size === 0, "no socket left open");
      } finally {
        await slow.close();
      }
      await page.context().close();
    });
    it("a component that closes a shared connection closes it for all; one that joins then dials it again", async () => {
      const page = await env.open(path, version);
      const before = env.server.connections;
      const closed = closes.length;
      const specs = (ids: string[]): Spec[] => ids.map((id) => ({ id, url: env.server.url, share: "q" }));
      await mount(page, specs(["c", "d"]));
      await waitState(page, "c", "open");
      await inPage(page, null, () => (window.conns.c as { close(): Promise<void> }).close());
      await waitState(page, "d", "closed");
      await until(() => closes.length === closed + 1, "the server sees the close");
      // e joins while c and d hold the closed connection.
      await mount(page, specs(["c", "d", "e"]));
      await waitState(page, "e", "open");
      await waitState(page, "c", "open");
      await waitState(page, "d", "open");
      expect(await inPage(page, null, () => window.conns.c === window.conns.e)).toBe(true);
      expect(env.server.connections).toBe(before + 2);
      await mount(page, []);
      await until(() => closes.length === closed + 2, "the close after the last unmount");
      expect(env.server.connections).toBe(before + 2);
      await page.context().close();
    });
  });
});
