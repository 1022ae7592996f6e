/**
 * The slash commands of an interactive session: their names, help lines, and the parser that
 * tells a command from a message. What each command does is `session.ts`'s business.
 */

/** Every slash command, with its arguments and one line of help. */
export const COMMANDS = {
  close: ["[code] [reason]", "close the connection (1000 or 3000-4999); stays closed"],
  reconnect: ["", "drop the socket and dial again now, queue kept (or dial after a close)"],
  ping: ["", "send a ping now; the pong shows the round-trip time"],
  stats: ["", "show the connection's counters"],
  drop: ["", "ask the evtws test server to cut the line (watch the reconnect)"],
  help: ["", "show this help"],
  quit: ["", "close and leave (also Ctrl-D, Ctrl-C)"],
} as const;

/** The name of a slash command. */
export type CommandName = keyof typeof COMMANDS;

/** What a typed line is: a command, a message to send, or nothing. */
export type Input =
  | { kind: "command"; name: CommandName; args: string }
  | { kind: "unknown"; name: string }
  | { kind: "message"; text: string }
  | { kind: "empty" };

/**
 * Classifies a typed line. `/name args` is a command; `//text` sends `/text`; a blank line
 * does nothing; anything else is a message, sent exactly as typed.
 */
export function parseInput(line: string): Input {
  if (line.trim() === "") return { kind: "empty" };
  if (line.startsWith("//")) return { kind: "message", text: line.slice(1) };
  if (!line.startsWith("/")) return { kind: "message", text: line };
  const match = /^\/(\S+)\s*(.*)$/.exec(line);
  const name = match?.[1] ?? "";
  if (Object.hasOwn(COMMANDS, name)) {
    return { kind: "command", name: name as CommandName, args: match?.[2] ?? "" };
  }
  return { kind: "unknown", name };
}

/** The `/help` text. */
export function helpText(): string {
  const rows = Object.entries(COMMANDS).map(([name, [args, help]]) => {
    const usage = `/${name}${args === "" ? "" : ` ${args}`}`;
    return `  ${usage.padEnd(26)}${help}`;
  });
  return ["Commands:", ...rows, "  //text                    send a message that starts with /"].join("\n");
}
