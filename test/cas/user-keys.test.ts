import assert from 'node:assert/strict';
import { createHash, verify, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { CasCa } from '../../src/cas/ca.ts';
import { isCasError } from '../../src/cas/errors.ts';
import { findUserByPublicKey, parsePolicy } from '../../src/cas/policy.ts';
import { generateUserKey, loadUserKey, signPolicy, verifyPolicySignature } from '../../src/cas/user-keys.ts';
import { createSelfSignedUserCertificate } from '../../src/cas/x509.ts';
import { freshKeyPair } from '../../src/crypto/index.ts';
import { examplePolicy, makeUser } from './policy-fixture.ts';

describe('generateUserKey and loadUserKey', () => {
  it('makes one PEM file with a P-256 key and its self-signed client certificate', () => {
    const { pem, certificatePem } = generateUserKey('operator');
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----[\s\S]+-----BEGIN CERTIFICATE-----/);
    const loaded = loadUserKey(pem);
    const cert = new X509Certificate(certificatePem);
    assert.equal(cert.subject, 'CN=operator');
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.ok(cert.verify(cert.publicKey));
    assert.equal(loaded.privateKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.deepEqual(loaded.publicKeySpki, cert.publicKey.export({ type: 'spki', format: 'der' }));
    assert.equal(loaded.certificatePem.trim(), certificatePem.trim());
  });

  it('refuses files without exactly one key and one certificate, or whose parts do not match', () => {
    const a = generateUserKey('a');
    const b = generateUserKey('b');
    const keyOfA = a.pem.slice(0, a.pem.indexOf('-----BEGIN CERTIFICATE-----'));
    const cases = [a.certificatePem, keyOfA, `${keyOfA}${b.certificatePem}`, `${a.pem}${b.certificatePem}`];
    for (const text of cases) {
      assert.throws(
        () => loadUserKey(text),
        (e: unknown) =>
          isCasError(e, 'ERR_BAD_REQUEST') && !String((e as Error).message).includes('PRIVATE KEY-----\n'),
      );
    }
    assert.throws(() => generateUserKey('no spaces'), TypeError);
  });
});

describe('signPolicy and verifyPolicySignature', () => {
  const user = makeUser('operator');
  const text = 'version: 1\nname: x\n';

  it('verifies a P-256 signature by the key of the certificate', () => {
    const sig = signPolicy(text, user.privateKey);
    assert.ok(verifyPolicySignature(text, sig, user.certificatePem));
    assert.equal(verifyPolicySignature(`${text} `, sig, user.certificatePem), false);
    assert.equal(verifyPolicySignature(text, sig, makeUser('other').certificatePem), false);
  });

  it('verifies an Ed25519 signature', () => {
    const { privateKey } = freshKeyPair('ed25519');
    const cert = createSelfSignedUserCertificate('ed', privateKey, 30);
    assert.ok(verifyPolicySignature(text, signPolicy(text, privateKey), cert));
  });

  it('returns false, never throws, for garbage signatures and certificates', () => {
    assert.equal(verifyPolicySignature(text, 'not base64 !!', user.certificatePem), false);
    assert.equal(verifyPolicySignature(text, '', user.certificatePem), false);
    assert.equal(verifyPolicySignature(text, 'AAAA', 'not a certificate'), false);
    assert.equal(verifyPolicySignature(text, 'A'.repeat(5000), user.certificatePem), false);
  });

  it('signs over the documented domain-separated message', () => {
    const { privateKey } = freshKeyPair('ed25519');
    const message = Buffer.concat([
      Buffer.from('securecloud-policy-v1\0'),
      createHash('sha256').update(text).digest(),
    ]);
    const sig = Buffer.from(signPolicy(text, privateKey), 'base64');
    assert.ok(verify(null, message, privateKey, sig));
  });
});

describe('a user key in TLS client authentication', () => {
  it('identifies the user by the SPKI of the client certificate', { timeout: 10_000 }, async () => {
    const operator = makeUser('operator');
    const policy = parsePolicy(examplePolicy(operator, makeUser('auditor')));
    const ca = CasCa.create();
    const serverKey = freshKeyPair('p256');
    const srv = createServer(
      {
        key: serverKey.privateKey.export({ type: 'pkcs8', format: 'pem' }),
        cert: ca.issueTlsCertificate(['127.0.0.1'], serverKey.publicKey, 1),
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.3',
      },
      (socket: TLSSocket) => {
        const spki = socket.getPeerX509Certificate()?.publicKey.export({ type: 'spki', format: 'der' });
        socket.end(spki ? (findUserByPublicKey(policy, spki) ?? 'unknown') : 'none');
      },
    );
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    try {
      const socket = connect({
        host: '127.0.0.1',
        port: (srv.address() as AddressInfo).port,
        ca: [ca.rootPem],
        key: operator.privateKey.export({ type: 'pkcs8', format: 'pem' }),
        cert: operator.certificatePem,
        minVersion: 'TLSv1.3',
      });
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      await once(socket, 'end');
      assert.equal(Buffer.concat(chunks).toString(), 'operator');
    } finally {
      srv.close();
    }
  });
});
