/**
 * The interactive session: a readline prompt with history, every typed line sent, every
 * message and event printed, and the slash commands.
 *
 * The session never exits the process; it resolves with an exit code when the user leaves
 * (`/quit`, Ctrl-D, Ctrl-C) or when the first dial fails for good. Output goes through the
 * {@link Printer}, which clears and redraws the prompt around each line.
 */

import * as readline from "node:readline";
import type { Conn } from "../index.js";
import type { ClientOptions } from "./args.js";
import { closeWithin } from "./close.js";
import { helpText, parseInput } from "./commands.js";
import { printConnEvents } from "./conn-events.js";
import { encodeLine } from "./conn-options.js";
import { echoRows } from "./echo-rows.js";
import { formatStats } from "./format.js";
import { displayUrl, parseCloseArgs } from "./parse.js";
import type { Printer } from "./printer.js";
import { DROP_MESSAGE } from "./test-server.js";

/** The terminal streams of a session. */
export interface SessionIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

const PROMPT = "> ";

/** A typed line's echo: the rows it took, and the count of writes when it was typed. */
interface Echo {
  rows: number;
  mark: number;
  kind: ReturnType<typeof parseInput>["kind"];
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * A terminal that went away (its window closed, an ssh session dropped) fails with EIO: stdin
 * ends, readline's close() then throws as it cannot leave raw mode, and writes fail. None of
 * that may stop the session from closing the connection with 1000 (as the SIGHUP that comes
 * with it asks); what would be shown is lost, as nobody can see it.
 */
function keepGoingWithoutTerminal(io: SessionIo): void {
  const tty = io.stdin as NodeJS.ReadStream;
  if (typeof tty.setRawMode === "function") {
    const setRawMode = tty.setRawMode.bind(tty);
    tty.setRawMode = (mode: boolean) => {
      try {
        return setRawMode(mode);
      } catch {
        return tty;
      }
    };
  }
  io.stdout.on("error", () => {});
}

/**
 * Runs an interactive session on `conn` until the user leaves; resolves with the exit code.
 *
 * @param banner - shown before connecting (the embedded server's "things to try").
 * @param stop - aborted by SIGINT or SIGTERM from outside: the session closes with 1000 and
 *   resolves (the caller turns that into 130 or 143). Ctrl-C typed at the prompt is not a
 *   signal: it clears a half-typed line, and on an empty line leaves with 0.
 */
export function runSession(
  conn: Conn,
  o: ClientOptions & { url: string },
  printer: Printer,
  io: SessionIo,
  banner?: string,
  stop?: AbortSignal,
): Promise<number> {
  const terminal = io.stdin.isTTY === true && io.stdout.isTTY === true;
  if (terminal) keepGoingWithoutTerminal(io);
  const rl = readline.createInterface({
    input: io.stdin,
    output: io.stdout,
    terminal,
    historySize: 1000,
    removeHistoryDuplicates: true,
    prompt: PROMPT,
  });
  const out = io.stdout;
  let ended = false;
  let leaving = false;
  let resolveExit: (code: number) => void = () => {};
  const exited = new Promise<number>((resolve) => {
    resolveExit = resolve;
  });

  // Writes through the printer so far (each one below the typed line's echo).
  let writes = 0;
  if (terminal) {
    printer.attachPrompt({
      before: () => {
        writes++;
        readline.moveCursor(out, 0, -rl.getCursorPos().rows);
        readline.cursorTo(out, 0);
        readline.clearScreenDown(out);
      },
      after: () => {
        if (!ended) redraw();
      },
    });
  }

  // Whether the prompt is on screen: readline ends a line with a bare newline, and draws the
  // prompt again only when told to, so lines pasted together are echoed without it.
  let prompted = true;
  /** Draws the prompt and the half-typed line from the cursor, which starts a fresh row. */
  function redraw(): void {
    // readline's redraw first moves up by `prevRows` (the row of the typed line it last left
    // the cursor on): for a line that wraps, that landed on, and erased, the lines just printed.
    (rl as unknown as { prevRows?: number }).prevRows = 0;
    prompted = true;
    rl.prompt(true);
  }

  const shownUrl = displayUrl(o.url);
  // A pong is shown with -v, or when it answers /ping.
  let pingAsked = false;
  const showPong = () => {
    const show = o.verbose || pingAsked;
    pingAsked = false;
    return show;
  };
  const offEvents = printConnEvents(conn, printer, shownUrl, showPong);
  const offMessage = conn.on("message", (msg) => printer.data("<", msg));
  let firstDial = true;
  // When the wait the server asked for (Retry-After, 1013) ends, on the monotonic clock, while
  // one runs: reconnect() does not cut it short, so /reconnect must not say it dials.
  let serverWaitEnds: number | undefined;
  const offWait = conn.on("reconnecting", (info) => {
    serverWaitEnds = info.serverDelayMs === undefined ? undefined : performance.now() + info.delayMs;
  });
  const offState = conn.on("state", ({ newState }) => {
    if (newState === "open" || newState === "closed") serverWaitEnds = undefined;
    if (newState === "closed" && !leaving && !firstDial) {
      printer.info("connection is closed: /reconnect dials again, /quit leaves");
    }
  });

  const dial = (first: boolean) => {
    conn.dial(o.url, o.subprotocols).then(
      () => {
        firstDial = false;
      },
      (error: unknown) => {
        firstDial = false;
        if (codeOf(error) === "ERR_CLOSED" || ended) return;
        if (first) void finish(1, error as Error);
        else printer.error(error as Error);
      },
    );
  };

  async function finish(code: number, error?: Error): Promise<void> {
    if (ended) return;
    leaving = true;
    ended = true;
    printer.attachPrompt(undefined);
    offState();
    offWait();
    if (terminal) {
      readline.cursorTo(out, 0);
      readline.clearLine(out, 0);
    }
    if (error !== undefined) printer.fatal(error);
    rl.close();
    await closeWithin(conn);
    offEvents();
    offMessage();
    resolveExit(code);
  }

  /**
   * Sends a typed line. `echo` is its echo: the rows it took, and the count of writes when it
   * was typed: when something was printed since (the line waited for a command), the echo is
   * no longer above the cursor and stays, rather than erasing what was printed.
   */
  function send(text: string, echo: Echo): void {
    let data: ReturnType<typeof encodeLine>;
    try {
      data = encodeLine(text, o);
    } catch (error) {
      printer.info(`! ${(error as Error).message}`);
      return;
    }
    try {
      conn.send(data);
    } catch (error) {
      printer.error(error as Error);
      return;
    }
    if (terminal && !o.quiet && writes === echo.mark) eraseEchoes();
    printer.data(">", data);
    if (conn.state !== "open") printer.event(`queued: connection is ${conn.state}`);
  }

  async function command(name: string, args: string): Promise<void> {
    switch (name) {
      case "close": {
        let close: { code: number; reason: string };
        try {
          close = parseCloseArgs(args);
        } catch (error) {
          printer.info(`! ${(error as Error).message}`);
          return;
        }
        leaving = true;
        await conn.close(close.code, close.reason);
        leaving = false;
        printer.info("closed: /reconnect dials again, /quit leaves");
        return;
      }
      case "reconnect": {
        const waitMs = serverWaitEnds === undefined ? 0 : Math.round(serverWaitEnds - performance.now());
        // (A first dial's retries wait in "connecting".)
        if ((conn.state === "reconnecting" || conn.state === "connecting") && waitMs > 0) {
          printer.event(`the server asked to wait: dialling in ${waitMs} ms`);
          return;
        }
        printer.event(`dialling ${shownUrl}`);
        // Dialled: a reconnect (what is queued stays queued); closed or given up: a new dial.
        if (conn.state === "closed" || conn.state === "idle") dial(false);
        else conn.reconnect(1000, "reconnect");
        return;
      }
      case "ping":
        try {
          conn.ping();
          pingAsked = conn.state === "open";
          printer.event(conn.state === "open" ? "ping sent" : `no ping: connection is ${conn.state}`);
        } catch (error) {
          printer.error(error as Error);
        }
        return;
      case "stats":
        printer.info(formatStats(conn.stats, conn.state));
        return;
      case "drop":
        try {
          conn.send(DROP_MESSAGE);
          printer.event("asked the server to cut the line (only evtws test servers understand /drop)");
        } catch (error) {
          printer.error(error as Error);
        }
        return;
      case "help":
        printer.info(helpText());
        return;
      case "quit":
        await finish(0);
        return;
    }
  }

  /**
   * Replaces the echo of the line being sent, and of the lines typed after it and not yet
   * handled (a paste: their echoes are below it), with the prompt; their records follow. When
   * one of those is a command, whose echo says what its output answers, every echo stays.
   */
  function eraseEchoes(): void {
    if (echoes.some((e) => e.kind !== "message" && e.kind !== "empty")) return;
    // The rows of the half-typed line above the cursor, then those of the echoes above it.
    const typed = prompted
      ? rl.getCursorPos().rows
      : echoRows(rl.line.slice(0, rl.cursor), out.columns ?? 80) - 1;
    const rows = echoes.reduce((sum, e) => sum + e.rows, typed);
    readline.moveCursor(out, 0, -rows);
    readline.cursorTo(out, 0);
    readline.clearScreenDown(out);
    redraw();
  }

  // Lines typed and not yet handled, in order, the one being handled first.
  const echoes: Echo[] = [];
  // Lines are handled one at a time: a line typed during `/reconnect` waits for it to finish.
  let busy = Promise.resolve();
  rl.on("line", (line) => {
    // Rows as readline laid the echo out: by display width (a CJK character takes two
    // columns), and one more when the line exactly fills its last row.
    const input = parseInput(line);
    const echo: Echo = {
      rows: echoRows((prompted ? PROMPT : "") + line, out.columns ?? 80),
      mark: writes,
      kind: input.kind,
    };
    prompted = false;
    echoes.push(echo);
    busy = busy.then(async () => {
      try {
        if (ended) return;
        if (input.kind === "message") send(input.text, echo);
        else if (input.kind === "unknown") printer.info(`! unknown command /${input.name}: type /help`);
        else if (input.kind === "command") await command(input.name, input.args);
      } finally {
        echoes.shift();
      }
      if (ended) return;
      // Not redraw(): the cursor may be on a later row of a wrapped half-typed line, which
      // readline's own redraw moves up from.
      prompted = true;
      rl.prompt(true);
    });
  });
  rl.on("close", () => void finish(0));
  rl.on("SIGINT", () => {
    // Ctrl-C as in a shell: a half-typed line is cleared, an empty line leaves.
    if (rl.line === "") {
      void finish(0);
      return;
    }
    rl.write(null, { ctrl: true, name: "e" });
    rl.write(null, { ctrl: true, name: "u" });
  });
  if (stop?.aborted) void finish(0);
  else stop?.addEventListener("abort", () => void finish(0), { once: true });

  if (banner !== undefined && !o.quiet) printer.info(banner);
  printer.event(`connecting to ${shownUrl}`);
  dial(true);
  rl.prompt();
  return exited;
}
