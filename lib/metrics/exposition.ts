// Renders a registry in either exposition format, chosen per scrape: the
// Prometheus text format 0.0.4, or OpenMetrics 1.0.0.
// https://prometheus.io/docs/instrumenting/exposition_formats/
// https://github.com/prometheus/OpenMetrics/blob/main/specification/OpenMetrics.md

import { Registry } from './registry.ts';
import type { Metric, OpenMetricsContentType } from 'prom-client';

export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;
export const OPENMETRICS_CONTENT_TYPE = Registry.OPENMETRICS_CONTENT_TYPE;

export function renderPrometheusText(registry: Registry): Promise<string> {
  return registry.metrics();
}

/**
 * prom-client 15 ties the format to the registry and, when rendering
 * OpenMetrics, strips `_total` from each counter's `name` in place (so that
 * the family is `x` and the samples `x_total`). Flipping the shared registry
 * with setContentType() would therefore rename our counters for every later
 * Prometheus scrape, and race with concurrent scrapes. Instead each
 * OpenMetrics scrape builds a throwaway OpenMetrics registry over the same
 * metric objects, with each counter behind a small view that carries the
 * stripped name.
 */
export function renderOpenMetrics(registry: Registry): Promise<string> {
  const view = new Registry<OpenMetricsContentType>();
  view.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  for (const metric of registry.getMetricsAsArray() as unknown as MetricLike[]) {
    view.registerMetric((metric.type === 'counter' ? counterView(metric) : metric) as unknown as Metric);
  }
  return view.metrics();
}

interface MetricLike {
  name: string;
  help: string;
  type: string;
  aggregator?: string;
  get(): Promise<{ name: string } & Record<string, unknown>>;
  reset(): void;
}

function counterView(counter: MetricLike): MetricLike {
  const name = counter.name.replace(/_total$/, '');
  return {
    name,
    help: counter.help,
    type: 'counter',
    aggregator: counter.aggregator,
    async get() {
      return { ...(await counter.get()), name };
    },
    reset() {},
  };
}
