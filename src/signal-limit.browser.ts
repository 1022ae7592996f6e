/**
 * The browser build's stand-in for `signal-limit.ts` (swapped in by tsup.config.ts): browsers
 * have no listener limit to raise.
 */

/** Does nothing. */
export function allowManyListeners(_signal: AbortSignal): void {}
