import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  ClientSession,
  decodeHeader,
  encodeHeader,
  GroupKey,
  PayloadOpener,
  PayloadSealer,
  ReplayWindow,
  RouterKey,
  RouterSessions,
  toHeader,
  verifyRouterAnnouncement,
} from '../../src/bus/scbr/index.ts';
import { CasCa } from '../../src/cas/index.ts';
import { prng } from '../support/prng.ts';
import { routerSigner } from './scbr-fixture.ts';

const enc = new TextEncoder();

function announced(ca = CasCa.create()) {
  const key = RouterKey.generate();
  const bytes = key.announce(routerSigner(ca));
  return { ca, key, bytes, verified: verifyRouterAnnouncement(bytes, { casRootPem: ca.rootPem }) };
}

function refusedCheck(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'ERR_SCBR_ROUTER_KEY');
    return (err as { detail?: { check?: string } }).detail?.check;
  }
  assert.fail('accepted');
}

describe('unit', () => {
  it('verifies a router key announced by the attested router service', () => {
    const { key, verified } = announced();
    assert.deepEqual(verified.publicKey, key.publicKey);
    assert.deepEqual(verified.keyId, key.keyId);
    assert.equal(verified.service, 'scbr-router');
    assert.equal(verified.simulation, true);
  });

  it('refuses announcements from another CA, another service, tampered, or expired', () => {
    const { ca, key, bytes } = announced();
    assert.equal(
      refusedCheck(() => verifyRouterAnnouncement(bytes, { casRootPem: CasCa.create().rootPem })),
      'certificate-chain',
    );
    const mdc = key.announce(routerSigner(ca, 'mdc'));
    assert.equal(
      refusedCheck(() => verifyRouterAnnouncement(mdc, { casRootPem: ca.rootPem })),
      'certificate-identity',
    );
    const wire = JSON.parse(Buffer.from(bytes).toString());
    const body = JSON.parse(wire.body);
    const swapped = {
      ...wire,
      body: JSON.stringify({ ...body, publicKey: Buffer.from(randomBytes(32)).toString('base64url') }),
    };
    const tampered = new Uint8Array(Buffer.from(JSON.stringify(swapped)));
    assert.equal(
      refusedCheck(() => verifyRouterAnnouncement(tampered, { casRootPem: ca.rootPem })),
      'signature',
    );
    const later = Date.now() + 2 * 24 * 3600_000;
    assert.equal(
      refusedCheck(() => verifyRouterAnnouncement(bytes, { casRootPem: ca.rootPem, now: later })),
      'expired',
    );
    assert.equal(
      refusedCheck(() => verifyRouterAnnouncement(enc.encode('{'), { casRootPem: ca.rootPem })),
      'format',
    );
  });

  it('seals client messages that only the router opens, and answers the client', () => {
    const { key, verified } = announced();
    const client = new ClientSession(verified);
    const sessions = new RouterSessions(key);
    const up = client.seal(4, enc.encode('{"filter":"x > 1"}'));
    assert.equal(Buffer.from(up).includes(Buffer.from('filter')), false);
    const opened = sessions.open(up);
    assert.equal(Buffer.from(opened.plaintext).toString(), '{"filter":"x > 1"}');
    const down = opened.session.seal(8, enc.encode('ok'));
    assert.equal(Buffer.from(client.open(down).plaintext).toString(), 'ok');
    assert.throws(() => client.open(down), { code: 'ERR_SCBR_REPLAY' });
    assert.throws(() => sessions.open(up), { code: 'ERR_SCBR_REPLAY' });
  });

  it('refuses client messages with any byte changed, and messages for another router key', () => {
    const { key, verified } = announced();
    const client = new ClientSession(verified);
    const sessions = new RouterSessions(key);
    const up = client.seal(3, enc.encode('header'));
    for (let i = 1; i < up.length; i++) {
      const bad = new Uint8Array(up);
      bad[i] = (bad[i] as number) ^ 0x01;
      assert.throws(
        () => sessions.open(bad),
        (err: { code?: string }) =>
          ['ERR_SCBR_DECRYPT', 'ERR_SCBR_ROUTER_KEY', 'ERR_SCBR_ENVELOPE_MALFORMED'].includes(err.code ?? ''),
        `byte ${i}`,
      );
    }
    assert.equal(sessions.size, 0, 'forgeries are not remembered');
    const other = new RouterSessions(RouterKey.generate());
    assert.throws(() => other.open(up), { code: 'ERR_SCBR_ROUTER_KEY' });
    assert.equal(sessions.open(up).kind, 3);
  });

  it('opens payloads with the group key and refuses tampering, replays, another space and another key', () => {
    const groupKey = GroupKey.from(randomBytes(32).toString('hex'));
    const sealer = new PayloadSealer(groupKey, 'scbr');
    const opener = new PayloadOpener([groupKey], { channel: 'scbr' });
    const header = toHeader({ region: 'north', demand: 7.5, at: new Date(0), on: true });
    const frame = sealer.seal(0, header, enc.encode('secret reading'));
    assert.equal(Buffer.from(frame).includes(Buffer.from('secret reading')), false);
    assert.equal(Buffer.from(frame).includes(Buffer.from('north')), false);
    const opened = opener.open(frame);
    assert.equal(Buffer.from(opened.body).toString(), 'secret reading');
    assert.deepEqual([...opened.header], [...header]);
    assert.throws(() => opener.open(frame), { code: 'ERR_SCBR_REPLAY' });
    for (const i of [0, 1, 9, 25, 33, frame.length - 1]) {
      const bad = new Uint8Array(frame);
      bad[i] = (bad[i] as number) ^ 0x80;
      assert.throws(
        () => new PayloadOpener([groupKey], { channel: 'scbr' }).open(bad),
        (err: { code?: string }) =>
          ['ERR_SCBR_DECRYPT', 'ERR_SCBR_GROUP_KEY', 'ERR_SCBR_ENVELOPE_MALFORMED'].includes(err.code ?? ''),
        `byte ${i}`,
      );
    }
    assert.throws(() => new PayloadOpener([groupKey], { channel: 'other' }).open(frame), {
      code: 'ERR_SCBR_DECRYPT',
    });
    const stranger = GroupKey.from(randomBytes(32));
    assert.throws(() => new PayloadOpener([stranger], { channel: 'scbr' }).open(frame), {
      code: 'ERR_SCBR_GROUP_KEY',
    });
    assert.throws(() => GroupKey.from('abcd'), { code: 'ERR_SCBR_GROUP_KEY' });
  });

  it('accepts gaps and small reordering but not repeats or numbers below the window', () => {
    const w = new ReplayWindow(8);
    assert.deepEqual(
      [5, 3, 9, 4, 3, 9, 1, 2, 20, 12, 13, 13].map((s) => w.check(s)),
      [
        'fresh',
        'fresh',
        'fresh',
        'fresh',
        'replayed',
        'replayed',
        'too-old',
        'fresh',
        'fresh',
        'too-old',
        'fresh',
        'replayed',
      ],
    );
  });

  it('round-trips headers and refuses malformed encodings without throwing anything else', () => {
    const header = toHeader({ a: 1.5, b: 'text é', c: false, d: new Date(Date.UTC(2025, 0, 1)) });
    assert.deepEqual([...decodeHeader(encodeHeader(header))], [...header]);
    const encoded = encodeHeader(header);
    const random = prng(11);
    for (let i = 0; i < 2000; i++) {
      const bytes = new Uint8Array(encoded);
      const n = 1 + Math.floor(random() * 3);
      for (let k = 0; k < n; k++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      const cut = random() < 0.3 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes;
      try {
        decodeHeader(cut);
      } catch (err) {
        assert.equal((err as { name?: string }).name, 'ScbrError', String(err));
      }
    }
  });
});
