// prom-client's Registry, through the package's public entry (issue 19): the
// one import of prom-client's runtime in ringside. Its metrics are its own
// CollectedMetric families (./collected-metric.ts) and its runtime metrics are
// ./runtime-metrics.ts, so the Registry (text formatting, both content types)
// is all it uses. The entry also loads prom-client's metric classes, the
// default-metrics collectors with @opentelemetry/api, the Pushgateway and the
// cluster aggregator; none of them runs (nothing calls collectDefaultMetrics,
// so nothing is registered on prom-client's global registry). Their code costs
// +0.8 MiB idle and +0.6 MiB peak RSS over loading lib/registry.js alone, a
// private path (bench/README.md, "Memory", 2026-12-06).

export { Registry } from 'prom-client';
