/**
 * The OpenTelemetry SDK with in-memory exporters, for the tests of `evtwebsocket/otel`:
 * `instrumentInMemory()` calls `instrument()` on fresh tracer and meter providers whose spans and
 * metric points the test reads. The meter provider shuts down after the test (harness.ts).
 */

import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { instrument } from "../../src/otel/index.js";
import { onCleanup } from "./harness.js";

export function instrumentInMemory() {
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  onCleanup(() => meterProvider.shutdown());
  instrument({ tracerProvider, meterProvider });
  /** Every data point of the metric `name`, as [attributes, value]. */
  const points = async (name: string) => {
    await reader.forceFlush();
    const batches = exporter.getMetrics();
    const last = batches[batches.length - 1];
    const metric = last?.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
    return (metric?.dataPoints ?? []).map((p) => [p.attributes, p.value] as const);
  };
  return { spans, points, tracerProvider, meterProvider };
}
