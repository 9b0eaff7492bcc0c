import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyring, createLmdbEngine, createSecureStore } from '../src/kvs/index.ts';
import { openDatabase } from '../src/sql/database.ts';
const phase = process.argv[2] ?? 'scan';
const secure = process.argv[3] === 'secure';
const dir = await mkdtemp(join(tmpdir(), 'prof-'));
const lm = await createLmdbEngine({ path: dir });
const engine = secure ? createSecureStore(lm, createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] }), { namespace: 'bench' }) : lm;
const db = await openDatabase({ engine });
const s = db.session();
const A = Array.from({ length: 30 }, (_, i) => `a${i + 1}`);
await s.query(`CREATE TABLE reading (meter_id bigint NOT NULL, ts timestamp NOT NULL, ${A.map((c) => `${c} double precision`).join(', ')}, PRIMARY KEY (meter_id, ts))`);
const ins = await s.prepare(`INSERT INTO reading VALUES (${Array.from({ length: 32 }, (_, i) => `$${i + 1}`).join(', ')})`);
const START = Date.UTC(2024, 2, 1) * 1000; const STEP = 15 * 60 * 1e6;
const M = phase === 'insert' ? 30 : 4;
const { Session } = await import('node:inspector/promises');
const insp = new Session(); insp.connect();
if (phase === 'insert') { await insp.post('Profiler.enable'); await insp.post('Profiler.start'); }
let t = performance.now();
for (let m = 1; m <= M; m++) {
  await s.query('BEGIN');
  for (let i = 0; i < 2880; i++) await ins.query([m, BigInt(START + i * STEP), ...A.map((_, j) => i * 0.5 + j)]);
  await s.query('COMMIT');
}
if (phase === 'insert') console.log('insert rows/s', Math.round(M * 2880 / ((performance.now() - t) / 1000)));
if (phase !== 'insert') { await insp.post('Profiler.enable'); await insp.post('Profiler.start'); }
t = performance.now();
if (phase === 'point') {
  const pt = await s.prepare('SELECT * FROM reading WHERE meter_id = $1 AND ts = $2');
  for (let i = 0; i < 200000; i++) await pt.query([1 + (i % M), BigInt(START + (i % 2880) * STEP)]);
  console.log('point/s', Math.round(200000 / ((performance.now() - t) / 1000)));
}
if (phase === 'scan') {
  const sc = await s.prepare('SELECT * FROM reading WHERE meter_id = $1 AND ts >= $2 AND ts < $3');
  let n = 0;
  for (let i = 0; i < 200; i++) n += (await sc.query([1 + (i % M), BigInt(START), BigInt(START + 2880 * STEP)])).rows.length;
  console.log('scan rows/s', Math.round(n / ((performance.now() - t) / 1000)));
}
const { profile } = await insp.post('Profiler.stop');
const { writeFileSync } = await import('node:fs');
writeFileSync(`/tmp/sqle/prof/${phase}.cpuprofile`, JSON.stringify(profile));
await db.close(); await engine.close(); await rm(dir, { recursive: true });
