// Every tunnel of the process (./tunnel.ts): the --max-tunnels cap and the
// --tunnel-idle-timeout. Idleness is checked by one coarse sweep for all
// tunnels, not a timer per tunnel: a tunnel only sets a flag when bytes
// pass, and the sweep closes one that stayed quiet for the whole timeout
// (closed between the timeout and 1.25 x it).

export interface TunnelSettings {
  /** Open tunnels and handshakes on their way, at most; the next handshake gets 503. */
  readonly maxTunnels: number;
  /** A tunnel with no byte either way for this long is closed; 0 = never. */
  readonly idleTimeoutMs: number;
}

/** What the sweep needs of a tunnel. */
export interface IdleTracked {
  /** Set on every chunk either way; cleared by each sweep. */
  active: boolean;
  /** Sweeps in a row that found it quiet. */
  quietSweeps: number;
  /** Close it: idle for the whole timeout. */
  idleTimeout(): void;
}

/** Sweeps per idle timeout: a tunnel is closed after this many quiet sweeps in a row. */
const SWEEPS_PER_TIMEOUT = 4;

export class TunnelRegistry {
  readonly maxTunnels: number;
  readonly idleTimeoutMs: number;
  /** Open tunnels and handshakes on their way (what --max-tunnels caps). */
  count = 0;
  /** Open tunnels (after their 101). */
  readonly open = new Set<IdleTracked>();
  readonly #sweepMs: number;
  #timer: NodeJS.Timeout | null = null;

  constructor(settings: TunnelSettings) {
    this.maxTunnels = settings.maxTunnels;
    this.idleTimeoutMs = settings.idleTimeoutMs;
    this.#sweepMs = Math.max(10, Math.min(1000, Math.floor(settings.idleTimeoutMs / SWEEPS_PER_TIMEOUT)));
  }

  /** Take a slot for a handshake; false when --max-tunnels are taken. */
  reserve(): boolean {
    if (this.count >= this.maxTunnels) return false;
    this.count++;
    return true;
  }

  /** A handshake ended without a tunnel, or a tunnel closed. */
  release(): void {
    this.count--;
  }

  opened(tunnel: IdleTracked): void {
    this.open.add(tunnel);
    if (this.idleTimeoutMs > 0 && this.#timer === null) {
      this.#timer = setInterval(sweep, this.#sweepMs, this);
      this.#timer.unref();
    }
  }

  closed(tunnel: IdleTracked): void {
    this.open.delete(tunnel);
    if (this.open.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  /** Quiet sweeps after which a tunnel is idle: the timeout, rounded up to whole sweeps. */
  get sweepsPerTimeout(): number {
    return Math.max(1, Math.ceil(this.idleTimeoutMs / this.#sweepMs));
  }
}

function sweep(registry: TunnelRegistry): void {
  const limit = registry.sweepsPerTimeout;
  let idle: IdleTracked[] | null = null;
  for (const t of registry.open) {
    if (t.active) {
      t.active = false;
      t.quietSweeps = 0;
    } else if (++t.quietSweeps >= limit) (idle ??= []).push(t);
  }
  if (idle !== null) for (const t of idle) t.idleTimeout();
}
