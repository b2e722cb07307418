import { describe, expect, it } from 'vitest';
import { renderStatusPage } from './status-page.ts';
import type { EndpointStatus, StatusSnapshot } from './status.ts';

function endpoint(key: string, protocol: EndpointStatus['protocol']): EndpointStatus {
  return { key, state: 'active', protocol, weight: 1, slowStart: null, inFlight: 0, requestRate: 0, errorRate: 0, ringShare: null };
}

const SNAPSHOT: StatusSnapshot = {
  version: 'test',
  startedAt: 0,
  ready: { ready: true, reasons: [] },
  upstreams: [
    {
      name: 'recs',
      target: 'static:3',
      lb: 'round_robin',
      listeners: ['egress'],
      endpoints: [endpoint('10.0.0.1:80', 'http1'), endpoint('10.0.0.2:80', 'h2c'), endpoint('10.0.0.3:80', 'unknown')],
      ring: null,
      slowStartMs: 0,
      dns: { lastSuccess: null, lastResult: null },
    },
  ],
};

describe('status page: learned upstream protocol', () => {
  it('has a Protocol column with what --upstream-protocol auto learned per endpoint', () => {
    const html = renderStatusPage(SNAPSHOT, 0);
    expect(html).toContain('>Protocol</th>');
    const row = (key: string): string => html.slice(html.indexOf(`data-endpoint="${key}"`), html.indexOf('</tr>', html.indexOf(`data-endpoint="${key}"`)));
    expect(row('10.0.0.1:80')).toContain('<td class="protocol">http1</td>');
    expect(row('10.0.0.2:80')).toContain('<td class="protocol">h2c</td>');
    expect(row('10.0.0.3:80')).toContain('<td class="protocol">unknown</td>');
  });
});

describe('status page: session cookie', () => {
  it('says whether an upstream issues a session cookie, and what it counted', () => {
    const sessionCookie = { name: 'pg_session', signed: true, maxAgeSeconds: 3600, started: 7, reissued: 2, rejected: 1 };
    const html = renderStatusPage({ ...SNAPSHOT, upstreams: [{ ...SNAPSHOT.upstreams[0], sessionCookie }] }, 0);
    expect(html).toContain('session cookie: pg_session (signed), max-age 3600 s, 7 started, 2 re-issued, 1 rejected');
    // (The page's script has the words too: look at the rendered detail line only.)
    expect(renderStatusPage(SNAPSHOT, 0)).not.toMatch(/<p class="meta">[^<]*session cookie:/);
  });
});

describe('status page: tunnels', () => {
  it('shows open tunnels per endpoint beside its requests in flight', () => {
    const endpoints = [{ ...SNAPSHOT.upstreams[0].endpoints[0], key: '10.0.0.9:80', inFlight: 2, tunnels: 3 }];
    const html = renderStatusPage({ ...SNAPSHOT, upstreams: [{ ...SNAPSHOT.upstreams[0], endpoints }] }, 0);
    expect(html).toContain('<td class="num inflight">2<span class="tunnels meta"> + 3 tunnels</span></td>');
  });
});
