/**
 * One attempt's URL and headers (src/attempt.ts): the functions' context, the deadline, and which
 * failures keep their own code. The same rules are pinned against real sockets in
 * conn-dial.test.ts and conn-handshake.test.ts (reconnects, the policy); here each row is, on a
 * hand-driven clock.
 */

import { describe, expect, it } from "vitest";
import { AttemptPrep } from "../src/attempt.js";
import { ErrorCode, EvtWebSocketError, evtError } from "../src/errors.js";
import type { LinkEnd } from "../src/link.js";
import type { AttemptContext } from "../src/types.js";
import { FakeClock } from "./helpers/fake-clock.js";

const URL_OK = "ws://127.0.0.1:1/live";
const always = () => true;

async function failure(promise: Promise<unknown>): Promise<EvtWebSocketError> {
  const outcome = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(outcome).toBeInstanceOf(EvtWebSocketError);
  return outcome as EvtWebSocketError;
}

describe("AttemptPrep.prepare", () => {
  it("gives the functions the attempt number and how the last attempt ended, and returns the URL and checked headers", async () => {
    const seen: AttemptContext[] = [];
    const cause = evtError(ErrorCode.DISCONNECTED, "lost");
    const last: LinkEnd = {
      code: 4001,
      reason: "go",
      wasClean: true,
      wasOpen: true,
      requested: false,
      closedBy: "server",
      error: cause,
    };
    const prep = new AttemptPrep(new FakeClock(), 1000);
    const [url, headers] = await prep.prepare(
      (ctx) => {
        seen.push(ctx);
        return Promise.resolve(new URL(URL_OK));
      },
      async (ctx) => {
        seen.push(ctx);
        return { authorization: "Bearer t" };
      },
      3,
      last,
      always,
    );
    expect(url).toBe(URL_OK);
    expect(headers).toEqual({ authorization: "Bearer t" });
    expect(seen).toEqual([
      { attempt: 3, lastClose: { code: 4001, reason: "go" }, lastError: cause },
      { attempt: 3, lastClose: { code: 4001, reason: "go" }, lastError: cause },
    ]);
  });

  it("skips the headers function when the attempt is no longer wanted once the URL is known", async () => {
    let called = false;
    const prep = new AttemptPrep(new FakeClock(), 1000);
    const [, headers] = await prep.prepare(
      URL_OK,
      () => {
        called = true;
        return {};
      },
      0,
      undefined,
      () => false,
    );
    expect(called).toBe(false);
    expect(headers).toBeUndefined();
  });

  it.each<[string, () => unknown, () => unknown, string, string]>([
    [
      "a URL function that throws",
      () => {
        throw new Error("no token");
      },
      () => ({}),
      ErrorCode.DIAL_FAILED,
      "the URL function failed",
    ],
    [
      "a URL function that throws one of our errors",
      () => Promise.reject(evtError(ErrorCode.CLOSED, "x")),
      () => ({}),
      ErrorCode.DIAL_FAILED,
      "the URL function failed",
    ],
    [
      "a URL function that returns an invalid URL",
      () => "ftp://127.0.0.1/",
      () => ({}),
      ErrorCode.INVALID_URL,
      "invalid URL",
    ],
    [
      "a headers function that rejects",
      () => URL_OK,
      () => Promise.reject(new Error("vault down")),
      ErrorCode.DIAL_FAILED,
      "the headers function failed",
    ],
    [
      "a headers function that throws ERR_INVALID_URL",
      () => URL_OK,
      () => {
        throw evtError(ErrorCode.INVALID_URL, "x");
      },
      ErrorCode.DIAL_FAILED,
      "the headers function failed",
    ],
    [
      "a headers function that returns a bad header",
      () => URL_OK,
      () => ({ "bad name": "v" }),
      ErrorCode.INVALID_OPTION,
      "headers",
    ],
  ])("%s fails the attempt with its code", async (_, urlFn, headersFn, code, message) => {
    const prep = new AttemptPrep(new FakeClock(), 1000);
    const error = await failure(prep.prepare(urlFn as never, headersFn as never, 0, undefined, always));
    expect(error.code).toBe(code);
    expect(error.message).toContain(message);
  });

  it.each(["URL", "headers"] as const)(
    "a %s function that never settles fails the attempt with ERR_CONNECT_TIMEOUT at connectTimeoutMs, and leaves no timer",
    async (which) => {
      const clock = new FakeClock();
      const never = () => new Promise<never>(() => {});
      const prep = new AttemptPrep(clock, 500);
      const outcome = failure(
        prep.prepare(
          which === "URL" ? never : URL_OK,
          which === "headers" ? never : undefined,
          0,
          undefined,
          always,
        ),
      );
      await Promise.resolve(); // the URL (a plain string) is taken before the headers function is called
      clock.advance(499);
      expect(clock.fired).toBe(0);
      clock.advance(1);
      const error = await outcome;
      expect(error.code).toBe(ErrorCode.CONNECT_TIMEOUT);
      expect(error.message).toBe(`the ${which} function did not settle within 500 ms`);
      expect(clock.pending).toBe(0);
    },
  );

  it("sets no timer for plain values or with connectTimeoutMs Infinity, and clears its deadline when the function settles", async () => {
    const clock = new FakeClock();
    await new AttemptPrep(clock, 500).prepare(URL_OK, () => ({}), 0, undefined, always);
    await new AttemptPrep(clock, Number.POSITIVE_INFINITY).prepare(
      async () => URL_OK,
      async () => ({}),
      0,
      undefined,
      always,
    );
    expect(clock.created).toBe(0);
    await new AttemptPrep(clock, 500).prepare(
      async () => URL_OK,
      async () => ({}),
      0,
      undefined,
      always,
    );
    expect(clock.created).toBe(2);
    expect(clock.pending).toBe(0);
  });

  it("cancel() clears the deadline of a function still awaited", async () => {
    const clock = new FakeClock();
    const prep = new AttemptPrep(clock, 500);
    void prep.prepare(() => new Promise<never>(() => {}), undefined, 0, undefined, always);
    expect(clock.pending).toBe(1);
    prep.cancel();
    expect(clock.pending).toBe(0);
  });
});

describe("AttemptPrep.prepare: functions that return nothing, and no headers function", () => {
  it("without a headers function: the URL, and no headers", async () => {
    const prep = new AttemptPrep(new FakeClock(), 1000);
    expect(await prep.prepare(() => URL_OK, undefined, 0, undefined, always)).toEqual([URL_OK, undefined]);
  });

  it.each<[string, () => unknown, (() => unknown) | undefined, string]>([
    [
      "a URL function that returns undefined fails with ERR_INVALID_URL",
      () => undefined,
      undefined,
      ErrorCode.INVALID_URL,
    ],
    [
      "a URL function that returns null fails with ERR_INVALID_URL",
      () => null,
      undefined,
      ErrorCode.INVALID_URL,
    ],
    [
      "a headers function that returns undefined fails with ERR_INVALID_OPTION",
      () => URL_OK,
      () => undefined,
      ErrorCode.INVALID_OPTION,
    ],
  ])("%s, not as the function's failure", async (_, urlFn, headersFn, code) => {
    const prep = new AttemptPrep(new FakeClock(), 1000);
    const error = await failure(prep.prepare(urlFn as never, headersFn as never, 0, undefined, always));
    expect(error.code).toBe(code);
  });
});
