import { afterEach } from "vitest";
import { Conn, type ConnOptions } from "../../src/index.js";
import { type ServerOptions, startServer, type TestServer } from "./server.js";

/** Per-test resources closed in reverse order after each test. */
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

export async function server(opts?: ServerOptions, port?: number): Promise<TestServer> {
  const s = await startServer(opts, port);
  cleanup.push(() => s.close());
  return s;
}

export function conn<A = string, B = string>(opts: ConnOptions<A, B, Conn<A, B>> = {}): Conn<A, B> {
  const c = new Conn<A, B>(opts);
  cleanup.push(() => c.close());
  return c;
}

export function onCleanup(fn: () => Promise<unknown>): void {
  cleanup.push(fn);
}

/**
 * Records the uncaught exceptions of this test (removed after it): vitest reports them as run
 * errors, so a test that expects none listens for them itself and fails on its own assertion.
 */
export function uncaughtExceptions(): unknown[] {
  const seen: unknown[] = [];
  const record = (e: unknown) => void seen.push(e);
  process.prependListener("uncaughtException", record);
  onCleanup(async () => void process.removeListener("uncaughtException", record));
  return seen;
}

/** Reconnect settings that keep tests quick. */
export const fast = { minDelayMs: 5, maxDelayMs: 20, jitter: 0 };

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
