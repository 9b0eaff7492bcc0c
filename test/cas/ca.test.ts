import assert from 'node:assert/strict';
import { type KeyObject, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { inspect } from 'node:util';
import { CasCa, serviceIdentityOf, serviceUri } from '../../src/cas/ca.ts';
import { isCasError } from '../../src/cas/errors.ts';
import { createSelfSignedUserCertificate, issueCertificate, randomSerial } from '../../src/cas/x509.ts';
import { freshKeyPair } from '../../src/crypto/index.ts';

const EKU_SERVER = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT = '1.3.6.1.5.5.7.3.2';

function p256() {
  return freshKeyPair('p256');
}

function pem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

describe('CasCa root', () => {
  const ca = CasCa.create();
  const root = new X509Certificate(ca.rootPem);

  it('is a self-signed P-256 CA certificate valid for about ten years', () => {
    assert.equal(root.ca, true);
    assert.equal(root.subject, 'CN=securecloud CAS root');
    assert.ok(root.verify(root.publicKey));
    assert.ok(root.checkIssued(root));
    assert.equal(root.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const years = (Date.parse(root.validTo) - Date.parse(root.validFrom)) / (365.25 * 86_400_000);
    assert.ok(years > 9.9 && years < 10.1, `${years}`);
  });

  it('round-trips through toJson/fromJson and keeps issuing under the same root', () => {
    const again = CasCa.fromJson(JSON.parse(JSON.stringify(ca.toJson())));
    assert.equal(again.rootPem, ca.rootPem);
    const cert = new X509Certificate(again.issueServiceCertificate('mdc', 'i1', p256().publicKey));
    assert.ok(cert.verify(root.publicKey));
  });

  it('refuses a CA entry whose key does not match its root, or that is malformed', () => {
    const other = CasCa.create().toJson();
    const mixed = { ...ca.toJson(), keyPem: other.keyPem };
    assert.throws(
      () => CasCa.fromJson(mixed),
      (e: unknown) => isCasError(e, 'ERR_STATE_TAMPERED'),
    );
    assert.throws(
      () => CasCa.fromJson({ version: 2 }),
      (e: unknown) => isCasError(e, 'ERR_STATE_TAMPERED'),
    );
    assert.throws(
      () => CasCa.fromJson({ ...ca.toJson(), keyPem: 'x' }),
      (e: unknown) => isCasError(e, 'ERR_STATE_TAMPERED'),
    );
  });

  it('keeps the private key out of JSON.stringify and inspect', () => {
    const key = ca.toJson().keyPem;
    assert.ok(!JSON.stringify(ca).includes('PRIVATE KEY'));
    assert.ok(!inspect(ca, { showHidden: true, depth: 5 }).includes(key.split('\n')[1]!));
  });
});

describe('CasCa service and TLS certificates', () => {
  const ca = CasCa.create();
  const root = new X509Certificate(ca.rootPem);

  it('issues a service certificate with CN, DNS and URI names and both TLS usages', () => {
    const cert = new X509Certificate(ca.issueServiceCertificate('mdc', 'inst-42', p256().publicKey));
    assert.equal(cert.subject, 'CN=mdc');
    assert.equal(cert.subjectAltName, `DNS:mdc, URI:${serviceUri('mdc', 'inst-42')}`);
    assert.deepEqual(cert.keyUsage, [EKU_SERVER, EKU_CLIENT]);
    assert.equal(cert.ca, false);
    assert.ok(cert.verify(root.publicKey));
    assert.ok(cert.checkIssued(root));
    assert.deepEqual(serviceIdentityOf(cert), { service: 'mdc', instanceId: 'inst-42' });
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
    assert.equal(Math.round(days), 30);
  });

  it('issues TLS certificates with IP addresses as IP SANs', () => {
    const cert = new X509Certificate(
      ca.issueTlsCertificate(['localhost', '127.0.0.1', '::1'], p256().publicKey, 7),
    );
    assert.equal(cert.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    assert.ok(cert.checkHost('localhost'));
    assert.ok(cert.checkIP('127.0.0.1'));
    assert.equal(serviceIdentityOf(cert), null);
  });

  it('refuses bad names and keys', () => {
    const key = p256().publicKey;
    assert.throws(() => ca.issueServiceCertificate('Bad_Name', 'i', key), TypeError);
    assert.throws(() => ca.issueServiceCertificate('mdc', 'a/b', key), TypeError);
    assert.throws(() => ca.issueServiceCertificate('mdc', 'i', p256().privateKey), TypeError);
    assert.throws(() => ca.issueTlsCertificate([], key, 1), TypeError);
  });

  it('refuses to issue with an issuer key that does not match the issuer certificate', () => {
    assert.throws(
      () =>
        issueCertificate({
          issuerPem: ca.rootPem,
          issuerKey: p256().privateKey,
          subjectCn: 'x',
          publicKey: p256().publicKey,
          validFrom: new Date(),
          validDays: 1,
          serial: randomSerial(),
          usage: 'client',
        }),
      /does not match/,
    );
  });
});

describe('CAS-issued certificates in TLS 1.3 with mutual authentication', () => {
  const ca = CasCa.create();
  const server = p256();
  const client = p256();
  const serverCert = ca.issueServiceCertificate('mdc', 'srv', server.publicKey);
  const clientCert = ca.issueServiceCertificate('meter', 'cli', client.publicKey);

  async function listen() {
    const served = { count: 0 };
    const srv = createServer(
      {
        key: pem(server.privateKey),
        cert: serverCert,
        ca: [ca.rootPem],
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
      },
      (socket: TLSSocket) => {
        served.count++;
        const peer = new X509Certificate(socket.getPeerX509Certificate()!.raw);
        socket.end(JSON.stringify({ peer: serviceIdentityOf(peer), authorized: socket.authorized }));
      },
    );
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    return { srv, served, port: (srv.address() as AddressInfo).port };
  }

  it('connects on 127.0.0.1 and each side sees the other service', { timeout: 10_000 }, async () => {
    const { srv, port } = await listen();
    try {
      const socket = connect({
        host: '127.0.0.1',
        port,
        servername: 'mdc',
        ca: [ca.rootPem],
        key: pem(client.privateKey),
        cert: clientCert,
        minVersion: 'TLSv1.3',
      });
      await once(socket, 'secureConnect');
      assert.equal(socket.authorized, true);
      assert.equal(socket.getProtocol(), 'TLSv1.3');
      assert.deepEqual(serviceIdentityOf(new X509Certificate(socket.getPeerX509Certificate()!.raw)), {
        service: 'mdc',
        instanceId: 'srv',
      });
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      await once(socket, 'end');
      assert.deepEqual(JSON.parse(Buffer.concat(chunks).toString()), {
        peer: { service: 'meter', instanceId: 'cli' },
        authorized: true,
      });
    } finally {
      srv.close();
    }
  });

  it('refuses a client whose certificate the CAS did not issue', { timeout: 10_000 }, async () => {
    const { srv, port, served } = await listen();
    try {
      const stranger = p256();
      const socket = connect({
        host: '127.0.0.1',
        port,
        servername: 'mdc',
        ca: [ca.rootPem],
        key: pem(stranger.privateKey),
        cert: createSelfSignedUserCertificate('meter', stranger.privateKey, 1),
        minVersion: 'TLSv1.3',
      });
      const received: Buffer[] = [];
      socket.on('data', (c: Buffer) => received.push(c));
      socket.on('error', () => undefined);
      // TLS 1.3: the client finishes its side first; the server then refuses and closes.
      await Promise.all([once(srv, 'tlsClientError'), once(socket, 'close')]);
      assert.equal(served.count, 0);
      assert.equal(Buffer.concat(received).length, 0);
    } finally {
      srv.close();
    }
  });
});
