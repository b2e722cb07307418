// A metric family living in a prom-client Registry whose samples are read at
// scrape time from counters that ringside keeps itself, in plain fields and
// typed arrays.
//
// Why not prom-client's Counter/Histogram children on the request path: their
// inc()/observe() rebuild the label-set hash string and re-validate the labels
// on every call (prom-client lib/util.js hashObject, lib/validation.js), even
// through a cached `labels(...)` child. Here the request path is `array[i]++`,
// and label objects are built once, the first time a series is exported.
// The registry still does the text formatting (and label-value escaping) for
// both the Prometheus and OpenMetrics formats.

import type { Metric, Registry } from 'prom-client';

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** One exported line. `metricName` defaults to the family name (histograms set `_bucket`, `_sum`, `_count`). */
export interface Sample {
  readonly metricName?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface CollectedMetricOptions {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  /** Appends the family's current samples to `out`. Called once per scrape. */
  readonly collect: (out: Sample[]) => void;
}

// https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Implements the part of prom-client's metric shape that `Registry` uses: name, help, type, get(), reset(). */
export class CollectedMetric {
  // Not readonly: prom-client's Registry renames counters in place when it
  // renders OpenMetrics; lib/metrics/exposition.ts hands it a copy instead.
  name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly aggregator = 'sum';
  readonly #collect: (out: Sample[]) => void;

  constructor(options: CollectedMetricOptions) {
    if (!METRIC_NAME.test(options.name)) throw new TypeError(`invalid metric name: ${options.name}`);
    this.name = options.name;
    this.help = options.help;
    this.type = options.type;
    this.#collect = options.collect;
  }

  async get(): Promise<{ name: string; help: string; type: MetricType; values: Sample[]; aggregator: string }> {
    const values: Sample[] = [];
    this.#collect(values);
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The state belongs to the handles that feed `collect`; there is nothing to reset here. */
  reset(): void {}
}

export function registerCollectedMetric(registry: Registry, options: CollectedMetricOptions): CollectedMetric {
  const metric = new CollectedMetric(options);
  // prom-client types registerMetric() as its own four classes; at runtime the
  // Registry only calls name/help/type/get()/reset(), which CollectedMetric has.
  registry.registerMetric(metric as unknown as Metric);
  return metric;
}
