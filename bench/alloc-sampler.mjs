// Preloaded into ringside by bench/allocations.ts (node --import): samples
// what the process allocates, objects the young generation collects
// included, and counts garbage collections, between two SIGUSR2 signals.
// The first signal starts; the second writes { profile, gc } as JSON to
// $ALLOC_SAMPLER_OUT. Not part of ringside: a measuring tool only.

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { PerformanceObserver, constants } from 'node:perf_hooks';

const out = process.env.ALLOC_SAMPLER_OUT;
if (!out) throw new Error('alloc-sampler: set ALLOC_SAMPLER_OUT');

const session = new Session();
session.connect();
session.post('HeapProfiler.enable');

const gc = { minor: 0, minorMs: 0, major: 0, majorMs: 0, maxPauseMs: 0 };
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = e.detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
      gc.minor++;
      gc.minorMs += e.duration;
    } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      gc.major++;
      gc.majorMs += e.duration;
    }
    if (e.duration > gc.maxPauseMs) gc.maxPauseMs = e.duration;
  }
});

let sampling = false;
process.on('SIGUSR2', () => {
  if (!sampling) {
    sampling = true;
    observer.observe({ entryTypes: ['gc'] });
    // 256-byte mean interval: a few thousand samples a second under load.
    // ALLOC_SURVIVORS=1 keeps only what survived the young generation (promoted, then
    // collected by a mark-compact or still alive): the bytes that fill the old generation.
    const survivors = process.env.ALLOC_SURVIVORS === '1';
    session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMinorGC: !survivors, includeObjectsCollectedByMajorGC: true });
    return;
  }
  observer.disconnect();
  session.post('HeapProfiler.stopSampling', (err, result) => {
    writeFileSync(out, JSON.stringify(err ? { error: String(err) } : { profile: result.profile, gc }));
  });
});
