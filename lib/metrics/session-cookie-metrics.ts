// Sticky sessions by a ringside cookie (lib/forwarding/session-cookie.ts), per
// upstream that issues one: sessions started, cookies issued again because
// their endpoint went away, and cookies rejected as invalid. The counters are
// plain fields the request path increments; they are read here at scrape time.
// Registered only when some upstream has --session-cookie.

import type { Registry } from './registry.ts';
import { registerCollectedMetric, type Sample } from './collected-metric.ts';

/** What the session cookie of one upstream counts (SessionCookie's fields). */
export interface SessionCookieCounts {
  readonly started: number;
  readonly reissued: number;
  readonly rejected: number;
}

export function registerSessionCookieMetrics(registry: Registry, upstreams: readonly { readonly upstream: string; readonly counts: SessionCookieCounts }[]): void {
  if (upstreams.length === 0) return;
  // Label objects built once.
  const labels = upstreams.map((u) => ({ upstream: u.upstream }));
  const family = (name: string, help: string, read: (c: SessionCookieCounts) => number): void => {
    registerCollectedMetric(registry, {
      name,
      help,
      type: 'counter',
      collect(out: Sample[]) {
        for (let i = 0; i < upstreams.length; i++) out.push({ labels: labels[i], value: read(upstreams[i].counts) });
      },
    });
  };
  family('ringside_sessions_started_total', 'Session cookies issued to requests without a valid one (sessions started).', (c) => c.started);
  family(
    'ringside_sessions_reissued_total',
    "Session cookies issued again because the session's endpoint went away (left the set, ejected, draining, or refused the connection).",
    (c) => c.reissued,
  );
  family('ringside_session_cookies_rejected_total', 'Session cookies that were not a valid token of the upstream (tampered, truncated, foreign, oversized or unsigned): treated as absent.', (c) => c.rejected);
}
