import type { Plugin } from "esbuild";
import { defineConfig } from "tsup";

/** Swaps `transport/default` for `transport/default.browser` so the browser build never sees `ws`. */
const browserTransport: Plugin = {
  name: "browser-transport",
  setup(build) {
    build.onResolve({ filter: /(^\.|\/transport)\/default\.js$/ }, (args) => ({
      path: new URL(args.path.replace(/default\.js$/, "default.browser.ts"), `file://${args.resolveDir}/`)
        .pathname,
    }));
  },
};

export default defineConfig([
  {
    entry: { index: "src/index.ts", testing: "src/testing/index.ts" },
    format: ["esm", "cjs"],
    platform: "node",
    target: "node20",
    dts: true,
    sourcemap: true,
    clean: true,
    external: ["ws"],
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
    external: ["ws", "commander"],
  },
]);
