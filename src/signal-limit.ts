/**
 * Lets one `AbortSignal` carry many requests' abort listeners without Node's
 * `MaxListenersExceededWarning`: a component's controller given to each of its requests is a
 * pattern, not a leak. undici's `fetch` does the same for the signals it is given.
 *
 * Node only: the browser build swaps this module for `signal-limit.browser.ts` (browsers do not
 * warn), so `node:events` stays out of it.
 */

import { defaultMaxListeners, getMaxListeners, setMaxListeners } from "node:events";

/** Raises `signal`'s listener limit once, the first time it is still Node's default. */
export function allowManyListeners(signal: AbortSignal): void {
  // One property read per request with a signal; the limit is raised once per signal.
  if (getMaxListeners(signal) === defaultMaxListeners) setMaxListeners(1500, signal);
}
