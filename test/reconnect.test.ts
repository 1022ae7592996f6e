import { describe, expect, it } from "vitest";
import { ErrorCode, EvtWebSocketError } from "../src/errors.js";
import { decideRetry, type Ending, serverWait } from "../src/reconnect.js";
import { resolveOptions } from "../src/resolve-options.js";

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
    expect(asked).toStrictEqual([{ code: 1006, reason: "", proxyStatus: 407 }]);
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
    expect(seen).toStrictEqual([{ code: 1006, reason: "", status: 401 }]);
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

describe("decideRetry: a wait the server sets", () => {
  const refused = (status: number, retryAfterMs?: number) =>
    ending({ status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
  const closed1013 = ending({ code: 1013, openForMs: 100 });
  const at = (r: number) => () => r;

  it.each([
    ["503 + Retry-After: at least that long", policy(), refused(503, 2000), 0, 2000, 2000],
    ["429 + Retry-After: at least that long", policy(), refused(429, 2000), 0, 2000, 2000],
    [
      "jitter is added to the server's wait, never taken off",
      policy({ jitter: 0.5 }),
      refused(503, 2000),
      0.999,
      2999,
      2000,
    ],
    [
      "with jitter and the lowest draw, exactly the server's wait",
      policy({ jitter: 0.5 }),
      refused(503, 2000),
      0,
      2000,
      2000,
    ],
    ["Retry-After may exceed maxDelayMs", policy({ maxDelayMs: 1000 }), refused(503, 2000), 0, 2000, 2000],
    ["Retry-After is honoured up to 10 minutes", policy(), refused(503, 3_600_000), 0, 600_000, 600_000],
    [
      "a longer backoff wins over a shorter Retry-After",
      policy({ minDelayMs: 5000 }),
      refused(503, 2000),
      0,
      5000,
      2000,
    ],
    ["Retry-After 0 still waits the backoff", policy(), refused(503, 0), 0, 100, 0],
    ["1013: at least 5 s", policy(), closed1013, 0, 5000, 5000],
    ["1013: maxDelayMs if smaller", policy({ maxDelayMs: 300 }), closed1013, 0, 300, 300],
    [
      "1013 with jitter stays within maxDelayMs",
      policy({ maxDelayMs: 6000, jitter: 0.5 }),
      closed1013,
      0.999,
      6000,
      5000,
    ],
    ["1013 with jitter: added", policy({ jitter: 0.5 }), closed1013, 0.5, 6250, 5000],
  ] as const)("%s", (_name, p, end, r, delayMs, serverDelayMs) => {
    expect(decideRetry(p, 0, end, undefined, at(r))).toEqual({
      retry: true,
      attempt: 1,
      delayMs,
      serverDelayMs,
    });
  });

  it.each([
    ["a 503 without Retry-After", refused(503)],
    ["Retry-After on a status other than 429 or 503", refused(500, 2000)],
    ["Retry-After on a 401", refused(401, 2000)],
    ["a 1013 that was never open (no socket)", ending({ code: 1013 })],
    ["a close with 1012", ending({ code: 1012, openForMs: 100 })],
  ])("%s sets no wait", (_name, end) => {
    expect(decideRetry(policy(), 0, end, undefined, zero)).toEqual({ retry: true, attempt: 1, delayMs: 100 });
  });

  it("shouldReconnect still has the last word", () => {
    expect(decideRetry(policy(), 0, refused(503, 2000), () => false, zero)).toMatchObject({ retry: false });
    expect(decideRetry(policy(), 0, closed1013, () => false, zero)).toMatchObject({ retry: false });
  });

  it("maxAttempts still stops", () => {
    const d = decideRetry(policy({ maxAttempts: 1 }), 1, refused(503, 2000), undefined, zero);
    expect(d.retry === false && d.error?.code).toBe("ERR_RECONNECT_EXHAUSTED");
  });

  it("draws one random number per decision, as without a server wait", () => {
    let draws = 0;
    const random = () => {
      draws++;
      return 0.5;
    };
    decideRetry(policy({ jitter: 0.5 }), 0, refused(503, 2000), undefined, random);
    decideRetry(policy({ jitter: 0.5 }), 0, ending(), undefined, random);
    expect(draws).toBe(2);
  });
});

describe("serverWait (05d7b42, pure: the drop it serves needs a refusal and reconnect() in one turn)", () => {
  const policy = resolveOptions({ reconnect: { minDelayMs: 10, maxDelayMs: 1000, jitter: 0.5 } }).reconnect;
  it.each([
    [
      "a 429's Retry-After, the socket ours to close (openForMs 0)",
      { status: 429, retryAfterMs: 5000, openForMs: 0 },
      7500,
    ],
    ["a proxy's 503 Retry-After, never open", { proxyStatus: 503, retryAfterMs: 5000 }, 7500],
    ["a 1013 close on an open socket", { code: 1013, openForMs: 0 }, 1000],
    ["a 1013 code on a socket that never opened", { code: 1013 }, undefined],
    ["a 429 without Retry-After", { status: 429, openForMs: 0 }, undefined],
  ] as const)("%s", (_, over, expected) => {
    // r = 1: the whole jitter added (half the wait); only a 1013's is capped at maxDelayMs.
    expect(serverWait(policy, ending(over), 1)).toBe(expected);
  });
});

describe("decideRetry: giving up", () => {
  it("ERR_RECONNECT_EXHAUSTED says how many attempts were made, with the attempt and the last close code in details", () => {
    const d = decideRetry(policy({ maxAttempts: 3 }), 3, ending({ code: 4002 }), undefined, zero);
    expect(d.retry === false && d.error).toMatchObject({
      code: "ERR_RECONNECT_EXHAUSTED",
      message: "gave up after 3 reconnect attempts",
      details: { attempt: 3, closeCode: 4002 },
    });
  });

  it("shouldReconnect is given no status or proxyStatus key when the end had none", () => {
    const seen: unknown[] = [];
    decideRetry(policy(), 0, ending({ code: 4001, reason: "bye" }), (info) => void seen.push(info), zero);
    expect(seen).toStrictEqual([{ code: 4001, reason: "bye" }]);
  });
});
