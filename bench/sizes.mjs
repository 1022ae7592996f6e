/**
 * Browser-bundle sizes: each library's browser entry bundled by esbuild (from the project's
 * own node_modules) for `platform: "browser"`, minified, then gzipped at level 9.
 *
 * Two figures for evtwebsocket: `dist/browser.js` as built, and `src/index.ts` bundled with
 * `transport/default.js` swapped for `transport/default.browser.ts` and `channels.js` for
 * `channels.browser.ts` (what the browser build is
 * meant to contain). When an entry imports Node built-ins or `ws`, they are left external and
 * named in the result, because a browser bundler would fail or have to polyfill them.
 * Run alone with `node bench/sizes.mjs`.
 */

import { builtinModules } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");

const NODE_ONLY = ["ws", ...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

/** Records which Node-only modules an entry imports, and leaves them external. */
function nodeOnlyPlugin(seen) {
  return {
    name: "node-only",
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        if (!NODE_ONLY.includes(args.path) || args.kind === "entry-point") return undefined;
        seen.add(args.path);
        return { path: args.path, external: true };
      });
    },
  };
}

/**
 * The browser build as intended: `transport/default.js` replaced by `transport/default.browser.ts`
 * and `channels.js` (diagnostics_channel) by `channels.browser.ts`, `signal-limit.js` (node:events) by its `.browser.ts`.
 */
const browserTransport = {
  name: "browser-transport",
  setup(build) {
    // Matched on the resolved file, as tsup.config.ts does: src/ imports it from more than one folder.
    build.onResolve({ filter: /(^|\/)default\.js$/ }, (args) =>
      resolve(args.resolveDir, args.path) === join(root, "src", "transport", "default.js")
        ? { path: join(root, "src", "transport", "default.browser.ts") }
        : undefined,
    );
    build.onResolve({ filter: /^\.\/channels\.js$/ }, (args) =>
      args.resolveDir.endsWith("src") ? { path: join(args.resolveDir, "channels.browser.ts") } : undefined,
    );
    build.onResolve({ filter: /^\.\/signal-limit\.js$/ }, (args) =>
      args.resolveDir.endsWith("src")
        ? { path: join(args.resolveDir, "signal-limit.browser.ts") }
        : undefined,
    );
  },
};

async function measure(esbuild, name, options, extraPlugins = []) {
  const seen = new Set();
  const result = await esbuild.build({
    bundle: true,
    minify: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    write: false,
    logLevel: "silent",
    absWorkingDir: here,
    nodePaths: [join(here, "node_modules")],
    plugins: [...extraPlugins, nodeOnlyPlugin(seen)],
    ...options,
  });
  const code = result.outputFiles[0].contents;
  return {
    name,
    minBytes: code.byteLength,
    gzipBytes: gzipSync(code, { level: 9 }).byteLength,
    nodeOnlyImports: [...seen].sort(),
  };
}

/** Bundles every browser entry; returns one row per entry. */
export async function bundleSizes() {
  const esbuild = await import(join(root, "node_modules", "esbuild", "lib", "main.js")).then(
    (m) => m.default ?? m,
  );
  const stdin = (pkg) => ({ stdin: { contents: `export * from "${pkg}";`, resolveDir: here } });
  const rows = [];
  rows.push(
    await measure(esbuild, "evtwebsocket (dist/browser.js)", {
      entryPoints: [join(root, "dist/browser.js")],
    }),
  );
  rows.push(
    await measure(
      esbuild,
      "evtwebsocket (src, browser transport)",
      { entryPoints: [join(root, "src/index.ts")] },
      [browserTransport],
    ),
  );
  for (const pkg of [
    "reconnecting-websocket",
    "partysocket",
    "phoenix",
    "websocket-ts",
    "socket.io-client",
    "rpc-websockets",
  ]) {
    rows.push(await measure(esbuild, pkg, stdin(pkg)));
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const row of await bundleSizes()) {
    const extra = row.nodeOnlyImports.length > 0 ? `  (imports ${row.nodeOnlyImports.join(", ")})` : "";
    console.log(`${row.name}: ${row.minBytes} B min, ${row.gzipBytes} B min+gz${extra}`);
  }
}
