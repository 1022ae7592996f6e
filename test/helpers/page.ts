/**
 * A page's lifecycle in Node: EventTargets stubbed in as the globals a browser has
 * (`addEventListener`/`removeEventListener` on the global object, and `document`), so a
 * connection's page hooks hear `pagehide`/`pageshow` (with `persisted`), `freeze`/`resume` and
 * `online` fired the way a browser fires them. Made before the connection, the stubs are undone
 * after it is closed (the harness cleans up in reverse order).
 */

import { vi } from "vitest";
import { onCleanup } from "./harness.js";

export function stubPage() {
  const window = new EventTarget();
  const document = new EventTarget();
  vi.stubGlobal("addEventListener", window.addEventListener.bind(window));
  vi.stubGlobal("removeEventListener", window.removeEventListener.bind(window));
  vi.stubGlobal("document", document);
  onCleanup(async () => void vi.unstubAllGlobals());
  /** `pagehide` or `pageshow`; `persisted` (the back/forward cache) unless said otherwise. */
  const fire = (type: "pagehide" | "pageshow", persisted = true) =>
    window.dispatchEvent(Object.assign(new Event(type), { persisted }));
  return { window, document, fire };
}
