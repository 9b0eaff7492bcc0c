// The contract every Transport implementation passes: the four patterns over CURVE, admission by
// the key directory only, reconnection, bounded queues, timeouts and graceful close.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  type BusSocketEvent,
  isBusError,
  type StaticKeyDirectory,
  type Transport,
  type ZapDecision,
} from '../../src/bus/index.ts';
import { freePorts } from '../support/ports.ts';
import {
  createStaticKeyDirectory,
  DecisionLog,
  EventLog,
  entry,
  firstDelivery,
  frames,
  identity,
  strings,
  untilBound,
} from './bus-fixture.ts';

/** What the contract needs from an implementation. */
export interface TransportUnderTest {
  readonly name: string;
  /**
   * A transport over `directory` that reports ZAP decisions to `onDecision`; `allowNull` for
   * attackers. Refused handshakes should be retried quickly (tens of ms) to keep the suite fast.
   */
  make(
    directory: StaticKeyDirectory,
    onDecision: (d: ZapDecision) => void,
    options?: { allowNull?: boolean },
  ): Transport;
  /** A local endpoint with a free port. */
  readonly endpoint: string;
}

const curve = (who: ReturnType<typeof identity>) => ({ mechanism: 'curve' as const, identity: who });

export function transportContract(impl: TransportUnderTest): void {
  const mdc = identity('mdc');
  const billing = identity('billing');
  const intruder = identity('billing'); // a real service name, but a key the CAS never listed
  const reports = identity('reports'); // attested, but only a publisher on the channel
  const directory = createStaticKeyDirectory({
    readings: [
      entry(mdc, ['publisher', 'replier']),
      entry(billing, ['subscriber', 'requester']),
      entry(reports, ['publisher']),
    ],
  });
  const decisions = new DecisionLog();
  const open: Transport[] = [];
  const make = (options?: { allowNull?: boolean }) => {
    const t = impl.make(directory, decisions.record, options);
    open.push(t);
    return t;
  };
  const server = make();
  const client = make();
  after(() => Promise.all(open.map((t) => t.close())));

  describe(`${impl.name} transport: patterns over CURVE`, () => {
    it('delivers publications to an admitted subscriber', async () => {
      const pub = server.createPublisher({ channel: 'readings', security: curve(mdc) });
      const sub = client.createSubscriber({ channel: 'readings', security: curve(billing) });
      const at = await pub.bind(impl.endpoint);
      await sub.connect(at, { serverKey: mdc.publicKey });
      sub.subscribe('r.');
      assert.deepEqual(strings(await firstDelivery(pub, sub, frames('r.north', '5.2'))), ['r.north', '5.2']);
      await Promise.all([pub.close(), sub.close()]);
    });

    it('answers requests and lets replies go in any order', async () => {
      const rep = server.createReply({ channel: 'readings', security: curve(mdc) });
      const req1 = client.createRequest({ channel: 'readings', security: curve(billing) });
      const req2 = client.createRequest({ channel: 'readings', security: curve(billing) });
      const at = await rep.bind(impl.endpoint);
      await req1.connect(at, { serverKey: mdc.publicKey });
      await req2.connect(at, { serverKey: mdc.publicKey });
      const answers = Promise.all([req1.request(frames('one')), req2.request(frames('two'))]);
      const first = await rep.receive();
      const second = await rep.receive();
      await second.reply(frames(`re:${strings(second.frames)[0]}`));
      await first.reply(frames(`re:${strings(first.frames)[0]}`));
      assert.deepEqual((await answers).map(strings), [['re:one'], ['re:two']]);
      await Promise.all([rep.close(), req1.close(), req2.close()]);
    });

    it('distributes work from push to pull', async () => {
      const pull = server.createPull({ channel: 'readings', security: curve(billing) });
      const push = client.createPush({ channel: 'readings', security: curve(mdc) });
      const at = await pull.bind(impl.endpoint);
      await push.connect(at, { serverKey: billing.publicKey });
      for (let i = 0; i < 10; i++) await push.send(frames(`job ${i}`));
      const got: string[] = [];
      for await (const m of pull) {
        got.push(strings(m)[0]!);
        if (got.length === 10) break;
      }
      assert.deepEqual(
        got,
        Array.from({ length: 10 }, (_, i) => `job ${i}`),
      );
      await Promise.all([pull.close(), push.close()]);
    });

    it('carries asynchronous traffic between dealer and router with routing ids', async () => {
      const router = server.createRouter({ channel: 'readings', security: curve(mdc) });
      const dealer = client.createDealer({
        channel: 'readings',
        security: curve(billing),
        routingId: 'billing-1',
      });
      const at = await router.bind(impl.endpoint);
      await dealer.connect(at, { serverKey: mdc.publicKey });
      await dealer.send(frames('hello'));
      const [peer, ...body] = await router.receive();
      assert.equal(new TextDecoder().decode(peer), 'billing-1');
      assert.deepEqual(strings(body), ['hello']);
      await router.send([peer!, ...frames('a'), ...frames('b')]);
      assert.deepEqual(strings(await dealer.receive()), ['a', 'b']);
      await assert.rejects(router.send([...frames('nobody'), ...frames('x')]), (e) =>
        isBusError(e, 'ERR_BUS_UNROUTABLE'),
      );
      await Promise.all([router.close(), dealer.close()]);
    });
  });

  describe(`${impl.name} transport: admission`, () => {
    it('refuses a CURVE key the directory does not list', async () => {
      const pub = server.createPublisher({ channel: 'readings', security: curve(mdc) });
      const events = new EventLog();
      const sub = client.createSubscriber({
        channel: 'readings',
        security: curve(intruder),
        onEvent: events.record,
      });
      const at = await pub.bind(impl.endpoint);
      await sub.connect(at, { serverKey: mdc.publicKey });
      sub.subscribe();
      const refusal = await decisions.next((d) => d.publicKey === intruder.publicKey);
      assert.equal(refusal.admitted, false);
      assert.equal(refusal.reason, 'key-unknown');
      const failed = (await events.next('handshake-failed')) as Extract<BusSocketEvent, { reason: string }>;
      assert.match(failed.reason, /refused by the peer/);
      await Promise.all([pub.close(), sub.close()]);
    });

    it('refuses a listed key whose service lacks the role this socket needs', async () => {
      const pub = server.createPublisher({ channel: 'readings', security: curve(mdc) });
      const sub = client.createSubscriber({ channel: 'readings', security: curve(reports) });
      const at = await pub.bind(impl.endpoint);
      await sub.connect(at, { serverKey: mdc.publicKey }).catch(() => {});
      const refusal = await decisions.next((d) => d.publicKey === reports.publicKey);
      assert.equal(refusal.reason, 'role-not-allowed');
      assert.equal(refusal.service, 'reports');
      await Promise.all([pub.close(), sub.close()]);
    });

    it('refuses a peer using the NULL mechanism', async () => {
      const events = new EventLog();
      const pub = server.createPublisher({
        channel: 'readings',
        security: curve(mdc),
        onEvent: events.record,
      });
      const attacker = make({ allowNull: true });
      const sub = attacker.createSubscriber({
        channel: 'readings',
        security: { mechanism: 'null' },
        onEvent: events.record,
      });
      const at = await pub.bind(impl.endpoint);
      await sub.connect(at);
      sub.subscribe();
      const mismatch = await events.match(
        (e) => e.type === 'handshake-failed' && /MECHANISM_MISMATCH/.test(e.reason),
      );
      assert.equal(mismatch.type, 'handshake-failed');
      assert.ok(!events.events.some((e) => e.type === 'handshake'), 'no handshake may succeed');
      await Promise.all([pub.close(), sub.close()]);
    });

    it('refuses a key listed on another channel only', async () => {
      const pub = server.createPublisher({ channel: 'alarms', security: curve(mdc) });
      const sub = client.createSubscriber({ channel: 'alarms', security: curve(billing) });
      const at = await pub.bind(impl.endpoint);
      await assert.rejects(sub.connect(at, { serverKey: mdc.publicKey }), (e) =>
        isBusError(e, 'ERR_BUS_PEER_UNKNOWN'),
      );
      await Promise.all([pub.close(), sub.close()]);
    });

    it('refuses to connect to a server key the directory does not list', async () => {
      const sub = client.createSubscriber({ channel: 'readings', security: curve(billing) });
      await assert.rejects(sub.connect(impl.endpoint, { serverKey: intruder.publicKey }), (e) =>
        isBusError(e, 'ERR_BUS_PEER_UNKNOWN'),
      );
      await sub.close();
    });

    it('refuses the NULL mechanism unless the transport allows it', () => {
      assert.throws(
        () => server.createPublisher({ channel: 'readings', security: { mechanism: 'null' } }),
        (e) => isBusError(e, 'ERR_BUS_NULL_REFUSED'),
      );
    });
  });

  describe(`${impl.name} transport: life-cycle`, () => {
    it('reconnects after the publisher restarts on the same endpoint', async () => {
      const first = server.createPublisher({ channel: 'readings', security: curve(mdc) });
      const at = await first.bind(await restartableEndpoint(impl.endpoint));
      const sub = client.createSubscriber({ channel: 'readings', security: curve(billing) });
      await sub.connect(at, { serverKey: mdc.publicKey });
      sub.subscribe();
      assert.deepEqual(strings(await firstDelivery(first, sub, frames('before'))), ['before']);
      await first.close();
      const restarted = server.createPublisher({ channel: 'readings', security: curve(mdc) });
      // The old listener is released asynchronously by libzmq's I/O thread: retry the bind until free.
      await untilBound(() => restarted.bind(at));
      let got: string[] = [];
      while (got[0] !== 'after') got = strings(await firstDelivery(restarted, sub, frames('after')));
      await Promise.all([restarted.close(), sub.close()]);
    });

    it('admits a restarted subscriber with a new key once the directory lists it', async () => {
      const pub = server.createPublisher({ channel: 'readings', security: curve(mdc) });
      const at = await pub.bind(impl.endpoint);
      const again = identity('billing');
      directory.add('readings', entry(again, ['subscriber']));
      const sub = client.createSubscriber({ channel: 'readings', security: curve(again) });
      await sub.connect(at, { serverKey: mdc.publicKey });
      sub.subscribe();
      assert.deepEqual(strings(await firstDelivery(pub, sub, frames('welcome'))), ['welcome']);
      directory.remove('readings', again.publicKey);
      await Promise.all([pub.close(), sub.close()]);
    });

    it('retries a refused handshake and gets in once the directory lists the key', async () => {
      const pub = server.createPublisher({ channel: 'readings', security: curve(mdc) });
      const at = await pub.bind(impl.endpoint);
      const late = identity('billing');
      const sub = client.createSubscriber({ channel: 'readings', security: curve(late) });
      await sub.connect(at, { serverKey: mdc.publicKey });
      sub.subscribe();
      const refused = await decisions.next((d) => d.publicKey === late.publicKey);
      assert.equal(refused.reason, 'key-unknown');
      directory.add('readings', entry(late, ['subscriber']));
      await decisions.next((d) => d.publicKey === late.publicKey && d.admitted);
      assert.deepEqual(strings(await firstDelivery(pub, sub, frames('finally'))), ['finally']);
      directory.remove('readings', late.publicKey);
      await Promise.all([pub.close(), sub.close()]);
    });

    it('drops for a subscriber that stops reading instead of queueing without bound', async () => {
      const pub = server.createPublisher({
        channel: 'readings',
        security: curve(mdc),
        sendHighWaterMark: 10,
      });
      const sub = client.createSubscriber({
        channel: 'readings',
        security: curve(billing),
        receiveHighWaterMark: 10,
      });
      const at = await pub.bind(impl.endpoint);
      await sub.connect(at, { serverKey: mdc.publicKey });
      sub.subscribe();
      await firstDelivery(pub, sub);
      const payload = new Uint8Array(16 * 1024);
      const sent = 4000; // 64 MiB offered while nobody reads
      for (let i = 0; i < sent; i++) await pub.send([...frames('data'), payload]); // never waits
      let received = 0;
      let ended = false;
      const reading = (async () => {
        for await (const m of sub) {
          if (strings(m.slice(0, 1))[0] === 'end') break;
          received++;
        }
        ended = true;
      })();
      while (!ended) {
        await pub.send(frames('end'));
        await new Promise((r) => setImmediate(r));
      }
      await reading;
      assert.ok(received < sent / 2, `received ${received} of ${sent}: the queues did not bound them`);
      await Promise.all([pub.close(), sub.close()]);
    });

    it('makes push wait (then time out) when the puller stops reading', async () => {
      const pull = server.createPull({
        channel: 'readings',
        security: curve(billing),
        receiveHighWaterMark: 5,
      });
      const push = client.createPush({ channel: 'readings', security: curve(mdc), sendHighWaterMark: 5 });
      const at = await pull.bind(impl.endpoint);
      await push.connect(at, { serverKey: billing.publicKey });
      await push.send(frames('first'));
      await pull.receive();
      const payload = new Uint8Array(16 * 1024);
      let queued = 0;
      let error: unknown;
      while (queued < 20_000) {
        try {
          await push.send([payload], { timeoutMs: 200 });
          queued++;
        } catch (err) {
          error = err;
          break;
        }
      }
      assert.ok(isBusError(error, 'ERR_BUS_TIMEOUT'), `push queued ${queued} messages without waiting`);
      await Promise.all([pull.close(), push.close()]);
    });

    it('times out a request without a reply and stays usable', async () => {
      const rep = server.createReply({ channel: 'readings', security: curve(mdc) });
      const req = client.createRequest({
        channel: 'readings',
        security: curve(billing),
        requestTimeoutMs: 100,
      });
      const at = await rep.bind(impl.endpoint);
      await req.connect(at, { serverKey: mdc.publicKey });
      const unanswered = req.request(frames('slow'));
      const slow = await rep.receive();
      await assert.rejects(unanswered, (e) => isBusError(e, 'ERR_BUS_TIMEOUT'));
      const second = req.request(frames('fast'), { timeoutMs: 5000 });
      const fast = await rep.receive();
      await slow.reply(frames('late')); // dropped by the requester: it no longer waits for it
      await fast.reply(frames('on time'));
      assert.deepEqual(strings(await second), ['on time']);
      await Promise.all([rep.close(), req.close()]);
    });

    it('closes gracefully: queued messages are delivered, receivers end, later calls fail', async () => {
      const pull = server.createPull({ channel: 'readings', security: curve(billing) });
      const push = client.createPush({ channel: 'readings', security: curve(mdc), lingerMs: 5000 });
      const at = await pull.bind(impl.endpoint);
      await push.connect(at, { serverKey: billing.publicKey });
      for (let i = 0; i < 100; i++) await push.send(frames(String(i)));
      await push.close();
      await assert.rejects(push.send(frames('x')), (e) => isBusError(e, 'ERR_BUS_CLOSED'));
      let count = 0;
      for await (const _ of pull) if (++count === 100) break;
      assert.equal(count, 100);
      const ending = (async () => {
        for await (const _ of pull) assert.fail('no message expected');
        return 'ended';
      })();
      await pull.close();
      assert.equal(await ending, 'ended');
    });

    it('keeps concurrent sends in order', async () => {
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(w.message);
      process.on('warning', onWarning);
      const pull = server.createPull({ channel: 'readings', security: curve(billing) });
      const push = client.createPush({ channel: 'readings', security: curve(mdc) });
      const at = await pull.bind(impl.endpoint);
      await push.connect(at, { serverKey: billing.publicKey });
      const sends = Array.from({ length: 200 }, (_, i) => push.send(frames(String(i))));
      const got: string[] = [];
      for await (const m of pull) if (got.push(strings(m)[0]!) === 200) break;
      await Promise.all(sends);
      assert.deepEqual(
        got,
        Array.from({ length: 200 }, (_, i) => String(i)),
      );
      process.off('warning', onWarning);
      assert.deepEqual(warnings, []);
      await Promise.all([pull.close(), push.close()]);
    });

    it('aborts a receive without losing the message it was waiting for', async () => {
      const pull = server.createPull({ channel: 'readings', security: curve(billing) });
      const push = client.createPush({ channel: 'readings', security: curve(mdc) });
      const at = await pull.bind(impl.endpoint);
      await push.connect(at, { serverKey: billing.publicKey });
      const controller = new AbortController();
      const waiting = pull.receive({ signal: controller.signal });
      controller.abort();
      await assert.rejects(waiting, (e) => isBusError(e, 'ERR_BUS_ABORTED'));
      await push.send(frames('kept'));
      assert.deepEqual(strings(await pull.receive()), ['kept']);
      await Promise.all([pull.close(), push.close()]);
    });
  });
}

/**
 * `endpoint`, with a TCP port 0 replaced by a free port below the ephemeral range: a subscriber
 * reconnecting to a closed port inside that range may connect to itself and take the port.
 */
async function restartableEndpoint(endpoint: string): Promise<string> {
  if (!endpoint.startsWith('tcp://') || !endpoint.endsWith(':0')) return endpoint;
  const [port] = await freePorts(1);
  return `${endpoint.slice(0, -1)}${port}`;
}
