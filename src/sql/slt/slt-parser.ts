/**
 * Parses sqllogictest files (`/work/shared/slt/FORMAT.md`): records separated by blank lines,
 * `#` comment lines dropped, `skipif`/`onlyif` guards, `statement`, `query`, `halt` and
 * `hash-threshold` records. Parsing never throws on odd input: an unknown record is returned as
 * `kind: 'unknown'` so the runner can report it.
 */

/** How expected rows are laid out: SQLite files one value per line, RisingLight/DuckDB one row per line. */
export type SltLayout = 'value-per-line' | 'row-per-line';

/** Sort modes of a query record. */
export type SltSortMode = 'nosort' | 'rowsort' | 'valuesort';

/** A `skipif ENGINE` or `onlyif ENGINE` guard. */
export interface SltCondition {
  readonly kind: 'skipif' | 'onlyif';
  readonly engine: string;
}

interface RecordBase {
  /** 1-based line of the record's first line (after its guards). */
  readonly line: number;
  readonly conditions: readonly SltCondition[];
}

/** `statement ok|error|count N|maybe` + SQL. */
export interface SltStatement extends RecordBase {
  readonly kind: 'statement';
  readonly expect: 'ok' | 'error' | 'maybe';
  /** Rows affected, for `statement count N` (not checked: CascaDB returns it, SQLite files never use it). */
  readonly count?: number;
  readonly sql: string;
}

/** `query TYPES [SORT] [LABEL]` + SQL + `----` + expected lines. */
export interface SltQuery extends RecordBase {
  readonly kind: 'query';
  readonly types: string;
  readonly sort: SltSortMode;
  readonly label?: string;
  /** `query error`: the query must fail. */
  readonly expectError: boolean;
  readonly sql: string;
  readonly expected: readonly string[];
}

/** `halt`, `hash-threshold K`, or any other record type (reported, not executed). */
export interface SltControl extends RecordBase {
  readonly kind: 'halt' | 'hash-threshold' | 'unknown';
  readonly text: string;
}

/** One record of a file. */
export type SltRecord = SltStatement | SltQuery | SltControl;

const SORT_MODES: ReadonlySet<string> = new Set(['nosort', 'rowsort', 'valuesort']);

/** Splits `text` into records (FORMAT.md §1–4, §9). */
export function parseSlt(text: string): SltRecord[] {
  const records: SltRecord[] = [];
  let lines: string[] = [];
  let start = 0;
  const flush = (): void => {
    if (lines.length > 0) records.push(parseRecord(lines, start));
    lines = [];
  };
  const all = text.split('\n');
  for (let i = 0; i < all.length; i++) {
    const line = all[i]!.endsWith('\r') ? all[i]!.slice(0, -1) : all[i]!;
    if (line.startsWith('#')) continue;
    if (line.trim() === '') {
      flush();
      continue;
    }
    if (lines.length === 0) start = i + 1;
    lines.push(line);
  }
  flush();
  return records;
}

function parseRecord(lines: readonly string[], firstLine: number): SltRecord {
  const conditions: SltCondition[] = [];
  let i = 0;
  for (; i < lines.length; i++) {
    const [kind, engine] = lines[i]!.trim().split(/\s+/);
    if ((kind !== 'skipif' && kind !== 'onlyif') || engine === undefined) break;
    conditions.push({ kind, engine: engine.toLowerCase() });
  }
  const line = firstLine + i;
  const head = (lines[i] ?? '').trim().split(/\s+/);
  const body = lines.slice(i + 1);
  const base = { line, conditions };
  switch (head[0]) {
    case 'statement':
      return parseStatementRecord(head, body, base);
    case 'query':
      return parseQueryRecord(head, body, base);
    case 'halt':
    case 'hash-threshold':
      return { ...base, kind: head[0], text: head.join(' ') };
    default:
      return { ...base, kind: 'unknown', text: lines[i] ?? '' };
  }
}

function parseStatementRecord(head: readonly string[], body: readonly string[], base: RecordBase): SltRecord {
  // DuckDB may put the expected error text after `----`: informational only.
  const end = body.indexOf('----');
  const sql = stripTerminator((end < 0 ? body : body.slice(0, end)).join('\n'));
  const mode = head[1] ?? 'ok';
  if (mode === 'ok' || mode === 'error' || mode === 'maybe')
    return { ...base, kind: 'statement', expect: mode, sql };
  if (mode === 'count') return { ...base, kind: 'statement', expect: 'ok', count: Number(head[2]), sql };
  return { ...base, kind: 'unknown', text: head.join(' ') };
}

function parseQueryRecord(head: readonly string[], body: readonly string[], base: RecordBase): SltRecord {
  const end = body.indexOf('----');
  const sql = stripTerminator((end < 0 ? body : body.slice(0, end)).join('\n'));
  const expected = end < 0 ? [] : body.slice(end + 1);
  if (head[1] === 'error') {
    return { ...base, kind: 'query', types: '', sort: 'nosort', expectError: true, sql, expected: [] };
  }
  const sort = SORT_MODES.has(head[2] ?? '') ? (head[2] as SltSortMode) : 'nosort';
  const labelToken = SORT_MODES.has(head[2] ?? '') ? head[3] : head[2];
  return {
    ...base,
    kind: 'query',
    types: head[1] ?? '',
    sort,
    ...(labelToken !== undefined ? { label: labelToken } : {}),
    expectError: false,
    sql,
    expected,
  };
}

/** Removes one trailing `;` (RisingLight and DuckDB statements often have one). */
function stripTerminator(sql: string): string {
  return sql.replace(/;\s*$/, '');
}

/** True when the guards let `engines` run the record (FORMAT.md §2). */
export function isRecordEnabled(conditions: readonly SltCondition[], engines: ReadonlySet<string>): boolean {
  for (const c of conditions) {
    if (c.kind === 'skipif' && engines.has(c.engine)) return false;
    if (c.kind === 'onlyif' && !engines.has(c.engine)) return false;
  }
  return true;
}

/** The layout of a file, from its path (`/sqlite/` → value per line), as `manifest.tsv` records it. */
export function layoutOf(path: string): SltLayout {
  return /[/\\]sqlite[/\\]/.test(path) ? 'value-per-line' : 'row-per-line';
}
