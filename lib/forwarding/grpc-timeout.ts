// The deadline a gRPC client sets on its call (the grpc-timeout request
// field), which the core enforces on the whole call, head and body.

/**
 * gRPC's grpc-timeout header (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
 * up to 8 digits and a unit (H M S m u n). Returns milliseconds, 0 when absent or malformed.
 */
export function parseGrpcTimeout(value: string | string[] | undefined): number {
  if (typeof value !== 'string' || value.length < 2 || value.length > 9) return 0;
  const n = Number(value.slice(0, -1));
  if (!Number.isInteger(n) || n < 0) return 0;
  switch (value.charCodeAt(value.length - 1)) {
    case 72 /* H */:
      return n * 3_600_000;
    case 77 /* M */:
      return n * 60_000;
    case 83 /* S */:
      return n * 1000;
    case 109 /* m */:
      return Math.max(1, n);
    case 117 /* u */:
      return Math.max(1, Math.ceil(n / 1000));
    case 110 /* n */:
      return Math.max(1, Math.ceil(n / 1_000_000));
    default:
      return 0;
  }
}
