import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SqlError } from '../../src/sql/index.ts';
import {
  hashValues,
  openCascadbSltTarget,
  parseSlt,
  runSlt,
  runSltFile,
  type SltFileReport,
  type SltTarget,
} from '../../src/sql/slt/index.ts';

const CORPUS = fileURLToPath(new URL('../../../shared/slt/', import.meta.url));

/**
 * A representative selection that runs in a few seconds: every public file (SQLite select1 and
 * update, RisingLight, DuckDB) and small extended files (IN semantics, DROP TABLE, joins,
 * subqueries, transactions). The whole corpus: `npm run slt -- ../shared/slt`.
 */
const SELECTION: ReadonlyArray<readonly [string, number]> = [
  ['public/sqlite/select1.test', 1],
  ['public/sqlite/evidence/slt_lang_update.test', 0.85],
  ['public/risinglight', 1],
  ['public/duckdb', 1],
  ['extended/sqlite/evidence/in1.test', 0.95],
  ['extended/sqlite/evidence/in2.test', 0.8],
  ['extended/sqlite/evidence/slt_lang_droptable.test', 1],
  ['extended/duckdb/join/inner/test_eq_ineq_join.test', 1],
  ['extended/duckdb/subquery/scalar/test_uncorrelated_scalar_subquery.test', 0.85],
  ['extended/duckdb/transactions/test_stacked_schema_change.test', 1],
  ['extended/risinglight/bigint.slt', 1],
];

function corpusOrSkip(t: { skip(reason: string): void }): boolean {
  if (existsSync(CORPUS)) return true;
  if (process.env.CI === 'true') assert.fail(`sqllogictest corpus missing at ${CORPUS}`);
  t.skip(`sqllogictest corpus not found at ${CORPUS}`);
  return false;
}

/** A target that answers from a table of canned results and errors. */
function fakeTarget(answers: Record<string, unknown[][] | Error>): SltTarget {
  return {
    execute: async (sql) => {
      const a = answers[sql];
      if (a === undefined) return { columns: 0, rows: [] };
      if (a instanceof Error) throw a;
      return { columns: a[0]?.length ?? 1, rows: a };
    },
    close: async () => {},
  };
}

describe('unit: sqllogictest parser and comparison', () => {
  it('splits records on blank lines, drops comments and reads guards, sort modes and labels', () => {
    const records = parseSlt(
      'hash-threshold 8\n\n# c\nskipif mysql # why\nquery IT rowsort label-1\nSELECT 1\r\n----\n1\na\n\nstatement ok\nCREATE TABLE t(a int);\n',
    );
    assert.equal(records.length, 3);
    const q = records[1]!;
    assert.equal(q.kind, 'query');
    if (q.kind !== 'query') return;
    assert.deepEqual(q.conditions, [{ kind: 'skipif', engine: 'mysql' }]);
    assert.equal(q.sort, 'rowsort');
    assert.equal(q.label, 'label-1');
    assert.deepEqual(q.expected, ['1', 'a']);
    assert.equal(records[2]!.kind === 'statement' && records[2]!.sql, 'CREATE TABLE t(a int)');
  });

  it('compares hashed results by the MD5 of the sorted rendered values', async () => {
    const hash = hashValues(['1', '2', '3', '4']);
    const text = `query II rowsort\nSELECT x\n----\n4 values hashing to ${hash}\n`;
    const r = await runSlt(
      text,
      fakeTarget({
        'SELECT x': [
          [3, 4],
          [1, 2],
        ],
      }),
      { layout: 'value-per-line' },
    );
    assert.equal(r.passed, 1, JSON.stringify(r.failures));
  });

  it('renders I, R and T columns as SQLite does and sorts values with valuesort', async () => {
    const text = 'query IRT valuesort\nSELECT x\n----\n-2\n0.500\nNULL\n';
    const r = await runSlt(text, fakeTarget({ 'SELECT x': [[-2.7, 0.5, null]] }), {
      layout: 'value-per-line',
    });
    assert.equal(r.passed, 1, JSON.stringify(r.failures));
  });

  it('compares row-per-line results with numeric and boolean tolerance', async () => {
    const text = 'query TIR\nSELECT x\n----\ntrue 1 36.000000\n';
    const r = await runSlt(text, fakeTarget({ 'SELECT x': [[true, 1n, 36]] }), { layout: 'row-per-line' });
    assert.equal(r.passed, 1, JSON.stringify(r.failures));
  });

  it('skips guarded records, stops at an enabled halt and checks labels across queries', async () => {
    const text = [
      'onlyif mysql\nquery I nosort label-a\nSELECT 9\n----\n7',
      'query I nosort label-a\nSELECT 8\n----\n8',
      'skipif cascadb\nhalt',
      'onlyif cascadb\nhalt',
      'statement ok\nNEVER RUN',
    ].join('\n\n');
    const r = await runSlt(text, fakeTarget({ 'SELECT 8': [[8]] }), { layout: 'value-per-line' });
    assert.equal(r.skipped, 1);
    assert.equal(r.halted, true);
    assert.equal(r.failed, 1, 'the label of the skipped query holds 7, the run gave 8');
    assert.match(r.failures[0]!.message, /label-a/);
  });

  it('counts 0A000 as unsupported and errors without SQLSTATE as crashes, never throwing', async () => {
    const text = 'statement ok\nA\n\nstatement ok\nB\n\nstatement error\nC\n\nquery I\nD\n----\n1\n';
    const r = await runSlt(
      text,
      fakeTarget({
        A: new SqlError('ERR_SQL_FEATURE_NOT_SUPPORTED', 'WITH is not supported'),
        B: new TypeError('boom'),
        C: new SqlError('ERR_SQL_SYNTAX', 'syntax error'),
        D: [[2]],
      }),
    );
    assert.deepEqual(
      { passed: r.passed, failed: r.failed, unsupported: r.unsupported, crashed: r.crashed },
      { passed: 1, failed: 2, unsupported: 1, crashed: 1 },
    );
  });
});

describe('integration: sqllogictest corpus on CascaDB', () => {
  it('passes a selection of ../shared/slt at the recorded rates without any crash', async (t) => {
    if (!corpusOrSkip(t)) return;
    const { readdirSync, statSync } = await import('node:fs');
    const { join } = await import('node:path');
    const expand = (p: string): string[] =>
      statSync(p).isDirectory()
        ? readdirSync(p)
            .sort()
            .flatMap((n) => expand(join(p, n)))
        : /\.(test|slt)$/.test(p)
          ? [p]
          : [];
    const reports: Array<{ report: SltFileReport; minRate: number }> = [];
    for (const [path, minRate] of SELECTION) {
      for (const file of expand(join(CORPUS, path))) {
        reports.push({ report: await runSltFile(file, () => openCascadbSltTarget()), minRate });
      }
    }
    for (const { report, minRate } of reports) {
      const ran = report.passed + report.failed;
      assert.equal(
        report.crashed,
        0,
        `${report.file}: ${JSON.stringify(report.failures.filter((f) => f.crash))}`,
      );
      assert.ok(ran > 0, `${report.file} ran no record`);
      assert.ok(
        report.passed / ran >= minRate,
        `${report.file}: ${report.passed}/${ran} passed; first failures ${JSON.stringify(report.failures.slice(0, 3))}`,
      );
    }
    const passed = reports.reduce((n, r) => n + r.report.passed, 0);
    assert.ok(passed >= 1500, `only ${passed} records passed`);
  });
});
