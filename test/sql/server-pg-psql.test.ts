// The real psql against the pg wire server: \dt, \d TABLE, \di and a query. Skips loudly when
// psql is not installed (fails in CI).
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type PgFixture, startFixture } from './server-pg-fixture.ts';

const run = promisify(execFile);

function hasPsql(): boolean {
  try {
    execFileSync('psql', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const available = hasPsql();
if (!available && process.env.CI === 'true')
  throw new Error('psql is required in CI (apt-get install postgresql-client)');
if (!available) process.stderr.write('SKIPPING server-pg-psql tests: psql is not installed\n');

describe('pg server: psql', { skip: available ? false : 'psql is not installed' }, () => {
  let f: PgFixture;
  const psql = async (...args: string[]): Promise<string> => {
    const r = await run(
      'psql',
      ['-h', '127.0.0.1', '-p', String(f.server.port), '-U', 'tester', '-d', 'cascadb', '-X', ...args],
      {
        env: { ...process.env, PGPASSWORD: 'pw', PGSSLMODE: 'disable' },
      },
    );
    return r.stdout;
  };
  before(async () => {
    f = await startFixture({ auth: { passwords: { tester: 'pw' } } });
    const s = f.db.session();
    await s.query(
      'CREATE TABLE reading (meter_id bigint, ts timestamp, kwh double precision, note varchar(20), amount numeric(10,2), ok boolean NOT NULL DEFAULT true, PRIMARY KEY (meter_id, ts))',
    );
    await s.query('CREATE UNIQUE INDEX reading_note_idx ON reading (note)');
    await s.query("INSERT INTO reading VALUES (42, '2024-03-01 00:15:00', 0.25, 'first', 1.5, true)");
  });
  after(() => f.close());

  it('lists tables with \\dt', async () => {
    const out = await psql('-c', '\\dt');
    assert.match(out, /List of relations/);
    assert.match(out, / public \| reading \| table \| tester/);
    assert.match(out, /\(1 row\)/);
  });

  it('describes a table with \\d reading', async () => {
    const out = await psql('-c', '\\d reading');
    assert.match(out, /Table "public\.reading"/);
    assert.match(out, / meter_id \| bigint\s+\|\s+\| not null \|/);
    assert.match(out, / ts\s+\| timestamp without time zone \|\s+\| not null \|/);
    assert.match(out, / note\s+\| character varying\(20\)/);
    assert.match(out, / amount\s+\| numeric\(10,2\)/);
    assert.match(out, /"reading_pkey" PRIMARY KEY, btree \(meter_id, ts\)/);
    assert.match(out, /"reading_note_idx" UNIQUE, btree \(note\)/);
  });

  it('lists indexes with \\di and runs a query', async () => {
    assert.match(await psql('-c', '\\di'), /reading_note_idx \| index \| tester \| reading/);
    const out = await psql('-At', '-c', 'SELECT meter_id, ts, kwh, ok FROM reading');
    assert.equal(out, '42|2024-03-01 00:15:00|0.25|t\n');
  });

  it('prints errors with the SQLSTATE psql shows', async () => {
    await assert.rejects(
      psql('-v', 'ON_ERROR_STOP=1', '-c', 'SELECT nope FROM reading'),
      (e: { stderr: string }) => {
        assert.match(e.stderr, /ERROR: {2}column "nope" does not exist/);
        assert.match(e.stderr, /LINE 1: SELECT nope FROM reading\n\s+\^/);
        return true;
      },
    );
  });
});
