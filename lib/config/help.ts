// The --help text, generated from the option table in ./options.ts so that
// every flag, its RINGSIDE_* twin and its default are always listed.

import { OPTIONS, type OptionSpec } from './options.ts';

const WIDTH = 80;
const INDENT = '          ';

const SECTIONS: readonly { readonly title: string; readonly names: readonly string[] }[] = [
  { title: 'General', names: ['config', 'help', 'version', 'log-level', 'admin', 'drain-timeout', 'engine', 'h2-idle-timeout'] },
  { title: 'Tunnels (WebSocket)', names: ['max-tunnels', 'tunnel-idle-timeout'] },
  { title: 'Listener and upstream', names: ['listen', 'upstream', 'upstream-protocol', 'connect-timeout', 'request-timeout'] },
  { title: 'Load balancing', names: ['lb', 'hash-header', 'hash-query', 'hash-cookie', 'hash-source-ip', 'hash-fallback', 'ring-mode', 'ring-entries-per-endpoint', 'min-ring-size', 'max-ring-size', 'hash-balance-factor'] },
  { title: 'DNS discovery', names: ['dns-refresh', 'dns-respect-ttl', 'dns-family', 'dns-server'] },
  { title: 'Resilience', names: ['retries', 'retry-buffer', 'idle-timeout', 'h2-keepalive-interval', 'h2-ping-timeout', 'eject-consecutive-failures', 'eject-base-time', 'eject-max-time', 'max-ejection-percent', 'slow-start', 'slow-start-min-weight', 'slow-start-aggression'] },
  { title: 'Sticky sessions', names: ['session-cookie', 'session-cookie-ttl', 'session-cookie-path', 'session-cookie-http-only', 'session-cookie-same-site', 'session-cookie-secure', 'session-cookie-secret-file'] },
  { title: 'Rate limits', names: ['rate-limit', 'rate-limit-burst', 'rate-limit-key', 'rate-limit-max-keys', 'rate-limit-redis', 'rate-limit-redis-tls', 'rate-limit-redis-user', 'rate-limit-redis-password-file', 'rate-limit-redis-fail'] },
];

export function helpText(version: string): string {
  const lines: string[] = [
    `ringside ${version}: a sidecar egress proxy that balances every HTTP/1.1 request`,
    'and every HTTP/2 (gRPC) stream over the endpoints of a headless Service.',
    '',
    'Usage: ringside [--config FILE] [--listen HOST:PORT] --upstream TARGET [options]',
    '',
    'Settings are taken from flags, then RINGSIDE_* environment variables, then the',
    'config file, then the defaults. Flags take a value as `--flag value` or',
    '`--flag=value`; boolean flags are `--flag` or `--flag=true|false`, and their',
    'environment twins accept true|false|1|0. An empty variable counts as unset.',
  ];
  const byName = new Map(OPTIONS.map((o) => [o.name, o]));
  // An option no section names still gets documented.
  const named = new Set(SECTIONS.flatMap((s) => s.names));
  const others = OPTIONS.filter((o) => !named.has(o.name)).map((o) => o.name);
  for (const section of others.length > 0 ? [...SECTIONS, { title: 'Other', names: others }] : SECTIONS) {
    lines.push('', `${section.title}:`);
    for (const name of section.names) {
      const spec = byName.get(name);
      if (spec !== undefined) lines.push(...describe(spec));
    }
  }
  lines.push(
    '',
    'Hash sources:',
    ...wrap(
      'Each --hash-* flag adds one source to the hash policy, in command-line order. As in ' +
        "Envoy's hash_policy, every source present on a request is combined into the hash (the " +
        'running hash is rotated left one bit, then XORed with the next); a request with none of ' +
        'them goes to --hash-fallback. The environment twins take comma-separated lists ' +
        '(RINGSIDE_HASH_HEADER=x-user-id,x-tenant), in the order header, query, ' +
        'cookie, source IP. Sources given as flags replace those from the environment, which ' +
        'replace those from the file. In the file, `hashOn: [{header: x-user-id, terminal: true}, ' +
        '{query: user}, {cookie: sid}, {sourceIp: true}]` also sets terminal (stop combining once the hash so far is set).',
      '  ',
    ),
    '',
    'Config file:',
    ...wrap(
      'YAML (or JSON when the name ends in .json) with camelCase keys mirroring the flags ' +
        '(listen, upstream, lb, hashOn, dnsRefresh, ...), or the multi-listener form: ' +
        '`listeners: [{name, listen, upstream}]` and `upstreams: {NAME: {target, protocol, lb, hashOn, ' +
        'hashFallback, ringMode, ..., connectTimeout, requestTimeout, dns: {refresh, respectTtl, family, server}}}`. ' +
        'With the multi-listener form, upstream settings given as flags or environment override ' +
        'that setting in every upstream, and --listen/--upstream are not allowed.',
      '  ',
    ),
    '',
  );
  return lines.join('\n');
}

function describe(spec: OptionSpec): string[] {
  const flag = spec.short ? `-${spec.short}, --${spec.name}` : `    --${spec.name}`;
  const head = `  ${flag}${spec.placeholder && spec.kind === 'value' ? ' ' + spec.placeholder : spec.kind === 'boolean' ? '[=true|false]' : ''}`;
  const facts: string[] = [];
  if (spec.env !== null) facts.push(`env ${spec.env}`);
  if (spec.fileKey !== null) facts.push(`file ${spec.fileKey}${spec.upstreamKey !== null ? `, upstreams.NAME.${spec.upstreamKey}` : ''}`);
  if (spec.defaultText !== null) facts.push(`default ${spec.defaultText}`);
  const text = spec.description + (facts.length > 0 ? ` (${facts.join('; ')})` : '');
  return [head, ...wrap(text, INDENT)];
}

function wrap(text: string, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > WIDTH) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(indent + line);
  return lines;
}
