// prom-client's Registry, loaded by itself. ringside's metrics are its own
// CollectedMetric families (./collected-metric.ts) and its runtime metrics are
// ./runtime-metrics.ts, so the Registry (text formatting, both content types)
// is all it uses of prom-client. `import { Registry } from 'prom-client'` would
// run the package's index, which loads every metric class, the default-metrics
// collectors with @opentelemetry/api, the Pushgateway (node:https, node:zlib)
// and the cluster aggregator (node:cluster, node:child_process): about 1 MiB of
// resident memory for code that never runs (bench/memory.ts, 2026-12-04).
// prom-client has no "exports" map, so the file is reachable; the types are
// the index's.

import { createRequire } from 'node:module';
import type { Registry as PromRegistry, PrometheusContentType, RegistryContentType } from 'prom-client';

export type Registry<T extends RegistryContentType = PrometheusContentType> = PromRegistry<T>;
export const Registry = createRequire(import.meta.url)('prom-client/lib/registry.js') as typeof PromRegistry;
