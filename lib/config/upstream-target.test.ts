import { expect, test } from 'vitest';
import { formatUpstreamTarget, parseUpstreamTarget } from './upstream-target.ts';

test('static lists endpoints with HOST:PORT keys and weight 1', () => {
  expect(parseUpstreamTarget('static:127.0.0.1:9001,[::1]:9002')).toEqual({
    ok: true,
    value: {
      kind: 'static',
      endpoints: [
        { key: '127.0.0.1:9001', host: '127.0.0.1', port: 9001, weight: 1 },
        { key: '[::1]:9002', host: '::1', port: 9002, weight: 1 },
      ],
    },
  });
});

test('dns: and bare NAME:PORT resolve a name; the trailing dot is kept', () => {
  expect(parseUpstreamTarget('dns:recs.default.svc.cluster.local.:8080')).toEqual({ ok: true, value: { kind: 'dns', name: 'recs.default.svc.cluster.local.', port: 8080 } });
  expect(parseUpstreamTarget('recs:8080')).toEqual({ ok: true, value: { kind: 'dns', name: 'recs', port: 8080 } });
});

test('a bare IP literal is a static endpoint; dns: with an IP is an error', () => {
  expect(parseUpstreamTarget('127.0.0.1:8080')).toMatchObject({ ok: true, value: { kind: 'static', endpoints: [{ key: '127.0.0.1:8080' }] } });
  expect(parseUpstreamTarget('dns:127.0.0.1:8080')).toMatchObject({ ok: false, expected: expect.stringContaining('static:127.0.0.1:8080') });
});

test('srv: takes _PORTNAME._tcp.NAME', () => {
  expect(parseUpstreamTarget('srv:_grpc._tcp.recs.default.svc.cluster.local')).toEqual({ ok: true, value: { kind: 'srv', name: '_grpc._tcp.recs.default.svc.cluster.local' } });
  expect(parseUpstreamTarget('srv:recs.default')).toMatchObject({ ok: false, expected: expect.stringContaining('srv:_PORTNAME._tcp.NAME') });
  expect(parseUpstreamTarget('srv:_grpc._udp.recs')).toMatchObject({ ok: false });
});

test.each([
  ['static:', 'static:HOST:PORT'],
  ['static:127.0.0.1:0', 'port 1..65535'],
  ['static:127.0.0.1:80,127.0.0.1:80', 'listed twice'],
  ['recs', 'dns:NAME:PORT'],
  ['dns:bad_label-.x:80', 'dns:NAME:PORT'],
  ['dns:' + 'a'.repeat(64) + '.svc:80', 'dns:NAME:PORT'],
  ['recs:0', 'dns:NAME:PORT'],
])('rejects %j with the expected form', (text, form) => {
  const parsed = parseUpstreamTarget(text);
  expect(parsed.ok).toBe(false);
  if (!parsed.ok) expect(parsed.expected).toContain(form);
});

test('targets print back to the same text', () => {
  for (const text of ['static:10.0.0.1:80,[::1]:81', 'dns:recs.default.:8080', 'srv:_http._tcp.recs']) {
    const parsed = parseUpstreamTarget(text);
    expect(parsed.ok && formatUpstreamTarget(parsed.value)).toBe(text);
  }
});
