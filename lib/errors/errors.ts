// Every error ringside raises on purpose, each with a stable `code`. Deep code
// throws these; the listener edge translates them once (see ./status.ts).
// Classify by `code`, never by `instanceof` across module boundaries.

export const ErrorCodes = {
  CONFIG: 'RS_ERR_CONFIG',
  NO_ENDPOINTS: 'RS_ERR_NO_ENDPOINTS',
  CONNECT_FAILED: 'RS_ERR_CONNECT_FAILED',
  UPSTREAM_RESET: 'RS_ERR_UPSTREAM_RESET',
  TIMEOUT: 'RS_ERR_TIMEOUT',
  CLIENT_CANCELLED: 'RS_ERR_CLIENT_CANCELLED',
  BAD_REQUEST: 'RS_ERR_BAD_REQUEST',
  /** The request head is larger than the upstream accepts (its HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE); it was not sent. */
  HEADERS_TOO_LARGE: 'RS_ERR_HEADERS_TOO_LARGE',
  DNS: 'RS_ERR_DNS',
  /** The upstream's response ended short: its stream or connection closed after the head without the end of the body. */
  UPSTREAM_TRUNCATED: 'RS_ERR_UPSTREAM_TRUNCATED',
  /** The endpoint does not speak the protocol the request needs end to end (a gRPC call to an HTTP/1.1-only replica). */
  UPSTREAM_PROTOCOL: 'RS_ERR_UPSTREAM_PROTOCOL',
  /** The upstream's rate limit (--rate-limit) refused the request; it was not sent. */
  RATE_LIMITED: 'RS_ERR_RATE_LIMITED',
  /** --max-tunnels tunnels (WebSocket and other protocol switches) are open: the handshake was not sent. */
  TUNNEL_LIMIT: 'RS_ERR_TUNNEL_LIMIT',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class RingsideError extends Error {
  readonly code: ErrorCode;
  /** The upstream (named cluster) the error is about, when there is one. */
  readonly upstream: string | undefined;
  /** The endpoint (`host:port`) the error is about, when there is one. */
  readonly endpoint: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; upstream?: string; endpoint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RingsideError';
    this.code = code;
    this.upstream = options?.upstream;
    this.endpoint = options?.endpoint;
  }
}

/** One configuration problem: which key, and what form it expects. */
export interface ConfigProblem {
  readonly key: string;
  readonly message: string;
}

/** All configuration problems found, reported together (never one at a time). */
export class ConfigError extends RingsideError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(ErrorCodes.CONFIG, 'invalid configuration:\n' + problems.map((p) => `  ${p.key}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export class NoEndpointsError extends RingsideError {
  constructor(upstream: string, detail?: string) {
    super(ErrorCodes.NO_ENDPOINTS, `no endpoints available for upstream "${upstream}"${detail ? ` (${detail})` : ''}`, { upstream });
    this.name = 'NoEndpointsError';
  }
}

export class ConnectFailedError extends RingsideError {
  constructor(upstream: string, endpoint: string, cause?: unknown) {
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    super(ErrorCodes.CONNECT_FAILED, `cannot connect to ${endpoint} of upstream "${upstream}"${why}`, { cause, upstream, endpoint });
    this.name = 'ConnectFailedError';
  }
}

export class UpstreamResetError extends RingsideError {
  constructor(upstream: string, endpoint: string, cause?: unknown) {
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    super(ErrorCodes.UPSTREAM_RESET, `upstream ${endpoint} of "${upstream}" reset the request${why}`, { cause, upstream, endpoint });
    this.name = 'UpstreamResetError';
  }
}

export class TimeoutError extends RingsideError {
  constructor(upstream: string, endpoint: string | undefined, what: string, cause?: unknown) {
    super(ErrorCodes.TIMEOUT, `${what} timed out${endpoint ? ` waiting for ${endpoint}` : ''} of upstream "${upstream}"`, { cause, upstream, endpoint });
    this.name = 'TimeoutError';
  }
}

export class ClientCancelledError extends RingsideError {
  constructor(upstream?: string, endpoint?: string) {
    super(ErrorCodes.CLIENT_CANCELLED, 'client cancelled the request', { upstream, endpoint });
    this.name = 'ClientCancelledError';
  }
}

export class HeadersTooLargeError extends RingsideError {
  constructor(upstream: string, endpoint: string, cause?: unknown) {
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    super(ErrorCodes.HEADERS_TOO_LARGE, `request head too large for upstream ${endpoint} of "${upstream}"${why}`, { cause, upstream, endpoint });
    this.name = 'HeadersTooLargeError';
  }
}

/**
 * The endpoint speaks only another protocol than the request needs: a gRPC
 * call (HTTP/2 end to end) to a replica that answered our HTTP/2 connection
 * preface with an HTTP/1.x status line. The replica is healthy; it is simply
 * the wrong kind of server for this call, and its peers almost certainly too.
 */
export class UpstreamProtocolError extends RingsideError {
  constructor(upstream: string, endpoint: string, message: string, cause?: unknown) {
    super(ErrorCodes.UPSTREAM_PROTOCOL, `upstream ${endpoint} of "${upstream}" ${message}`, { cause, upstream, endpoint });
    this.name = 'UpstreamProtocolError';
  }
}

/**
 * The response was cut short after its head: the upstream's stream or
 * connection closed before the end of the body (fewer bytes than its
 * content-length, or no END_STREAM). Never passed on as a complete response:
 * the client's stream is reset, or a gRPC call ends with INTERNAL.
 */
export class UpstreamTruncatedError extends RingsideError {
  constructor(upstream: string, endpoint: string, cause?: unknown) {
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    super(ErrorCodes.UPSTREAM_TRUNCATED, `response from upstream ${endpoint} of "${upstream}" ended before its body was complete${why}`, { cause, upstream, endpoint });
    this.name = 'UpstreamTruncatedError';
  }
}

/**
 * Whether a failed request counts against its endpoint (outlier detection):
 * the endpoint's own failures do; the client's cancellation, a request the
 * client made too large for it and a call in a protocol it does not speak do not.
 */
export function blamesEndpoint(err: RingsideError): boolean {
  return err.code !== ErrorCodes.CLIENT_CANCELLED && err.code !== ErrorCodes.HEADERS_TOO_LARGE && err.code !== ErrorCodes.UPSTREAM_PROTOCOL && err.code !== ErrorCodes.RATE_LIMITED && err.code !== ErrorCodes.TUNNEL_LIMIT;
}

/**
 * The request is over its upstream's rate limit (lib/rate-limit/) and was
 * never sent. `retryAfterSeconds` (whole seconds, at least 1) is when a token
 * is expected back: the Retry-After the client gets (RFC 9110 section 10.2.3,
 * RFC 6585 section 4). It counts against no endpoint.
 */
export class RateLimitedError extends RingsideError {
  readonly retryAfterSeconds: number;

  constructor(upstream: string, retryAfterMs: number) {
    super(ErrorCodes.RATE_LIMITED, `rate limit of upstream "${upstream}" exceeded`, { upstream });
    this.name = 'RateLimitedError';
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  }
}

/** Retry-After seconds when `err` carries one (a rate-limited request), else 0. */
export function retryAfterOf(err: RingsideError): number {
  return err.code === ErrorCodes.RATE_LIMITED ? (err as RateLimitedError).retryAfterSeconds : 0;
}

/** The process already holds --max-tunnels open tunnels (or handshakes on their way): this handshake is not sent. */
export class TunnelLimitError extends RingsideError {
  constructor(upstream: string, max: number) {
    super(ErrorCodes.TUNNEL_LIMIT, `${max} tunnels are open (--max-tunnels): upstream "${upstream}" gets no more until one closes`, { upstream });
    this.name = 'TunnelLimitError';
  }
}

export class BadRequestError extends RingsideError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCodes.BAD_REQUEST, message, { cause });
    this.name = 'BadRequestError';
  }
}

export class DnsError extends RingsideError {
  constructor(message: string, cause?: unknown, upstream?: string) {
    super(ErrorCodes.DNS, message, { cause, upstream });
    this.name = 'DnsError';
  }
}

/** The stable code of any error, ours or Node's/undici's (`ECONNREFUSED`, `UND_ERR_SOCKET`, ...). */
export function errorCode(err: unknown): string | undefined {
  if (err !== null && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return undefined;
}
