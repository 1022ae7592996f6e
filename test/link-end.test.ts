/**
 * What a socket's end means (src/link-end.ts), as tables: the close-code classification the
 * connection reports through `onError` and request causes. The same sentences are pinned
 * against real sockets in the conn-* suites; here every row of the classification is.
 */

import { describe, expect, it } from "vitest";
import { ErrorCode, EvtWebSocketError } from "../src/errors.js";
import { closeError, dialError, tornDownEnd } from "../src/link-end.js";
import type { ClosedBy } from "../src/transport/types.js";

const URL_WITH_SECRETS = "wss://user:PASSWD@example.test:8443/PATHSECRET?token=QSECRET";
const SHOWN = "wss://example.test:8443";

/** What a link saw before it tore its socket down, by name (tornDownEnd takes it positionally). */
interface Seen {
  error?: EvtWebSocketError;
  requested?: boolean;
  answer?: { code: number; reason: string; wasClean: true };
  peer?: { code: number; reason: string };
  failure?: { code: number; cause: unknown };
}

function tornDown({ error, requested = false, answer, peer, failure }: Seen) {
  return tornDownEnd(URL_WITH_SECRETS, error, requested, answer, peer, failure);
}

describe("closeError: an end we did not ask for, by code and by the side that closed first", () => {
  it.each<[number, boolean, ClosedBy, string | undefined, string]>([
    // The peer refused a message of ours: the code says as what.
    [1007, true, "server", ErrorCode.DISCONNECTED, `${SHOWN} refused a message of ours as invalid data`],
    [
      1008,
      true,
      "server",
      ErrorCode.DISCONNECTED,
      `${SHOWN} refused a message of ours as against its policy`,
    ],
    [1009, true, "server", ErrorCode.DISCONNECTED, `${SHOWN} refused a message of ours as too big`],
    [1009, false, "server", ErrorCode.DISCONNECTED, `${SHOWN} refused a message of ours as too big`],
    // Our side failed the connection: 1009 is an incoming message over maxMessageBytes, the rest a protocol breach.
    [1009, true, "client", ErrorCode.MESSAGE_TOO_BIG, "an incoming message exceeded maxMessageBytes"],
    [1002, true, "client", ErrorCode.DISCONNECTED, `${SHOWN} broke the protocol`],
    [1007, false, "client", ErrorCode.DISCONNECTED, `${SHOWN} broke the protocol`],
    // Anything else: lost when unclean, nothing to report when clean.
    [1006, false, "network", ErrorCode.DISCONNECTED, `connection to ${SHOWN} was lost`],
    [1011, false, "server", ErrorCode.DISCONNECTED, `connection to ${SHOWN} was lost`],
    [1007, false, "network", ErrorCode.DISCONNECTED, `connection to ${SHOWN} was lost`],
    [1000, true, "server", undefined, ""],
    [1001, true, "server", undefined, ""],
    [4001, true, "server", undefined, ""],
    [1011, true, "network", undefined, ""],
  ])("code %i, clean %s, closed by %s: %s", (code, wasClean, closedBy, expectedCode, message) => {
    const cause = new Error("socket said so");
    const error = closeError(URL_WITH_SECRETS, { code, wasClean, error: cause }, closedBy);
    if (expectedCode === undefined) {
      expect(error).toBeUndefined();
      return;
    }
    expect(error).toBeInstanceOf(EvtWebSocketError);
    expect(error!.code).toBe(expectedCode);
    expect(error!.message).toBe(`${message} (close code ${code}, closed by ${closedBy})`);
    expect(error!.cause).toBe(cause);
    expect(error!.details).toEqual({ closeCode: code, closedBy });
  });

  it("shows the server by scheme, host and port only: no credentials, path or query", () => {
    const error = closeError(URL_WITH_SECRETS, { code: 1008, wasClean: true }, "server")!;
    for (const secret of ["PASSWD", "user", "PATHSECRET", "QSECRET"])
      expect(error.message).not.toContain(secret);
  });
});

describe("dialError: a socket that never opened", () => {
  it.each<[string, unknown, number | undefined, number | undefined, string, object]>([
    [
      "a refused handshake",
      new Error("Unexpected server response: 503"),
      503,
      undefined,
      "HTTP 503",
      { status: 503 },
    ],
    [
      "a proxy that refused the tunnel",
      new Error("proxy said 407"),
      undefined,
      407,
      "proxy said 407",
      { proxyStatus: 407 },
    ],
    ["both: the server's status wins", new Error("x"), 401, 407, "HTTP 401", { status: 401 }],
    ["a network error", new Error("connect ECONNREFUSED"), undefined, undefined, "connect ECONNREFUSED", {}],
    ["something not an Error", "boom", undefined, undefined, "network error", {}],
    [
      "a text naming our own URL elsewhere (a proxy variable's rule)",
      new Error("HTTP_PROXY must be an http:// URL"),
      undefined,
      undefined,
      "HTTP_PROXY must be an http:// URL",
      {},
    ],
  ])("%s", (_, cause, status, proxyStatus, why, details) => {
    const error = dialError(URL_WITH_SECRETS, cause, status, proxyStatus);
    expect(error.code).toBe(ErrorCode.DIAL_FAILED);
    expect(error.message).toBe(`could not connect to ${SHOWN}: ${why}`);
    expect(error.cause).toBe(cause);
    // Strictly: no status key at all when there is none, rather than one holding undefined.
    expect(error.details).toStrictEqual(details);
  });
});

it("dialError leaves out a cause whose text names this URL, path and query included (Bun's constructor error)", () => {
  const cause = new SyntaxError(`Invalid url for WebSocket ${URL_WITH_SECRETS}`);
  const error = dialError(URL_WITH_SECRETS, cause);
  expect(error.message).toBe(`could not connect to ${SHOWN}: network error`);
  expect(error.cause).toBeUndefined();
});

describe("tornDownEnd: a socket we tore down, explained by the close frames seen before", () => {
  const ours = new EvtWebSocketError(ErrorCode.PONG_TIMEOUT, "dead");

  it("with no close frame: 1006, unclean, our reason, the side left to the link", () => {
    expect(tornDown({ error: ours })).toEqual({
      code: 1006,
      reason: "",
      wasClean: false,
      error: ours,
    });
    expect(tornDown({ requested: true })).toEqual({
      code: 1006,
      reason: "",
      wasClean: false,
      error: undefined,
    });
  });

  it("the peer answered our close: the closing handshake completed, its code explains the end", () => {
    const answer = { code: 4000, reason: "bye", wasClean: true as const };
    expect(tornDown({ requested: true, answer })).toEqual({
      ...answer,
      error: undefined,
    });
  });

  it("the peer closed first and held TCP: clean, with its code and reason, closed by the server", () => {
    const end = tornDown({ peer: { code: 4001, reason: "go away" } });
    expect(end).toEqual({
      code: 4001,
      reason: "go away",
      wasClean: true,
      error: undefined,
      closedBy: "server",
    });
  });

  it("the peer closed first with a refusal code: the error that code means", () => {
    const end = tornDown({ peer: { code: 1009, reason: "" } });
    expect(end).toMatchObject({ code: 1009, wasClean: true, closedBy: "server" });
    expect(end.error?.message).toBe(
      `${SHOWN} refused a message of ours as too big (close code 1009, closed by server)`,
    );
  });

  it("our side failed the connection: unclean, its code, the error that code means with its cause", () => {
    const cause = new RangeError("Max payload size exceeded");
    const end = tornDown({ failure: { code: 1009, cause } });
    expect(end).toMatchObject({ code: 1009, reason: "", wasClean: false, closedBy: "client" });
    expect(end.error?.code).toBe(ErrorCode.MESSAGE_TOO_BIG);
    expect(end.error?.cause).toBe(cause);
  });

  it("after our own close(), a frame's code explains the end but is no error; a reason we give wins", () => {
    const peer = { code: 1008, reason: "policy" };
    expect(tornDown({ requested: true, peer }).error).toBeUndefined();
    expect(tornDown({ error: ours, peer }).error).toBe(ours);
  });
});

describe("tornDownEnd: both a close frame from the peer and our failure", () => {
  it("the peer closed first, then our side failed the connection: unclean, the peer's code and reason, closed by the server", () => {
    const cause = new RangeError("Invalid WebSocket frame");
    const end = tornDown({ peer: { code: 4001, reason: "go away" }, failure: { code: 1002, cause } });
    expect(end).toMatchObject({ code: 4001, reason: "go away", wasClean: false, closedBy: "server" });
    expect(end.error?.code).toBe(ErrorCode.DISCONNECTED);
    expect(end.error?.cause).toBe(cause);
  });
});
