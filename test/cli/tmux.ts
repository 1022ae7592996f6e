/**
 * A tmux server of its own for a CLI terminal test file: sessions started detached in the
 * repository root with `remain-on-exit` on, keys typed with `send-keys`, and the screen read
 * with `capture-pane` until it shows what the test waits for. It does not skip: the test's suite
 * is guarded by `requireTools("tmux")`.
 */

import { execFileSync } from "node:child_process";
import { root, waitFor } from "./helpers.js";

/** One pane (session) of a {@link Tmux} server. */
export interface Pane {
  /**
   * Starts the session detached, `width` × `height` cells, in the repository root, running
   * `command` (one shell line, or an argv run without a shell), and keeps the pane once it exits.
   * `env` is added to this process's environment (`undefined` removes a variable); it takes
   * effect for the first session, which starts the tmux server.
   */
  start(
    command: string | string[],
    size: { width: number; height: number },
    env?: Record<string, string | undefined>,
  ): void;
  /** The visible screen; `flags` are more `capture-pane` flags (`-J` joins wrapped rows, `-e` keeps colours). */
  screen(...flags: string[]): string;
  /** Waits until `check` holds for the screen (read with `flags`); returns it, or throws with it. */
  see(
    what: string,
    check: (text: string) => boolean,
    options?: { timeoutMs?: number; flags?: string[] },
  ): Promise<string>;
  /** Presses `keys` (tmux key names such as `Enter`, `Up`, `C-c`). */
  keys(...keys: string[]): void;
  /** Types `text` literally (`send-keys -l`). */
  typeLiterally(text: string): void;
  /** Types `text` literally, then Enter. */
  type(text: string): void;
}

/** A tmux server (`-L <socket>`) for one test file. */
export interface Tmux {
  /** Runs `tmux args…` on this server; returns what it printed. */
  run(...args: string[]): string;
  /** The pane of session `target`. */
  pane(target: string): Pane;
  /** Ends the server and every session on it (no error if it is already gone). */
  kill(): void;
}

/** A tmux server on the socket `<name>-<pid>`, so that parallel test files never share one. */
export function createTmux(name: string): Tmux {
  const socket = `${name}-${process.pid}`;
  const run = (...args: string[]) => execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
  const pane = (target: string): Pane => {
    const screen = (...flags: string[]) => run("capture-pane", "-p", ...flags, "-t", target);
    return {
      start(command, { width, height }, env = {}) {
        const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
        for (const [key, value] of Object.entries(env)) if (value === undefined) delete merged[key];
        const size = ["-x", String(width), "-y", String(height)];
        execFileSync(
          "tmux",
          ["-L", socket, "new-session", "-d", "-s", target, ...size, "-c", root].concat(command),
          { env: merged },
        );
        run("set-option", "-t", target, "remain-on-exit", "on");
      },
      screen,
      see: (what, check, { timeoutMs, flags = [] } = {}) =>
        waitFor(
          what,
          () => {
            const text = screen(...flags);
            return check(text) ? text : undefined;
          },
          timeoutMs,
        ).catch((error: Error) => {
          throw new Error(`${error.message}\n--- screen ---\n${screen(...flags)}`);
        }),
      keys: (...keys) => void run("send-keys", "-t", target, ...keys),
      typeLiterally: (text) => void run("send-keys", "-t", target, "-l", text),
      type(text) {
        run("send-keys", "-t", target, "-l", text);
        run("send-keys", "-t", target, "Enter");
      },
    };
  };
  return {
    run,
    pane,
    kill() {
      try {
        run("kill-server");
      } catch {
        // Already gone.
      }
    },
  };
}

/**
 * `argv` as a shell line that then prints the exit status, `[exited with N]`, on the screen:
 * tmux's own `#{pane_dead_status}` was seen empty for good after a clean exit under load, so the
 * tests read the shell's line instead.
 */
export function withExitLine(argv: string[]): string {
  const command = argv.map((a) => `'${a}'`).join(" ");
  return `sh -c "${command.replaceAll('"', '\\"')}; echo \\"[exited with \\$?]\\""`;
}
