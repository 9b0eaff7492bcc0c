// End to end: services attested by a real CAS create their bus identities, the CAS binds the CURVE
// keys to the instances, and the ZAP handler admits exactly the keys the CAS lists on the channel.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createBusIdentity,
  createCasKeyDirectory,
  createStaticKeyDirectory,
  createZmqTransport,
  type Transport,
} from '../../src/bus/index.ts';
import { type BusCas, startBusCas } from './bus-cas-fixture.ts';
import { DecisionLog, firstDelivery, frames, strings } from './bus-fixture.ts';

describe('bus bound to attestation through the CAS', () => {
  let cas: BusCas;
  const transports: Transport[] = [];
  const directories: Array<{ close(): void }> = [];

  before(async () => {
    cas = await startBusCas();
  });
  after(async () => {
    await Promise.all(transports.map((t) => t.close()));
    for (const d of directories) d.close();
    await cas?.close();
  });

  const node = async (name: 'mdc' | 'billing' | 'reports') => {
    const { service, cas: client } = await cas.start(name);
    const identity = await createBusIdentity(service, client);
    const directory = createCasKeyDirectory({ cas: client, minRefreshMs: 0 });
    const decisions = new DecisionLog();
    const transport = createZmqTransport({ keyDirectory: directory, onZapDecision: decisions.record });
    transports.push(transport);
    directories.push(directory);
    return { service, client, identity, directory, transport, decisions };
  };

  it('delivers from an attested publisher to an attested subscriber on the channel', async () => {
    const mdc = await node('mdc');
    const billing = await node('billing');
    const pub = mdc.transport.createPublisher({
      channel: 'readings',
      security: { mechanism: 'curve', identity: mdc.identity },
    });
    const at = await pub.bind('tcp://127.0.0.1:0');
    const [server] = await billing.directory.keysOf('readings', 'mdc', 'publisher');
    assert.equal(server?.publicKey, mdc.identity.publicKey);
    const sub = billing.transport.createSubscriber({
      channel: 'readings',
      security: { mechanism: 'curve', identity: billing.identity },
    });
    await sub.connect(at, { serverKey: server.publicKey });
    sub.subscribe();
    assert.deepEqual(strings(await firstDelivery(pub, sub, frames('kw', '5.2'))), ['kw', '5.2']);
    const admitted = await mdc.decisions.next((d) => d.admitted);
    assert.equal(admitted.service, 'billing');
    assert.equal(admitted.instanceId, billing.service.instanceId);
    await Promise.all([pub.close(), sub.close()]);
  });

  it('refuses an attested service that the policy does not put on the channel', async () => {
    const mdc = await node('mdc');
    const reports = await node('reports');
    const pub = mdc.transport.createPublisher({
      channel: 'readings',
      security: { mechanism: 'curve', identity: mdc.identity },
    });
    const at = await pub.bind('tcp://127.0.0.1:0');
    await assert.rejects(reports.directory.keys('readings'), /not on channel/);
    // reports cannot look the server key up; even knowing it, its own key is not listed: ZAP refuses.
    const sneaky = createZmqTransport({ keyDirectory: mdc.directory });
    transports.push(sneaky);
    const forced = sneaky.createSubscriber({
      channel: 'readings',
      security: { mechanism: 'curve', identity: reports.identity },
    });
    await forced.connect(at, { serverKey: mdc.identity.publicKey });
    forced.subscribe();
    const refusal = await mdc.decisions.next((d) => d.publicKey === reports.identity.publicKey);
    assert.deepEqual([refusal.admitted, refusal.reason], [false, 'key-unknown']);
    await Promise.all([forced.close(), pub.close()]);
  });

  it('stops admitting a key once its instance releases its lease', async () => {
    const mdc = await node('mdc');
    const billing = await node('billing');
    const pub = mdc.transport.createPublisher({
      channel: 'readings',
      security: { mechanism: 'curve', identity: mdc.identity },
    });
    const at = await pub.bind('tcp://127.0.0.1:0');
    assert.ok(await mdc.directory.find('readings', billing.identity.publicKey));
    await billing.service.close(); // releases the lease: the CAS forgets the key
    await mdc.directory.refresh('readings');
    assert.equal(await mdc.directory.find('readings', billing.identity.publicKey), undefined);
    // The released instance still knows the server key (as if cached) and its own secret key.
    const stale = createZmqTransport({
      keyDirectory: createStaticKeyDirectory({
        readings: [
          {
            publicKey: mdc.identity.publicKey,
            service: 'mdc',
            instanceId: mdc.service.instanceId,
            roles: ['publisher'],
          },
        ],
      }),
    });
    transports.push(stale);
    const sub = stale.createSubscriber({
      channel: 'readings',
      security: { mechanism: 'curve', identity: billing.identity },
    });
    await sub.connect(at, { serverKey: mdc.identity.publicKey });
    sub.subscribe();
    const refusal = await mdc.decisions.next((d) => d.publicKey === billing.identity.publicKey);
    assert.equal(refusal.reason, 'key-unknown');
    await Promise.all([pub.close(), sub.close()]);
  });
});
