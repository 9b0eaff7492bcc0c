/**
 * Runs sqllogictest files against a {@link SltTarget} (CascaDB in process, or any SQL database
 * behind an adapter) and reports passed, failed, skipped and unsupported records per file.
 * A statement refused with SQLSTATE 0A000 (feature_not_supported) counts as skipped-unsupported;
 * an error without a SQLSTATE, or an internal one (class XX), counts as a crash.
 */
import { readFile } from 'node:fs/promises';
import { compareResult, expectedHash, hashValues, renderResult } from './slt-compare.ts';
import {
  isRecordEnabled,
  layoutOf,
  parseSlt,
  type SltLayout,
  type SltQuery,
  type SltRecord,
  type SltStatement,
} from './slt-parser.ts';

/** What a statement returns to the runner. */
export interface SltResult {
  /** Number of result columns (0 for a statement without results). */
  readonly columns: number;
  readonly rows: readonly (readonly unknown[])[];
}

/** A database the runner talks to: one connection on a fresh, empty database per file. */
export interface SltTarget {
  /** Runs one statement; rejects with an error carrying `sqlstate` (or `code` = SQLSTATE, as `pg` does). */
  execute(sql: string, options: { signal?: AbortSignal }): Promise<SltResult>;
  close(): Promise<void>;
}

/** Options of {@link runSlt} and {@link runSltFile}. */
export interface SltRunOptions {
  /** Engine names that `skipif`/`onlyif` match (lower case). Default `cascadb`, `postgresql`. */
  readonly engines?: ReadonlySet<string>;
  /** Layout of the expected results; default from the path (`/sqlite/` → value per line). */
  readonly layout?: SltLayout;
  /** How many failures to keep per file (all are counted). Default 20. */
  readonly maxFailures?: number;
  /** Abort a statement after this long (counted as failed, SQLSTATE 57014). Default 60 000 ms. */
  readonly statementTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** One failed or crashed record. */
export interface SltFailure {
  readonly line: number;
  readonly sql: string;
  readonly message: string;
  readonly crash: boolean;
}

/** What happened in one file. */
export interface SltFileReport {
  readonly file: string;
  passed: number;
  failed: number;
  /** Not run for this engine (`skipif`/`onlyif`). */
  skipped: number;
  /** Refused with 0A000 (feature_not_supported). */
  unsupported: number;
  /** Failures that were not SQL errors (an exception without SQLSTATE, or class XX). Included in `failed`. */
  crashed: number;
  /** Records of a type the runner does not know (reported, counted as failed). */
  unknown: number;
  /** The file ran into a `halt`. */
  halted: boolean;
  readonly failures: SltFailure[];
}

/** The default engine names (FORMAT.md §2: CascaDB accepts what PostgreSQL accepts). */
export const DEFAULT_SLT_ENGINES: ReadonlySet<string> = new Set(['cascadb', 'postgresql']);

type Outcome = 'pass' | 'fail' | 'unsupported' | 'crash';

interface FileState {
  readonly report: SltFileReport;
  readonly labels: Map<string, string>;
  readonly layout: SltLayout;
  readonly options: SltRunOptions;
  readonly target: SltTarget;
}

/** Reads and runs one file on a fresh target from `open`. */
export async function runSltFile(
  path: string,
  open: () => Promise<SltTarget>,
  options: SltRunOptions = {},
): Promise<SltFileReport> {
  const text = await readFile(path, 'utf8');
  const target = await open();
  try {
    return await runSlt(text, target, { layout: layoutOf(path), ...options }, path);
  } finally {
    await target.close();
  }
}

/** Runs the records of `text` on `target`, in order. */
export async function runSlt(
  text: string,
  target: SltTarget,
  options: SltRunOptions = {},
  file = '(text)',
): Promise<SltFileReport> {
  const report: SltFileReport = {
    file,
    passed: 0,
    failed: 0,
    skipped: 0,
    unsupported: 0,
    crashed: 0,
    unknown: 0,
    halted: false,
    failures: [],
  };
  const state: FileState = {
    report,
    labels: new Map(),
    layout: options.layout ?? 'row-per-line',
    options,
    target,
  };
  const engines = options.engines ?? DEFAULT_SLT_ENGINES;
  for (const record of parseSlt(text)) {
    options.signal?.throwIfAborted();
    const enabled = isRecordEnabled(record.conditions, engines);
    if (record.kind === 'halt') {
      if (!enabled) continue;
      report.halted = true;
      break;
    }
    if (record.kind === 'hash-threshold') continue;
    if (!enabled) {
      report.skipped++;
      if (record.kind === 'query' && record.label !== undefined && !state.labels.has(record.label)) {
        state.labels.set(record.label, expectedHash(record.expected));
      }
      continue;
    }
    count(state, record, await runRecord(state, record));
  }
  return report;
}

function count(state: FileState, record: SltRecord, o: { outcome: Outcome; message?: string }): void {
  const r = state.report;
  if (o.outcome === 'pass') r.passed++;
  else if (o.outcome === 'unsupported') r.unsupported++;
  else {
    r.failed++;
    if (o.outcome === 'crash') r.crashed++;
    if (r.failures.length < (state.options.maxFailures ?? 20)) {
      const sql = record.kind === 'statement' || record.kind === 'query' ? record.sql : record.text;
      r.failures.push({ line: record.line, sql, message: o.message ?? '', crash: o.outcome === 'crash' });
    }
  }
}

async function runRecord(
  state: FileState,
  record: SltRecord,
): Promise<{ outcome: Outcome; message?: string }> {
  if (record.kind === 'statement') return runStatement(state, record);
  if (record.kind === 'query') return runQuery(state, record);
  state.report.unknown++;
  return { outcome: 'fail', message: `unknown record type: ${record.text}` };
}

async function execute(state: FileState, sql: string): Promise<SltResult> {
  const timeout = AbortSignal.timeout(state.options.statementTimeoutMs ?? 60_000);
  const signal = state.options.signal ? AbortSignal.any([state.options.signal, timeout]) : timeout;
  return state.target.execute(sql, { signal });
}

async function runStatement(
  state: FileState,
  record: SltStatement,
): Promise<{ outcome: Outcome; message?: string }> {
  try {
    await execute(state, record.sql);
  } catch (err) {
    const c = classify(err);
    if (record.expect !== 'ok' && c.outcome !== 'crash') return { outcome: 'pass' };
    return c;
  }
  if (record.expect === 'error')
    return { outcome: 'fail', message: 'the statement succeeded; an error was expected' };
  return { outcome: 'pass' };
}

async function runQuery(state: FileState, record: SltQuery): Promise<{ outcome: Outcome; message?: string }> {
  let result: SltResult;
  try {
    result = await execute(state, record.sql);
  } catch (err) {
    const c = classify(err);
    if (record.expectError && c.outcome !== 'crash') return { outcome: 'pass' };
    return c;
  }
  if (record.expectError) return { outcome: 'fail', message: 'the query succeeded; an error was expected' };
  if (result.columns !== record.types.length && state.layout === 'value-per-line') {
    return { outcome: 'fail', message: `expected ${record.types.length} columns, got ${result.columns}` };
  }
  const rendered = renderResult(result.rows, record.types, state.layout, record.sort);
  const difference = compareResult(rendered, record.expected, state.layout);
  if (difference !== undefined) return { outcome: 'fail', message: difference };
  if (record.label === undefined) return { outcome: 'pass' };
  const hash = hashValues(rendered.values);
  const known = state.labels.get(record.label);
  if (known === undefined) state.labels.set(record.label, hash);
  else if (known !== hash) {
    return { outcome: 'fail', message: `result differs from earlier queries labelled ${record.label}` };
  }
  return { outcome: 'pass' };
}

/** The SQLSTATE an error carries: `sqlstate` (CascaDB) or a five-character `code` (node-postgres). */
export function sqlstateOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { sqlstate?: unknown; code?: unknown };
  if (typeof e.sqlstate === 'string') return e.sqlstate;
  if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  return undefined;
}

function classify(err: unknown): { outcome: Outcome; message: string } {
  const state = sqlstateOf(err);
  const message = `${state ?? 'no SQLSTATE'}: ${err instanceof Error ? err.message : String(err)}`;
  if (state === '0A000') return { outcome: 'unsupported', message };
  if (state === undefined || state.startsWith('XX')) return { outcome: 'crash', message };
  return { outcome: 'fail', message };
}
