// The CAS side of the bus: the `channels` policy section, CURVE key registration bound to the
// instance lease, and the channel key list (CasService in process, sim evidence).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { generateCurveKeyPair } from '../../src/bus/index.ts';
import { type CasService, isCasError, parsePolicy } from '../../src/cas/index.ts';
import {
  apply,
  BILLING,
  basePolicy,
  MDC,
  OTHER,
  openCas,
  owner,
  simService,
  tempDir,
} from '../cas/cas-fixture.ts';

const channels = {
  readings: { publishers: ['mdc'], subscribers: ['billing'] },
  rpc: { members: ['mdc', 'billing'] },
};
const withChannels = (c: unknown) => JSON.stringify(basePolicy({ channels: c }));
const policyError = (path: string, text: RegExp) => (e: unknown) =>
  isCasError(e, 'ERR_POLICY_INVALID') && e.path === path && text.test(e.message);

describe('unit: channels policy section', () => {
  it('reads roles per service, members holding every role', () => {
    const policy = parsePolicy(withChannels(channels));
    assert.deepEqual(policy.channels.readings, {
      publishers: ['mdc'],
      subscribers: ['billing'],
      requesters: [],
      repliers: [],
    });
    assert.deepEqual(policy.channels.rpc?.repliers, ['mdc', 'billing']);
    assert.deepEqual(parsePolicy(JSON.stringify(basePolicy())).channels, {});
  });

  it('names the path of every mistake', () => {
    assert.throws(
      () => parsePolicy(withChannels({ readings: { publishers: ['mdx'] } })),
      policyError('channels.readings.publishers[0]', /did you mean "mdc"/),
    );
    assert.throws(
      () => parsePolicy(withChannels({ readings: { publisher: ['mdc'] } })),
      policyError('channels.readings.publisher', /did you mean "publishers"/),
    );
    assert.throws(
      () => parsePolicy(withChannels({ Readings: { publishers: ['mdc'] } })),
      policyError('channels.Readings', /not a valid name/),
    );
    assert.throws(
      () => parsePolicy(withChannels({ readings: {} })),
      policyError('channels.readings', /at least one service/),
    );
    assert.throws(
      () => parsePolicy(withChannels({ readings: { subscribers: ['mdc', 'mdc'] } })),
      policyError('channels.readings.subscribers[1]', /twice/),
    );
    assert.throws(() => parsePolicy(withChannels([])), policyError('channels', /expected a map/));
  });
});

describe('unit: CURVE keys at the CAS', () => {
  let dir: string;
  let cas: CasService;
  let clock = Date.now();
  const attest = async (identity: Parameters<typeof simService>[1], service: string) => {
    const grant = await cas.attest(await (await simService(dir, identity)).request(cas, service));
    return { grant, cert: new X509Certificate(grant.certificate) };
  };

  before(async () => {
    dir = await tempDir('bus-cas-');
    cas = await openCas(dir, { now: () => new Date(clock) });
    await apply(cas, withChannels(channels));
  });
  after(async () => {
    await cas.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists a registered key to a peer on the channel, with the roles of its service', async () => {
    const mdc = await attest({ measurement: MDC }, 'mdc');
    const billing = await attest({ measurement: OTHER, signer: BILLING, productId: 7, svn: 2 }, 'billing');
    const key = generateCurveKeyPair().publicKey;
    await cas.putCurveKey(mdc.cert, mdc.grant.instanceId, key);
    const answer = cas.channelKeys(billing.cert, 'readings');
    assert.deepEqual(answer.keys, [
      { instanceId: mdc.grant.instanceId, service: 'mdc', publicKey: key, roles: ['publisher'] },
    ]);
    assert.deepEqual(cas.channelKeys(billing.cert, 'rpc').keys[0]?.roles, [
      'publisher',
      'subscriber',
      'requester',
      'replier',
    ]);
    const audit = await cas.auditEntries(owner.spki);
    const recorded = audit.find((e) => e.kind === 'bus-key');
    assert.equal(recorded?.actor, 'mdc');
    assert.equal(recorded?.detail?.publicKey, key);
    cas.release(mdc.cert, mdc.grant.instanceId);
    cas.release(billing.cert, billing.grant.instanceId);
  });

  it('forgets the key when the lease is released or expires', async () => {
    const mdc = await attest({ measurement: MDC }, 'mdc');
    const billing = await attest({ measurement: OTHER, signer: BILLING, productId: 7, svn: 2 }, 'billing');
    await cas.putCurveKey(mdc.cert, mdc.grant.instanceId, generateCurveKeyPair().publicKey);
    assert.equal(cas.channelKeys(billing.cert, 'readings').keys.length, 1);
    cas.release(mdc.cert, mdc.grant.instanceId);
    assert.equal(cas.channelKeys(billing.cert, 'readings').keys.length, 0);
    const again = await attest({ measurement: MDC }, 'mdc');
    await cas.putCurveKey(again.cert, again.grant.instanceId, generateCurveKeyPair().publicKey);
    clock += 61_000; // both leases expire (60 s)
    await assert.rejects(
      async () => cas.channelKeys(billing.cert, 'readings'),
      (e) => isCasError(e, 'ERR_FORBIDDEN'),
    );
    await assert.rejects(
      cas.putCurveKey(again.cert, again.grant.instanceId, generateCurveKeyPair().publicKey),
      (e) => isCasError(e, 'ERR_NOT_FOUND'),
    );
  });

  it("refuses another instance's certificate, a malformed key and a key already taken", async () => {
    const mdc = await attest({ measurement: MDC }, 'mdc');
    const billing = await attest({ measurement: OTHER, signer: BILLING, productId: 7, svn: 2 }, 'billing');
    const key = generateCurveKeyPair().publicKey;
    await assert.rejects(cas.putCurveKey(billing.cert, mdc.grant.instanceId, key), (e) =>
      isCasError(e, 'ERR_FORBIDDEN'),
    );
    await assert.rejects(cas.putCurveKey(null, mdc.grant.instanceId, key), (e) =>
      isCasError(e, 'ERR_UNAUTHORIZED'),
    );
    await assert.rejects(cas.putCurveKey(mdc.cert, mdc.grant.instanceId, 'not-z85'), (e) =>
      isCasError(e, 'ERR_BAD_REQUEST'),
    );
    await cas.putCurveKey(mdc.cert, mdc.grant.instanceId, key);
    await assert.rejects(cas.putCurveKey(billing.cert, billing.grant.instanceId, key), (e) =>
      isCasError(e, 'ERR_CONFLICT'),
    );
    cas.release(mdc.cert, mdc.grant.instanceId);
    cas.release(billing.cert, billing.grant.instanceId);
  });

  it('lists keys only to services on the channel', async () => {
    const billing = await attest({ measurement: OTHER, signer: BILLING, productId: 7, svn: 2 }, 'billing');
    assert.throws(
      () => cas.channelKeys(billing.cert, 'alarms'),
      (e) => isCasError(e, 'ERR_NOT_FOUND'),
    );
    await apply(
      cas,
      JSON.stringify({
        ...basePolicy({ channels: { readings: { publishers: ['mdc'] } } }),
        predecessor: (await cas.status()).policy?.hash,
      }),
    );
    assert.throws(
      () => cas.channelKeys(billing.cert, 'readings'),
      (e) => isCasError(e, 'ERR_FORBIDDEN') && /not on channel/.test(e.message),
    );
  });
});
