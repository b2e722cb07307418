// The admin HTTP app: /metrics for Prometheus, /healthz and /readyz for the
// kubelet, /status and /status.json for humans. Read-only: GET and HEAD only.

import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import {
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  renderOpenMetrics,
  renderPrometheusText,
} from '../metrics/exposition.ts';
import { STATUS_PAGE_CSP, renderStatusPage } from './status-page.ts';
import type { Readiness, StatusSnapshot } from './status.ts';

export interface AdminAppDeps {
  readonly registry: Registry;
  readonly getStatus: () => StatusSnapshot;
  readonly getReadiness: () => Readiness;
}

const ROUTES = new Set(['/metrics', '/healthz', '/readyz', '/status', '/status.json']);
const ALLOW = 'GET, HEAD';

export function createAdminApp(deps: AdminAppDeps): Hono {
  const app = new Hono();

  // RFC 9110 §15.5.6: 405 with Allow for a known resource and a method it does
  // not support; unknown paths stay 404 whatever the method. Hono answers HEAD
  // with the GET route's headers and no body, so HEAD needs no route of its own.
  app.use('*', async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && ROUTES.has(c.req.path)) {
      return c.text('method not allowed\n', 405, { Allow: ALLOW });
    }
    await next();
  });

  app.get('/metrics', async (c) => {
    const openMetrics = prefersOpenMetrics(c.req.header('accept'));
    const body = openMetrics ? await renderOpenMetrics(deps.registry) : await renderPrometheusText(deps.registry);
    return c.body(body, 200, {
      'Content-Type': openMetrics ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE,
      'Cache-Control': 'no-store',
      Vary: 'Accept',
    });
  });

  // Liveness only: answering at all proves the event loop turns. Deliberately
  // independent of upstream health, so a broken upstream never restarts the pod.
  app.get('/healthz', (c) => c.text('ok\n', 200, { 'Cache-Control': 'no-store' }));

  app.get('/readyz', (c) => {
    const readiness = deps.getReadiness();
    return c.json({ ready: readiness.ready, reasons: readiness.reasons }, readiness.ready ? 200 : 503, {
      'Cache-Control': 'no-store',
    });
  });

  app.get('/status.json', (c) => c.json(deps.getStatus(), 200, { 'Cache-Control': 'no-store' }));

  app.get('/status', (c) =>
    c.html(renderStatusPage(deps.getStatus()), 200, {
      'Content-Security-Policy': STATUS_PAGE_CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
    }),
  );

  app.notFound((c) => c.text('not found\n', 404));
  return app;
}

/**
 * True when the Accept header ranks OpenMetrics at least as high as the
 * Prometheus text format (and above zero). Prometheus itself sends e.g.
 * `application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`.
 * Any OpenMetrics version is accepted: 0.0.1 and 1.0.0 differ in nothing
 * prom-client emits. https://www.rfc-editor.org/rfc/rfc9110#section-12.5.1
 */
export function prefersOpenMetrics(accept: string | undefined): boolean {
  if (!accept) return false;
  let openMetrics = 0;
  let text = 0;
  for (const range of accept.split(',')) {
    const [mediaType, ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    let q = 1;
    for (const param of params) {
      if (param.startsWith('q=')) {
        const parsed = Number(param.slice(2));
        q = Number.isFinite(parsed) ? parsed : 0;
      }
    }
    if (mediaType === 'application/openmetrics-text') openMetrics = Math.max(openMetrics, q);
    else if (mediaType === 'text/plain' || mediaType === 'text/*' || mediaType === '*/*') text = Math.max(text, q);
  }
  return openMetrics > 0 && openMetrics >= text;
}
