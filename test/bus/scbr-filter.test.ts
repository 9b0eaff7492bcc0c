import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isScbrError } from '../../src/bus/scbr/errors.ts';
import { evaluateFilter } from '../../src/bus/scbr/filter-eval.ts';
import { formatFilter } from '../../src/bus/scbr/filter-format.ts';
import { parseFilter } from '../../src/bus/scbr/filter-parser.ts';
import { FILTER_LIMITS } from '../../src/bus/scbr/filter-types.ts';
import { parseTimestamp, toHeader } from '../../src/bus/scbr/filter-values.ts';

function matches(filter: string, attributes: Parameters<typeof toHeader>[0]): boolean {
  return evaluateFilter(parseFilter(filter).root, toHeader(attributes));
}

function refusal(filter: string): {
  code: string;
  column: number | undefined;
  line: number | undefined;
  message: string;
} {
  try {
    parseFilter(filter);
  } catch (err) {
    assert.ok(isScbrError(err), `not an ScbrError: ${err}`);
    return { code: err.code, column: err.position?.column, line: err.position?.line, message: err.message };
  }
  assert.fail(`parsed: ${filter}`);
}

describe('unit', () => {
  it('parses comparisons of every type and records attribute types', () => {
    const f = parseFilter(
      'region = "north" AND demand >= 5.5 AND urgent = true AND at < @2025-06-01T12:00:00Z',
    );
    assert.deepEqual(
      [...f.attributes],
      [
        ['region', 'string'],
        ['demand', 'number'],
        ['urgent', 'boolean'],
        ['at', 'timestamp'],
      ],
    );
    assert.equal(
      matches(f.text, { region: 'north', demand: 6, urgent: true, at: new Date('2025-05-31T00:00:00Z') }),
      true,
    );
    assert.equal(matches(f.text, { region: 'north', demand: 5, urgent: true, at: new Date(0) }), false);
  });

  it('treats keywords case-insensitively and accepts <> for !=', () => {
    assert.equal(matches('a = 1 and not (b <> 2) or c in {3}', { a: 1, b: 2 }), true);
    assert.equal(matches('x STARTS WITH "ab" AND y starts with "c"', { x: 'abc', y: 'cd' }), true);
  });

  it('matches ranges with included and excluded bounds', () => {
    assert.equal(matches('x BETWEEN 1 AND 5', { x: 5 }), true);
    assert.equal(matches('x IN [1, 5)', { x: 5 }), false);
    assert.equal(matches('x IN (1, 5]', { x: 1 }), false);
    assert.equal(matches('x IN (1, 5]', { x: 1.5 }), true);
    assert.equal(matches('x NOT BETWEEN 1 AND 5', { x: 7 }), true);
    assert.equal(matches('name IN ["b", "d"]', { name: 'c' }), true);
    assert.equal(matches('at IN [@2025-01-01, @2025-02-01)', { at: new Date('2025-01-31T23:59:59Z') }), true);
  });

  it('matches prefixes and set membership', () => {
    assert.equal(matches('meter ^= "BR-SP-"', { meter: 'BR-SP-0042' }), true);
    assert.equal(matches('meter ^= "BR-SP-"', { meter: 'BR-RJ-0042' }), false);
    assert.equal(matches('phase IN {"a", "b"}', { phase: 'b' }), true);
    assert.equal(matches('phase NOT IN {"a", "b"}', { phase: 'c' }), true);
    assert.equal(matches('n IN {1, 2, 3}', { n: 4 }), false);
  });

  it('makes predicates on absent or differently typed attributes false, and NOT their complement', () => {
    assert.equal(matches('x != 1', {}), false);
    assert.equal(matches('NOT x = 1', {}), true);
    assert.equal(matches('x = 1', { x: '1' }), false);
    assert.equal(matches('x != 1', { x: '1' }), false);
  });

  it('gives AND precedence over OR, and honours parentheses', () => {
    assert.equal(matches('a = 1 OR b = 1 AND c = 1', { a: 1 }), true);
    assert.equal(matches('(a = 1 OR b = 1) AND c = 1', { a: 1 }), false);
  });

  it('formats a filter back to text that parses to the same tree', () => {
    const texts = [
      'NOT (a = 1 OR b IN {"x", "y"}) AND c ^= "p" AND d IN (1, 2]',
      'NOT x BETWEEN 1 AND 2 OR TRUE',
      'at >= @2025-06-01T10:00:00.250+02:00 AND s = "quote\\" and \\u00e9"',
    ];
    for (const text of texts) {
      const once = parseFilter(text);
      const again = parseFilter(formatFilter(once.root));
      assert.deepEqual(again.root, once.root, text);
    }
  });

  it('reports syntax errors with the line and column of the offending token', () => {
    assert.deepEqual(refusal('demand > '), {
      code: 'ERR_SCBR_FILTER_SYNTAX',
      column: 10,
      line: 1,
      message:
        'filter syntax error at column 10: expected a value (a number, a "string", true, false or an @timestamp), found the end of the filter',
    });
    assert.equal(refusal('(a = 1').column, 7);
    assert.equal(refusal('a = 1 b = 2').column, 7);
    assert.equal(refusal('a == 1').column, 4);
    assert.equal(refusal('a = 1 AND OR b = 2').column, 11);
    assert.equal(refusal('a # 1').column, 3);
    assert.equal(refusal('a = "open').column, 5);
    assert.equal(refusal('x BETWEEN 1 OR 2').column, 13);
    assert.equal(refusal('x IN [1, 2').column, 11);
    const multi = refusal('a = 1\n  AND b = @2025-13-01');
    assert.deepEqual([multi.line, multi.column], [2, 11]);
    assert.match(refusal('a = 1)').message, /without its "\("/);
    assert.match(refusal('in = 3').message, /IN is a reserved word/);
    assert.match(refusal('').message, /empty; write TRUE/);
  });

  it('reports type errors at the value that does not fit', () => {
    const cases: [string, number, RegExp][] = [
      ['x = 1 AND x = "one"', 15, /compared as a number at column 1/],
      ['flag < true', 6, /booleans are compared with = and != only/],
      ['name ^= 12', 9, /a prefix is a "string"/],
      ['x IN {1, "a"}', 10, /one type/],
      ['x BETWEEN 5 AND 1', 11, /is empty/],
      ['x IN [1, 1)', 7, /is empty/],
      ['x BETWEEN 1 AND "z"', 17, /both bounds/],
    ];
    for (const [text, column, message] of cases) {
      const r = refusal(text);
      assert.equal(r.code, 'ERR_SCBR_FILTER_TYPE', text);
      assert.equal(r.column, column, text);
      assert.match(r.message, message, text);
    }
  });

  it('checks attributes against a schema when one is given', () => {
    const schema = { region: 'string', demand: 'number' } as const;
    assert.doesNotThrow(() => parseFilter('region = "n" AND demand > 1', { schema }));
    assert.match(refusal2('voltage > 1', schema), /unknown attribute voltage/);
    assert.match(refusal2('demand = "high"', schema), /declared as a number in the schema/);
  });

  it('refuses filters beyond the limits', () => {
    assert.equal(refusal('x = 1 OR '.repeat(600).concat('x = 2')).code, 'ERR_SCBR_FILTER_LIMIT');
    assert.equal(refusal(`${'('.repeat(40)}x = 1${')'.repeat(40)}`).code, 'ERR_SCBR_FILTER_LIMIT');
    const product = Array.from({ length: 9 }, (_, i) => `(a${i} = 1 OR b${i} = 2)`).join(' AND ');
    const r = refusal(product);
    assert.equal(r.code, 'ERR_SCBR_FILTER_LIMIT');
    assert.match(r.message, /disjunctive normal form/);
    assert.equal(
      refusal(`x IN {${Array.from({ length: FILTER_LIMITS.maxSetSize + 1 }, (_, i) => i).join(',')}}`).code,
      'ERR_SCBR_FILTER_LIMIT',
    );
  });

  it('converts to DNF without contradictions and duplicate terms', () => {
    assert.deepEqual(parseFilter('x = 1 AND NOT x = 1').dnf, []);
    assert.deepEqual(parseFilter('x = 1 OR TRUE').dnf, [[]]);
    assert.equal(parseFilter('(a = 1 OR b = 1) AND (a = 1 OR b = 1)').dnf.length, 3);
    assert.equal(parseFilter('NOT (a = 1 AND b = 2)').dnf.length, 2);
  });

  it('parses timestamps strictly', () => {
    assert.equal(parseTimestamp('2025-06-01'), Date.UTC(2025, 5, 1));
    assert.equal(parseTimestamp('2025-06-01T12:00:00.5+02:00'), Date.UTC(2025, 5, 1, 10, 0, 0, 500));
    assert.equal(parseTimestamp('0099-01-01'), -59042995200000);
    for (const bad of [
      '2025-02-29',
      '2025-06-01T12:00',
      '2025-06-01T24:00Z',
      '2025-06-01T12:00:00.1234Z',
      '25-06-01',
    ]) {
      assert.equal(parseTimestamp(bad), null, bad);
    }
  });

  it('validates publication headers', () => {
    assert.throws(() => toHeader({ 'bad name': 1 }), { code: 'ERR_SCBR_ATTRIBUTE_INVALID' });
    assert.throws(() => toHeader({ x: Number.NaN }), { code: 'ERR_SCBR_ATTRIBUTE_INVALID' });
    assert.throws(() => toHeader({ x: new Date(Number.NaN) }), { code: 'ERR_SCBR_ATTRIBUTE_INVALID' });
    assert.throws(() => toHeader({ and: 1 }), { code: 'ERR_SCBR_ATTRIBUTE_INVALID' });
    assert.equal(toHeader({ x: -0 }).get('x')?.value, 0);
  });
});

function refusal2(filter: string, schema: Readonly<Record<string, 'string' | 'number'>>): string {
  try {
    parseFilter(filter, { schema });
  } catch (err) {
    assert.ok(isScbrError(err, 'ERR_SCBR_FILTER_TYPE'));
    return err.message;
  }
  assert.fail(`parsed: ${filter}`);
}
