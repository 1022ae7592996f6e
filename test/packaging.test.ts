/**
 * The published package, as a user gets it: `npm pack`, installed into a scratch project, then
 * used from CommonJS, from ESM and from TypeScript (`moduleResolution` "bundler" and "node16",
 * ESM and CommonJS files), each type-checked with this repository's `tsc` and run against a
 * real `ws` server. publint and @arethetypeswrong/cli judge the tarball. Every consumer
 * compiles with `skipLibCheck: false`, so our d.ts files are checked as the user's `tsc` checks
 * them: the Node ones with every Node entry imported, and a browser-only project (DOM lib, no
 * @types/node) with the browser entries.
 */

import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer } from "./helpers/server.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const bin = (name: string) => join(root, "node_modules", ".bin", name);

/** Runs a command; resolves with its output whatever the exit code. */
async function sh(cmd: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(cmd, args, {
      cwd,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string; message: string };
    return {
      code: typeof e.code === "number" ? e.code : 1,
      output: `${e.stdout ?? ""}${e.stderr ?? e.message}`,
    };
  }
}

async function ok(cmd: string, args: string[], cwd: string): Promise<string> {
  const { code, output } = await sh(cmd, args, cwd);
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${code}):\n${output}`);
  return output;
}

function write(dir: string, files: Record<string, unknown>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === "string" ? content : JSON.stringify(content, null, 2));
  }
}

/** The consumers' common check: a JSON request answered by the server, then close(). */
const jsBody = (url: string) => `
const conn = new Conn({ codec: json(), messageId: (m) => m.id });
await conn.dial(${JSON.stringify(url)});
const reply = await conn.request({ id: 1, body: "hi" });
await conn.close();
console.log(JSON.stringify({ reply, state: conn.state, entry: ENTRY }));
`;

const tsBody = (url: string) => `
interface Msg {
  id: number;
  body?: string;
  echo?: string;
}
const options: ConnOptions<Msg, Msg> = { codec: json<Msg, Msg>(), messageId: (m) => m.id };
const conn = new Conn<Msg, Msg>(options);
// @ts-expect-error the types are real: a number is not a Msg
conn.send(42);
await conn.dial(${JSON.stringify(url)});
const reply: Msg = await conn.request({ id: 1, body: "hi" });
const state: State = conn.state;
await conn.close();
const code: ErrorCode = ErrorCode.CLOSED;
console.log(JSON.stringify({ reply, state: conn.state, entry: ENTRY, before: state, isError: isEvtWebSocketError(new Error(), code) }));
`;

const tsImports = `import { Conn, type ConnOptions, ErrorCode, isEvtWebSocketError, json, State } from "evtwebsocket";`;

/** Every Node entry besides the main one, used so that its d.ts is read and checked. */
const tsNodeEntries = `
import { instrument, type InstrumentOptions } from "evtwebsocket/otel";
import { createFaultProxy, createTestServer, type TestServer, waitFor } from "evtwebsocket/testing";
const otelOptions: InstrumentOptions = {};
const kit: [typeof createTestServer, typeof createFaultProxy, typeof waitFor, typeof instrument] = [createTestServer, createFaultProxy, waitFor, instrument];
const onClient = (server: TestServer) => { for (const client of server.clients) client.close(1000); };
void otelOptions; void kit; void onClient;
`;

/**
 * The packages a consumer brings for its own types, linked from this repository's node_modules
 * (no download): React's for JSX, `ws`'s and OpenTelemetry's for the Node-only entries.
 */
const consumerTypes = ["@types/react", "@types/ws", "@opentelemetry/api"].map((name) =>
  join(root, "node_modules", name),
);

function tsconfig(moduleKind: string, resolution: string) {
  return {
    compilerOptions: {
      target: "ES2022",
      module: moduleKind,
      moduleResolution: resolution,
      lib: ["ES2022", "DOM"],
      strict: true,
      skipLibCheck: false,
      outDir: "out",
      typeRoots: [join(root, "node_modules", "@types")],
      types: ["node"],
    },
  };
}

let scratch: string;
let tarball: string;
let consumer: string;
let server: TestServer;

beforeAll(async () => {
  for (const file of ["dist/index.js", "dist/index.cjs", "dist/index.d.ts", "dist/browser.js"]) {
    if (!existsSync(join(root, file))) throw new Error(`${file} is missing: run npm run build first`);
  }
  scratch = mkdtempSync(join(tmpdir(), "evtwebsocket-pack-"));
  const packed = JSON.parse(await ok("npm", ["pack", "--json", "--pack-destination", scratch], root)) as {
    filename: string;
  }[];
  tarball = join(scratch, packed[0]!.filename);
  consumer = join(scratch, "consumer");
  write(consumer, { "package.json": { name: "consumer", private: true, type: "module" } });
  await ok(
    "npm",
    ["install", "--no-audit", "--no-fund", "--no-package-lock", tarball, ...consumerTypes],
    consumer,
  );
  server = await startServer({
    onMessage: (ws, data) => {
      const { id, body } = JSON.parse(data.toString()) as { id: number; body: string };
      ws.send(JSON.stringify({ id, echo: body }));
    },
  });
}, 180_000);

afterAll(async () => {
  await server?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const expected = (entry: string) => ({
  reply: { id: 1, echo: "hi" },
  state: "closed",
  entry: expect.stringMatching(
    new RegExp(`/consumer/node_modules/evtwebsocket/${entry.replaceAll(".", "\\.")}$`),
  ),
});

describe("the packed tarball", () => {
  it("runs from CommonJS (require) through dist/index.cjs", async () => {
    write(consumer, {
      "cjs.cjs": `const { Conn, json } = require("evtwebsocket");
const ENTRY = require.resolve("evtwebsocket");
(async () => {${jsBody(server.url)}})();`,
    });
    const out = await ok(process.execPath, ["cjs.cjs"], consumer);
    expect(JSON.parse(out)).toEqual(expected("dist/index.cjs"));
  }, 120_000);

  it("runs from ESM (import) through dist/index.js", async () => {
    write(consumer, {
      "esm.mjs": `import { Conn, json } from "evtwebsocket";
const ENTRY = import.meta.resolve("evtwebsocket");
${jsBody(server.url)}`,
    });
    const out = await ok(process.execPath, ["esm.mjs"], consumer);
    expect(JSON.parse(out)).toEqual(expected("dist/index.js"));
  }, 120_000);

  it('type-checks and runs from TypeScript with moduleResolution "bundler"', async () => {
    const dir = join(consumer, "ts-bundler");
    write(dir, {
      "package.json": { type: "module" },
      "tsconfig.json": { ...tsconfig("ESNext", "Bundler"), include: ["index.ts"] },
      "index.ts": `${tsImports}\nconst ENTRY = import.meta.resolve("evtwebsocket");\n${tsBody(server.url)}`,
    });
    await ok(bin("tsc"), ["-p", "tsconfig.json"], dir);
    const out = await ok(process.execPath, ["out/index.js"], dir);
    expect(JSON.parse(out)).toMatchObject(expected("dist/index.js"));
  }, 120_000);

  it('type-checks and runs from TypeScript with moduleResolution "node16", as ESM and as CommonJS', async () => {
    const dir = join(consumer, "ts-node16");
    write(dir, {
      "package.json": { type: "module" },
      "tsconfig.json": { ...tsconfig("Node16", "Node16"), include: ["esm.mts", "cjs.cts"] },
      "esm.mts": `${tsImports}${tsNodeEntries}\nconst ENTRY = import.meta.resolve("evtwebsocket");\n${tsBody(server.url)}`,
      "cjs.cts": `${tsImports}${tsNodeEntries}\nconst ENTRY = require.resolve("evtwebsocket");\nasync function main(): Promise<void> {${tsBody(server.url)}}\nvoid main();`,
    });
    await ok(bin("tsc"), ["-p", "tsconfig.json"], dir);
    const esm = await ok(process.execPath, ["out/esm.mjs"], dir);
    const cjs = await ok(process.execPath, ["out/cjs.cjs"], dir);
    expect(JSON.parse(esm)).toMatchObject(expected("dist/index.js"));
    expect(JSON.parse(cjs)).toMatchObject(expected("dist/index.cjs"));
  }, 120_000);

  it('type-checks a browser-only project (DOM lib, no @types/node, "bundler") using "evtwebsocket", "/shared" and "/react"', async () => {
    const dir = join(consumer, "ts-browser");
    write(dir, {
      "package.json": { type: "module" },
      "tsconfig.json": {
        compilerOptions: {
          target: "ES2022",
          module: "ESNext",
          moduleResolution: "Bundler",
          lib: ["ES2022", "DOM"],
          jsx: "react-jsx",
          strict: true,
          exactOptionalPropertyTypes: true,
          verbatimModuleSyntax: true,
          skipLibCheck: false,
          noEmit: true,
          // Nothing global beyond the DOM: no @types/node, whatever node_modules/@types holds.
          types: [],
        },
        include: ["app.tsx"],
      },
      "app.tsx": `import { Conn, type ConnOptions, json } from "evtwebsocket";
import { createSharedConn } from "evtwebsocket/shared";
import { useConn, useConnEvent } from "evtwebsocket/react";
interface Msg { id: number; text: string }
const options: ConnOptions<Msg, Msg> = { codec: json<Msg, Msg>(), messageId: (m) => m.id, headers: () => ({}) };
export const conn = new Conn<Msg, Msg>({ ...options, WebSocket: globalThis.WebSocket });
export const shared = createSharedConn<Msg, Msg>("chat", { codec: json<Msg, Msg>() });
export function Chat({ url }: { url: string }) {
  const { conn, state, error } = useConn<Msg, Msg>(url, { codec: json<Msg, Msg>() });
  useConnEvent(conn, "message", (msg) => console.log(msg.text));
  return <p title={error?.code}>{state}</p>;
}
`,
    });
    await ok(bin("tsc"), ["-p", "tsconfig.json"], dir);
  }, 120_000);

  it("publint reports no error and no warning", async () => {
    const { code, output } = await sh(bin("publint"), ["run", tarball, "--strict"], root);
    console.log(output.trim());
    expect(code, output).toBe(0);
  }, 120_000);

  it("@arethetypeswrong/cli reports no problem", async () => {
    const { code, output } = await sh(bin("attw"), [tarball, "--format", "table-flipped"], root);
    console.log(output.trim());
    expect(code, output).toBe(0);
  }, 120_000);
});
