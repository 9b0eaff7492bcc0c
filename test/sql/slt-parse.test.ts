import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isSqlError } from '../../src/sql/errors.ts';
import { parseSql } from '../../src/sql/parser.ts';

const CORPUS = fileURLToPath(new URL('../../../shared/slt/public/', import.meta.url));
const ENGINES = new Set(['cascadb', 'postgresql']);

function* sltFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sltFiles(path);
    else if (/\.(test|slt)$/.test(name)) yield path;
  }
}

/** SQL of the `statement ok` and `query` records a CascaDB runner executes (FORMAT.md §1–4). */
function* executedSql(text: string): Generator<string> {
  const records: string[][] = [[]];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') records.push([]);
    else if (!line.startsWith('#')) records.at(-1)!.push(line);
  }
  for (const record of records) {
    let i = 0;
    let skipped = false;
    for (; /^(skipif|onlyif)\s/.test(record[i] ?? ''); i++) {
      const [kind, engine = ''] = record[i]!.split(/\s+/);
      if ((kind === 'skipif') === ENGINES.has(engine.toLowerCase())) skipped = true;
    }
    const head = (record[i] ?? '').split(/\s+/);
    if (skipped || !(head[0] === 'query' || (head[0] === 'statement' && head[1] === 'ok'))) continue;
    const body = record.slice(i + 1);
    const end = body.indexOf('----');
    yield (end === -1 ? body : body.slice(0, end)).join('\n');
  }
}

describe('unit: SQL parser on the sqllogictest corpus', () => {
  it('parses the statements of the public files, refusing the rest only as unsupported (0A000)', (t) => {
    if (!existsSync(CORPUS)) {
      if (process.env.CI === 'true') assert.fail(`sqllogictest corpus missing at ${CORPUS}`);
      t.skip(`sqllogictest corpus not found at ${CORPUS}`);
      return;
    }
    let total = 0;
    let parsed = 0;
    for (const file of sltFiles(CORPUS)) {
      for (const sql of executedSql(readFileSync(file, 'utf8'))) {
        total++;
        try {
          parseSql(sql);
          parsed++;
        } catch (err) {
          assert.ok(isSqlError(err, 'ERR_SQL_FEATURE_NOT_SUPPORTED'), `${file}: ${sql}\n${String(err)}`);
        }
      }
    }
    assert.ok(total > 1000, `only ${total} statements found`);
    assert.ok(parsed / total >= 0.99, `parsed ${parsed} of ${total}`);
  });
});
