// ringside_http2_defences_total: the GOAWAY and RST_STREAM frames our HTTP/2
// server (--engine lean) sent in its own defence, by listener, frame and
// reason (rapid_reset, control_frame_flood, malformed_request, ...), so
// operators see floods and broken clients. The frame and reason names come
// from the codec (lib/http2/defences.ts, handed in by app.ts); the request
// path only increments a typed array.

import { registerCollectedMetric } from './collected-metric.ts';
import type { Registry } from './registry.ts';

/** One listener's counts: `defended(frame, reason)` with the indexes of the names given at registration. */
export interface H2DefenceCounts {
  defended(frame: number, reason: number): void;
}

export interface H2DefenceMetrics {
  /** The counts of one listener (created once per listener). */
  listener(name: string): H2DefenceCounts;
}

class ListenerCounts implements H2DefenceCounts {
  readonly name: string;
  readonly counts: Float64Array;
  readonly #reasons: number;

  constructor(name: string, frames: number, reasons: number) {
    this.name = name;
    this.#reasons = reasons;
    this.counts = new Float64Array(frames * reasons);
  }

  defended(frame: number, reason: number): void {
    this.counts[frame * this.#reasons + reason]++;
  }
}

export function registerH2DefenceMetrics(registry: Registry, frameNames: readonly string[], reasonNames: readonly string[]): H2DefenceMetrics {
  const listeners: ListenerCounts[] = [];
  const labels: Record<string, string>[][] = [];
  registerCollectedMetric(registry, {
    name: 'ringside_http2_defences_total',
    help: 'GOAWAY and RST_STREAM frames the HTTP/2 server (--engine lean) sent in its own defence, by frame and reason (floods, rapid reset, malformed requests, protocol errors).',
    type: 'counter',
    collect(out) {
      for (let l = 0; l < listeners.length; l++) {
        const counts = listeners[l].counts;
        for (let i = 0; i < counts.length; i++) if (counts[i] > 0) out.push({ labels: labels[l][i], value: counts[i] });
      }
    },
  });
  return {
    listener(name) {
      const counts = new ListenerCounts(name, frameNames.length, reasonNames.length);
      const set: Record<string, string>[] = [];
      for (const frame of frameNames) for (const reason of reasonNames) set.push({ listener: name, frame, reason });
      listeners.push(counts);
      labels.push(set);
      return counts;
    },
  };
}
