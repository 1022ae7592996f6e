import { afterEach, describe, expect, it, vi } from "vitest";
import { type EnvironmentHandlers, isOffline, watchEnvironment } from "../src/browser-hooks.js";

/** An EventTarget that counts its listeners, so tests can prove the disposer removes them all. */
class CountingTarget extends EventTarget {
  listeners = 0;
  override addEventListener(...args: Parameters<EventTarget["addEventListener"]>): void {
    this.listeners++;
    super.addEventListener(...args);
  }
  override removeEventListener(...args: Parameters<EventTarget["removeEventListener"]>): void {
    this.listeners--;
    super.removeEventListener(...args);
  }
}

/** A browser-like global: window events, navigator.onLine and a document with visibility. */
function fakeBrowser(state: { onLine?: boolean; visibilityState?: string } = {}) {
  const document = Object.assign(new CountingTarget(), {
    visibilityState: state.visibilityState ?? "visible",
  });
  const window = Object.assign(new CountingTarget(), {
    navigator: { onLine: state.onLine ?? true },
    document,
  });
  const setVisibility = (value: string) => {
    document.visibilityState = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  return { window, document, setVisibility };
}

function recorder() {
  const calls: string[] = [];
  const handlers: EnvironmentHandlers = {
    online: () => calls.push("online"),
    offline: () => calls.push("offline"),
    visible: (ms) => calls.push(`visible ${ms}`),
    page: (shown, cached) => calls.push(`${shown ? "show" : "hide"}${cached ? " cached" : ""}`),
  };
  return { calls, handlers };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("watchEnvironment", () => {
  it("reports the online and offline events", () => {
    const { window } = fakeBrowser();
    const { calls, handlers } = recorder();
    watchEnvironment(handlers, { env: window });
    window.dispatchEvent(new Event("offline"));
    window.dispatchEvent(new Event("online"));
    expect(calls).toEqual(["offline", "online"]);
  });

  it("reports how long the page was hidden when it becomes visible again", () => {
    const { window, setVisibility } = fakeBrowser();
    const { calls, handlers } = recorder();
    let now = 1000;
    watchEnvironment(handlers, { env: window, now: () => now });
    setVisibility("hidden");
    now += 45_000;
    setVisibility("visible");
    expect(calls).toEqual(["visible 45000"]);
  });

  it("counts from the start when the page is already hidden", () => {
    const { window, setVisibility } = fakeBrowser({ visibilityState: "hidden" });
    const { calls, handlers } = recorder();
    let now = 0;
    watchEnvironment(handlers, { env: window, now: () => now });
    now = 7000;
    setVisibility("visible");
    expect(calls).toEqual(["visible 7000"]);
  });

  it("reports nothing for a visibilitychange that does not end a hidden spell", () => {
    const { window, setVisibility } = fakeBrowser();
    const { calls, handlers } = recorder();
    let now = 0;
    watchEnvironment(handlers, { env: window, now: () => now });
    setVisibility("visible");
    setVisibility("hidden");
    now = 100;
    setVisibility("hidden");
    now = 300;
    setVisibility("visible");
    setVisibility("visible");
    expect(calls).toEqual(["visible 300"]);
  });

  it("measures with Date.now by default, read at each event, so fake timers apply", () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const { window, setVisibility } = fakeBrowser();
      const { calls, handlers } = recorder();
      watchEnvironment(handlers, { env: window });
      setVisibility("hidden");
      vi.setSystemTime(90_000);
      setVisibility("visible");
      expect(calls).toEqual(["visible 90000"]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("never reports a negative time when the wall clock steps back", () => {
    const { window, setVisibility } = fakeBrowser();
    const { calls, handlers } = recorder();
    let now = 10_000;
    watchEnvironment(handlers, { env: window, now: () => now });
    setVisibility("hidden");
    now = 4000;
    setVisibility("visible");
    expect(calls).toEqual(["visible 0"]);
  });

  it("reports pagehide/pageshow only when persisted (the back/forward cache, said by `cached`), and freeze/resume", () => {
    const { window, document } = fakeBrowser();
    const { calls, handlers } = recorder();
    watchEnvironment(handlers, { env: window });
    const transition = (type: string, persisted: boolean) =>
      window.dispatchEvent(Object.assign(new Event(type), { persisted }));
    transition("pagehide", false);
    transition("pageshow", false);
    transition("pagehide", true);
    transition("pageshow", true);
    document.dispatchEvent(new Event("freeze"));
    document.dispatchEvent(new Event("resume"));
    expect(calls).toEqual(["hide cached", "show cached", "hide", "show"]);
  });

  it("the disposer removes every listener, and a second call does nothing", () => {
    const { window, document, setVisibility } = fakeBrowser();
    const { calls, handlers } = recorder();
    const unwatch = watchEnvironment(handlers, { env: window });
    expect(window.listeners + document.listeners).toBe(7);
    unwatch();
    unwatch();
    expect(window.listeners + document.listeners).toBe(0);
    window.dispatchEvent(new Event("offline"));
    setVisibility("hidden");
    setVisibility("visible");
    expect(calls).toEqual([]);
  });

  it("is a no-op where the global object has no events (Node)", () => {
    const { calls, handlers } = recorder();
    const unwatch = watchEnvironment(handlers, { env: {} });
    expect(() => unwatch()).not.toThrow();
    expect(calls).toEqual([]);
  });

  it("watches the window events without a document (a worker)", () => {
    const worker = new CountingTarget();
    const { calls, handlers } = recorder();
    watchEnvironment(handlers, { env: worker });
    worker.dispatchEvent(new Event("online"));
    expect(calls).toEqual(["online"]);
    expect(worker.listeners).toBe(4);
  });

  it("watches nothing where addEventListener throws (workerd after start-up)", () => {
    const env = {
      addEventListener: () => {
        throw new Error("addEventListener() can only be called during start-up");
      },
      removeEventListener: vi.fn(),
    };
    const unwatch = watchEnvironment(recorder().handlers, { env });
    unwatch();
    expect(env.removeEventListener).not.toHaveBeenCalled();
  });

  it("uses globalThis, read when called", () => {
    const { window, setVisibility } = fakeBrowser();
    vi.stubGlobal("addEventListener", window.addEventListener.bind(window));
    vi.stubGlobal("removeEventListener", window.removeEventListener.bind(window));
    vi.stubGlobal("document", window.document);
    const { calls, handlers } = recorder();
    const unwatch = watchEnvironment(handlers);
    window.dispatchEvent(new Event("offline"));
    setVisibility("hidden");
    setVisibility("visible");
    unwatch();
    expect(calls[0]).toBe("offline");
    expect(calls[1]).toMatch(/^visible \d+$/);
    expect(window.listeners + window.document.listeners).toBe(0);
  });
});

describe("isOffline", () => {
  it.each([
    ["no navigator (Node 20)", {}, false],
    ["a navigator without onLine (Node 21+, Deno, Bun)", { navigator: {} }, false],
    ["navigator.onLine true", { navigator: { onLine: true } }, false],
    ["navigator.onLine false", { navigator: { onLine: false } }, true],
  ])("%s -> %s", (_name, env, expected) => {
    expect(isOffline(env)).toBe(expected);
  });

  it("reads globalThis.navigator when called", () => {
    vi.stubGlobal("navigator", { onLine: false });
    expect(isOffline()).toBe(true);
    vi.stubGlobal("navigator", { onLine: true });
    expect(isOffline()).toBe(false);
  });
});

describe("importing the module", () => {
  it("touches no window, document or navigator", async () => {
    const touched: string[] = [];
    for (const name of ["window", "document", "navigator", "addEventListener"]) {
      vi.stubGlobal(name, undefined);
      Object.defineProperty(globalThis, name, {
        configurable: true,
        get: () => {
          touched.push(name);
          return undefined;
        },
      });
    }
    vi.resetModules();
    const fresh = await import("../src/browser-hooks.js");
    expect(typeof fresh.watchEnvironment).toBe("function");
    expect(touched).toEqual([]);
  });
});
