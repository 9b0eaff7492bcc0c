// SQL parser throughput: statements per second for the statements a bulk load and a typical query
// use, against a baseline measured in the same run (JSON.parse of the same tree serialised, i.e.
// the cost of materialising it without any SQL work). Prints JSON.
// Usage: npm run bench -- sql-parse [--seconds S]
import { tokenize } from '../src/sql/lexer.ts';
import { parseStatement } from '../src/sql/parser.ts';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 1;

const attributes = Array.from({ length: 30 }, (_, i) => `a${i + 1}`);
const params = Array.from({ length: 32 }, (_, i) => `$${i + 1}`);
const literalRow = (r: number) =>
  `(${r}, TIMESTAMP '2024-01-01 00:00:00', ${attributes.map((_, i) => `${r}.${i}`).join(', ')})`;

const CASES: Record<string, string> = {
  'insert-32-params': `INSERT INTO reading (meter_id, ts, ${attributes.join(', ')}) VALUES (${params.join(', ')})`,
  'join-3-tables': `SELECT m.meter_id, c.name, r.ts, r.a1 + r.a2 AS total
    FROM reading AS r
    JOIN meter AS m ON m.meter_id = r.meter_id
    LEFT JOIN customer AS c ON c.id = m.customer_id
    WHERE r.meter_id = $1 AND r.ts >= $2 AND r.ts < $3 AND c.name LIKE 'A%'
    ORDER BY r.ts DESC LIMIT 100`,
  'point-select': 'SELECT * FROM reading WHERE meter_id = $1 AND ts = $2',
  'insert-100-literal-rows': `INSERT INTO reading VALUES ${Array.from({ length: 100 }, (_, r) => literalRow(r)).join(', ')}`,
};

/** Runs `fn` repeatedly for about `seconds`; returns calls per second. */
function rate(fn: () => unknown): number {
  for (let i = 0; i < 200; i++) fn();
  const deadline = performance.now() + seconds * 1000;
  let calls = 0;
  const start = performance.now();
  while (performance.now() < deadline) {
    for (let i = 0; i < 50; i++) fn();
    calls += 50;
  }
  return calls / ((performance.now() - start) / 1000);
}

const results: Record<string, unknown> = {};
for (const [name, sql] of Object.entries(CASES)) {
  const json = JSON.stringify(parseStatement(sql), (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  const parse = rate(() => parseStatement(sql));
  const lex = rate(() => tokenize(sql));
  const baseline = rate(() => JSON.parse(json));
  results[name] = {
    chars: sql.length,
    statementsPerSecond: Math.round(parse),
    microsecondsPerStatement: Number((1e6 / parse).toFixed(2)),
    tokenizeOnlyPerSecond: Math.round(lex),
    jsonParseBaselinePerSecond: Math.round(baseline),
    ratioToJsonParse: Number((parse / baseline).toFixed(2)),
  };
}
process.stdout.write(
  `${JSON.stringify({ benchmark: 'sql-parse', node: process.version, seconds, results }, null, 2)}\n`,
);
