/**
 * Outside tools some suites need (nginx, Python `websockets`, Chromium, tmux, root with network
 * namespaces, runtimes and wscat from the npm registry), each probed at most once per test process. A
 * suite names what it needs in its options:
 *
 *     describe("behind nginx", requireTools("nginx"), () => { ... });
 *
 * - Everything present: `{}`, the suite runs.
 * - Something missing and CI is not "true": `{ skip: true, meta }`, vitest's own skip (the tests
 *   count as skipped, never as passed); `meta.missingTools` rides on every skipped test to
 *   test/helpers/tools-reporter.ts, which lists the tools and their install commands at the end.
 *   When every suite of a file is skipped, vitest does not run the file's hooks either.
 * - Something missing and CI is "true": `requireTools` throws, so the file fails naming the tool
 *   and its install command. CI installs everything; a skip there would hide a gap.
 *
 * What it does not do: install anything, or decide for a suite that half its tools will do.
 */

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";

/** Paths the suites run; the probes check these same files. */
export const NGINX = "/usr/sbin/nginx";
export const PYTHON = "/usr/bin/python3";
export const CHROMIUM = "/usr/bin/chromium";
/** Debian installs tinyproxy in /usr/bin; older packages put it in /usr/sbin. */
export const TINYPROXY =
  ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"].find((p) => existsSync(p)) ?? "tinyproxy";

/** A tool a suite needed and did not find, as reported at the end of the run. */
export interface MissingTool {
  /** What is missing, as a person would name it: "nginx", "root". */
  tool: string;
  /** Why the probe said no: "/usr/sbin/nginx: not found". */
  reason: string;
  /** The command (or step) that provides it. */
  install: string;
}

declare module "vitest" {
  interface TaskMeta {
    /** Set by {@link requireTools} on the tests of a suite skipped for missing tools. */
    missingTools?: MissingTool[];
  }
}

interface Tool {
  install: string;
  /** Tools this one cannot work without; {@link requireTools} asks for them first. */
  needs?: ToolName[];
  /** Returns why the tool is unusable, or undefined when it works. */
  probe(): string | undefined;
}

/**
 * Runs a command quietly; undefined when it exits 0, else a one-line reason. The generous
 * timeout is for the runtimes' first install; every other probe takes milliseconds.
 */
function runs(cmd: string, ...args: string[]): string | undefined {
  const result = spawnSync(cmd, args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 600_000,
  });
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? `${cmd}: not found` : `${cmd}: ${result.error.message}`;
  }
  if (result.status === 0) return undefined;
  const last = (result.stderr.trim() || result.stdout.trim()).split("\n").at(-1);
  return `${basename(cmd)} exited ${result.signal ?? result.status}${last ? `: ${last.trim()}` : ""}`;
}

/** Creates and deletes a network namespace with an nftables table in it, as the suite will. */
function probeNetns(): string | undefined {
  if (process.env.EVTWS_SKIP_NETNS === "1") return "EVTWS_SKIP_NETNS=1 is set";
  const ns = `evtws-probe${process.pid}`;
  try {
    return (
      runs("ip", "netns", "add", ns) ??
      runs("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "probe")
    );
  } finally {
    runs("ip", "netns", "del", ns);
  }
}

const runtimes = fileURLToPath(new URL("../runtimes/run.mjs", import.meta.url));
/** wscat for the side-by-side test of docs/cli.md, installed from the registry into its own folder. */
const wscatDir = fileURLToPath(new URL("../cli/wscat", import.meta.url));
/** The wscat script test/cli/wscat-table.test.ts runs with node. */
export const WSCAT = `${wscatDir}/node_modules/wscat/bin/wscat`;

/** The tools a suite can ask for. */
export type ToolName =
  | "nginx"
  | "python3-websockets"
  | "chromium"
  | "tmux"
  | "jq"
  | "tinyproxy"
  | "python3"
  | "root"
  | "ip"
  | "nft"
  | "network namespaces"
  | "node 24, bun and deno"
  | "wscat";

const TOOLS: Record<ToolName, Tool> = {
  nginx: { install: "apt-get install nginx-light", probe: () => runs(NGINX, "-v") },
  "python3-websockets": {
    install: "apt-get install python3-websockets",
    probe: () => runs(PYTHON, "-c", "import websockets"),
  },
  chromium: { install: "apt-get install chromium", probe: () => runs(CHROMIUM, "--version") },
  tmux: { install: "apt-get install tmux", probe: () => runs("tmux", "-V") },
  jq: { install: "apt-get install jq", probe: () => runs("jq", "--version") },
  tinyproxy: { install: "apt-get install tinyproxy", probe: () => runs(TINYPROXY, "-v") },
  python3: { install: "apt-get install python3", probe: () => runs("python3", "--version") },
  root: {
    install: "run the tests as root: sudo npm test",
    probe: () => (process.getuid?.() === 0 ? undefined : `running as uid ${process.getuid?.()}`),
  },
  ip: { install: "apt-get install iproute2", probe: () => runs("ip", "-V") },
  nft: { install: "apt-get install nftables", probe: () => runs("nft", "--version") },
  "network namespaces": {
    install: "root with CAP_NET_ADMIN (in a container: --cap-add NET_ADMIN), and EVTWS_SKIP_NETNS unset",
    needs: ["root", "ip", "nft"],
    probe: probeNetns,
  },
  "node 24, bun and deno": {
    install: "node test/runtimes/run.mjs --install",
    probe: () => runs(process.execPath, runtimes, "--install"),
  },
  // From its lockfile, what npm's cache holds first; once installed, never again.
  wscat: {
    install: "npm ci --prefix test/cli/wscat",
    probe: () =>
      existsSync(WSCAT)
        ? undefined
        : (runs("npm", "ci", "--prefix", wscatDir, "--no-audit", "--no-fund", "--prefer-offline") ??
          (existsSync(WSCAT) ? undefined : `${WSCAT}: not installed`)),
  },
};

const probed = new Map<ToolName, string | undefined>();

/** Why `name` is unusable (probing it on first use), or undefined when it works. */
function whyMissing(name: ToolName): string | undefined {
  if (!probed.has(name)) probed.set(name, TOOLS[name].probe());
  return probed.get(name);
}

/** True when a missing tool must fail the run rather than skip its suite. */
export const isStrict = (): boolean => process.env.CI === "true";

/**
 * Suite (or test) options for a suite that needs `names`: `{}` when all of them work; a skip with
 * `meta.missingTools` when one does not; under CI=true, a thrown error naming each missing tool
 * and its install command.
 *
 * @example
 * describe("behind nginx", requireTools("nginx"), () => { ... });
 */
export function requireTools(...names: ToolName[]): {
  skip?: boolean;
  meta?: { missingTools: MissingTool[] };
} {
  const missing = new Map<ToolName, MissingTool>();
  const check = (name: ToolName): boolean => {
    const tool = TOOLS[name];
    // Prerequisites first; when one is missing, it is the news, and this one is not probed.
    if (!(tool.needs ?? []).map(check).every(Boolean)) return false;
    const reason = whyMissing(name);
    if (reason !== undefined) missing.set(name, { tool: name, reason, install: tool.install });
    return reason === undefined;
  };
  names.forEach(check);
  if (missing.size === 0) return {};
  if (isStrict()) throw new MissingToolsError([...missing.values()]);
  return { skip: true, meta: { missingTools: [...missing.values()] } };
}

/** Thrown by {@link requireTools} under CI=true; the reporter lists `missingTools` at the end. */
export class MissingToolsError extends Error {
  override name = "MissingToolsError";
  constructor(readonly missingTools: MissingTool[]) {
    const lines = missingTools.map((m) => `${m.tool} is missing (${m.reason}); install: ${m.install}`);
    super(`CI=true, so a missing tool fails its suite instead of skipping it:\n${lines.join("\n")}`);
  }
}
