import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createSigningKeyPair,
  decodeInstantaneousResponse,
  encodeInstantaneousCommand,
  encodeInstantaneousResponse,
  isMeteringError,
  MdcEndpoint,
  MeterEndpoint,
  type MeteringErrorCode,
  messageType,
} from '../../src/metering/index.ts';
import { MDC, METER, pair, sampleReport, seed, T0 } from './protocol-fixture.ts';

const refusedWith = (code: MeteringErrorCode) => (e: unknown) => {
  assert.ok(isMeteringError(e), `expected a MeteringError, got ${String(e)}`);
  assert.equal(e.code, code);
  return true;
};
const report = encodeInstantaneousResponse(sampleReport());

describe('secure envelope', () => {
  it('carries a report from meter to MDC and a command back after the handshake', () => {
    const { meter, mdc, handshake } = pair();
    const { hello, accept, finish } = handshake();
    assert.deepEqual([hello.length, accept.length, finish.length], [118, 110, 78]);
    const envelope = meter.seal(report);
    assert.equal(messageType(envelope), 'dataUp');
    assert.equal(envelope.length, 296);
    const opened = mdc.open(envelope);
    assert.equal(opened.meterId, '00012345');
    assert.equal(opened.counter, 1);
    assert.deepEqual(decodeInstantaneousResponse(opened.block), sampleReport());
    const ack = encodeInstantaneousCommand('000001');
    assert.deepEqual(meter.open(mdc.seal('00012345', ack)), ack);
    assert.equal(mdc.sessionCount, 1);
  });

  it('hides the block from aggregators (no plaintext in the envelope)', () => {
    const { meter, handshake } = pair();
    handshake();
    const envelope = Buffer.from(meter.seal(report));
    assert.equal(envelope.includes(Buffer.from(report.subarray(5, 40))), false);
  });

  it('refuses a hello from an unprovisioned meter with ERR_METER_UNKNOWN', () => {
    const stranger = createSigningKeyPair(seed('stranger'));
    const meter = new MeterEndpoint({
      meterId: '99999999',
      privateKey: stranger.privateKey,
      mdcPublicKey: MDC.publicKey,
    });
    const { mdc } = pair();
    assert.throws(() => mdc.acceptHello(meter.startHandshake()), refusedWith('ERR_METER_UNKNOWN'));
  });

  it('refuses a forged meter (known id, wrong key) with ERR_METER_SIGNATURE', () => {
    const forger = createSigningKeyPair(seed('forger'));
    const meter = new MeterEndpoint({
      meterId: '00012345',
      privateKey: forger.privateKey,
      mdcPublicKey: MDC.publicKey,
    });
    const { mdc } = pair();
    assert.throws(() => mdc.acceptHello(meter.startHandshake()), refusedWith('ERR_METER_SIGNATURE'));
  });

  it('refuses a hello made for another MDC key with ERR_MDC_KEY', () => {
    const other = createSigningKeyPair(seed('other-mdc'));
    const meter = new MeterEndpoint({
      meterId: '00012345',
      privateKey: METER.privateKey,
      mdcPublicKey: other.publicKey,
    });
    const { mdc } = pair();
    assert.throws(() => mdc.acceptHello(meter.startHandshake()), refusedWith('ERR_MDC_KEY'));
  });

  it('refuses an accept not signed by the MDC key of manufacture with ERR_MDC_KEY at the meter', () => {
    const { meter, mdc } = pair();
    const accept = Buffer.from(mdc.acceptHello(meter.startHandshake()));
    accept[60] = (accept[60] ?? 0) ^ 1; // a signature byte: as if an impostor had signed
    assert.throws(() => meter.completeHandshake(accept), refusedWith('ERR_MDC_KEY'));
  });

  it('refuses a replayed hello with ERR_HANDSHAKE_REPLAYED', () => {
    const { meter, mdc } = pair();
    const hello = meter.startHandshake();
    mdc.acceptHello(hello);
    assert.throws(() => mdc.acceptHello(hello), refusedWith('ERR_HANDSHAKE_REPLAYED'));
  });

  it('refuses a hello from a skewed clock with ERR_HANDSHAKE_STALE', () => {
    const { meter, mdc, clock } = pair();
    const hello = meter.startHandshake();
    clock.advance(11 * 60_000);
    assert.throws(() => mdc.acceptHello(hello), refusedWith('ERR_HANDSHAKE_STALE'));
  });

  it('refuses a finish with a bad meter signature', () => {
    const { meter, mdc } = pair();
    const finish = Buffer.from(meter.completeHandshake(mdc.acceptHello(meter.startHandshake())));
    finish[40] = (finish[40] ?? 0) ^ 1;
    assert.throws(() => mdc.acceptFinish(finish), refusedWith('ERR_METER_SIGNATURE'));
  });

  it('refuses a tampered byte in each position class of an envelope', () => {
    const cases: Array<[string, number, MeteringErrorCode]> = [
      ['version', 0, 'ERR_ENVELOPE_MALFORMED'],
      ['type', 1, 'ERR_ENVELOPE_MALFORMED'],
      ['meter id', 5, 'ERR_SESSION_UNKNOWN'],
      ['session id', 10, 'ERR_SESSION_UNKNOWN'],
      ['counter', 21, 'ERR_ENVELOPE_TAMPERED'],
      ['ciphertext', 100, 'ERR_ENVELOPE_TAMPERED'],
      ['tag', 290, 'ERR_ENVELOPE_TAMPERED'],
    ];
    for (const [what, at, code] of cases) {
      const { meter, mdc, handshake } = pair({}, what);
      handshake();
      const envelope = Buffer.from(meter.seal(report));
      envelope[at] = (envelope[at] ?? 0) ^ 0x40;
      assert.throws(() => mdc.open(envelope), refusedWith(code), what);
      // The untouched envelope still opens: a refusal records nothing.
      envelope[at] = (envelope[at] ?? 0) ^ 0x40;
      assert.equal(mdc.open(envelope).counter, 1, what);
    }
  });

  it('refuses a replayed envelope with ERR_ENVELOPE_REPLAYED', () => {
    const { meter, mdc, handshake } = pair();
    handshake();
    const envelope = meter.seal(report);
    mdc.open(envelope);
    assert.throws(() => mdc.open(envelope), refusedWith('ERR_ENVELOPE_REPLAYED'));
  });

  it('accepts reordering inside the window and refuses it outside with ERR_ENVELOPE_REORDERED', () => {
    const { meter, mdc, handshake } = pair({ window: 4 });
    handshake();
    const envelopes = Array.from({ length: 8 }, () => meter.seal(report));
    mdc.open(envelopes[5]!);
    assert.equal(mdc.open(envelopes[3]!).counter, 4); // 6 - 4 < 4: inside
    assert.throws(() => mdc.open(envelopes[1]!), refusedWith('ERR_ENVELOPE_REORDERED')); // 2 <= 6 - 4
    assert.equal(mdc.open(envelopes[7]!).counter, 8);
  });

  it('renews the session after N messages and keeps the previous one for envelopes in flight', () => {
    const { meter, mdc, handshake } = pair({ maxMessages: 3 });
    handshake();
    const first = meter.sessionId;
    const late = [meter.seal(report), meter.seal(report), meter.seal(report)];
    assert.equal(meter.needsHandshake(), true);
    assert.throws(() => meter.seal(report), refusedWith('ERR_SESSION_EXPIRED'));
    handshake();
    assert.notEqual(meter.sessionId, first);
    assert.equal(mdc.open(meter.seal(report)).counter, 1);
    for (const e of late) assert.equal(mdc.open(e).sessionId, first);
  });

  it('renews after T and refuses a session past its acceptance age with ERR_SESSION_EXPIRED', () => {
    const { meter, mdc, handshake, clock } = pair({ renewAfterMs: 1000, acceptForMs: 5000 });
    handshake();
    const envelope = meter.seal(report);
    clock.advance(1000);
    assert.equal(meter.needsHandshake(), true);
    clock.advance(4001);
    assert.throws(() => mdc.open(envelope), refusedWith('ERR_SESSION_EXPIRED'));
  });

  it('refuses an authentic counter above the MDC message limit with ERR_SESSION_EXPIRED', () => {
    const { meter } = pair({ maxMessages: 5 }, 'limit');
    const mdc = new MdcEndpoint({
      privateKey: MDC.privateKey,
      meterPublicKey: () => METER.publicKey,
      limits: { maxMessages: 2 },
      now: () => T0,
    });
    mdc.acceptFinish(meter.completeHandshake(mdc.acceptHello(meter.startHandshake())));
    mdc.open(meter.seal(report));
    mdc.open(meter.seal(report));
    assert.throws(() => mdc.open(meter.seal(report)), refusedWith('ERR_SESSION_EXPIRED'));
  });

  it('keeps separate sessions and counters for many meters', () => {
    const mdcKeys = new Map<string, ReturnType<typeof createSigningKeyPair>>();
    const meters = Array.from({ length: 20 }, (_, i) => {
      const id = String(i + 1).padStart(8, '0');
      const keys = createSigningKeyPair(seed(`meter/${id}`));
      mdcKeys.set(id, keys);
      return new MeterEndpoint({ meterId: id, privateKey: keys.privateKey, mdcPublicKey: MDC.publicKey });
    });
    const mdc = new MdcEndpoint({
      privateKey: MDC.privateKey,
      meterPublicKey: (id) => mdcKeys.get(id)?.publicKey,
    });
    for (const m of meters) mdc.acceptFinish(m.completeHandshake(mdc.acceptHello(m.startHandshake())));
    assert.equal(mdc.sessionCount, 20);
    for (const m of meters) {
      for (let n = 1; n <= 3; n++) {
        const block = encodeInstantaneousResponse(sampleReport(m.meterId));
        assert.equal(mdc.open(m.seal(block)).counter, n);
      }
    }
    // A meter's block inside another meter's envelope is refused.
    const [a] = meters;
    assert.throws(() => mdc.open(a!.seal(report.slice())), refusedWith('ERR_METER_MISMATCH'));
    mdc.close();
  });
});
