// Renders /status in headless Chromium: every endpoint is shown, each ring
// share is a bar whose width is proportional to the share, the page loads
// nothing but itself, and it redraws from /status.json on its own.

import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../lib/admin/admin-app.ts';
import { startAdminServer } from '../lib/admin/admin-server.ts';
import type { AdminServer } from '../lib/admin/admin-server.ts';
import type { EndpointStatus, StatusSnapshot } from '../lib/admin/status.ts';
import { createMetrics } from '../lib/metrics/metrics.ts';
import { launchChromium } from './support/chromium.ts';

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));

const RING_ENDPOINTS: EndpointStatus[] = [
  { key: '10.42.0.11:8080', state: 'active', protocol: 'unknown', weight: 1, slowStart: null, inFlight: 7, requestRate: 412.3, errorRate: 0.002, ringShare: 0.4 },
  { key: '10.42.0.12:8080', state: 'active', protocol: 'unknown', weight: 1, slowStart: null, inFlight: 3, requestRate: 301.9, errorRate: 0, ringShare: 0.3 },
  { key: '10.42.1.7:8080', state: 'draining', protocol: 'unknown', weight: 1, slowStart: null, inFlight: 1, requestRate: 12.04, errorRate: 0.083, ringShare: 0.2 },
  { key: '[fd00:10:42::9]:8080', state: 'active', protocol: 'unknown', weight: 1, slowStart: null, inFlight: 0, requestRate: 98.5, errorRate: 0.01, ringShare: 0.1 },
];

let snapshot: StatusSnapshot = {
  version: '0.1.0',
  startedAt: Date.now() - 3 * 3600_000,
  ready: { ready: true, reasons: [] },
  upstreams: [
    {
      name: 'recommendations',
      target: 'dns:recs.default.svc.cluster.local:8080',
      lb: 'ring_hash',
      listeners: ['egress-http', 'egress-grpc'],
      endpoints: RING_ENDPOINTS,
      ring: { entries: 4096, min: 409, max: 1638 },
      slowStartMs: 0,
      dns: { lastSuccess: Date.now() - 4_000, lastResult: 'success' },
    },
    {
      name: 'billing <legacy>',
      target: 'static:10.0.5.1:9000,10.0.5.2:9000',
      lb: 'least_request',
      listeners: ['egress-billing'],
      endpoints: [
        { key: '10.0.5.1:9000', state: 'active', protocol: 'unknown', weight: 1, slowStart: 0.35, inFlight: 2, requestRate: 3.5, errorRate: 0, ringShare: null },
        { key: '10.0.5.2:9000', state: 'ejected', protocol: 'unknown', weight: 1, slowStart: null, inFlight: 0, requestRate: 0, errorRate: 1, ringShare: null },
      ],
      ring: null,
      slowStartMs: 30_000,
      dns: { lastSuccess: Date.now() - 60_000, lastResult: 'success' },
    },
  ],
};

let browser: Browser;
let server: AdminServer;
let page: Page;
let base: string;
const requested: string[] = [];

beforeAll(async () => {
  const registry = new Registry();
  createMetrics(registry);
  server = await startAdminServer(
    createAdminApp({ registry, getStatus: () => snapshot, getReadiness: () => snapshot.ready }),
    { host: '127.0.0.1', port: 0 },
  );
  base = `http://127.0.0.1:${server.port}`;
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1100, height: 640 } });
  page.on('request', (request) => requested.push(request.url()));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

// The callbacks below run in the browser. tsconfig has no DOM lib (it would
// leak browser globals into every Node file), so they describe the little DOM
// they touch themselves.
interface BoxElement {
  readonly dataset: Record<string, string | undefined>;
  getBoundingClientRect(): { readonly width: number };
  querySelector(selector: string): BoxElement | null;
}
interface PageGlobals {
  readonly document: { readonly body: BoxElement };
}

/** How many times the page has redrawn itself from /status.json. */
function refreshCount(): number {
  return Number((globalThis as unknown as PageGlobals).document.body.dataset.refreshed ?? 0);
}

/** Each bar's width as a fraction of its track, by endpoint key. */
async function barFractions(): Promise<Record<string, { share: number; fraction: number }>> {
  return page.$$eval('tr[data-endpoint]', (rows) => {
    const out: Record<string, { share: number; fraction: number }> = {};
    for (const row of rows as unknown as BoxElement[]) {
      const bar = row.querySelector('.bar');
      const track = row.querySelector('.bar-track');
      if (!bar || !track) continue;
      out[row.dataset.endpoint!] = {
        share: Number(bar.dataset.share),
        fraction: bar.getBoundingClientRect().width / track.getBoundingClientRect().width,
      };
    }
    return out;
  });
}

describe('/status in Chromium', () => {
  it('shows every endpoint with a ring-share bar proportional to its share', async () => {
    const response = await page.goto(`${base}/status`);
    expect(response?.status()).toBe(200);

    const keys = await page.$$eval('tr[data-endpoint]', (rows) => rows.map((r) => (r as unknown as BoxElement).dataset.endpoint));
    expect(keys).toEqual([...RING_ENDPOINTS.map((e) => e.key), '10.0.5.1:9000', '10.0.5.2:9000']);
    for (const key of keys) await expect(page.getByText(key!, { exact: true }).isVisible()).resolves.toBe(true);
    expect(await page.getByText('billing <legacy>').count()).toBe(1);

    const bars = await barFractions();
    expect(Object.keys(bars)).toEqual(RING_ENDPOINTS.map((e) => e.key));
    for (const e of RING_ENDPOINTS) expect(bars[e.key].fraction).toBeCloseTo(e.ringShare!, 2);
    // Proportional to each other too: 0.4 is four times 0.1.
    expect(bars['10.42.0.11:8080'].fraction / bars['[fd00:10:42::9]:8080'].fraction).toBeCloseTo(4, 1);
    // Endpoints of a non-ring upstream get no bar.
    expect(await page.locator('tr[data-endpoint="10.0.5.1:9000"] .bar').count()).toBe(0);
    // An endpoint in slow start says so, with the share of its weight it has now; the upstream shows its window.
    expect(await page.locator('tr[data-endpoint="10.0.5.1:9000"] .slow-start').textContent()).toContain('slow start 35');
    expect(await page.locator('tr[data-endpoint="10.0.5.2:9000"] .slow-start').count()).toBe(0);
    expect(await page.getByText(/slow start: 30 s/).count()).toBe(1);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}status.png`, fullPage: true });
  });

  it('redraws itself from /status.json, loading nothing from elsewhere', async () => {
    const before = await page.evaluate(refreshCount);
    snapshot = {
      ...snapshot,
      ready: { ready: false, reasons: ['upstream recommendations: 1 endpoint ejected'] },
      upstreams: [
        {
          ...snapshot.upstreams[0],
          endpoints: [
            { ...RING_ENDPOINTS[0], ringShare: 0.25 },
            { key: '10.42.2.3:8080', state: 'active', protocol: 'unknown', weight: 1, slowStart: null, inFlight: 0, requestRate: 0, errorRate: 0, ringShare: 0.75 },
          ],
        },
      ],
    };
    await page.waitForFunction(
      (n) => Number((globalThis as unknown as PageGlobals).document.body.dataset.refreshed ?? 0) > n,
      before,
      { timeout: 10_000 },
    );

    const bars = await barFractions();
    expect(Object.keys(bars)).toEqual(['10.42.0.11:8080', '10.42.2.3:8080']);
    expect(bars['10.42.0.11:8080'].fraction).toBeCloseTo(0.25, 2);
    expect(bars['10.42.2.3:8080'].fraction).toBeCloseTo(0.75, 2);
    expect(await page.locator('#readiness').textContent()).toBe('not ready');
    expect(await page.locator('#reasons li').allTextContents()).toEqual(['upstream recommendations: 1 endpoint ejected']);

    await page.screenshot({ path: `${ARTIFACTS}status-refreshed.png`, fullPage: true });

    expect(requested.length).toBeGreaterThan(1);
    for (const url of requested) expect(url.startsWith(`${base}/status`)).toBe(true);
  }, 20_000);
});
