import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSql, parseStatement } from '../../src/sql/parser.ts';
import { bin, col, expr, int, param, parsed, select, str, type } from './ast-shape.ts';
import { VALID_SQL } from './corpus.ts';

describe('unit: SQL parser, statements', () => {
  it('parses every statement of the corpus', () => {
    for (const sql of VALID_SQL) assert.doesNotThrow(() => parseSql(sql), sql);
  });

  it('parses CREATE TABLE with types, column constraints and a composite descending key', () => {
    assert.deepEqual(
      parsed(
        "CREATE TABLE IF NOT EXISTS r (m BIGINT NOT NULL, ts TIMESTAMP, v NUMERIC(12,3) DEFAULT 0, s VARCHAR(8) UNIQUE DEFAULT 'x', PRIMARY KEY (m, ts DESC))",
      ),
      {
        kind: 'CreateTable',
        name: 'r',
        ifNotExists: true,
        columns: [
          {
            kind: 'ColumnDef',
            name: 'm',
            type: type('bigint'),
            notNull: true,
            primaryKey: false,
            unique: false,
          },
          {
            kind: 'ColumnDef',
            name: 'ts',
            type: type('timestamp'),
            notNull: false,
            primaryKey: false,
            unique: false,
          },
          {
            kind: 'ColumnDef',
            name: 'v',
            type: type('numeric', 12, 3),
            notNull: false,
            primaryKey: false,
            unique: false,
            default: int(0),
          },
          {
            kind: 'ColumnDef',
            name: 's',
            type: type('varchar', 8),
            notNull: false,
            primaryKey: false,
            unique: true,
            default: str('x'),
          },
        ],
        constraints: [
          {
            kind: 'PrimaryKey',
            columns: [
              { kind: 'IndexColumn', name: 'm', direction: 'ASC' },
              { kind: 'IndexColumn', name: 'ts', direction: 'DESC' },
            ],
          },
        ],
      },
    );
  });

  it('canonicalises type spellings', () => {
    const types = (
      parsed(
        'CREATE TABLE t (a INT, b INT4, c INT8, d SMALLINT, e FLOAT4, f FLOAT8, g FLOAT, h FLOAT(20), i DOUBLE PRECISION, j DECIMAL(5,2), k BOOL, l CHARACTER VARYING(9), m TIMESTAMP WITHOUT TIME ZONE, n BYTEA, o TEXT)',
      ) as { columns: { type: unknown }[] }
    ).columns.map((c) => c.type);
    assert.deepEqual(types, [
      type('integer'),
      type('integer'),
      type('bigint'),
      type('integer'),
      type('real'),
      type('double'),
      type('double'),
      type('real'),
      type('double'),
      type('numeric', 5, 2),
      type('boolean'),
      type('varchar', 9),
      type('timestamp'),
      type('bytea'),
      type('text'),
    ]);
  });

  it('parses DROP TABLE, CREATE [UNIQUE] INDEX and DROP INDEX', () => {
    assert.deepEqual(parsed('DROP TABLE IF EXISTS a, b'), {
      kind: 'DropTable',
      names: ['a', 'b'],
      ifExists: true,
    });
    assert.deepEqual(parsed('CREATE UNIQUE INDEX IF NOT EXISTS i ON t (a DESC, b)'), {
      kind: 'CreateIndex',
      name: 'i',
      table: 't',
      unique: true,
      ifNotExists: true,
      columns: [
        { kind: 'IndexColumn', name: 'a', direction: 'DESC' },
        { kind: 'IndexColumn', name: 'b', direction: 'ASC' },
      ],
    });
    assert.deepEqual(parsed('CREATE INDEX ON t (a)'), {
      kind: 'CreateIndex',
      table: 't',
      unique: false,
      ifNotExists: false,
      columns: [{ kind: 'IndexColumn', name: 'a', direction: 'ASC' }],
    });
    assert.deepEqual(parsed('DROP INDEX i'), { kind: 'DropIndex', names: ['i'], ifExists: false });
  });

  it('parses a multi-row INSERT with DEFAULT, ON CONFLICT DO UPDATE with excluded, and RETURNING', () => {
    assert.deepEqual(
      parsed(
        'INSERT INTO t (a, b) VALUES ($1, 2), (3, DEFAULT) ON CONFLICT (a) DO UPDATE SET b = excluded.b WHERE t.b < 5 RETURNING a, *',
      ),
      {
        kind: 'Insert',
        table: 't',
        columns: ['a', 'b'],
        source: {
          kind: 'Values',
          rows: [
            [param(1), int(2)],
            [int(3), { kind: 'Default' }],
          ],
        },
        onConflict: {
          kind: 'DoUpdate',
          target: ['a'],
          set: [{ kind: 'Assignment', column: 'b', value: col('b', 'excluded') }],
          where: bin('<', col('b', 't'), int(5)),
        },
        returning: [{ kind: 'SelectExpr', expr: col('a') }, { kind: 'SelectStar' }],
      },
    );
  });

  it('parses INSERT … SELECT and ON CONFLICT DO NOTHING without a target', () => {
    const ins = parsed('INSERT INTO t SELECT * FROM u ON CONFLICT DO NOTHING') as Record<string, unknown>;
    assert.deepEqual(ins.onConflict, { kind: 'DoNothing' });
    assert.equal((ins.source as { kind: string }).kind, 'Select');
    const paren = parsed('INSERT INTO t (a) (SELECT 1)') as Record<string, unknown>;
    assert.deepEqual(paren.columns, ['a']);
  });

  it('parses UPDATE and DELETE with aliases, WHERE and RETURNING', () => {
    assert.deepEqual(parsed('UPDATE t x SET a = a + 1, b = DEFAULT WHERE id = $1 RETURNING a'), {
      kind: 'Update',
      table: 't',
      alias: 'x',
      set: [
        { kind: 'Assignment', column: 'a', value: bin('+', col('a'), int(1)) },
        { kind: 'Assignment', column: 'b', value: { kind: 'Default' } },
      ],
      where: bin('=', col('id'), param(1)),
      returning: [{ kind: 'SelectExpr', expr: col('a') }],
    });
    assert.deepEqual(parsed('DELETE FROM t WHERE a IS NULL'), {
      kind: 'Delete',
      table: 't',
      where: { kind: 'IsNull', expr: col('a'), negated: false },
    });
  });

  it('parses a SELECT with every clause', () => {
    assert.deepEqual(
      parsed(
        'SELECT DISTINCT a, count(*) AS n FROM t WHERE b > 1 GROUP BY a HAVING count(*) > 2 ORDER BY n DESC NULLS LAST, a LIMIT 10 OFFSET 5',
      ),
      select({
        distinct: true,
        columns: [
          { kind: 'SelectExpr', expr: col('a') },
          {
            kind: 'SelectExpr',
            expr: { kind: 'FunctionCall', name: 'count', args: [], distinct: false, star: true },
            alias: 'n',
          },
        ],
        from: [{ kind: 'TableName', name: 't' }],
        where: bin('>', col('b'), int(1)),
        groupBy: [col('a')],
        having: bin(
          '>',
          { kind: 'FunctionCall', name: 'count', args: [], distinct: false, star: true },
          int(2),
        ),
        orderBy: [
          { kind: 'OrderByItem', expr: col('n'), direction: 'DESC', nulls: 'LAST' },
          { kind: 'OrderByItem', expr: col('a'), direction: 'ASC' },
        ],
        limit: int(10),
        offset: int(5),
      }),
    );
  });

  it('parses joins left-deep, comma joins as separate FROM items, and derived tables', () => {
    const s = parsed(
      'SELECT * FROM a JOIN b ON a.x = b.x LEFT OUTER JOIN c ON c.y = b.y, (SELECT 1) AS d(one) CROSS JOIN e',
    ) as { from: unknown[] };
    assert.deepEqual(s.from, [
      {
        kind: 'Join',
        type: 'LEFT',
        left: {
          kind: 'Join',
          type: 'INNER',
          left: { kind: 'TableName', name: 'a' },
          right: { kind: 'TableName', name: 'b' },
          on: bin('=', col('x', 'a'), col('x', 'b')),
        },
        right: { kind: 'TableName', name: 'c' },
        on: bin('=', col('y', 'c'), col('y', 'b')),
      },
      {
        kind: 'Join',
        type: 'CROSS',
        left: {
          kind: 'DerivedTable',
          query: select({ columns: [{ kind: 'SelectExpr', expr: int(1) }] }),
          alias: 'd',
          columnAliases: ['one'],
        },
        right: { kind: 'TableName', name: 'e' },
      },
    ]);
  });

  it('parses set operations with INTERSECT binding tighter and the tail applying to the whole', () => {
    const s = parsed('SELECT 1 UNION ALL SELECT 2 INTERSECT SELECT 3 ORDER BY 1 LIMIT 2') as Record<
      string,
      unknown
    >;
    assert.equal(s.kind, 'SetOperation');
    assert.equal(s.op, 'UNION');
    assert.equal(s.all, true);
    assert.equal((s.right as { op: string }).op, 'INTERSECT');
    assert.deepEqual(s.limit, int(2));
    assert.equal((s.left as { limit?: unknown }).limit, undefined);
  });

  it('parses transactions, EXPLAIN, SET and SHOW', () => {
    assert.deepEqual(parsed('BEGIN TRANSACTION'), { kind: 'Begin' });
    assert.deepEqual(parsed('START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY'), {
      kind: 'Begin',
      isolation: 'REPEATABLE READ',
      readOnly: true,
    });
    assert.deepEqual(parsed('COMMIT WORK'), { kind: 'Commit' });
    assert.deepEqual(parsed('END'), { kind: 'Commit' });
    assert.deepEqual(parsed('ROLLBACK TRANSACTION'), { kind: 'Rollback' });
    assert.deepEqual(parsed('EXPLAIN DELETE FROM t'), {
      kind: 'Explain',
      analyze: false,
      statement: { kind: 'Delete', table: 't' },
    });
    assert.deepEqual(parsed("SET search_path TO a, 'b', 3"), {
      kind: 'Set',
      name: 'search_path',
      local: false,
      values: [
        { kind: 'SetValue', type: 'identifier', text: 'a' },
        { kind: 'SetValue', type: 'string', text: 'b' },
        { kind: 'SetValue', type: 'number', text: '3' },
      ],
    });
    assert.deepEqual(parsed('SHOW TIME ZONE'), { kind: 'Show', name: 'timezone' });
  });

  it('splits several statements on semicolons and skips empty ones', () => {
    const kinds = parseSql(';BEGIN; INSERT INTO t VALUES (1);; COMMIT;').map((s) => s.kind);
    assert.deepEqual(kinds, ['Begin', 'Insert', 'Commit']);
    assert.equal(parseStatement('SELECT 1;').kind, 'Select');
    assert.throws(() => parseStatement('SELECT 1;\n SELECT 2'), {
      code: 'ERR_SQL_SYNTAX',
      message: 'syntax error at line 2, column 2: expected a single statement but found another',
    });
  });

  it('records 1-based positions on nodes, operators at their operator', () => {
    const s = parseStatement('SELECT a\n  + b FROM t');
    assert.ok(s.kind === 'Select');
    const item = s.columns[0]!;
    assert.ok(item.kind === 'SelectExpr');
    assert.deepEqual(item.expr.pos, { line: 2, column: 3, offset: 12 });
    assert.deepEqual(s.pos, { line: 1, column: 1, offset: 1 });
  });
});

describe('unit: SQL parser, expressions', () => {
  it('reads literals: 64-bit integers as IntegerLiteral, wider ones and decimals as NumericLiteral', () => {
    assert.deepEqual(expr('9223372036854775807'), int(9223372036854775807n));
    assert.deepEqual(expr('-9223372036854775808'), int(-9223372036854775808n));
    assert.deepEqual(expr('9223372036854775808'), { kind: 'NumericLiteral', text: '9223372036854775808' });
    assert.deepEqual(expr('-1.50'), { kind: 'NumericLiteral', text: '-1.50' });
    assert.deepEqual(expr("'a''b'"), str("a'b"));
    assert.deepEqual(expr('NULL'), { kind: 'NullLiteral' });
    assert.deepEqual(expr('false'), { kind: 'BooleanLiteral', value: false });
  });

  it('reads typed literals and both cast syntaxes as Cast', () => {
    assert.deepEqual(expr("TIMESTAMP '2024-01-02 03:04:05'"), {
      kind: 'Cast',
      expr: str('2024-01-02 03:04:05'),
      type: type('timestamp'),
    });
    assert.deepEqual(expr("'\\x01'::bytea"), { kind: 'Cast', expr: str('\\x01'), type: type('bytea') });
    assert.deepEqual(expr('CAST(a AS DOUBLE PRECISION)'), {
      kind: 'Cast',
      expr: col('a'),
      type: type('double'),
    });
  });

  it('follows PostgreSQL precedence for arithmetic, concatenation and comparison', () => {
    assert.deepEqual(expr('1 + 2 * 3'), bin('+', int(1), bin('*', int(2), int(3))));
    assert.deepEqual(expr('1 - 2 - 3'), bin('-', bin('-', int(1), int(2)), int(3)));
    assert.deepEqual(expr('-2 ^ 2'), bin('^', int(-2), int(2)));
    assert.deepEqual(expr('-a::text'), {
      kind: 'Unary',
      op: '-',
      operand: { kind: 'Cast', expr: col('a'), type: type('text') },
    });
    assert.deepEqual(expr("'a' || 1 + 2"), bin('||', str('a'), bin('+', int(1), int(2))));
    assert.deepEqual(expr('a + 1 = b'), bin('=', bin('+', col('a'), int(1)), col('b')));
    assert.deepEqual(expr('a != b'), bin('<>', col('a'), col('b')));
  });

  it('follows PostgreSQL precedence for NOT, AND, OR and IS', () => {
    assert.deepEqual(
      expr('NOT a = 1 AND b OR c'),
      bin(
        'OR',
        bin('AND', { kind: 'Unary', op: 'NOT', operand: bin('=', col('a'), int(1)) }, col('b')),
        col('c'),
      ),
    );
    assert.deepEqual(expr('a = b IS NULL'), {
      kind: 'IsNull',
      expr: bin('=', col('a'), col('b')),
      negated: false,
    });
    assert.deepEqual(expr('NOT a IS NULL'), {
      kind: 'Unary',
      op: 'NOT',
      operand: { kind: 'IsNull', expr: col('a'), negated: false },
    });
    assert.deepEqual(expr('a IS NOT DISTINCT FROM b'), {
      kind: 'IsDistinctFrom',
      left: col('a'),
      right: col('b'),
      negated: true,
    });
    assert.deepEqual(expr('a IS NOT TRUE'), {
      kind: 'IsBoolean',
      expr: col('a'),
      value: 'TRUE',
      negated: true,
    });
  });

  it('parses BETWEEN with AND inside, then AND outside', () => {
    assert.deepEqual(
      expr('a NOT BETWEEN 1 AND 2 + 3 AND b'),
      bin(
        'AND',
        { kind: 'Between', expr: col('a'), low: int(1), high: bin('+', int(2), int(3)), negated: true },
        col('b'),
      ),
    );
  });

  it('parses IN lists, IN subqueries, LIKE/ILIKE with ESCAPE, EXISTS and scalar subqueries', () => {
    assert.deepEqual(expr('a NOT IN (1, 2)'), {
      kind: 'InList',
      expr: col('a'),
      list: [int(1), int(2)],
      negated: true,
    });
    const sub = select({
      columns: [{ kind: 'SelectExpr', expr: col('b') }],
      from: [{ kind: 'TableName', name: 'u' }],
    });
    assert.deepEqual(expr('a IN (SELECT b FROM u)'), {
      kind: 'InSubquery',
      expr: col('a'),
      query: sub,
      negated: false,
    });
    assert.deepEqual(expr("a ILIKE 'x!%' ESCAPE '!'"), {
      kind: 'Like',
      expr: col('a'),
      pattern: str('x!%'),
      escape: str('!'),
      caseInsensitive: true,
      negated: false,
    });
    assert.deepEqual(expr('NOT EXISTS (SELECT b FROM u)'), {
      kind: 'Unary',
      op: 'NOT',
      operand: { kind: 'Exists', query: sub },
    });
    assert.deepEqual(expr('(SELECT b FROM u) + 1'), bin('+', { kind: 'Subquery', query: sub }, int(1)));
    assert.deepEqual(expr('((SELECT b FROM u) + 1)'), bin('+', { kind: 'Subquery', query: sub }, int(1)));
  });

  it('parses simple and searched CASE', () => {
    assert.deepEqual(expr("CASE a WHEN 1 THEN 'x' ELSE 'y' END"), {
      kind: 'Case',
      operand: col('a'),
      // biome-ignore lint/suspicious/noThenProperty: the AST's CaseWhen.then
      whens: [{ kind: 'CaseWhen', when: int(1), then: str('x') }],
      else: str('y'),
    });
    assert.deepEqual(expr('CASE WHEN a THEN 1 END'), {
      kind: 'Case',
      // biome-ignore lint/suspicious/noThenProperty: the AST's CaseWhen.then
      whens: [{ kind: 'CaseWhen', when: col('a'), then: int(1) }],
    });
  });

  it('parses function calls generically, with DISTINCT and count(*), and SQL value functions', () => {
    const call = (name: string, args: unknown[], extra: object = {}) => ({
      kind: 'FunctionCall',
      name,
      args,
      distinct: false,
      star: false,
      ...extra,
    });
    assert.deepEqual(expr('COALESCE(a, 0)'), call('coalesce', [col('a'), int(0)]));
    assert.deepEqual(expr('NULLIF(a, 0)'), call('nullif', [col('a'), int(0)]));
    assert.deepEqual(expr('sum(DISTINCT a)'), call('sum', [col('a')], { distinct: true }));
    assert.deepEqual(expr('left(a, 1)'), call('left', [col('a'), int(1)]));
    assert.deepEqual(expr('now()'), call('now', []));
    assert.deepEqual(expr('CURRENT_TIMESTAMP'), call('current_timestamp', []));
    assert.deepEqual(expr('extract(YEAR FROM ts)'), call('extract', [str('year'), col('ts')]));
    assert.deepEqual(expr('substring(s FROM 2 FOR 3)'), call('substring', [col('s'), int(2), int(3)]));
  });

  it('reads quoted identifiers with their case and qualified column references', () => {
    assert.deepEqual(expr('"T"."Col"'), col('Col', 'T'));
    assert.deepEqual(expr('T.Col'), col('col', 't'));
    assert.deepEqual(expr('"select"'), col('select'));
  });
});
