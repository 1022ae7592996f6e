import { resolve } from "node:path";
import type { Plugin } from "esbuild";
import { defineConfig } from "tsup";

/**
 * Node-only modules and their browser stand-ins: the transport (`ws`), the diagnostics channels
 * and the abort-listener limit (`node:events`).
 */
const browserSwaps = new Map([
  [resolve("src/transport/default.ts"), resolve("src/transport/default.browser.ts")],
  [resolve("src/channels.ts"), resolve("src/channels.browser.ts")],
  [resolve("src/signal-limit.ts"), resolve("src/signal-limit.browser.ts")],
]);

/**
 * Swaps each Node-only module for its `.browser.ts` stand-in so the browser build never sees
 * `ws` or `node:diagnostics_channel`. Matches on the resolved file, so any importer and any
 * relative spelling is covered.
 */
const browserTransport: Plugin = {
  name: "browser-transport",
  setup(build) {
    build.onResolve({ filter: /(default|channels|signal-limit)(\.js)?$/ }, (args) => {
      const target = browserSwaps.get(resolve(args.resolveDir, args.path).replace(/\.js$/, ".ts"));
      return target === undefined ? undefined : { path: target };
    });
  },
};

const publicEntry = resolve("src/index.ts");

/**
 * Keeps the entries built on the public API (`evtwebsocket/shared`, `evtwebsocket/react`) from
 * bundling their own copy of it: their `../index.js` becomes an import of `evtwebsocket`, so an
 * app that uses both gets one `Conn` and one `EvtWebSocketError` class.
 */
const publicApiExternal: Plugin = {
  name: "public-api-external",
  setup(build) {
    build.onResolve({ filter: /^\.\.\/index(\.js)?$/ }, (args) => {
      const target = resolve(args.resolveDir, args.path).replace(/\.js$/, ".ts");
      return target === publicEntry ? { path: "evtwebsocket", external: true } : undefined;
    });
  },
};

export default defineConfig([
  {
    entry: { index: "src/index.ts", testing: "src/testing/index.ts", otel: "src/otel/index.ts" },
    // No shared chunks: each entry is one file (the bench snapshots dist/index.js alone).
    splitting: false,
    format: ["esm", "cjs"],
    platform: "node",
    target: "node20",
    // One declaration build for every entry, so evtwebsocket/shared and evtwebsocket/react name
    // the same Conn type as the main entry (a private field makes a second copy incompatible).
    dts: {
      entry: {
        index: "src/index.ts",
        testing: "src/testing/index.ts",
        otel: "src/otel/index.ts",
        shared: "src/shared/index.ts",
        react: "src/react/index.ts",
      },
    },
    sourcemap: true,
    clean: true,
    // frame.ts reads import.meta.url only in the ESM build (__filename in CommonJS); tsup's
    // shims would touch `document` at import time.
    esbuildOptions(options) {
      options.logOverride = { "empty-import-meta": "silent" };
    },
    external: ["ws", "@opentelemetry/api"],
  },
  {
    entry: { browser: "src/index.ts" },
    format: ["esm", "cjs"],
    platform: "browser",
    target: "es2022",
    dts: false,
    sourcemap: true,
    esbuildPlugins: [browserTransport],
  },
  {
    entry: { cli: "src/cli/main.ts" },
    format: ["esm"],
    platform: "node",
    target: "node20",
    dts: false,
    sourcemap: true,
    banner: { js: "#!/usr/bin/env node" },
    external: ["ws", "commander", "string-width"],
  },
  {
    entry: { shared: "src/shared/index.ts", react: "src/react/index.ts" },
    format: ["esm", "cjs"],
    platform: "browser",
    target: "es2022",
    dts: false, // made by the first build, beside the main entry's
    sourcemap: true,
    esbuildPlugins: [publicApiExternal],
    external: ["evtwebsocket", "react"],
  },
]);
