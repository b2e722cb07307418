import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { formatHostPort, parseHostPort } from './host-port.ts';
import { isDnsName } from './dns-name.ts';

describe('parseHostPort', () => {
  test.each([
    ['127.0.0.1:15001', '127.0.0.1', 15001],
    ['0.0.0.0:0', '0.0.0.0', 0],
    ['[::1]:15001', '::1', 15001],
    ['[FE80::1]:80', 'fe80::1', 80],
    ['localhost:65535', 'localhost', 65535],
    ['recs.default.svc.cluster.local.:8080', 'recs.default.svc.cluster.local.', 8080],
  ])('%s', (text, host, port) => {
    expect(parseHostPort(text, { minPort: 0 })).toEqual({ ok: true, value: { host, port } });
  });

  test.each(['::1:80', '127.0.0.1', '127.0.0.1:', ':80', '127.0.0.1:65536', '127.0.0.1:-1', '999.1.1.1:80', '[::1]80', '[nope]:80', 'a b:80', '-bad.example:80', '127.0.0.1:80x'])(
    'rejects %j, naming HOST:PORT',
    (text) => {
      const parsed = parseHostPort(text, { minPort: 0 });
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.expected).toContain('HOST:PORT');
    },
  );

  test('port 0 only where we bind', () => {
    expect(parseHostPort('127.0.0.1:0', { minPort: 0 }).ok).toBe(true);
    expect(parseHostPort('127.0.0.1:0', { minPort: 1 })).toMatchObject({ ok: false, expected: expect.stringContaining('1..65535') });
  });

  test('ipOnly rejects names', () => {
    expect(parseHostPort('dns.example:53', { minPort: 1, ipOnly: true }).ok).toBe(false);
    expect(parseHostPort('[::1]:53', { minPort: 1, ipOnly: true }).ok).toBe(true);
  });

  const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
  const ipv6 = fc.ipV6().map((a) => a.toLowerCase());
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
  const name = fc.array(label, { minLength: 1, maxLength: 5 }).filter((ls) => !/^\d+$/.test(ls[ls.length - 1])).map((ls) => ls.join('.'));

  test('property: format then parse round-trips IPv4, IPv6 and names', () => {
    fc.assert(
      fc.property(fc.oneof(ipv4, ipv6, name), fc.integer({ min: 0, max: 65535 }), (host, port) => {
        const text = formatHostPort({ host, port });
        expect(parseHostPort(text, { minPort: 0 })).toEqual({ ok: true, value: { host, port } });
      }),
      { numRuns: 1000 },
    );
  });

  test('property: arbitrary text never throws and accepted ports are in range', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        const parsed = parseHostPort(text, { minPort: 1 });
        if (parsed.ok) expect(parsed.value.port).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('isDnsName', () => {
  test('label and name lengths follow RFC 1035', () => {
    expect(isDnsName('a'.repeat(63) + '.example')).toBe(true);
    expect(isDnsName('a'.repeat(64) + '.example')).toBe(false);
    const long = Array.from({ length: 4 }, () => 'a'.repeat(63)).join('.'); // 255 characters
    expect(isDnsName(long)).toBe(false);
    expect(isDnsName(long.slice(0, 253))).toBe(true);
    expect(isDnsName(long.slice(0, 253) + '.')).toBe(true);
  });
  test.each(['', '.', 'a..b', 'a.', '_grpc._tcp.recs'])('%j', (n) => {
    expect(isDnsName(n)).toBe(n === 'a.' || n === '_grpc._tcp.recs');
  });
});
