// The MDC is a separate `securecloud mdc` process, SIGKILLed in the middle of a round and started
// again on the same data: afterwards every reading of the round is stored exactly once (counted), the
// aggregator found the restarted MDC by itself (new CURVE key), and the meters' sessions survived.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type IngestRig, startIngestRig } from './ingest-fixture.ts';

const INTERVAL = 15 * 60_000;
const METERS = 1500;

describe('MDC killed mid-round', { timeout: 120_000 }, () => {
  let rig: IngestRig;
  const t0 = Math.floor(Date.now() / INTERVAL) * INTERVAL;

  before(async () => {
    rig = await startIngestRig({ meters: METERS, mdcProcess: true, batchSize: 50 });
    assert.equal(await rig.fleet.handshake(), METERS);
  });
  after(async () => {
    await rig?.close();
  });

  it('stores a first round', async () => {
    const r = await rig.fleet.round(t0 - INTERVAL, { deadlineMs: 30_000 });
    assert.equal(r.stored, METERS);
    assert.equal((await rig.mdcChild!.stats()).readings, METERS);
  });

  it('after SIGKILL and restart, the interrupted round is stored exactly once', async (t) => {
    const round = rig.fleet.round(t0, { deadlineMs: 60_000, resendAfterMs: 3000 });
    // Kill as soon as the MDC has acknowledged part of the round to the aggregator.
    const child = rig.mdcChild!;
    const aggregator = rig.aggregators[0]!.aggregator;
    const acked = aggregator.stats().acknowledged;
    while (aggregator.stats().acknowledged === acked) await new Promise((r) => setTimeout(r, 1));
    assert.equal(await child.stop('SIGKILL'), null, 'killed by a signal');
    const before = aggregator.stats().acknowledged - acked;
    assert.ok(before < METERS, `killed mid-round (${before} of ${METERS} acknowledged at the kill)`);
    const restarted = await rig.restartMdcChild();
    const r = await round;
    assert.equal(r.unacknowledged, 0, JSON.stringify(r));
    assert.equal(r.stored + r.duplicates, METERS, JSON.stringify(r));
    t.diagnostic(`acknowledged at the kill: ${before}; round: ${JSON.stringify(r)}`);
    const stats = await restarted.stats();
    assert.equal(stats.readings, 2 * METERS, 'two rounds, each reading once');
  });
});
