import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isTeeError, type TeeErrorCode } from '../../src/tee/errors.ts';
import {
  assertNotRevoked,
  isRevoked,
  normalizeSerial,
  parseCertificate,
  parseCrl,
  parsePemChain,
  sha256Hex,
  splitPemChain,
  verifyChain,
  verifyCrl,
} from '../../src/tee/pki.ts';
import { makeCert, makeCrl, makeHierarchy, name, newKey, toPem } from './dcap-test-pki.ts';

const VECTORS = new URL('../../../shared/vectors/', import.meta.url);
const vector = (path: string) => readFileSync(new URL(path, VECTORS));
const INTEL_ROOT = '44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3';

function throwsCode(fn: () => unknown, code: TeeErrorCode, check?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isTeeError(err), `expected a TeeError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (check !== undefined) assert.equal(err.detail.check, check);
    return true;
  });
}

function hierarchy() {
  const h = makeHierarchy();
  const chain = [h.leaf, h.ca, h.root].map((d, i) => parseCertificate(d, `cert ${i}`, 'collateral'));
  return { ...h, chain, pins: [sha256Hex(h.root)] };
}

describe('unit: PEM and certificate parsing', () => {
  it('splits a PEM bundle into DER certificates in order', () => {
    const h = makeHierarchy();
    const ders = splitPemChain(`${toPem(h.leaf, h.ca, h.root)}\0`, 'chain', 'evidence');
    assert.deepEqual(ders, [h.leaf, h.ca, h.root]);
  });

  it('refuses stray text around PEM blocks and text without blocks', () => {
    const h = makeHierarchy();
    throwsCode(
      () => splitPemChain(`garbage\n${toPem(h.leaf)}`, 'chain', 'evidence'),
      'ERR_EVIDENCE_MALFORMED',
    );
    throwsCode(
      () => splitPemChain('no certificates here', 'chain', 'collateral'),
      'ERR_COLLATERAL_MALFORMED',
    );
  });

  it('reads subject, issuer, serial, validity and extensions from the DER', () => {
    const { chain, notBefore, notAfter } = hierarchy();
    const leaf = chain[0]!;
    assert.equal(leaf.subjectCn, 'Test Leaf');
    assert.equal(leaf.issuerCn, 'Test Intermediate CA');
    assert.equal(leaf.serial, 'fb49c65c519657993');
    assert.deepEqual([leaf.notBefore, leaf.notAfter], [notBefore, notAfter]);
    assert.ok(chain[1]!.extensions.has('2.5.29.19'));
  });

  it('gives a TeeError for garbage and for every truncation of a certificate', () => {
    const { leaf } = makeHierarchy();
    for (let n = 0; n < leaf.length; n += 7)
      throwsCode(() => parseCertificate(leaf.subarray(0, n), 'leaf', 'evidence'), 'ERR_EVIDENCE_MALFORMED');
    throwsCode(
      () => parseCertificate(Buffer.from('not a certificate'), 'x', 'collateral'),
      'ERR_COLLATERAL_MALFORMED',
    );
  });

  it('normalizes serial numbers for comparison', () => {
    assert.equal(normalizeSerial('00FB49'), 'fb49');
    assert.equal(normalizeSerial('000'), '0');
  });
});

describe('unit: chain verification', () => {
  it('verifies a pinned chain and returns the intersection of the validity windows', () => {
    const { chain, pins, notBefore, notAfter } = hierarchy();
    const window = verifyChain(chain, { at: new Date('2030-01-01T00:00:00Z'), pins, check: 'chain' });
    assert.deepEqual(window, { notBefore, notAfter });
  });

  it('refuses a chain ending in an unpinned root with ERR_CERT_ROOT', () => {
    const { chain } = hierarchy();
    throwsCode(
      () => verifyChain(chain, { at: new Date('2030-01-01T00:00:00Z'), pins: [INTEL_ROOT], check: 'chain' }),
      'ERR_CERT_ROOT',
      'chain',
    );
  });

  it('refuses a root with the pinned subject but another key with ERR_CERT_ROOT', () => {
    const h = hierarchy();
    const fakeKey = newKey();
    const fakeRoot = makeCert({
      subject: h.rootName,
      issuer: h.rootName,
      serial: 1n,
      notBefore: h.notBefore,
      notAfter: h.notAfter,
      publicKey: fakeKey.publicKey,
      signingKey: fakeKey.privateKey,
      ca: true,
    });
    const chain = [h.chain[0]!, h.chain[1]!, parseCertificate(fakeRoot, 'fake', 'collateral')];
    throwsCode(
      () => verifyChain(chain, { at: new Date('2030-01-01T00:00:00Z'), pins: h.pins, check: 'chain' }),
      'ERR_CERT_ROOT',
    );
  });

  it('refuses a chain out of order or with a missing link with ERR_CERT_CHAIN', () => {
    const { chain, pins } = hierarchy();
    const at = new Date('2030-01-01T00:00:00Z');
    throwsCode(
      () => verifyChain([chain[1]!, chain[0]!, chain[2]!], { at, pins, check: 'chain' }),
      'ERR_CERT_CHAIN',
    );
    throwsCode(() => verifyChain([chain[0]!, chain[2]!], { at, pins, check: 'chain' }), 'ERR_CERT_CHAIN');
    throwsCode(() => verifyChain([chain[2]!], { at, pins, check: 'chain' }), 'ERR_CERT_CHAIN');
  });

  it('refuses an issuer that is not a CA with ERR_CERT_CHAIN', () => {
    const h = hierarchy();
    const notCa = makeCert({
      subject: h.caName,
      issuer: h.rootName,
      serial: 9n,
      notBefore: h.notBefore,
      notAfter: h.notAfter,
      publicKey: h.caKey.publicKey,
      signingKey: h.rootKey.privateKey,
    });
    const chain = [h.chain[0]!, parseCertificate(notCa, 'ca', 'collateral'), h.chain[2]!];
    throwsCode(
      () => verifyChain(chain, { at: new Date('2030-01-01T00:00:00Z'), pins: h.pins, check: 'chain' }),
      'ERR_CERT_CHAIN',
    );
  });

  it('refuses a verification time before or after a certificate validity with ERR_CERT_VALIDITY', () => {
    const { chain, pins } = hierarchy();
    throwsCode(
      () => verifyChain(chain, { at: new Date('2019-12-31T23:59:59Z'), pins, check: 'chain' }),
      'ERR_CERT_VALIDITY',
    );
    throwsCode(
      () => verifyChain(chain, { at: new Date('2040-01-01T00:00:01Z'), pins, check: 'chain' }),
      'ERR_CERT_VALIDITY',
    );
  });

  it('verifies a real Intel issuer chain against the pinned Intel root', () => {
    const chain = parsePemChain(
      vector('go-tdx-guest/pckCrlIssuerChain.pem').toString(),
      'chain',
      'collateral',
    );
    verifyChain(chain, { at: new Date('2023-07-01T00:00:00Z'), pins: [INTEL_ROOT], check: 'chain' });
    assert.equal(chain[1]!.sha256, INTEL_ROOT);
  });
});

describe('unit: CRLs', () => {
  it('parses a real Intel PCK CRL: issuer, window, revoked serials, algorithm', () => {
    const crl = parseCrl(vector('go-tdx-guest/pckcrl'));
    assert.equal(crl.issuerCn, 'Intel SGX PCK Platform CA');
    assert.equal(crl.thisUpdate.toISOString(), '2023-06-08T07:27:52.000Z');
    assert.equal(crl.nextUpdate.toISOString(), '2023-07-08T07:27:52.000Z');
    assert.ok(crl.revoked.has('6fc34e5023e728923435d61aa4b83c618166ad35'));
    assert.equal(crl.signatureAlgorithm, '1.2.840.10045.4.3.2');
  });

  it('verifies the real root CA CRL with the Intel root and refuses another issuer', () => {
    const [, root] = parsePemChain(
      vector('go-tdx-guest/pckCrlIssuerChain.pem').toString(),
      'chain',
      'collateral',
    );
    const [pckCa] = parsePemChain(
      vector('go-tdx-guest/pckCrlIssuerChain.pem').toString(),
      'chain',
      'collateral',
    );
    const crl = parseCrl(vector('go-tdx-guest/rootcrl.der'));
    const at = new Date('2023-07-01T00:00:00Z');
    assert.deepEqual(verifyCrl(crl, root!, at, 'root-crl'), {
      notBefore: crl.thisUpdate,
      notAfter: crl.nextUpdate,
    });
    throwsCode(() => verifyCrl(crl, pckCa!, at, 'root-crl'), 'ERR_CRL_SIGNATURE', 'root-crl');
    verifyCrl(parseCrl(vector('go-tdx-guest/pckcrl')), pckCa!, at, 'pck-crl');
  });

  it('refuses a CRL whose signature was altered with ERR_CRL_SIGNATURE', () => {
    const [, root] = parsePemChain(
      vector('go-tdx-guest/pckCrlIssuerChain.pem').toString(),
      'chain',
      'collateral',
    );
    const der = Buffer.from(vector('go-tdx-guest/rootcrl.der'));
    der[der.length - 5]! ^= 0x01;
    throwsCode(
      () => verifyCrl(parseCrl(der), root!, new Date('2023-07-01T00:00:00Z'), 'root-crl'),
      'ERR_CRL_SIGNATURE',
    );
  });

  it('refuses a CRL outside thisUpdate..nextUpdate with ERR_CRL_VALIDITY', () => {
    const [, root] = parsePemChain(
      vector('go-tdx-guest/pckCrlIssuerChain.pem').toString(),
      'chain',
      'collateral',
    );
    const crl = parseCrl(vector('go-tdx-guest/rootcrl.der'));
    throwsCode(() => verifyCrl(crl, root!, new Date('2023-04-03T10:22:50Z'), 'c'), 'ERR_CRL_VALIDITY');
    throwsCode(() => verifyCrl(crl, root!, new Date('2024-04-02T10:22:52Z'), 'c'), 'ERR_CRL_VALIDITY');
  });

  it('finds a revoked certificate on a self-made CRL and says ERR_CERT_REVOKED', () => {
    const h = hierarchy();
    const at = new Date('2030-01-01T00:00:00Z');
    const revoking = parseCrl(
      makeCrl({
        issuer: h.caName,
        signingKey: h.caKey.privateKey,
        thisUpdate: h.notBefore,
        nextUpdate: h.notAfter,
        revoked: [7n, 0xfb49c65c519657993n],
      }),
    );
    const clean = parseCrl(
      makeCrl({
        issuer: h.caName,
        signingKey: h.caKey.privateKey,
        thisUpdate: h.notBefore,
        nextUpdate: h.notAfter,
      }),
    );
    verifyCrl(revoking, h.chain[1]!, at, 'pck-crl');
    assert.equal(revoking.revoked.size, 2);
    throwsCode(
      () => assertNotRevoked(h.chain[0]!, revoking, 'pck-revocation'),
      'ERR_CERT_REVOKED',
      'pck-revocation',
    );
    assertNotRevoked(h.chain[0]!, clean, 'pck-revocation');
    assert.equal(isRevoked(h.chain[1]!, revoking), false, 'another issuer: the same serial does not revoke');
  });

  it('matches a serial on the real Intel PCK CRL only for the same issuer', () => {
    const crl = parseCrl(vector('go-tdx-guest/pckcrl'));
    const key = newKey();
    const spec = {
      serial: 0x6fc34e5023e728923435d61aa4b83c618166ad35n,
      notBefore: new Date('2020-01-01Z'),
      notAfter: new Date('2030-01-01Z'),
      publicKey: key.publicKey,
      signingKey: key.privateKey,
    };
    const platformCa = Buffer.from(crl.issuerRaw);
    const revokedCert = parseCertificate(
      makeCert({ ...spec, subject: name('Intel SGX PCK Certificate'), issuer: platformCa }),
      'c',
      'collateral',
    );
    const otherCert = parseCertificate(
      makeCert({ ...spec, subject: name('Intel SGX PCK Certificate'), issuer: name('Other CA') }),
      'c',
      'collateral',
    );
    assert.equal(isRevoked(revokedCert, crl), true);
    assert.equal(isRevoked(otherCert, crl), false);
  });

  it('gives ERR_COLLATERAL_MALFORMED for garbage and every truncation of a CRL', () => {
    const der = vector('go-tdx-guest/rootcrl.der');
    for (let n = 0; n < der.length; n++)
      throwsCode(() => parseCrl(der.subarray(0, n)), 'ERR_COLLATERAL_MALFORMED');
    throwsCode(() => parseCrl(Buffer.from('30030201ff', 'hex')), 'ERR_COLLATERAL_MALFORMED');
  });
});
