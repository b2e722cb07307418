// "Did you mean" for unknown flags, environment variables and file keys.

/** The candidate closest to `input` by edit distance, when it is close enough to be a likely typo. */
export function suggestClosest(input: string, candidates: readonly string[]): string | undefined {
  const lowered = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(lowered, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best === undefined) return undefined;
  // Allow about one edit per three characters, at least one, at most three.
  const allowed = Math.min(3, Math.max(1, Math.floor(Math.max(lowered.length, best.length) / 3)));
  if (bestDistance <= allowed) return best;
  // `protocol` for `upstreamProtocol`, `refresh` for `dnsRefresh`: a word of the real key.
  if (lowered.length >= 4) {
    const containing = candidates.filter((c) => c.toLowerCase().endsWith(lowered) || c.toLowerCase().startsWith(lowered));
    if (containing.length === 1) return containing[0];
  }
  return undefined;
}

/** Levenshtein distance with adjacent transpositions counted as one edit (`lbb`, `rign`). */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
