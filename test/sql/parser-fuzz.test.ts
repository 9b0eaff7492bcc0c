import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSqlError } from '../../src/sql/errors.ts';
import { tokenize } from '../../src/sql/lexer.ts';
import { parseSql } from '../../src/sql/parser.ts';
import { prng } from '../support/prng.ts';
import { assertRoundTrip } from './ast-shape.ts';
import { VALID_SQL } from './corpus.ts';

const VOCABULARY = [
  ...'select from where and or not null is in between like ilike case when then else end cast as exists distinct'.split(
    ' ',
  ),
  ...'insert into values update set delete returning on conflict do nothing create table index unique primary key'.split(
    ' ',
  ),
  ...'drop if join left inner cross outer group by having order asc desc nulls first last limit offset union all'.split(
    ' ',
  ),
  ...'intersect except begin commit rollback explain show default integer bigint text varchar numeric timestamp'.split(
    ' ',
  ),
  ...'a b t u excluded count coalesce "Q" $1 $2 1 0 -1 2.5 1e3 9223372036854775808'.split(' '),
  "'s'",
  "E'\\n'",
  ...'( ) ( ) , , ; . * + - / % ^ = <> != < <= > >= || :: ~'.split(' '),
];

/** Outcome of parsing hostile text: statements, or a SqlError; anything else fails the test. */
function parseOrSqlError(text: string): ReturnType<typeof parseSql> | undefined {
  try {
    return parseSql(text);
  } catch (err) {
    if (isSqlError(err)) return undefined;
    assert.fail(`non-SqlError ${String(err)} for ${JSON.stringify(text)}`);
  }
}

function checkText(text: string): 'ok' | 'error' {
  const statements = parseOrSqlError(text);
  if (statements === undefined) return 'error';
  for (const s of statements) assertRoundTrip(s, text);
  return 'ok';
}

/** Source text of each token of a valid statement, to mutate at token granularity. */
function tokenTexts(sql: string): string[] {
  return tokenize(sql)
    .filter((t) => t.type !== 'eof')
    .map((t) => sql.slice(t.pos.offset - 1, t.end));
}

describe('unit: SQL parser fuzzing', () => {
  it('returns statements or a SqlError for random token sequences', () => {
    const rand = prng(0x5eed);
    const outcomes = { ok: 0, error: 0 };
    for (let n = 0; n < 3000; n++) {
      const length = 1 + Math.floor(rand() * 14);
      const words = Array.from({ length }, () => VOCABULARY[Math.floor(rand() * VOCABULARY.length)]!);
      if (rand() < 0.5) words.unshift('select');
      outcomes[checkText(words.join(' '))]++;
    }
    assert.ok(outcomes.ok > 50, `too few random sequences parsed: ${JSON.stringify(outcomes)}`);
  });

  it('returns statements or a SqlError for mutated valid statements, and what parses round-trips', () => {
    const rand = prng(0xc0ffee);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const outcomes = { ok: 0, error: 0 };
    for (let n = 0; n < 3000; n++) {
      const tokens = tokenTexts(pick(VALID_SQL));
      const at = Math.floor(rand() * tokens.length);
      switch (Math.floor(rand() * 5)) {
        case 0:
          tokens.splice(at, 1);
          break;
        case 1:
          tokens.splice(at, 0, pick(VOCABULARY));
          break;
        case 2:
          tokens[at] = pick(VOCABULARY);
          break;
        case 3:
          tokens.splice(at, 0, ...tokens.splice(Math.floor(rand() * tokens.length), 1));
          break;
        default:
          tokens.length = at;
      }
      outcomes[checkText(tokens.join(' '))]++;
    }
    assert.ok(outcomes.ok > 300 && outcomes.error > 300, JSON.stringify(outcomes));
  });

  it('returns statements or a SqlError for random bytes and truncated statements', () => {
    const rand = prng(42);
    const alphabet = 'abcSELECT()\'"$-/*,;.:=<>!|0123456789 \n\\eE&@#';
    for (let n = 0; n < 2000; n++) {
      const length = Math.floor(rand() * 40);
      let text = '';
      for (let i = 0; i < length; i++) text += alphabet[Math.floor(rand() * alphabet.length)];
      checkText(text);
    }
    for (const sql of VALID_SQL) {
      for (let cut = 0; cut < sql.length; cut += 3) checkText(sql.slice(0, cut));
    }
  });
});
