import assert from 'node:assert/strict';
import type { Statement } from '../../src/sql/ast.ts';
import { isSqlError, type SqlError } from '../../src/sql/errors.ts';
import { formatStatement } from '../../src/sql/format.ts';
import { parseSql, parseStatement } from '../../src/sql/parser.ts';

/** A tree without positions and without fields set to undefined: what tests compare. */
export function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k !== 'pos' && v !== undefined) out[k] = shape(v);
  }
  return out;
}

/** Parses exactly one statement and returns its shape. */
export function parsed(text: string): unknown {
  const statements = parseSql(text);
  assert.equal(statements.length, 1, `expected one statement in ${text}`);
  return shape(statements[0]);
}

/** The shape of the expression `SELECT <text>` selects. */
export function expr(text: string): unknown {
  const s = parsed(`SELECT ${text}`) as { columns: { expr: unknown }[] };
  return s.columns[0]!.expr;
}

/** The SqlError that parsing `text` raises (fails the test when it parses or throws something else). */
export function parseError(text: string): SqlError {
  try {
    parseSql(text);
  } catch (err) {
    if (isSqlError(err)) return err;
    assert.fail(`expected a SqlError for ${JSON.stringify(text)}, got ${String(err)}`);
  }
  assert.fail(`expected ${JSON.stringify(text)} to fail`);
}

/** Shorthands for expected trees. */
export const col = (name: string, table?: string) =>
  table === undefined ? { kind: 'ColumnRef', name } : { kind: 'ColumnRef', table, name };
export const int = (value: number | bigint) => ({ kind: 'IntegerLiteral', value: BigInt(value) });
export const str = (value: string) => ({ kind: 'StringLiteral', value });
export const bin = (op: string, left: unknown, right: unknown) => ({ kind: 'Binary', op, left, right });
export const param = (index: number) => ({ kind: 'Parameter', index });
export const type = (name: string, precision?: number, scale?: number) => ({
  kind: 'TypeName',
  name,
  ...(precision === undefined ? {} : { precision }),
  ...(scale === undefined ? {} : { scale }),
});
export const select = (fields: Record<string, unknown>) => ({
  kind: 'Select',
  distinct: false,
  columns: [],
  from: [],
  groupBy: [],
  orderBy: [],
  ...fields,
});

/** Asserts parse(format(s)) equals s, positions aside. */
export function assertRoundTrip(statement: Statement, origin: string): void {
  const text = formatStatement(statement);
  let again: Statement;
  try {
    again = parseStatement(text);
  } catch (err) {
    assert.fail(`formatted text does not parse: ${text}\nfrom: ${origin}\n${String(err)}`);
  }
  assert.deepEqual(
    shape(again),
    shape(statement),
    `round trip changed the tree\nfrom: ${origin}\ntext: ${text}`,
  );
  assert.equal(formatStatement(again), text, 'formatting is not deterministic');
}
