import type { AuditReport } from './audit.ts';

/** Options of {@link formatAuditReport}. */
export interface FormatAuditOptions {
  /** How many missing ranges, duplicates and altered readings to list before "… N more" (default 10). */
  readonly maxItems?: number;
}

/**
 * A short text for humans: the verdict, the counts, then missing ranges (consecutive intervals
 * collapsed: `2024-03-01T00:15Z…2024-03-01T02:00Z (8)`), duplicates and altered readings with their
 * reason code and detail.
 */
export function formatAuditReport(report: AuditReport, options: FormatAuditOptions = {}): string {
  const max = options.maxItems ?? 10;
  const r = report;
  const lines = [
    `INMETRO audit of meter ${r.meterId}, ${time(r.from)} … ${time(r.to)} (intervals ending in (from, to])`,
  ];
  if (r.ok) lines.push(`OK: ${r.verified} of ${r.expected} readings verified`);
  else {
    const problems = [
      `${r.missing.length} missing`,
      `${r.duplicated.length} duplicated`,
      `${r.altered.length} altered`,
    ];
    lines.push(`NOT OK: ${problems.join(', ')}`);
  }
  lines.push(`expected ${r.expected}, stored ${r.stored}, verified ${r.verified}, ignored ${r.ignored}`);
  if (r.missing.length > 0) {
    const ranges = collapse(r.missing, r.intervalMs).map(([a, b, n]) =>
      n === 1 ? time(a) : `${time(a)}…${time(b)} (${n})`,
    );
    lines.push(`missing: ${limited(ranges, max, 'ranges').join(', ')}`);
  }
  if (r.duplicated.length > 0)
    lines.push(`duplicated: ${limited(r.duplicated.map(time), max, 'timestamps').join(', ')}`);
  if (r.altered.length > 0) {
    lines.push('altered:');
    const items = r.altered.map((f) => `  ${time(f.ts)} ${f.reason}: ${f.detail}`);
    lines.push(...limited(items, max, 'altered readings', '  '));
  }
  return lines.join('\n');
}

/** Sorted grid times → [first, last, count] runs of consecutive intervals. */
function collapse(times: readonly number[], step: number): [number, number, number][] {
  const runs: [number, number, number][] = [];
  for (const t of times) {
    const last = runs.at(-1);
    if (last !== undefined && t === last[1] + step) {
      last[1] = t;
      last[2]++;
    } else runs.push([t, t, 1]);
  }
  return runs;
}

function limited(items: string[], max: number, noun: string, indent = ''): string[] {
  if (items.length <= max) return items;
  return [...items.slice(0, max), `${indent}… ${items.length - max} more ${noun}`];
}

/** ISO 8601 UTC, minutes precision when seconds are zero: 2024-03-01T00:15Z. */
function time(t: number): string {
  if (!Number.isFinite(t) || Math.abs(t) > 8.64e15) return String(t);
  const s = new Date(t).toISOString();
  return s.endsWith(':00.000Z') ? `${s.slice(0, 16)}Z` : s.endsWith('.000Z') ? `${s.slice(0, 19)}Z` : s;
}
