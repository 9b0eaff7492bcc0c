import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import {
  CurveBusIdentity,
  createBusIdentity,
  generateCurveKeyPair,
  isBusError,
  isCurveKey,
  z85Decode,
  z85Encode,
} from '../../src/bus/index.ts';

const credential = {
  certificatePem: 'PEM',
  serviceUri: 'securecloud://service/mdc/instance/i1',
  instanceId: 'i1',
  simulation: true,
};

describe('unit: Z85', () => {
  it('encodes the RFC 32 test vector as HelloWorld', () => {
    const bytes = Uint8Array.of(0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b);
    assert.equal(z85Encode(bytes), 'HelloWorld');
    assert.deepEqual(z85Decode('HelloWorld'), bytes);
  });

  it('refuses text that is not Z85', () => {
    assert.equal(z85Decode('Hello'.slice(0, 4)), undefined);
    assert.equal(z85Decode('Hell~'), undefined);
    assert.equal(z85Decode('#####'), undefined); // 85^5 - 1 > 2^32 - 1
    assert.throws(() => z85Encode(new Uint8Array(3)), TypeError);
  });

  it('accepts only 40-character keys as CURVE keys', () => {
    const { publicKey } = generateCurveKeyPair();
    assert.ok(isCurveKey(publicKey));
    assert.equal(isCurveKey(publicKey.slice(1)), false);
    assert.equal(isCurveKey(42), false);
  });
});

describe('unit: CURVE key pairs', () => {
  it('makes X25519 key pairs whose public half matches the secret half', () => {
    const pair = generateCurveKeyPair();
    const secret = Buffer.from(z85Decode(pair.secretKey)!);
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), secret]);
    const derived = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
    const x = Buffer.from((derived.export({ format: 'jwk' }) as { x: string }).x, 'base64url');
    assert.equal(z85Encode(x), pair.publicKey);
  });

  it('makes a different key pair each time', () => {
    assert.notEqual(generateCurveKeyPair().publicKey, generateCurveKeyPair().publicKey);
  });
});

describe('unit: bus identity', () => {
  it('never shows the secret key when printed or serialized', () => {
    const pair = generateCurveKeyPair();
    const id = new CurveBusIdentity('mdc', pair, credential);
    assert.ok(!inspect(id, { depth: 5 }).includes(pair.secretKey));
    assert.ok(!JSON.stringify(id).includes(pair.secretKey));
    assert.match(inspect(id), /SIMULATION/);
  });

  it('lends the secret key to adapters until destroyed', () => {
    const pair = generateCurveKeyPair();
    const id = new CurveBusIdentity('mdc', pair, credential);
    assert.equal(
      id.useSecretKey((k) => k),
      pair.secretKey,
    );
    id.destroy();
    assert.throws(
      () => id.useSecretKey((k) => k),
      (e) => isBusError(e, 'ERR_BUS_CLOSED'),
    );
  });

  it('refuses a malformed key pair', () => {
    assert.throws(
      () => new CurveBusIdentity('mdc', { publicKey: 'x', secretKey: 'y' }, credential),
      TypeError,
    );
  });

  it('registers the public key with the CAS for the attested instance', async () => {
    const calls: string[][] = [];
    const attested = {
      name: 'mdc',
      instanceId: 'i7',
      certificatePem: 'CERT',
      simulation: false,
    } as Parameters<typeof createBusIdentity>[0];
    const id = await createBusIdentity(attested, {
      putCurveKey: async (instanceId, publicKey) => {
        calls.push([instanceId, publicKey]);
      },
    });
    assert.deepEqual(calls, [['i7', id.publicKey]]);
    assert.equal(id.credential.serviceUri, 'securecloud://service/mdc/instance/i7');
    assert.equal(id.service, 'mdc');
  });
});
