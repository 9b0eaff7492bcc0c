import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { format, inspect } from 'node:util';
import { CasCa } from '../../src/cas/ca.ts';
import { isCasError } from '../../src/cas/errors.ts';
import type { SecretSpec } from '../../src/cas/policy-types.ts';
import {
  createUserProvidedSecret,
  deserializeSecret,
  generateSecret,
  isSecretValue,
  MAX_USER_SECRET_BYTES,
  type SecretValue,
  sameSecretSpec,
  secretField,
  secretFields,
  serializeSecret,
} from '../../src/cas/secrets.ts';

const ca = CasCa.create();

const SPECS: Record<string, SecretSpec> = {
  key128: { type: 'symmetric-key', bits: 128 },
  key256: { type: 'symmetric-key', bits: 256 },
  password: { type: 'password', length: 40 },
  ed: { type: 'key-pair', algorithm: 'ed25519' },
  x: { type: 'key-pair', algorithm: 'x25519' },
  p: { type: 'key-pair', algorithm: 'p256' },
  cert: { type: 'certificate', dnsNames: ['mdc', 'mdc.local'], validDays: 10 },
};

function all(): SecretValue[] {
  return [
    ...Object.entries(SPECS).map(([name, spec]) => generateSecret(name, spec, ca)),
    createUserProvidedSecret('token', Buffer.from('utility-token-ÄÖ')),
  ];
}

describe('generateSecret', () => {
  it('makes symmetric keys of the requested size, in hex and base64', () => {
    const k = generateSecret('k', SPECS.key256!, ca);
    assert.match(secretField(k, 'hex'), /^[0-9a-f]{64}$/);
    assert.equal(Buffer.from(secretField(k, 'base64'), 'base64').toString('hex'), secretField(k, 'hex'));
    assert.equal(secretField(generateSecret('k', SPECS.key128!, ca), 'hex').length, 32);
    assert.notEqual(secretField(generateSecret('k', SPECS.key256!, ca), 'hex'), secretField(k, 'hex'));
  });

  it('makes passwords of the requested length from letters and digits', () => {
    assert.match(secretField(generateSecret('p', SPECS.password!, ca), 'value'), /^[A-Za-z0-9]{40}$/);
  });

  it('makes key pairs with PEM halves that match and raw public keys in hex', () => {
    for (const [name, rawHex] of [
      ['ed', 64],
      ['x', 64],
      ['p', 130],
    ] as const) {
      const s = generateSecret(name, SPECS[name]!, ca);
      const pub = createPublicKey(secretField(s, 'publicPem'));
      const derived = createPublicKey(createPrivateKey(secretField(s, 'privatePem')));
      assert.deepEqual(
        pub.export({ type: 'spki', format: 'der' }),
        derived.export({ type: 'spki', format: 'der' }),
      );
      assert.equal(secretField(s, 'publicHex').length, rawHex);
      const spki = pub.export({ type: 'spki', format: 'der' });
      assert.ok(spki.toString('hex').endsWith(secretField(s, 'publicHex')));
    }
  });

  it('makes certificates issued by the CAS CA for the requested names, with the chain', () => {
    const s = generateSecret('cert', SPECS.cert!, ca);
    const cert = new X509Certificate(secretField(s, 'pem'));
    assert.equal(cert.subjectAltName, 'DNS:mdc, DNS:mdc.local');
    assert.ok(cert.verify(new X509Certificate(ca.rootPem).publicKey));
    assert.ok(cert.checkPrivateKey(createPrivateKey(secretField(s, 'privatePem'))));
    assert.equal(secretField(s, 'chainPem'), `${secretField(s, 'pem')}${ca.rootPem}`);
  });

  it('refuses to generate user-provided secrets', () => {
    assert.throws(() => generateSecret('t', { type: 'user-provided' }, ca), TypeError);
  });
});

describe('user-provided secrets', () => {
  it('reads the uploaded bytes as UTF-8, hex and base64', () => {
    const s = createUserProvidedSecret('t', Buffer.from('héllo'));
    assert.equal(secretField(s, 'value'), 'héllo');
    assert.equal(secretField(s, 'hex'), Buffer.from('héllo').toString('hex'));
    assert.equal(secretField(s, 'base64'), Buffer.from('héllo').toString('base64'));
  });

  it('refuses the UTF-8 field of bytes that are not UTF-8, and secretFields leaves it out', () => {
    const s = createUserProvidedSecret('bin', Buffer.from([0xff, 0xfe, 0x00]));
    assert.throws(
      () => secretField(s, 'value'),
      (e: unknown) => isCasError(e, 'ERR_SECRET_NOT_READABLE'),
    );
    assert.deepEqual(Object.keys(secretFields(s)), ['hex', 'base64']);
  });

  it('refuses values over the size limit', () => {
    assert.throws(
      () => createUserProvidedSecret('big', new Uint8Array(MAX_USER_SECRET_BYTES + 1)),
      (e: unknown) => isCasError(e, 'ERR_BAD_REQUEST'),
    );
  });
});

describe('secret values do not leak', () => {
  it('redacts String, JSON.stringify, inspect, format, spread and Object.keys', () => {
    for (const s of all()) {
      const values = Object.values(secretFields(s)).filter((v) => v.length >= 8);
      const renderings = [
        String(s),
        `${s}`,
        JSON.stringify(s),
        JSON.stringify({ nested: [s] }),
        inspect(s, { showHidden: true, depth: 10 }),
        format('%o %O %j', s, s, s),
        JSON.stringify({ ...s }),
        Object.keys(s).join(','),
      ];
      for (const text of renderings) {
        for (const value of values) assert.ok(!text.includes(value), `${s.name} leaked through ${text}`);
      }
      assert.match(JSON.stringify(s), /"value":"\[redacted\]"/);
    }
  });

  it('refuses unknown fields with a TypeError that names the fields, not the value', () => {
    const s = generateSecret('k', SPECS.key256!, ca);
    assert.throws(
      () => secretField(s, 'pem'),
      (e: unknown) =>
        e instanceof TypeError &&
        /has no field "pem"; its fields are hex, base64/.test(e.message) &&
        !e.message.includes(secretField(s, 'hex')),
    );
    assert.throws(
      () => secretField({ name: 'fake', type: 'password' } as unknown as SecretValue, 'value'),
      TypeError,
    );
  });
});

describe('serializeSecret and deserializeSecret', () => {
  it('round-trips every type through JSON', () => {
    for (const s of all()) {
      const back = deserializeSecret(JSON.parse(JSON.stringify(serializeSecret(s))));
      assert.ok(isSecretValue(back));
      assert.equal(back.name, s.name);
      assert.deepEqual(back.spec, s.spec);
      assert.deepEqual(secretFields(back), secretFields(s));
    }
  });

  it('refuses malformed entries with ERR_STATE_TAMPERED and no values in the message', () => {
    const s = generateSecret('pw', SPECS.password!, ca);
    const j = serializeSecret(s) as { data: Record<string, string> };
    const value = secretField(s, 'value');
    const bad = [
      null,
      { v: 2 },
      { ...j, spec: { type: 'nope' } },
      { ...j, data: { other: value } },
      { ...j, data: { value: 1 } },
      { ...(serializeSecret(generateSecret('kp', SPECS.ed!, ca)) as object), data: { privatePem: value } },
    ];
    for (const entry of bad) {
      assert.throws(
        () => deserializeSecret(entry),
        (e: unknown) => isCasError(e, 'ERR_STATE_TAMPERED') && !(e as Error).message.includes(value),
      );
    }
  });
});

describe('sameSecretSpec', () => {
  it('compares specs regardless of key and name order', () => {
    assert.ok(
      sameSecretSpec({ type: 'symmetric-key', bits: 256 }, {
        bits: 256,
        type: 'symmetric-key',
      } as SecretSpec),
    );
    assert.ok(
      sameSecretSpec(
        { type: 'certificate', dnsNames: ['a', 'b'], validDays: 1 },
        { type: 'certificate', dnsNames: ['b', 'a'], validDays: 1 },
      ),
    );
    assert.equal(
      sameSecretSpec({ type: 'symmetric-key', bits: 256 }, { type: 'symmetric-key', bits: 128 }),
      false,
    );
    assert.equal(
      sameSecretSpec({ type: 'key-pair', algorithm: 'ed25519' }, { type: 'key-pair', algorithm: 'x25519' }),
      false,
    );
  });
});
