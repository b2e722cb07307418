// Syntax of the DNS names ringside resolves (RFC 1035 section 2.3.4 lengths,
// RFC 1123 section 2.1 host labels). Underscores are allowed because SRV
// owner names (`_grpc._tcp.recs...`, RFC 2782) carry them.

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** True when `name` is a syntactically valid DNS name; one trailing dot (fully qualified) is allowed. */
export function isDnsName(name: string): boolean {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length === 0 || bare.length > 253) return false;
  const labels = bare.split('.');
  if (!labels.every((label) => LABEL.test(label))) return false;
  // An all-numeric last label is an IPv4-looking string, never a host name (RFC 1123 section 2.1).
  return !/^\d+$/.test(labels[labels.length - 1]);
}
