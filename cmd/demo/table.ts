// Plain-text tables for the demo's results: a header, aligned columns
// (numbers to the right), an optional total row under a rule.

export interface TableOptions {
  readonly headers: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
  /** Printed under a rule after the rows. */
  readonly footer?: readonly (string | number)[];
  /** Left margin. */
  readonly indent?: string;
}

export function formatTable(options: TableOptions): string {
  const all = [options.headers, ...options.rows, ...(options.footer ? [options.footer] : [])];
  const columns = options.headers.length;
  const widths = Array.from({ length: columns }, (_, c) => Math.max(...all.map((row) => String(row[c] ?? '').length)));
  // A column is numeric when every body cell in it is a number: those align right.
  const numeric = Array.from({ length: columns }, (_, c) => options.rows.length > 0 && options.rows.every((row) => typeof row[c] === 'number'));
  const indent = options.indent ?? '  ';
  const line = (row: readonly (string | number)[]): string =>
    indent +
    row
      .map((cell, c) => (numeric[c] ? String(cell).padStart(widths[c]) : String(cell).padEnd(widths[c])))
      .join('   ')
      .trimEnd();
  const rule = indent + widths.map((w) => '-'.repeat(w)).join('   ');
  const out = [line(options.headers), rule, ...options.rows.map(line)];
  if (options.footer) out.push(rule, line(options.footer));
  return out.join('\n');
}
