// The /status page: one self-contained HTML document (no external assets) that
// shows every upstream and its endpoints, and redraws itself from
// /status.json every 2 s. The server renders the first view so the page is
// readable without script; the inline script re-renders with DOM APIs
// (textContent only), so neither path interprets a name as markup.

import { createHash } from 'node:crypto';
import type { EndpointStatus, StatusSnapshot, UpstreamStatus } from './status.ts';

const STYLE = `
:root { color-scheme: light; --fg: #1d2330; --muted: #5f6b7a; --line: #e3e7ee; --bg: #f6f7f9; --card: #fff;
  --accent: #3867d6; --ok: #1e8e3e; --warn: #b06000; --bad: #c5221f; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 16px; padding: 14px 24px; background: var(--card); border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 18px; }
.meta { color: var(--muted); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.badge.ready { background: #e6f4ea; color: var(--ok); }
.badge.not-ready { background: #fce8e6; color: var(--bad); }
.badge.stale { background: #fef7e0; color: var(--warn); }
.reasons { margin: 0; padding-left: 18px; color: var(--bad); width: 100%; }
main { padding: 16px 24px; display: grid; gap: 16px; }
section.upstream { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
section.upstream h2 { margin: 0 0 2px; font-size: 16px; }
section.upstream h2 .meta { font-weight: 400; font-size: 13px; margin-left: 6px; }
section.upstream p { margin: 0 0 8px; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
th:nth-child(1) { width: 26%; } th:nth-child(2) { width: 11%; } th:nth-child(3), th:nth-child(4), th:nth-child(5) { width: 9%; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
th, td { padding: 6px 10px 6px 0; border-bottom: 1px solid var(--line); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; padding-right: 18px; }
td.key { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
td.error.bad { color: var(--bad); font-weight: 600; }
.state { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; }
.state-active { background: #e6f4ea; color: var(--ok); }
.state-draining { background: #fef7e0; color: var(--warn); }
.state-ejected { background: #fce8e6; color: var(--bad); }
.share-cell { display: flex; align-items: center; gap: 8px; }
.bar-track { flex: 1; height: 10px; background: #edf0f5; border-radius: 5px; overflow: hidden; }
.bar { height: 100%; background: var(--accent); border-radius: 5px; }
.share-value { width: 48px; text-align: right; font-variant-numeric: tabular-nums; color: var(--muted); }
.empty { color: var(--muted); font-style: italic; }
`;

// Plain browser JavaScript, mirrored by the server-side renderer below: keep
// the two producing the same structure and class names.
const SCRIPT = `
'use strict';
(function () {
  var REFRESH_MS = 2000;
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function rate(r) { return r < 10 ? r.toFixed(2) : r.toFixed(1); }
  function percent(f) { return (f * 100).toFixed(1) + '%'; }
  function ago(ms) {
    var s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 120) return s + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    return Math.round(s / 3600) + ' h';
  }
  function upstreamMeta(u) {
    var parts = [u.lb, u.target, 'listeners: ' + (u.listeners.length ? u.listeners.join(', ') : 'none')];
    return parts.join(' \\u00b7 ');
  }
  function upstreamDetail(u) {
    var parts = [];
    if (u.ring) parts.push('ring: ' + u.ring.entries + ' entries, ' + u.ring.min + '\\u2013' + u.ring.max + ' per endpoint');
    if (u.slowStartMs > 0) parts.push('slow start: ' + (u.slowStartMs / 1000) + ' s');
    var rl = u.rateLimit;
    var sc = u.sessionCookie;
    if (sc) parts.push('session cookie: ' + sc.name + (sc.signed ? ' (signed)' : '') + (sc.maxAgeSeconds > 0 ? ', max-age ' + sc.maxAgeSeconds + ' s' : '') + ', ' + sc.started + ' started, ' + sc.reissued + ' re-issued, ' + sc.rejected + ' rejected');
    if (rl) parts.push('rate limit: ' + rl.rate + ', burst ' + rl.burst + (rl.key ? ', per ' + rl.key + ' (' + rl.keys + ' of ' + rl.maxKeys + ' keys)' : '') + (rl.redis ? ', global via Redis ' + rl.redis.address + ' ' + rl.redis.state + ' (fail ' + rl.redis.fail + ')' : ', local'));
    parts.push('discovery: ' + (u.dns.lastResult || 'pending') + (u.dns.lastSuccess !== null ? ', last success ' + ago(u.dns.lastSuccess) + ' ago' : ''));
    return parts.join(' \\u00b7 ');
  }
  function endpointRow(e) {
    var tr = el('tr');
    tr.dataset.endpoint = e.key;
    tr.appendChild(el('td', 'key', e.key));
    var state = el('td');
    state.appendChild(el('span', 'state state-' + e.state, e.state));
    if (e.slowStart !== null) state.appendChild(el('span', 'slow-start meta', ' slow start ' + percent(e.slowStart)));
    tr.appendChild(state);
    tr.appendChild(el('td', 'protocol', e.protocol));
    var inflight = tr.appendChild(el('td', 'num inflight', String(e.inFlight)));
    if (e.tunnels > 0) inflight.appendChild(el('span', 'tunnels meta', ' + ' + e.tunnels + (e.tunnels === 1 ? ' tunnel' : ' tunnels')));
    tr.appendChild(el('td', 'num rate', rate(e.requestRate)));
    tr.appendChild(el('td', 'num error' + (e.errorRate > 0.05 ? ' bad' : ''), percent(e.errorRate)));
    var share = el('td', 'share');
    if (e.ringShare === null) {
      share.appendChild(el('span', 'meta', '\\u2014'));
    } else {
      var cell = el('div', 'share-cell');
      var track = el('div', 'bar-track');
      var bar = el('div', 'bar');
      bar.dataset.share = String(e.ringShare);
      bar.style.width = (e.ringShare * 100).toFixed(3) + '%';
      track.appendChild(bar);
      cell.appendChild(track);
      cell.appendChild(el('span', 'share-value', percent(e.ringShare)));
      share.appendChild(cell);
    }
    tr.appendChild(share);
    return tr;
  }
  function upstreamSection(u) {
    var section = el('section', 'upstream');
    section.dataset.upstream = u.name;
    var h2 = el('h2', '', u.name + ' ');
    h2.appendChild(el('span', 'meta', upstreamMeta(u)));
    section.appendChild(h2);
    section.appendChild(el('p', 'meta', upstreamDetail(u)));
    var table = el('table');
    var head = el('tr');
    [['Endpoint', ''], ['State', ''], ['Protocol', ''], ['In flight', 'num'], ['Req/s', 'num'], ['Errors', 'num'], ['Ring share', '']].forEach(function (h) {
      head.appendChild(el('th', h[1], h[0]));
    });
    table.appendChild(el('thead')).appendChild(head);
    var body = table.appendChild(el('tbody'));
    if (u.endpoints.length === 0) {
      var td = el('td', 'empty', 'no endpoints');
      td.colSpan = 7;
      body.appendChild(el('tr')).appendChild(td);
    }
    u.endpoints.forEach(function (e) { body.appendChild(endpointRow(e)); });
    section.appendChild(table);
    return section;
  }
  function render(s) {
    document.getElementById('version').textContent = s.version;
    document.getElementById('uptime').textContent = 'up ' + ago(s.startedAt);
    var badge = document.getElementById('readiness');
    badge.className = 'badge ' + (s.ready.ready ? 'ready' : 'not-ready');
    badge.textContent = s.ready.ready ? 'ready' : 'not ready';
    var reasons = document.getElementById('reasons');
    reasons.replaceChildren.apply(reasons, s.ready.reasons.map(function (r) { return el('li', '', r); }));
    var main = document.getElementById('upstreams');
    main.replaceChildren.apply(main, s.upstreams.map(upstreamSection));
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || '0') + 1);
  }
  function refresh() {
    fetch('status.json', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(render)
      .catch(function () {
        var badge = document.getElementById('readiness');
        badge.className = 'badge stale';
        badge.textContent = 'admin unreachable';
      })
      .finally(function () { setTimeout(refresh, REFRESH_MS); });
  }
  setTimeout(refresh, REFRESH_MS);
})();
`;

/**
 * Content-Security-Policy for the page: nothing external, only our one inline
 * script (pinned by hash, https://www.w3.org/TR/CSP3/#grammardef-hash-source),
 * fetches to this origin only. Styles stay 'unsafe-inline' because the bars'
 * widths are style attributes.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src 'sha256-${createHash('sha256').update(SCRIPT).digest('base64')}'`,
  "style-src 'unsafe-inline'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

function formatRate(r: number): string {
  return r < 10 ? r.toFixed(2) : r.toFixed(1);
}

function formatPercent(f: number): string {
  return `${(f * 100).toFixed(1)}%`;
}

function formatSeconds(ms: number): string {
  return `${ms / 1000} s`;
}

function formatAgo(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/** Open tunnels beside the requests in flight: ` + 3 tunnels`, or nothing. */
function tunnelsText(tunnels: number | undefined): string {
  return tunnels === undefined || tunnels === 0 ? '' : `<span class="tunnels meta"> + ${tunnels} ${tunnels === 1 ? 'tunnel' : 'tunnels'}</span>`;
}

function renderEndpointRow(e: EndpointStatus): string {
  const share =
    e.ringShare === null
      ? '<span class="meta">\u2014</span>'
      : `<div class="share-cell"><div class="bar-track"><div class="bar" data-share="${escapeHtml(e.ringShare)}" style="width: ${(e.ringShare * 100).toFixed(3)}%"></div></div><span class="share-value">${formatPercent(e.ringShare)}</span></div>`;
  return (
    `<tr data-endpoint="${escapeHtml(e.key)}">` +
    `<td class="key">${escapeHtml(e.key)}</td>` +
    `<td><span class="state state-${escapeHtml(e.state)}">${escapeHtml(e.state)}</span>${e.slowStart === null ? '' : `<span class="slow-start meta"> slow start ${formatPercent(e.slowStart)}</span>`}</td>` +
    `<td class="protocol">${escapeHtml(e.protocol)}</td>` +
    `<td class="num inflight">${escapeHtml(e.inFlight)}${tunnelsText(e.tunnels)}</td>` +
    `<td class="num rate">${formatRate(e.requestRate)}</td>` +
    `<td class="num error${e.errorRate > 0.05 ? ' bad' : ''}">${formatPercent(e.errorRate)}</td>` +
    `<td class="share">${share}</td>` +
    '</tr>'
  );
}

function renderUpstream(u: UpstreamStatus, now: number): string {
  const meta = [u.lb, u.target, `listeners: ${u.listeners.length > 0 ? u.listeners.join(', ') : 'none'}`].join(' \u00b7 ');
  const detail: string[] = [];
  if (u.ring) detail.push(`ring: ${u.ring.entries} entries, ${u.ring.min}\u2013${u.ring.max} per endpoint`);
  if (u.slowStartMs > 0) detail.push(`slow start: ${formatSeconds(u.slowStartMs)}`);
  const sc = u.sessionCookie;
  if (sc) {
    const ttl = sc.maxAgeSeconds > 0 ? `, max-age ${sc.maxAgeSeconds} s` : '';
    detail.push(`session cookie: ${sc.name}${sc.signed ? ' (signed)' : ''}${ttl}, ${sc.started} started, ${sc.reissued} re-issued, ${sc.rejected} rejected`);
  }
  const rl = u.rateLimit;
  if (rl) {
    const per = rl.key === null ? '' : `, per ${rl.key} (${rl.keys} of ${rl.maxKeys} keys)`;
    const where = rl.redis === null ? ', local' : `, global via Redis ${rl.redis.address} ${rl.redis.state} (fail ${rl.redis.fail})`;
    detail.push(`rate limit: ${rl.rate}, burst ${rl.burst}${per}${where}`);
  }
  detail.push(
    `discovery: ${u.dns.lastResult ?? 'pending'}${u.dns.lastSuccess !== null ? `, last success ${formatAgo(u.dns.lastSuccess, now)} ago` : ''}`,
  );
  const rows =
    u.endpoints.length === 0 ? '<tr><td class="empty" colspan="7">no endpoints</td></tr>' : u.endpoints.map(renderEndpointRow).join('');
  return (
    `<section class="upstream" data-upstream="${escapeHtml(u.name)}">` +
    `<h2>${escapeHtml(u.name)} <span class="meta">${escapeHtml(meta)}</span></h2>` +
    `<p class="meta">${escapeHtml(detail.join(' \u00b7 '))}</p>` +
    '<table><thead><tr><th>Endpoint</th><th>State</th><th title="learned by --upstream-protocol auto">Protocol</th><th class="num">In flight</th><th class="num">Req/s</th><th class="num">Errors</th><th>Ring share</th></tr></thead>' +
    `<tbody>${rows}</tbody></table></section>`
  );
}

export function renderStatusPage(snapshot: StatusSnapshot, now: number = Date.now()): string {
  const ready = snapshot.ready.ready;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ringside status</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>ringside <span class="meta" id="version">${escapeHtml(snapshot.version)}</span></h1>
<span class="badge ${ready ? 'ready' : 'not-ready'}" id="readiness">${ready ? 'ready' : 'not ready'}</span>
<span class="meta" id="uptime">up ${formatAgo(snapshot.startedAt, now)}</span>
<span class="meta" id="updated"></span>
<ul class="reasons" id="reasons">${snapshot.ready.reasons.map((r) => `<li>${escapeHtml(r)}</li>`).join('')}</ul>
</header>
<main id="upstreams">${snapshot.upstreams.map((u) => renderUpstream(u, now)).join('')}</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
