import { describe, expect, it } from "vitest";
import { ErrorCode, EvtWebSocketError } from "../src/errors.js";
import { resolveOptions } from "../src/options.js";
import { decideRetry, type Ending } from "../src/reconnect.js";

const policy = (over = {}) =>
  resolveOptions({ reconnect: { minDelayMs: 100, jitter: 0, ...over } }).reconnect;
const ending = (over: Partial<Ending> = {}): Ending => ({
  code: 1006,
  reason: "",
  openForMs: undefined,
  ...over,
});
const zero = () => 0;

describe("decideRetry", () => {
  it.each([
    ["first failure", 0, ending(), { retry: true, attempt: 1, delayMs: 100 }],
    ["third failure", 2, ending(), { retry: true, attempt: 3, delayMs: 400 }],
    [
      "short-lived connection keeps the count",
      3,
      ending({ openForMs: 4999 }),
      { retry: true, attempt: 4, delayMs: 800 },
    ],
    [
      "stable connection resets the count",
      3,
      ending({ openForMs: 5000 }),
      { retry: true, attempt: 1, delayMs: 100 },
    ],
    ["server close 1000 is retried", 0, ending({ code: 1000 }), { retry: true, attempt: 1, delayMs: 100 }],
    [
      "server close 4001 is retried by default",
      0,
      ending({ code: 4001 }),
      { retry: true, attempt: 1, delayMs: 100 },
    ],
  ])("%s", (_name, attempt, end, expected) => {
    expect(decideRetry(policy(), attempt, end, undefined, zero)).toEqual(expected);
  });

  it.each([
    // [what shouldReconnect answers, retry?]
    ["no shouldReconnect", undefined, false],
    ["shouldReconnect true", true, true],
    ["shouldReconnect false", false, false],
  ] as const)("a proxy's 407 (credentials do not heal) with %s: retry %s", (_name, answer, retry) => {
    const error = new EvtWebSocketError(ErrorCode.DIAL_FAILED, "x", { details: { proxyStatus: 407 } });
    const asked: unknown[] = [];
    const ask = (info: unknown) => {
      asked.push(info);
      return answer;
    };
    const d = decideRetry(policy(), 0, ending({ error, proxyStatus: 407 }), ask, zero);
    expect(d.retry).toBe(retry);
    expect(asked).toEqual([{ code: 1006, reason: "", proxyStatus: 407 }]);
  });

  it.each([403, 502])("a proxy's %s is retried by default, like a refused connection", (proxyStatus) => {
    const d = decideRetry(policy(), 0, ending({ proxyStatus }), undefined, zero);
    expect(d).toEqual({ retry: true, attempt: 1, delayMs: 100 });
  });

  it("reconnect off: stop, keeping the ending's error", () => {
    const error = new EvtWebSocketError(ErrorCode.DIAL_FAILED, "x");
    const p = resolveOptions({ reconnect: false }).reconnect;
    expect(decideRetry(p, 0, ending({ error }))).toEqual({ retry: false, attempt: 0, error });
  });

  it("an invalid URL is never retried", () => {
    const error = new EvtWebSocketError(ErrorCode.INVALID_URL, "x");
    expect(decideRetry(policy(), 0, ending({ error })).retry).toBe(false);
  });

  it("shouldReconnect false stops; it sees code, reason and status", () => {
    const seen: unknown[] = [];
    const d = decideRetry(policy(), 0, ending({ code: 1006, reason: "", status: 401 }), (info) => {
      seen.push(info);
      return false;
    });
    expect(d).toEqual({ retry: false, attempt: 0, error: undefined });
    expect(seen).toEqual([{ code: 1006, reason: "", status: 401 }]);
  });

  it("maxAttempts reached: ERR_RECONNECT_EXHAUSTED with the last error as cause", () => {
    const cause = new EvtWebSocketError(ErrorCode.DIAL_FAILED, "refused");
    const d = decideRetry(policy({ maxAttempts: 3 }), 3, ending({ error: cause }));
    expect(d.retry).toBe(false);
    expect(d.retry === false && d.error).toMatchObject({ code: "ERR_RECONNECT_EXHAUSTED", cause });
  });

  it("maxAttempts 0 never retries", () => {
    expect(decideRetry(policy({ maxAttempts: 0 }), 0, ending()).retry).toBe(false);
  });
});
