// Faults on the meter links: dropped, delayed and duplicated reports, and meters with a skewed clock.
// Meters resend what has no receipt; every good reading ends up stored exactly once, the skewed
// meters' reports are refused with their reason and never stored.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { prng } from '../support/prng.ts';
import { type IngestRig, startIngestRig } from './ingest-fixture.ts';

const INTERVAL = 15 * 60_000;
const METERS = 200;

describe('ingestion under link faults', { timeout: 120_000 }, () => {
  let rig: IngestRig;
  const t0 = Math.floor(Date.now() / INTERVAL) * INTERVAL;

  before(async () => {
    rig = await startIngestRig({
      meters: METERS,
      faults: { drop: 0.1, delay: 0.1, delayMs: 300, duplicate: 0.1, skewShare: 0.05 },
      random: prng(11),
    });
    assert.equal(await rig.fleet.handshake(), METERS);
  });
  after(async () => {
    await rig?.close();
  });

  it('stores every good reading once; skewed meters are refused and never stored', async () => {
    const r = await rig.fleet.round(t0, { deadlineMs: 6000, resendAfterMs: 700 });
    const skewed = r.unacknowledged;
    assert.ok(skewed > 0 && skewed < METERS / 5, `some meters are skewed (${skewed})`);
    assert.ok((r.refusals.ERR_READING_INVALID ?? 0) >= skewed, JSON.stringify(r.refusals));
    assert.ok(r.resent > 0, 'dropped reports were resent');
    assert.equal(r.stored, METERS - skewed, JSON.stringify(r));
    assert.equal(await rig.mdc.mdc.store.countReadings(), METERS - skewed);
    assert.ok(rig.mdc.mdc.ingest.counters.refusals.get('ERR_READING_INVALID')! >= skewed);
    const duplicates =
      rig.mdc.mdc.ingest.counters.duplicates +
      (rig.mdc.mdc.ingest.counters.refusals.get('ERR_ENVELOPE_REPLAYED') ?? 0);
    assert.ok(duplicates > 0, 'duplicated reports were answered as duplicates or replays');
  });
});
