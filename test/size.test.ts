/**
 * The browser entry's weight and purity.
 *
 * Bundles `src/index.ts` the way the browser build does (the plugin is taken from
 * tsup.config.ts, so the two cannot drift), for `platform: "browser"`, minified ESM with every
 * export kept. The bundle must hold nothing but our own `src/` (no `ws`, no Node built-in, no
 * dependency), weigh at most {@link BUDGET_GZIP_BYTES} gzipped, and be importable without
 * touching `window`, `document` or `navigator` (server-side rendering imports it in Node).
 */

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import vm from "node:vm";
import { gzipSync } from "node:zlib";
import { type BuildOptions, build, type Metafile } from "esbuild";
import type { Options } from "tsup";
import { beforeAll, describe, expect, it } from "vitest";
import tsupConfig from "../tsup.config.js";

/**
 * Issue 19 asks for 7.0 KB (7,168 B) minified and gzipped with every feature in; the entry
 * measured 10,910 B before issue 17's delivery features, and 9,651 B with every message blanked
 * (measured by blanking the strings of the minified bundle), so 7.0 KB cannot be reached by
 * trimming messages: it needs about a quarter of the logic out of the browser entry, or features
 * moved out, which is a decision for the issue's author. Until then this is a regression guard
 * just above today's size, so growth past it is a decision, not an accident. History: 10,240 B,
 * then 11,264 B (issue 15: finished transitions, close codes by side, one writer per socket,
 * whole-ms durations); 11,008 B by issue 19 after Node's certificate codes left the browser
 * build (11,115 -> 10,910 B); 12,288 B by issue 17 (a decision): send() results, per-message
 * options (volatile, signal, maxAgeMs with one expiry timer) and the drop-oldest overflow policy
 * took the entry from 10,910 to about 12,000 B; issue 16's attempt context, headers function per
 * attempt, `conn.handshake` and the wait a server sets (Retry-After, 1013) add about 450 B (the
 * Node-only part, reading Retry-After and response headers, stays in the `ws` transport); issue
 * 18's `logger` option and observation hooks about 720 B (over that issue's own 300 B target:
 * about 220 B of it the line formatting, the rest one hook per event and the per-connection id);
 * issue 19's back/forward cache and frozen-page handling about 150 B; issue 17's `drained()`, the
 * `"drain"` event and `messages()` (bounded iterators, pausing, overflow policies) about 1,800 B:
 * they are in the browser entry too, as browsers stream feeds as much as Node does. Together
 * those took the entry to 15,354 B; issue 19 part 4 trimmed it to 15,243 B without changing
 * behaviour (one `invalidOption()` and one `shown()` for every module that checks options,
 * `evtError()` for plain errors, `Infinity`/`NaN` for `Number.POSITIVE_INFINITY`/`Number.NaN`,
 * the `on*` options registered in a loop), and the guard moved to 15,360 B. With every string
 * over 12 characters blanked it weighs 13,736 B: the rest is logic, so 7.0 KB still needs
 * features out of the browser entry. Deduplicating repeated code (a helper for the three
 * "clear the retry timer" sites, say) wins nothing: gzip already pays little for repeats.
 * Then review fixes (observer events announced after transitions, stricter header values,
 * shared-connection hardening) and a deadline for URL and headers functions that never settle
 * took it to 15,540 B; the guard is 15,616 B (a decision). The core review's fixes (the second
 * of two concurrent `next()` calls replaced the first; a `drained()` whose queue emptied unsent
 * or whose WHATWG socket died never resolved) took it to about 15,690 B; the guard is 15,744 B.
 * The idle-memory changes (the queue's delivery policies made on first use, observers that
 * keep less) added about 45 B: 15,733 B; the observability review's fixes (request tracing on
 * any of its five channels, one id counter per process) 8 B more: 15,741 B. The lifecycle
 * review's fixes (one attempt at a time under online/pageshow, a link told when our side fails
 * the connection, a heartbeat that counts a message still arriving) added about 118 B: 15,859 B.
 * Moving what an incoming message means out of the facade (conn.ts -> inbox.ts, towards the
 * style aim of a facade read in one sitting) costs a class and its fields: 96 B, 15,944 B; the
 * guard is 16,000 B (a decision); counts that must be whole numbers, 27 B more: 15,971 B.
 * Mangling the internal property names (esbuild's mangleProps over the names that appear in
 * no public or DOM type) was measured at 384 B less: nowhere near 7.0 KB either. Then deadlines
 * that fire late wait one more turn before they judge (connect, close, URL-function and request
 * timeouts: an answer that came in time but is read late counts), with the session review's
 * fixes to them (a timer that fires early waits out the rest; a request due during another's
 * extra turn gets its own; the peer's answer to `close()` read in that turn counts) and a peer
 * that closed first and held TCP reported clean: about 130 B, 16,105 B; the guard is 16,128 B
 * (a decision). A `messages()` buffer as a ring (for issue 17's throughput) measured no faster
 * on a quiet machine and was reverted. Splitting modules to one job each (what a socket's end
 * means into the pure link-end.ts, an attempt's URL and headers into attempt.ts, a class of its
 * own) cost 50 B: 16,155 B; the guard is 16,192 B (a decision: the style aim over 50 B). The
 * runtime review's fixes (Deno's close code 0, polyfills without `protocol` or `binaryType`,
 * copies of shared or resizable views) and three more (a codec's output checked before it is
 * queued or sent, a refused application ping starting the closing, a dial error naming the URL
 * left out, a socket whose send() throws dropped instead of throwing out of a flush) took it to
 * 16,320 B, and the mutation audit's two fixes (an empty URL fragment, a clock without
 * clearTimeout) to 16,328 B, and the details of a torn-down socket's errors with a close()
 * that drops a socket that threw at once, and one rule (url.ts's namesUrl) for error texts that
 * name the URL, to 16,384 B; the guard is 16,448 B (a decision). The logger's request wrapper
 * made outside its method (so a pending request does not keep its caller's scope alive): 16,401 B.
 * The heap audit's fixes (a settled request lets go of what it held; a message queued with a
 * signal notes it instead of holding a closure, and the signal's entry lists its messages so an
 * abort visits those only; a frame taken to be sent is out of the queue) took it to 16,482 B;
 * the guard is 16,512 B (a decision: they fix a throughput loss of a third in a populated heap
 * and an abort cost quadratic in the queue). A link whose socket threw as a phase, not a flag:
 * 16,469 B. `send()` taking an `ArrayBuffer` or any view, as WHATWG `WebSocket` and `ws` do
 * (39 B), and `new Conn(url)` (or an array, or a `URL`) refused with where the URL goes (32 B):
 * 16,540 B; `on()` refusing an unknown event (`ws`'s `"open"` waited for ever) or a listener
 * that is not a function, with the list of events (109 B): 16,649 B; the guard is 16,704 B (a
 * decision: what users of both try first, and bad input gets a typed error); `reconnect()`
 * (partysocket's, keeping the queue; 119 B): 16,768 B; `request()` checking its signal and
 * the queue letting go of cancelled frames (a queue of 10 under drop-oldest kept every message
 * dropped from it), 72 B: 16,840 B; the guard is 16,896 B. The abort-listener limit's browser
 * stand-in (a no-op; Node raises the limit of a signal many requests share): 16,847 B; a signal
 * aborted by the codec or `messageId` checked again before registering: 16,861 B; `reconnect()`
 * logged and published as a reconnect decision: 16,890 B; a wait the server set standing after
 * `reconnect()` (from a `shouldReconnect` that says no, or after a 1013 heard before the drop):
 * 16,945 B; the expiry timer cleared when aborts empty the queue: 16,953 B; the close rule
 * moved to option-checks.ts (shared with the shared entry): 16,930 B. The guard is
 * 16,960 B (a decision: every call settles and the server's wait is honoured, which issue 16
 * asks for). Then
 * the server's wait jittered after `reconnect()` too (a 1013 heard before it, or a Retry-After
 * refusal from a `shouldReconnect` that calls it), as after any drop: 16,968 B; and a hidden
 * page that dials nothing until shown (a 1013 wait over while hidden dialled), with `pageshow`
 * on an open connection leaving the backoff alone: 16,991 B (17,000 B with a retry that falls due
 * while hidden held until shown; 17,005 B with the jitter kept through a show or `reconnect()`
 * during the server's wait; 17,018 B with an attempt set off by a show held when hidden again
 * before it dialled; 17,008 B with `online`/`pageshow` cutting a backoff longer than the
 * server's wait; 17,022 B with the heartbeat's ping marking our bytes ahead of it
 * in the link, for the `ws` transport's sign of life); the guard is 17,024 B (a decision:
 * a reconnect storm is what the wait is for, and a hidden page holds no socket). The second
 * observability review's fixes: a `reconnect()` from `shouldReconnect` logged as attempt 1, the
 * `dead` line told with the socket's end, and queue expiry and drop-oldest overflow logged, which
 * issue 18 asks for and which went to `onError` unlogged (67 B): 17,089 B; the guard is
 * 17,104 B (proposed by that review; the lead's decision). The tenth pass's review fixes: a
 * `"drain"` listener added while the buffer is already high hears the fall (12 B), an async
 * logger's rejections ignored (2 B), a proxy's 429/503 Retry-After honoured (1 B in the core's
 * wait rule), and the WHATWG transport's two close attributions (a `close()` after the server's
 * close frame, an unclean end after it: 11 B): 17,116 B; the guard is 17,152 B (a decision: each
 * is a wrong answer a user saw). The issue 19 audit: `shown()` falling back where `String()`
 * throws (a bad option without a prototype threw a TypeError, 13 B) and browser-hooks telling
 * which page events were the cache's (2 B): 17,133 B; 17,147 B after the eleventh pass's merges.
 * `shown()` falling back to `typeof` where `Object.prototype.toString` throws too (a revoked
 * Proxy), in one fallback instead of two (-11 B), and every option check (request()'s options,
 * send()'s booleans) quoting with it, paid for by smaller checks: 17,142 B. The twelfth pass: an
 * `agent` for the other scheme refused for good, the transport's own typed error passed through
 * by the link (8 B): 17,150 B. The thirteenth pass: an iterator ended during a message's dispatch
 * takes no more (it paused the next socket for good), paid for by shorter checks: 17,144 B; a
 * queued request on the wire before its frame is handed over, and dial()'s checks inside its
 * transition (both re-entrant calls from observers): 17,145 B. The review of those: a
 * `messages()` iterator on a socket that cannot pause stays bounded when `onMessage` calls
 * `reconnect()` (8 B), and a request whose hand-over dropped the connection goes out once (3 B):
 * 17,155 B; the guard is 17,160 B (a decision: each is a wrong answer a user could meet, and
 * no shorter form of either was found). By
 * module (metafile, minified), the optional features (messages(), delivery options and
 * policies, drained(), the logger and observers, page-lifecycle hooks) are about 10 KB of the
 * 48.7 KB: moved out they would leave about 12.7 KB gzipped, so 7.0 KB needs the core itself
 * (lifecycle, link, conn, outbox, pending, options) about halved.
 */
const ISSUE_TARGET_GZIP_BYTES = 7168;
const BUDGET_GZIP_BYTES = 17_160;
/** Globals a server-side import must not touch. */
const BROWSER_GLOBALS = ["window", "document", "navigator", "location", "self"] as const;

const root = fileURLToPath(new URL("../", import.meta.url));
const nodeBuiltins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/** The build of tsup.config.ts with a browser-platform entry named `entry`. */
function browserBuildConfig(entry: "browser" | "shared"): Options {
  const configs = (Array.isArray(tsupConfig) ? tsupConfig : [tsupConfig]) as Options[];
  const found = configs.find(
    (c) =>
      typeof c.entry === "object" && !Array.isArray(c.entry) && entry in c.entry && c.platform === "browser",
  );
  if (found === undefined) throw new Error(`tsup.config.ts has no browser entry named ${entry}`);
  return found;
}

/**
 * `src/index.ts` (or `src/shared/index.ts`, which imports the public entry as `evtwebsocket`)
 * bundled with its build's plugins, minified, for the browser.
 */
async function bundle(
  format: "esm" | "cjs",
  entry: "browser" | "shared" = "browser",
): Promise<{ code: Uint8Array; metafile: Metafile }> {
  const config = browserBuildConfig(entry);
  const options: BuildOptions = {
    entryPoints: [`${root}${entry === "browser" ? "src/index.ts" : "src/shared/index.ts"}`],
    absWorkingDir: root,
    bundle: true,
    write: false,
    minify: true,
    format,
    platform: "browser",
    target: "es2022",
    metafile: true,
    logLevel: "silent",
    plugins: config.esbuildPlugins ?? [],
    // Kept external so an import of them shows up in the metafile instead of failing the build.
    external: [...nodeBuiltins, "ws", "evtwebsocket"],
  };
  const result = await build(options);
  const [output] = result.outputFiles ?? [];
  if (output === undefined) throw new Error("esbuild produced no output");
  return { code: output.contents, metafile: result.metafile! };
}

/** The inputs that make up the bundle, biggest first, in bytes of minified output (esbuild's metafile). */
function contributors(metafile: Metafile): [string, number][] {
  const [output] = Object.values(metafile.outputs);
  return Object.entries(output?.inputs ?? {})
    .map(([path, { bytesInOutput }]): [string, number] => [path, bytesInOutput])
    .sort((a, b) => b[1] - a[1]);
}

describe("the browser entry", () => {
  let esm: { code: Uint8Array; metafile: Metafile };

  beforeAll(async () => {
    esm = await bundle("esm");
  });

  it("contains no ws, no Node built-in (no diagnostics_channel) and no dependency: only src/, with the browser transport", () => {
    const inputs = Object.keys(esm.metafile.inputs);
    const foreign = inputs.filter((path) => !path.startsWith("src/"));
    const nodeImports = Object.entries(esm.metafile.inputs).flatMap(([from, input]) =>
      input.imports
        .filter((i) => i.external || nodeBuiltins.has(i.path) || i.path === "ws")
        .map((i) => `${from} imports ${i.path}`),
    );
    expect(foreign, "inputs from outside src/").toEqual([]);
    expect(nodeImports, "imports of ws or Node built-ins").toEqual([]);
    expect(inputs).toContain("src/transport/default.browser.ts");
    for (const wsAdapterModule of ["ws", "ws-socket", "ws-writer", "create-connection", "handshake-response"])
      expect(inputs).not.toContain(`src/transport/${wsAdapterModule}.ts`);
    expect(inputs).toContain("src/channels.browser.ts");
    expect(inputs).not.toContain("src/channels.ts");
  });

  it("leaves out Node's certificate-error codes (a browser never says why TLS failed)", () => {
    const text = new TextDecoder().decode(esm.code);
    expect(Object.keys(esm.metafile.inputs)).not.toContain("src/transport/certificate.ts");
    expect(text).not.toContain("CERT_HAS_EXPIRED");
  });

  it(`weighs at most ${BUDGET_GZIP_BYTES} bytes minified and gzipped, every feature in`, () => {
    const gzipped = gzipSync(esm.code, { level: 9 }).byteLength;
    const table = contributors(esm.metafile)
      .slice(0, 10)
      .map(([path, bytes]) => `  ${String(bytes).padStart(6)} B  ${path}`)
      .join("\n");
    console.log(
      `browser entry: ${esm.code.byteLength} B minified, ${gzipped} B gzipped ` +
        `(guard ${BUDGET_GZIP_BYTES} B; issue 19's target ${ISSUE_TARGET_GZIP_BYTES} B ${gzipped <= ISSUE_TARGET_GZIP_BYTES ? "met" : "not met"})\n` +
        `top ten modules, minified bytes (esbuild metafile):\n${table}`,
    );
    expect(gzipped, `browser entry is ${gzipped} B gzipped; biggest modules:\n${table}`).toBeLessThanOrEqual(
      BUDGET_GZIP_BYTES,
    );
  });

  it("evaluates in a bare context whose browser globals throw when touched", async () => {
    const { code } = await bundle("cjs");
    const touched: string[] = [];
    const sandbox: Record<string, unknown> = {
      module: { exports: {} },
      require: (id: string) => {
        touched.push(`require(${id})`);
        throw new Error(`the browser bundle requires ${id}`);
      },
    };
    for (const name of BROWSER_GLOBALS) {
      Object.defineProperty(sandbox, name, {
        get() {
          touched.push(name);
          throw new Error(`${name} touched at import time`);
        },
      });
    }
    const context = vm.createContext(sandbox);
    let thrown: unknown;
    try {
      vm.runInContext(
        `(function (module, exports, require) {${new TextDecoder().decode(code)}\n})(module, module.exports, require)`,
        context,
      );
    } catch (error) {
      thrown = error;
    }
    expect(touched, "globals or modules touched at import time").toEqual([]);
    expect(thrown).toBeUndefined();
    const exports = (sandbox.module as { exports: Record<string, unknown> }).exports;
    expect(typeof exports.Conn).toBe("function");
  });
});

/**
 * `evtwebsocket/shared` over the public entry (which it imports, not bundles): 7,549 B before its
 * split into a role state machine, leader, follower and shared-state modules, 8,144 B after (the
 * parts call each other through property names a minifier keeps; a decision for one state
 * machine and modules of one job each). Its review's fixes (a close() that waits for a stepped-down
 * leader's socket) took it to 8,189 B; posts addressed to a leadership, so a send that crosses a
 * handover is served once (it reached the server twice), 78 B more: 8,267 B; a follower's second
 * dial() refused as Conn's is, 49 B: 8,316 B. A guard just above, as for the browser entry.
 * (Later trims took it to 8,115 B.) `id`, as Conn's (12 B); `on()` refusing an unknown event
 * or a non-function listener (123 B); `reconnect()`, asked of the leader by a follower (169 B):
 * 8,419 B; the guard is 8,448 B (a decision: Conn's API, which the shared connection mirrors).
 * `request()` checking its signal: 8,439 B. The close code and reason checked by Conn's one
 * rule (option-checks.ts `closeProblem`, which brings `byteLength` in) instead of a copy of it
 * here: 8,575 B; the guard is 8,640 B (a decision: one rule, not two). A tab that takes over
 * during the server's wait (1013) dials at its end, not at once (fourth review): 8,683 B; the
 * guard is 8,704 B (a decision: the server's wait holds across tabs as in one Conn). A tab's
 * channel closed while its page is in the back/forward cache, so Chromium restores the page
 * instead of evicting it when another tab posts (BroadcastChannelOnMessage): 8,803 B (8,814 B
 * with its deadlines on the monotonic clock); the guard
 * is 8,832 B (a decision: the back/forward cache works for a page with a shared connection).
 * One page watcher (browser-hooks.ts's, which says which events were the cache's) instead of
 * listeners of its own beside it: 8,771 B (the browser entry 2 B more); `shown()` for the
 * name's message: 8,779 B; its fallback for a revoked Proxy: 8,785 B.
 */
const SHARED_BUDGET_GZIP_BYTES = 8_832;

describe("the shared entry (evtwebsocket/shared)", () => {
  it(`weighs at most ${SHARED_BUDGET_GZIP_BYTES} bytes minified and gzipped, without the public entry it imports`, async () => {
    const { code, metafile } = await bundle("esm", "shared");
    const inputs = Object.keys(metafile.inputs);
    expect(inputs, "the public entry is imported, not bundled").not.toContain("src/conn.ts");
    const gzipped = gzipSync(code, { level: 9 }).byteLength;
    console.log(
      `shared entry: ${code.byteLength} B minified, ${gzipped} B gzipped (guard ${SHARED_BUDGET_GZIP_BYTES} B)`,
    );
    expect(gzipped).toBeLessThanOrEqual(SHARED_BUDGET_GZIP_BYTES);
  });
});

describe("the built files (dist/)", () => {
  it("import in Node without touching window, document or navigator, as ESM and as CommonJS", async () => {
    const files = ["dist/browser.js", "dist/browser.cjs", "dist/index.js", "dist/index.cjs"];
    const missing = files.filter((f) => !existsSync(`${root}${f}`));
    expect(missing, "missing build output: run npm run build first").toEqual([]);
    const script = `
      import { createRequire } from "node:module";
      for (const name of ${JSON.stringify(BROWSER_GLOBALS)}) {
        Object.defineProperty(globalThis, name, {
          configurable: true,
          get() { throw new Error(name + " touched at import time"); },
        });
      }
      const require = createRequire(${JSON.stringify(root)});
      const out = [];
      for (const file of ${JSON.stringify(files)}) {
        const mod = file.endsWith(".cjs") ? require("./" + file) : await import(${JSON.stringify(root)} + file);
        out.push(file + ":" + typeof mod.Conn);
      }
      console.log(out.join(" "));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
      cwd: root,
    });
    expect(stdout.trim()).toBe(files.map((f) => `${f}:function`).join(" "));
  });
});
