/**
 * The browser's hints about the network and the page: `online`/`offline` on the global object,
 * `navigator.onLine`, page visibility on `document`, and the page entering or leaving the
 * back/forward cache (`pagehide`/`pageshow` with `persisted`) or being frozen (`freeze`/`resume`
 * on `document`, Chromium's Page Lifecycle).
 *
 * This module only reports; what to do about a hint (wait, dial now, ping) is the connection's
 * decision. Globals are looked up when a function is called, never at import time, so
 * server-side rendering can import the package. Where a runtime has none of these (Node, Bun,
 * Deno), watching is a no-op.
 */

/** What {@link watchEnvironment} reports. */
export interface EnvironmentHandlers {
  /** The `online` event: the network is back, a good moment to dial at once. */
  online(): void;
  /** The `offline` event: dialling now would fail at once. Open sockets are not closed by it. */
  offline(): void;
  /** The page became visible again after `hiddenForMs` ms hidden (wall-clock time, sleep included). */
  visible(hiddenForMs: number): void;
  /**
   * The page stops (`shown` false: `pagehide` with `persisted`, into the back/forward cache, or
   * `freeze`) or runs again (`shown` true: `pageshow` with `persisted`, or `resume`). `cached`
   * is true for the back/forward cache's two events and undefined for `freeze` and `resume`
   * (the shared connection leaves its tabs' channel only while the page is cached).
   */
  page(shown: boolean, cached?: true): void;
}

type Listener = (event: Event & { persisted?: boolean }) => void;

/** An object that may carry DOM-style events; every member is optional because runtimes differ. */
export interface EventSourceLike {
  addEventListener?(type: string, listener: Listener): void;
  removeEventListener?(type: string, listener: Listener): void;
}

/** The parts of a global object this module reads: `globalThis` in production, a fake in tests. */
export interface EnvironmentLike extends EventSourceLike {
  navigator?: { onLine?: boolean };
  document?: EventSourceLike & { visibilityState?: string };
}

/** Where {@link watchEnvironment} looks and how it measures time. */
export interface WatchOptions {
  /** The global object to watch. @default globalThis */
  env?: EnvironmentLike;
  /**
   * Wall-clock milliseconds. `Date.now()` rather than the monotonic clock on purpose: a machine
   * that slept while the page was hidden must count the sleep, and monotonic clocks pause
   * during suspend on Linux and macOS.
   * @default Date.now
   */
  now?: () => number;
}

/**
 * True when the runtime says there is no network (`navigator.onLine === false`). False where
 * the runtime does not know (Node, Deno, Bun have no `onLine`): only a definite "offline" counts.
 */
export function isOffline(env: EnvironmentLike = globalThis as EnvironmentLike): boolean {
  return env.navigator?.onLine === false;
}

/**
 * True when the runtime has any of the events {@link watchEnvironment} listens to (browsers,
 * workers, Deno); false in Node and Bun, where watching would only allocate listeners for nothing.
 */
export function hasEnvironmentEvents(env: EnvironmentLike = globalThis as EnvironmentLike): boolean {
  return typeof env.addEventListener === "function" || typeof env.document?.addEventListener === "function";
}

/**
 * Subscribes to `online`/`offline`, `visibilitychange`, `pagehide`/`pageshow` and
 * `freeze`/`resume` where they exist.
 *
 * @returns a function that removes every listener; calling it again does nothing.
 * @example
 * ```ts
 * const unwatch = watchEnvironment({ online: dialNow, offline: () => {}, visible: (ms) => ms > 5000 && conn.ping() });
 * ```
 */
export function watchEnvironment(handlers: EnvironmentHandlers, options: WatchOptions = {}): () => void {
  const env = options.env ?? (globalThis as EnvironmentLike);
  // Looked up per call, so fake timers that replace Date.now apply.
  const now = options.now ?? (() => Date.now());
  const disposers: (() => void)[] = [];
  const listen = (target: EventSourceLike | undefined, type: string, listener: Listener) => {
    if (typeof target?.addEventListener !== "function") return;
    try {
      target.addEventListener(type, listener);
    } catch {
      // Some runtimes (Cloudflare's workerd) refuse listeners after start-up: no hints there.
      return;
    }
    disposers.push(() => target.removeEventListener?.(type, listener));
  };

  listen(env, "online", () => handlers.online());
  listen(env, "offline", () => handlers.offline());

  const doc = env.document;
  // freeze and resume carry no `persisted`; a pagehide or pageshow without the cache says false.
  // "pageshow" and "resume" sort after "pagei", "pagehide" and "freeze" before (fewer bytes than a regex).
  const page: Listener = (e) => e.persisted !== false && handlers.page(e.type > "pagei", e.persisted as true);
  listen(env, "pagehide", page);
  listen(env, "pageshow", page);
  listen(doc, "freeze", page);
  listen(doc, "resume", page);
  let hiddenAt = doc?.visibilityState === "hidden" ? now() : undefined;
  listen(doc, "visibilitychange", () => {
    if (doc?.visibilityState === "hidden") {
      hiddenAt ??= now();
    } else if (doc?.visibilityState === "visible" && hiddenAt !== undefined) {
      const hiddenForMs = Math.max(0, now() - hiddenAt);
      hiddenAt = undefined;
      handlers.visible(hiddenForMs);
    }
  });

  return () => {
    for (const dispose of disposers.splice(0)) dispose();
  };
}
