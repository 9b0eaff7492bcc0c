// End to end on one machine: simulator → aggregator → attested MDC → CascaDB on LMDB, with INMETRO
// batch signatures, receipts to the meters, exactly-once storage and the audit.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { auditReadings, importInmetroPublicKey } from '../../src/metering/inmetro/index.ts';
import { runCli } from '../cli/helpers.ts';
import { type IngestRig, startIngestRig } from './ingest-fixture.ts';

const INTERVAL = 15 * 60_000;

describe('ingestion end to end', () => {
  let rig: IngestRig;
  const t0 = Math.floor(Date.now() / INTERVAL) * INTERVAL;

  before(async () => {
    rig = await startIngestRig({ meters: 60, aggregators: 2 });
  });
  after(async () => {
    await rig?.close();
  });

  it('establishes a session per meter, and the MDC persists them', async () => {
    // A window of 7 handshakes in flight over 60 meters: new ones start as others finish.
    const progress: number[] = [];
    const n = await rig.fleet.handshake({
      concurrency: 7,
      onProgress: (done, total) => {
        assert.equal(total, 60);
        progress.push(done);
      },
    });
    assert.equal(n, 60);
    assert.deepEqual(
      progress,
      Array.from({ length: 60 }, (_, i) => i + 1),
      'each meter reported once, in order',
    );
    assert.equal(rig.mdc.mdc.ingest.sessionCount, 60);
  });

  it('stores one round exactly once, with a receipt per meter', async () => {
    const r = await rig.fleet.round(t0, { deadlineMs: 20_000 });
    assert.equal(r.stored, 60, JSON.stringify(r));
    assert.equal(r.unacknowledged, 0);
    assert.equal(await rig.mdc.mdc.store.countReadings(), 60);
  });

  it('answers a repeated round with duplicate receipts and stores nothing twice', async () => {
    const r = await rig.fleet.round(t0, { deadlineMs: 20_000 });
    assert.equal(r.duplicates, 60);
    assert.equal(r.stored, 0);
    assert.equal(await rig.mdc.mdc.store.countReadings(), 60);
  });

  it('stored readings verify with the INMETRO public key', async () => {
    const publicKey = importInmetroPublicKey(rig.inmetroPublicPem);
    const store = rig.mdc.mdc.store;
    const readings = await store.readings('00000007', t0 - INTERVAL, t0);
    assert.equal(readings.length, 1);
    const batches = new Map<string, Awaited<ReturnType<typeof store.batch>>>();
    for (const r of readings) batches.set(String(r.batchId), await store.batch(r.batchId));
    const report = auditReadings({
      publicKey,
      meterId: '00000007',
      from: t0 - INTERVAL,
      to: t0,
      readings,
      batches: (id) => batches.get(String(id)),
    });
    assert.equal(report.ok, true, JSON.stringify(report));
    assert.equal(report.verified, 1);
  });

  it("`metering audit` fetches a meter's readings from the MDC and verifies them, and reports a gap", async () => {
    const key = join(rig.dir, 'inmetro.pem');
    const token = join(rig.dir, 'token');
    const root = join(rig.dir, 'root.pem');
    await writeFile(key, rig.inmetroPublicPem);
    await writeFile(token, rig.auditToken);
    await writeFile(root, rig.casRootPem);
    const common = [
      '--public-key',
      key,
      '--mdc',
      rig.mdc.mdc.apiUrl,
      '--token-file',
      token,
      '--cas-root',
      root,
    ];
    const ok = await runCli(
      'metering',
      'audit',
      '--meter',
      '12',
      '--from',
      String(t0 - INTERVAL),
      '--to',
      String(t0),
      ...common,
      '--json',
    );
    assert.equal(ok.code, 0, ok.err + ok.out);
    const report = JSON.parse(ok.out);
    assert.equal(report.verified, 1);
    assert.deepEqual(report.missing, []);
    // One interval earlier was never reported: the audit says it is missing and fails.
    const gap = await runCli(
      'metering',
      'audit',
      '--meter',
      '12',
      '--from',
      String(t0 - 2 * INTERVAL),
      '--to',
      String(t0),
      ...common,
    );
    assert.equal(gap.code, 1);
    assert.match(gap.out, /missing/i);
    const wrong = join(rig.dir, 'wrong-token');
    await writeFile(wrong, 'not-the-token');
    const bad = await runCli(
      'metering',
      'audit',
      '--meter',
      '12',
      '--from',
      String(t0 - INTERVAL),
      '--to',
      String(t0),
      '--public-key',
      key,
      '--mdc',
      rig.mdc.mdc.apiUrl,
      '--token-file',
      wrong,
      '--cas-root',
      root,
    );
    assert.equal(bad.code, 1, 'a wrong token is refused');
    assert.match(bad.err, /401/);
  });
});
