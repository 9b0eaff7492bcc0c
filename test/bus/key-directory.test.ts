import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCasKeyDirectory, createStaticKeyDirectory, isBusError } from '../../src/bus/index.ts';
import { entry, identity } from './bus-fixture.ts';

const mdc = identity('mdc');
const billing = identity('billing');

/** A fake CAS answering from a mutable list, counting calls. */
function fakeCas(keys: unknown[]) {
  const cas = {
    keys,
    calls: 0,
    fail: false,
    channelKeys: async (channel: string) => {
      cas.calls++;
      if (cas.fail) throw new Error('unreachable');
      return { channel, keys: cas.keys };
    },
  };
  return cas;
}

describe('unit: static key directory', () => {
  it('lists, finds and removes keys per channel', async () => {
    const dir = createStaticKeyDirectory({ readings: [entry(mdc, ['publisher'])] });
    dir.add('readings', entry(billing, ['subscriber']));
    assert.equal((await dir.find('readings', mdc.publicKey))?.service, 'mdc');
    assert.equal(await dir.find('alarms', mdc.publicKey), undefined);
    assert.deepEqual(
      (await dir.keysOf('readings', 'billing', 'subscriber')).map((k) => k.publicKey),
      [billing.publicKey],
    );
    assert.deepEqual(await dir.keysOf('readings', 'billing', 'publisher'), []);
    assert.equal(dir.remove('readings', mdc.publicKey), true);
    assert.equal(await dir.find('readings', mdc.publicKey), undefined);
  });

  it('refuses malformed entries and channel names', () => {
    const dir = createStaticKeyDirectory();
    assert.throws(
      () => dir.add('readings', { ...entry(mdc, ['publisher']), publicKey: 'short' }),
      (e) => isBusError(e, 'ERR_BUS_KEY_DIRECTORY'),
    );
    assert.throws(
      () => dir.add('readings', { ...entry(mdc, []) }),
      (e) => isBusError(e, 'ERR_BUS_KEY_DIRECTORY'),
    );
    assert.throws(() => dir.add('Bad Channel', entry(mdc, ['publisher'])), TypeError);
  });
});

describe('unit: CAS-backed key directory', () => {
  it('fetches a channel on first use and finds its keys', async () => {
    const cas = fakeCas([entry(mdc, ['publisher'])]);
    const dir = createCasKeyDirectory({ cas, now: () => 0 });
    assert.equal((await dir.find('readings', mdc.publicKey))?.instanceId, mdc.credential.instanceId);
    assert.equal(cas.calls, 1);
    dir.close();
  });

  it('refreshes on a miss, at most once per minRefreshMs', async () => {
    let now = 0;
    const cas = fakeCas([entry(mdc, ['publisher'])]);
    const dir = createCasKeyDirectory({ cas, now: () => now, minRefreshMs: 1000 });
    assert.equal(await dir.find('readings', billing.publicKey), undefined);
    assert.equal(await dir.find('readings', billing.publicKey), undefined);
    assert.equal(cas.calls, 1);
    cas.keys = [entry(mdc, ['publisher']), entry(billing, ['subscriber'])];
    now = 1000;
    assert.equal((await dir.find('readings', billing.publicKey))?.service, 'billing');
    assert.equal(cas.calls, 2);
    dir.close();
  });

  it('forgets a key the CAS no longer lists after the next refresh', async () => {
    let now = 0;
    const cas = fakeCas([entry(mdc, ['publisher'])]);
    const dir = createCasKeyDirectory({ cas, now: () => now, refreshMs: 5000 });
    assert.ok(await dir.find('readings', mdc.publicKey));
    cas.keys = [];
    now = 5000;
    await dir.refresh('readings');
    assert.equal(await dir.find('readings', mdc.publicKey), undefined);
    dir.close();
  });

  it('drops a list it could not refresh for maxStaleMs, and refuses until the CAS answers', async () => {
    let now = 0;
    const cas = fakeCas([entry(mdc, ['publisher'])]);
    const dir = createCasKeyDirectory({ cas, now: () => now, refreshMs: 1000, maxStaleMs: 3000 });
    assert.ok(await dir.find('readings', mdc.publicKey));
    cas.fail = true;
    now = 2000;
    assert.ok(await dir.find('readings', mdc.publicKey), 'still fresh enough');
    now = 3001;
    await assert.rejects(dir.find('readings', mdc.publicKey), (e) => isBusError(e, 'ERR_BUS_KEY_DIRECTORY'));
    cas.fail = false;
    now = 5000;
    assert.ok(await dir.find('readings', mdc.publicKey));
    dir.close();
  });

  it('refuses a CAS answer with a malformed entry', async () => {
    const cas = fakeCas([
      { publicKey: mdc.publicKey, service: 'MDC!', instanceId: 'i', roles: ['publisher'] },
    ]);
    const dir = createCasKeyDirectory({ cas, now: () => 0 });
    await assert.rejects(
      dir.keys('readings'),
      (e) => isBusError(e, 'ERR_BUS_KEY_DIRECTORY') && /service/.test(e.message),
    );
    dir.close();
  });
});
