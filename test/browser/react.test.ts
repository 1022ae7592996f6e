/**
 * `evtwebsocket/react` in Debian's Chromium: a real React page (react-dom/client, StrictMode
 * on, React's development build, so effects run mount, unmount, mount) built by esbuild from
 * src/, against a real `ws` server on 127.0.0.1 that counts connections and closes. Every test
 * runs twice: with React 19, and with React 18 (the workspace test/fixtures/react-18, aliased
 * to `react` and `react-dom` in that page's build), the two majors the peer range promises.
 */

import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { until } from "../helpers/server.js";
import { requireTools } from "../helpers/tools.js";
import { REACTS, withReactRig } from "./react-rig.js";
import { inPage } from "./rig.js";

type Props = { url: string | null; renderNo: number; show: boolean; solo?: boolean; onlyA?: boolean };

declare global {
  interface Window {
    render(props: Props): void;
    /** Subscriptions to "message" ever made, and those live now. */
    subs: number;
    live: number;
    /** Subscriptions ever made, by event. */
    subsBy: Record<string, number>;
    events: string[];
    /** What the components' own onConnected and onMessage options were called with. */
    optionEvents: string[];
  }
}

/** Two components share one connection (same URL, same `share` key); options and handlers are new objects on every render. */
const APP = `
import { StrictMode, version } from "react";
import { flushSync } from "react-dom";
import { createRoot } from "react-dom/client";
import { Conn } from "./src/index.ts";
import { useConn, useConnEvent } from "./src/react/index.ts";

const w = window;
Object.assign(w, { subs: 0, live: 0, subsBy: {}, events: [], optionEvents: [], states: {}, conns: {}, reactVersion: version });
const on = Conn.prototype.on;
Conn.prototype.on = function (event, listener) {
  const off = on.call(this, event, listener);
  w.subsBy[event] = (w.subsBy[event] ?? 0) + 1;
  if (event !== "message") return off;
  w.subs++;
  w.live++;
  return () => { w.live--; off(); };
};

function Feed({ name, url, renderNo }) {
  const { conn, state } = useConn(url, {
    share: "s",
    reconnect: { minDelayMs: 50, maxDelayMs: 50 },
    onMessage: (msg) => w.optionEvents.push(name + " " + msg),
    onConnected: () => w.optionEvents.push(name + " connected"),
  });
  useConnEvent(conn, "message", (msg) => w.events.push(name + " " + msg + " render=" + renderNo));
  w.states[name] = state;
  w.conns[name] = conn;
  return <p>{name}: {state}</p>;
}

/** Not shared: a connection of its own. */
function Solo({ url }) {
  const { state } = useConn(url);
  w.states.solo = state;
  return <p>solo: {state}</p>;
}

function App({ url, renderNo, show, solo, onlyA }) {
  if (solo) return <Solo url={url} />;
  if (onlyA) return <Feed name="a" url={url} renderNo={renderNo} />;
  return show ? <><Feed name="a" url={url} renderNo={renderNo} /><Feed name="b" url={url} renderNo={renderNo} /></> : null;
}

const root = createRoot(document.getElementById("root"));
w.render = (props) => flushSync(() => root.render(<StrictMode><App {...props} /></StrictMode>));
w.ready = true;
`;

const env = withReactRig(APP);
const { closes } = env;

/** The closes the server saw from now on. */
function since(): () => string[] {
  const from = closes.length;
  return () => closes.slice(from);
}

const render = (page: Page, props: Props) => inPage(page, props, (p) => window.render(p));

describe("evtwebsocket/react in Chromium (StrictMode on)", requireTools("chromium"), () => {
  describe.each(REACTS)("with React $version", ({ version, path }) => {
    it("shares one socket between two components, survives StrictMode without an extra socket or a close, calls the latest handler, and closes after the last unmount", async () => {
      const page = await env.open(path, version);
      const before = env.server.connections;
      const closes = since();
      await render(page, { url: env.server.url, renderNo: 1, show: true });
      await inPage(page, null, () =>
        window.waitFor(
          () => window.states.a === "open" && window.states.b === "open",
          "both components open",
        ),
      );
      expect(env.server.connections).toBe(before + 1);
      expect(closes()).toEqual([]);
      expect(
        await inPage(page, null, () => window.conns.a === window.conns.b && window.conns.a !== null),
      ).toBe(true);

      // New options and handler objects on every render: no reconnect, no resubscription.
      const subsAfterMount = await inPage(page, null, () => window.subs);
      // Each component's useConnEvent (2), and its onMessage option subscribed by useConn's
      // effect, which StrictMode ran twice (4, the first two unsubscribed again).
      expect(subsAfterMount).toBe(6);
      // StrictMode is really on: useConn's effect in each of the two components ran mount,
      // unmount, mount, subscribing to "state" twice (useConnEvent's first effect had no conn yet),
      // plus the shared connection's own listener, which clears `error` when it opens (1).
      expect(await inPage(page, null, () => window.subsBy.state)).toBe(5);
      for (let renderNo = 2; renderNo <= 6; renderNo++)
        await render(page, { url: env.server.url, renderNo, show: true });
      expect(await inPage(page, null, () => ({ subs: window.subs, live: window.live }))).toEqual({
        subs: subsAfterMount,
        live: 4,
      });
      for (const ws of env.server.clients) ws.send("m1");
      await inPage(page, null, () =>
        window.waitFor(() => window.events.length === 2, "the message in both components"),
      );
      expect((await inPage(page, null, () => window.events)).sort()).toEqual([
        "a m1 render=6",
        "b m1 render=6",
      ]);
      expect(env.server.connections).toBe(before + 1);
      expect(closes()).toEqual([]);

      await render(page, { url: env.server.url, renderNo: 7, show: false });
      await until(() => closes().length === 1, "the close after the last unmount");
      expect(closes()).toEqual(["1000"]);
      expect(await inPage(page, null, () => window.live)).toBe(0);

      // A null URL: "not now", no connection.
      await render(page, { url: null, renderNo: 8, show: true });
      expect(await inPage(page, null, () => ({ ...window.states, same: window.conns.a === null }))).toEqual({
        a: "idle",
        b: "idle",
        same: true,
      });
      expect(env.server.connections).toBe(before + 1);
      await page.context().close();
    });

    it("on a shared connection every component's onConnected and onMessage options are called, each only while it is mounted", async () => {
      const page = await env.open(path, version);
      const before = env.server.connections;
      const closes = since();
      await render(page, { url: env.server.url, renderNo: 1, show: true });
      await inPage(page, null, () =>
        window.waitFor(() => window.optionEvents.length === 2, "both components' onConnected"),
      );
      for (const ws of env.server.clients) ws.send("m1");
      await inPage(page, null, () => window.waitFor(() => window.optionEvents.length === 4, "m1 in both"));
      // It used to call only the first component's: the second's options were ignored.
      expect((await inPage(page, null, () => window.optionEvents)).sort()).toEqual([
        "a connected",
        "a m1",
        "b connected",
        "b m1",
      ]);
      await render(page, { url: env.server.url, renderNo: 2, show: true, onlyA: true });
      for (const ws of env.server.clients) ws.send("m2");
      await inPage(page, null, () =>
        window.waitFor(() => window.events.includes("a m2 render=2"), "m2 in a"),
      );
      // b unmounted: its options hear nothing more (the one that made the connection included).
      expect((await inPage(page, null, () => window.optionEvents)).filter((e) => e.includes("m2"))).toEqual([
        "a m2",
      ]);
      expect(env.server.connections).toBe(before + 1);
      expect(closes()).toEqual([]);
      await render(page, { url: env.server.url, renderNo: 3, show: false });
      await until(() => closes().length === 1, "the close after the last unmount");
      await page.context().close();
    });

    it("a connection of its own (no share key) also survives StrictMode with one socket and no close", async () => {
      const page = await env.open(path, version);
      const before = env.server.connections;
      const closed = closes.length;
      await render(page, { url: env.server.url, renderNo: 1, show: true, solo: true });
      await inPage(page, null, () =>
        window.waitFor(() => window.states.solo === "open", "the component open"),
      );
      // It used to make a Conn per mount: StrictMode's first one dialled and was closed.
      await until(() => env.server.connections >= before + 1, "the connection");
      await new Promise((r) => setTimeout(r, 200));
      expect(env.server.connections).toBe(before + 1);
      expect(closes.length).toBe(closed);
      await render(page, { url: env.server.url, renderNo: 2, show: false, solo: false });
      await until(() => closes.length === closed + 1, "the close after the unmount");
      await page.context().close();
    });
  });
});
