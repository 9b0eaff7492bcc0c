import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Transport } from '../../src/bus/index.ts';
import { concatBytes, encodeHeader } from '../../src/bus/scbr/header-codec.ts';
import {
  ClientSession,
  createScbrPublisher,
  createScbrRouter,
  createScbrSubscriber,
  GroupKey,
  PayloadSealer,
  type ScbrMessage,
  type ScbrRouter,
  type ScbrSubscription,
  toHeader,
  verifyRouterAnnouncement,
} from '../../src/bus/scbr/index.ts';
import { RouterLink } from '../../src/bus/scbr/router-link.ts';
import { jsonBytes, KIND, plainFrame, readReply } from '../../src/bus/scbr/wire.ts';
import { CasCa } from '../../src/cas/index.ts';
import { createMetricsRegistry } from '../../src/platform/index.ts';
import { freePorts } from '../support/ports.ts';
import { transport, untilBound } from './bus-fixture.ts';
import {
  containsBytes,
  recordingTransport,
  routerSigner,
  type ScbrWorld,
  scbrWorld,
} from './scbr-fixture.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
});

async function startRouter(
  world: ScbrWorld,
  t: Transport,
  extra: Partial<Parameters<typeof createScbrRouter>[0]> = {},
) {
  const router = await createScbrRouter({
    transport: t,
    identity: world.router,
    signer: world.signer,
    publishEndpoint: 'tcp://127.0.0.1:0',
    subscribeEndpoint: 'tcp://127.0.0.1:0',
    ...extra,
  });
  closers.push(() => router.close());
  return router;
}

function clientOptions(world: ScbrWorld, t: Transport, router: ScbrRouter, role: 'publisher' | 'subscriber') {
  return {
    transport: t,
    identity: role === 'publisher' ? world.publisher : world.subscriber,
    endpoint: role === 'publisher' ? router.publishEndpoint : router.subscribeEndpoint,
    serverKey: world.router.publicKey,
    casRootPem: world.ca.rootPem,
  };
}

async function take(subscription: ScbrSubscription, n: number): Promise<ScbrMessage[]> {
  const out: ScbrMessage[] = [];
  if (n === 0) return out;
  for await (const m of subscription) {
    out.push(m);
    if (out.length === n) break;
  }
  return out;
}

function newTransport(world: ScbrWorld): Transport {
  const { transport: t } = transport(world.directory);
  closers.push(() => t.close());
  return t;
}

describe('unit', () => {
  it('routes each publication to the subscribers whose filters match, over CURVE', async () => {
    const world = scbrWorld();
    const router = await startRouter(world, newTransport(world));
    const clients = newTransport(world);
    const pub = await createScbrPublisher({
      ...clientOptions(world, clients, router, 'publisher'),
      groupKey: world.groupKey,
    });
    closers.push(() => pub.close());
    const sub = await createScbrSubscriber({
      ...clientOptions(world, clients, router, 'subscriber'),
      groupKeys: [world.groupKey],
    });
    closers.push(() => sub.close());
    const north = await sub.subscribe('region = "north" AND demand > 5');
    const meters = await sub.subscribe('meter ^= "BR-SP-"');
    await pub.publish({ region: 'north', demand: 7.5, meter: 'BR-RJ-1' }, enc.encode('one'));
    await pub.publish({ region: 'south', demand: 9, meter: 'BR-SP-2' }, enc.encode('two'));
    await pub.publish({ region: 'north', demand: 2, meter: 'BR-SP-3' }, enc.encode('three'));
    const [a] = await take(north, 1);
    assert.equal(dec.decode(a?.payload), 'one');
    assert.deepEqual(a?.attributes, { region: 'north', demand: 7.5, meter: 'BR-RJ-1' });
    assert.equal(a?.publisher, pub.publisherId);
    assert.deepEqual(
      (await take(meters, 2)).map((m) => dec.decode(m.payload)),
      ['two', 'three'],
    );
    const stats = router.stats();
    assert.equal(stats.subscriptions, 2);
    assert.equal(stats.publications.routed, 3);
  });

  it('never lets the router see a payload, a header value or a filter in clear', async () => {
    const world = scbrWorld();
    const received: Uint8Array[][] = [];
    const router = await startRouter(world, recordingTransport(newTransport(world), received));
    const clients = newTransport(world);
    const pub = await createScbrPublisher({
      ...clientOptions(world, clients, router, 'publisher'),
      groupKey: world.groupKey,
    });
    closers.push(() => pub.close());
    const sub = await createScbrSubscriber({
      ...clientOptions(world, clients, router, 'subscriber'),
      groupKeys: [world.groupKey],
    });
    closers.push(() => sub.close());
    const subscription = await sub.subscribe('customer = "Maria-Quiteria-0042" AND kwh > 12');
    const payload = enc.encode('reading of Maria Quiteria: 13.7 kWh at 21:45');
    await pub.publish({ customer: 'Maria-Quiteria-0042', kwh: 13.7 }, payload);
    const [m] = await take(subscription, 1);
    assert.deepEqual(m?.payload, payload);
    assert.ok(received.length >= 3, 'the router received the hello, subscription and publication');
    const secrets = [
      payload,
      enc.encode('Maria Quiteria'),
      enc.encode('Maria-Quiteria-0042'),
      enc.encode('customer'),
      enc.encode('kwh > 12'),
      Buffer.from(world.groupKey, 'hex'),
      enc.encode(world.groupKey),
    ];
    for (const frames of received) {
      for (const frame of frames) {
        for (const secret of secrets)
          assert.equal(containsBytes(frame, secret), false, `the router received ${dec.decode(secret)}`);
      }
    }
  });

  it('makes subscribers refuse tampered and replayed payloads, and the router replayed headers', async () => {
    const world = scbrWorld();
    const router = await startRouter(world, newTransport(world));
    const clients = newTransport(world);
    const errors: string[] = [];
    let notify = () => {};
    const sub = await createScbrSubscriber({
      ...clientOptions(world, clients, router, 'subscriber'),
      groupKeys: [world.groupKey],
      onError: (err) => {
        errors.push((err as { code?: string }).code ?? err.message);
        notify();
      },
    });
    closers.push(() => sub.close());
    const all = await sub.subscribe('TRUE');
    const link = await RouterLink.open(clientOptions(world, clients, router, 'publisher'), 'scbr.publish');
    closers.push(() => link.close());
    const sealer = new PayloadSealer(GroupKey.from(world.groupKey), 'scbr');
    const header = toHeader({ kind: 'reading' });
    const frames = async (seq: number, body: Uint8Array, mutate = (f: Uint8Array) => f) => {
      const session = await link.session();
      const seqBytes = new Uint8Array(8);
      new DataView(seqBytes.buffer).setBigUint64(0, BigInt(seq));
      const head = session.seal(
        KIND.publish,
        concatBytes([sealer.publisherId, seqBytes, encodeHeader(header)]),
      );
      return [head, mutate(sealer.seal(seq, header, body))];
    };
    const refused = (n: number) =>
      new Promise<void>((resolve) => {
        notify = () => errors.length >= n && resolve();
        notify();
      });
    await link.send(await frames(0, enc.encode('genuine')));
    assert.equal(dec.decode((await take(all, 1))[0]?.payload), 'genuine');
    await link.send(
      await frames(1, enc.encode('tampered'), (f) => {
        const bad = new Uint8Array(f);
        bad[bad.length - 20] = (bad[bad.length - 20] as number) ^ 1;
        return bad;
      }),
    );
    await refused(1);
    const replay = await frames(0, enc.encode('genuine'));
    await link.send(replay);
    await refused(2);
    assert.deepEqual(errors, ['ERR_SCBR_DECRYPT', 'ERR_SCBR_REPLAY']);
    assert.deepEqual(sub.stats().refused, { ERR_SCBR_DECRYPT: 1, ERR_SCBR_REPLAY: 1 });
    await link.send(replay);
    await link.send(await frames(2, enc.encode('after')));
    assert.equal(dec.decode((await take(all, 1))[0]?.payload), 'after');
    assert.equal(
      router.stats().refusals.ERR_SCBR_REPLAY,
      1,
      'the exact replay of a header is refused by the router',
    );
  });

  it('bounds what the router holds for a subscriber that stops reading, and keeps serving the others', async () => {
    const world = scbrWorld();
    const queueLength = 20;
    const metrics = createMetricsRegistry();
    const router = await startRouter(world, newTransport(world), {
      queueLength,
      queueBytes: 4 * 1024 * 1024,
      transportHighWaterMark: 4,
      metrics,
    });
    const clients = newTransport(world);
    const stalled = clients.createDealer({
      channel: 'scbr.subscribe',
      security: { mechanism: 'curve', identity: world.subscriber },
      receiveHighWaterMark: 2,
    });
    await stalled.connect(router.subscribeEndpoint, { serverKey: world.router.publicKey });
    await stalled.send([plainFrame(KIND.hello)]);
    const [announcement] = await stalled.receive({ timeoutMs: 5000 });
    const session = new ClientSession(
      verifyRouterAnnouncement((announcement as Uint8Array).subarray(2), { casRootPem: world.ca.rootPem }),
    );
    await stalled.send([session.seal(KIND.subscribe, jsonBytes({ n: 0, id: 'everything', filter: 'TRUE' }))]);
    const [reply] = await stalled.receive({ timeoutMs: 5000 });
    assert.equal(readReply(session.open(reply as Uint8Array).plaintext).ok, true);
    // From here on `stalled` never reads again.
    const healthy = await createScbrSubscriber({
      ...clientOptions(world, clients, router, 'subscriber'),
      groupKeys: [world.groupKey],
    });
    closers.push(() => healthy.close());
    const all = await healthy.subscribe('TRUE');
    const pub = await createScbrPublisher({
      ...clientOptions(world, clients, router, 'publisher'),
      groupKey: world.groupKey,
    });
    closers.push(() => pub.close());
    const body = new Uint8Array(64 * 1024).fill(7);
    const total = 500;
    let maxQueued = 0;
    for (let i = 0; i < total; i++) {
      await pub.publish({ i }, body);
      const [m] = await take(all, 1);
      assert.equal(m?.attributes.i, i, 'the healthy subscriber gets every publication, in order');
      maxQueued = Math.max(maxQueued, router.stats().queuedMessages);
    }
    const stats = router.stats();
    assert.ok(maxQueued <= queueLength + 1, `at most the queue bound waits in the router (saw ${maxQueued})`);
    assert.ok(
      stats.maxQueuedBytes <= (queueLength + 1) * (body.length + 200),
      `bytes bounded (saw ${stats.maxQueuedBytes})`,
    );
    assert.ok(
      stats.dropped.queueFull > 0,
      'the stalled subscriber lost messages instead of growing the router',
    );
    assert.equal(stats.publications.routed, total);
    assert.match(
      metrics.render(),
      new RegExp(`securecloud_scbr_dropped_total\\{reason="queue-full"\\} ${stats.dropped.queueFull}\\n`),
    );
    await stalled.close();
  });

  it('forgets unsubscribed subscriptions, those past their TTL, and subscribers whose lease ended', async () => {
    const world = scbrWorld();
    const router = await startRouter(world, newTransport(world), { subscriberLeaseMs: 60_000 });
    const clients = newTransport(world);
    const sub = await createScbrSubscriber({
      ...clientOptions(world, clients, router, 'subscriber'),
      groupKeys: [world.groupKey],
      heartbeatMs: 3_600_000,
    });
    closers.push(() => sub.close());
    const a = await sub.subscribe('x = 1');
    await sub.subscribe('x = 2', { ttlMs: 1000 });
    await sub.subscribe('x = 3');
    assert.equal(router.stats().subscriptions, 3);
    await a.unsubscribe();
    assert.equal(router.stats().subscriptions, 2);
    const ended = await a[Symbol.asyncIterator]().next();
    assert.equal(ended.done, true, 'an unsubscribed subscription ends its iteration');
    router.expire(Date.now() + 5_000);
    assert.deepEqual(
      [router.stats().subscriptions, router.stats().subscribers],
      [1, 1],
      'the TTL ran out, the lease did not',
    );
    router.expire(Date.now() + 61_000);
    assert.deepEqual(
      [router.stats().subscriptions, router.stats().subscribers, router.stats().sessions],
      [0, 0, 0],
    );
  });

  it('subscribes again after the router restarts with a new key', async () => {
    const world = scbrWorld();
    // Ports below the ephemeral range: a client reconnecting to a closed port inside it may connect
    // to itself and take the port the second router needs.
    const [publishPort, subscribePort] = await freePorts(2);
    const first = await startRouter(world, newTransport(world), {
      publishEndpoint: `tcp://127.0.0.1:${publishPort}`,
      subscribeEndpoint: `tcp://127.0.0.1:${subscribePort}`,
    });
    const clients = newTransport(world);
    const sub = await createScbrSubscriber({
      ...clientOptions(world, clients, first, 'subscriber'),
      groupKeys: [world.groupKey],
      heartbeatMs: 50,
    });
    closers.push(() => sub.close());
    const pub = await createScbrPublisher({
      ...clientOptions(world, clients, first, 'publisher'),
      groupKey: world.groupKey,
    });
    closers.push(() => pub.close());
    const north = await sub.subscribe('region = "north"');
    await pub.publish({ region: 'north' }, enc.encode('before'));
    assert.equal(dec.decode((await take(north, 1))[0]?.payload), 'before');
    const { publishEndpoint, subscribeEndpoint, keyId } = first;
    await first.close();
    // libzmq releases the old listeners on its I/O thread, after close() returns.
    const second = await untilBound(() =>
      startRouter(world, newTransport(world), { publishEndpoint, subscribeEndpoint }),
    );
    assert.notEqual(second.keyId, keyId);
    let got: ScbrMessage | undefined;
    const receiving = take(north, 1).then(([m]) => {
      got = m;
    });
    for (let i = 0; got === undefined; i++) {
      await pub.publish({ region: 'north', i }, enc.encode('after'));
      await Promise.race([receiving, new Promise((r) => setImmediate(r))]);
    }
    assert.equal(dec.decode(got.payload), 'after');
    assert.ok(sub.stats().resubscribed >= 1);
    assert.equal(second.stats().subscriptions, 1);
  });

  it('refuses to let a service admitted only as a subscriber publish', async () => {
    const world = scbrWorld();
    const { transport: routerTransport, decisions } = transport(world.directory);
    closers.push(() => routerTransport.close());
    const router = await startRouter(world, routerTransport);
    const clients = newTransport(world);
    await assert.rejects(
      createScbrPublisher({
        ...clientOptions(world, clients, router, 'publisher'),
        identity: world.subscriber,
        groupKey: world.groupKey,
        connectTimeoutMs: 1500,
      }),
      { code: 'ERR_SCBR_TIMEOUT' },
    );
    const refusal = await decisions.next((d) => !d.admitted && d.domain === 'scbr.publish');
    assert.equal(refusal.admitted, false);
  });

  it('reports a filter error with its column before anything reaches the router', async () => {
    const world = scbrWorld();
    const router = await startRouter(world, newTransport(world));
    const sub = await createScbrSubscriber({
      ...clientOptions(world, newTransport(world), router, 'subscriber'),
      groupKeys: [world.groupKey],
    });
    closers.push(() => sub.close());
    await assert.rejects(
      sub.subscribe('demand >'),
      (err: { code?: string; position?: { column: number } }) => {
        assert.equal(err.code, 'ERR_SCBR_FILTER_SYNTAX');
        assert.equal(err.position?.column, 9);
        return true;
      },
    );
    assert.equal(router.stats().subscriptions, 0);
  });

  it('refuses a router whose key is not signed by a service certificate of the pinned CAS', async () => {
    const world = scbrWorld();
    const impostor = routerSigner(CasCa.create());
    const router = await startRouter(world, newTransport(world), { signer: impostor });
    await assert.rejects(
      createScbrSubscriber({
        ...clientOptions(world, newTransport(world), router, 'subscriber'),
        groupKeys: [world.groupKey],
      }),
      (err: { code?: string; detail?: { check?: string } }) => {
        assert.equal(err.code, 'ERR_SCBR_ROUTER_KEY');
        assert.equal(err.detail?.check, 'certificate-chain');
        return true;
      },
    );
  });

  it('closes a subscriber when its signal aborts, ending its subscriptions', async () => {
    const world = scbrWorld();
    const router = await startRouter(world, newTransport(world));
    const controller = new AbortController();
    const sub = await createScbrSubscriber({
      ...clientOptions(world, newTransport(world), router, 'subscriber'),
      groupKeys: [world.groupKey],
      signal: controller.signal,
    });
    const subscription = await sub.subscribe('TRUE');
    const next = subscription[Symbol.asyncIterator]().next();
    controller.abort();
    assert.equal((await next).done, true);
    await assert.rejects(sub.subscribe('TRUE'), { code: 'ERR_SCBR_CLOSED' });
  });
});
