/**
 * `npm run chaos [-- --cycles N] [--seed S] [--clients N] [--no-storm] [--detections]`: the chaos
 * cycles, then the reconnect storm, then one summary table (`--detections` adds one line per
 * dead-connection detection). Exits 1 when any invariant was violated.
 */

import { parseArgs } from "node:util";
import { runChaos } from "./cycles.js";
import { formatDetections, formatReport } from "./report.js";
import { runStorm } from "./storm.js";

const { values } = parseArgs({
  options: {
    cycles: { type: "string", default: "200" },
    seed: { type: "string" },
    clients: { type: "string", default: "50" },
    "no-storm": { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    detections: { type: "boolean", default: false },
  },
});
const cycles = Number(values.cycles);
const clients = Number(values.clients);
if (!Number.isInteger(cycles) || cycles < 1 || !Number.isInteger(clients) || clients < 1) {
  console.error("usage: npm run chaos -- [--cycles N] [--seed S] [--clients N] [--no-storm] [--detections]");
  process.exit(2);
}

const log = (line: string) => {
  if (!values.quiet || line.startsWith("VIOLATION")) console.error(line);
};
const report = await runChaos({
  cycles,
  seed: values.seed === undefined ? undefined : Number(values.seed),
  log,
});
if (!values["no-storm"]) {
  log(`storm: ${clients} clients, one server restart`);
  const { storm, violations } = await runStorm({ clients });
  report.storm = storm;
  report.violations.push(...violations);
  for (const v of violations) log(`VIOLATION ${v.inv} (storm): ${v.detail}`);
}
console.log(formatReport(report));
if (values.detections) console.log(`\n${formatDetections(report)}`);
console.log(`\nnode ${process.version}, ${process.platform}/${process.arch}`);
for (const v of report.violations.slice(0, 20))
  console.log(`- ${v.inv} cycle ${v.cycle} (${v.fault}): ${v.detail}`);
process.exitCode = report.violations.length === 0 ? 0 : 1;
