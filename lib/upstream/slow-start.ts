// Slow start: an endpoint that joins an upstream's set after the first answer
// (a new pod), or comes back from ejection, is cold (JIT, caches, lazy pools).
// It starts at a fraction of its weight and ramps up over a window, the way
// Envoy's slow_start_config does it:
//   effective = weight x max(minWeightPercent / 100, (elapsed / window)^(1 / aggression))
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/slow_start
//
// Example, window 10 s, minimum 10%, aggression 1: 0.1 until 1 s, 0.5 at 5 s,
// 1 (full weight, slow start over) at 10 s. Aggression 2: 0.32 at 1 s, 0.71 at 5 s.
//
// Weights move in steps, off the request path: a timer runs only while some
// endpoint is ramping, every window / 20 (at least 100 ms, at most 1 s), sets
// the endpoints' effectiveWeight and asks the balancer to reweight (it never
// rebuilds a ring: rings keep full weights, see ../balancer/balancer.ts).

import type { SlowStartConfig } from '../config/config.ts';
import type { Endpoint } from './endpoint.ts';

const MIN_STEP_MS = 100;
const MAX_STEP_MS = 1000;
const STEPS_PER_WINDOW = 20;

/** The share of its weight an endpoint gets `elapsedMs` into its ramp (1 once the window is over). */
export function slowStartFactor(elapsedMs: number, config: SlowStartConfig): number {
  if (elapsedMs >= config.windowMs) return 1;
  const time = Math.max(elapsedMs, 1) / config.windowMs;
  const ramp = config.aggression === 1 ? time : Math.pow(time, 1 / config.aggression);
  return Math.max(config.minWeightPercent / 100, ramp);
}

/** How often weights step for a window. */
export function slowStartStepMs(windowMs: number): number {
  return Math.min(MAX_STEP_MS, Math.max(MIN_STEP_MS, Math.round(windowMs / STEPS_PER_WINDOW)));
}

export class SlowStart {
  readonly config: SlowStartConfig;
  /** Ramping endpoints and when their ramp began (performance.now()). */
  readonly #ramping = new Map<Endpoint, number>();
  readonly #onStep: () => void;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;

  /** `onStep` is called after effective weights changed (the upstream reweights its balancer). */
  constructor(config: SlowStartConfig, onStep: () => void, now: () => number = performance.now.bind(performance)) {
    this.config = config;
    this.#onStep = onStep;
    this.#now = now;
  }

  get enabled(): boolean {
    return this.config.windowMs > 0;
  }

  /** Endpoints ramping now. */
  get size(): number {
    return this.#ramping.size;
  }

  /** When `endpoint`'s ramp began (performance.now()), or -1 when it is at full weight. */
  startedAt(endpoint: Endpoint): number {
    return this.#ramping.get(endpoint) ?? -1;
  }

  /** Start (or restart) `endpoint`'s ramp at the minimum weight. The caller reweights or rebuilds its balancer. */
  begin(endpoint: Endpoint): void {
    if (!this.enabled) return;
    this.#ramping.set(endpoint, this.#now());
    endpoint.effectiveWeight = endpoint.weight * slowStartFactor(0, this.config);
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.step(), slowStartStepMs(this.config.windowMs));
      this.#timer.unref();
    }
  }

  /** `endpoint` left the set (or its weight changed): its effective weight follows its weight again where it is. */
  weightChanged(endpoint: Endpoint): void {
    const since = this.#ramping.get(endpoint);
    endpoint.effectiveWeight = since === undefined ? endpoint.weight : endpoint.weight * slowStartFactor(this.#now() - since, this.config);
  }

  /** Forget `endpoint` (removed from the set). */
  end(endpoint: Endpoint): void {
    if (!this.#ramping.delete(endpoint)) return;
    endpoint.effectiveWeight = endpoint.weight;
    if (this.#ramping.size === 0) this.stop();
  }

  /** One step: every ramping endpoint's weight for now; endpoints past the window are done. */
  step(): void {
    const now = this.#now();
    for (const [endpoint, since] of this.#ramping) {
      const factor = slowStartFactor(now - since, this.config);
      endpoint.effectiveWeight = endpoint.weight * factor;
      if (factor >= 1) this.#ramping.delete(endpoint);
    }
    if (this.#ramping.size === 0) this.stop();
    this.#onStep();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
