import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type Agent, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CasCa } from '../../src/cas/index.ts';
import { freshKeyPair } from '../../src/crypto/index.ts';
import {
  type AttestedService,
  connectMtls,
  createMtlsServer,
  explainMtlsError,
  MtlsError,
  type MtlsIdentity,
  mtlsAgent,
  parseServiceIdentity,
  peerService,
  startService,
} from '../../src/platform/index.ts';
import { type ServiceName, startTestCas, type TestCas } from './platform-fixture.ts';

function get(agent: Agent, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/hello', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A service certificate made by a CA of our own, with the same names the CAS would give. */
function selfMade(service: string, trustedRoot: string): MtlsIdentity {
  const { privateKey, publicKey } = freshKeyPair('p256');
  const cert = CasCa.create().issueServiceCertificate(service, 'forged', publicKey);
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return { name: service, tlsOptions: () => ({ key, cert, ca: trustedRoot, minVersion: 'TLSv1.3' }) };
}

describe('mTLS between services', () => {
  let t: TestCas;
  let mdc: AttestedService;
  let billing: AttestedService;
  let reports: AttestedService;
  let server: Server;
  let port: number;
  const waiting = new Map<string, (err: MtlsError) => void>();
  /** The next refusal with this code that the server reports. */
  const nextRefusal = (code: string) => new Promise<MtlsError>((resolve) => waiting.set(code, resolve));

  const attest = (name: ServiceName) =>
    startService({
      name,
      casUrl: t.url,
      casRootPem: t.rootPem,
      tee: 'sim',
      measurePath: t.code[name],
      simStateDir: t.simStateDir,
      heartbeat: false,
    });

  before(async () => {
    t = await startTestCas();
    [mdc, billing, reports] = await Promise.all([attest('mdc'), attest('billing'), attest('reports')]);
    server = createMtlsServer(mdc, (_req, res, peer) => res.end(`hello ${peer.service}/${peer.instanceId}`), {
      allowedPeers: ['billing'],
      onRefused: (err) => waiting.get(err.code)?.(err),
    });
    port = await listen(server);
  });
  after(async () => {
    server?.closeAllConnections();
    server?.close();
    await Promise.all([mdc?.close(), billing?.close(), reports?.close()]);
    await t?.close();
  });

  it('lets two attested services talk with their CAS-issued certificates', async () => {
    const agent = mtlsAgent(billing, { expectedService: 'mdc' });
    const res = await get(agent, port);
    agent.destroy();
    assert.equal(res.status, 200);
    assert.equal(res.body, `hello billing/${billing.instanceId}`);
  });

  it('connects a raw TLS socket and names the peer service', async () => {
    const socket = await connectMtls(billing, { host: '127.0.0.1', port, expectedService: 'mdc' });
    assert.deepEqual(peerService(socket), { service: 'mdc', instanceId: mdc.instanceId });
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    socket.end();
    await once(socket, 'close');
  });

  it('refuses a client without a certificate at the handshake', async () => {
    const refusal = nextRefusal('ERR_MTLS_NO_CERTIFICATE');
    const agent = mtlsAgent({ name: 'anonymous', tlsOptions: () => ({ ca: t.rootPem }) });
    const err = await get(agent, port).then(
      () => assert.fail('a client without a certificate was served'),
      (e: unknown) => e,
    );
    agent.destroy();
    assert.equal(explainMtlsError(err)?.code, 'ERR_MTLS_NO_CERTIFICATE');
    const seen = await refusal;
    assert.match(seen.message, /presented no certificate/);
  });

  it('refuses a client whose certificate comes from another CA, even with the same names', async () => {
    const refusal = nextRefusal('ERR_MTLS_UNTRUSTED_PEER');
    const agent = mtlsAgent(selfMade('billing', t.rootPem), { expectedService: 'mdc' });
    await assert.rejects(get(agent, port));
    agent.destroy();
    const seen = await refusal;
    assert.match(seen.message, /not issued by this CAS/);
  });

  it('answers 403 to an attested service that is not allowed', async () => {
    const refusal = nextRefusal('ERR_MTLS_PEER_NOT_ALLOWED');
    const agent = mtlsAgent(reports, { expectedService: 'mdc' });
    const res = await get(agent, port);
    agent.destroy();
    assert.equal(res.status, 403);
    assert.equal(JSON.parse(res.body).error.code, 'ERR_MTLS_PEER_NOT_ALLOWED');
    const seen = await refusal;
    assert.equal(seen.peer, 'reports');
    assert.match(seen.message, /service "reports" is not allowed here; allowed: billing/);
  });

  it('refuses, as a client, a server that is not the expected service', async () => {
    await assert.rejects(connectMtls(reports, { host: '127.0.0.1', port, expectedService: 'billing' }), {
      name: 'MtlsError',
      code: 'ERR_MTLS_PEER_NOT_ALLOWED',
    });
  });

  it('refuses, as a client, a server with a certificate from another CA', async () => {
    const fake = createMtlsServer(selfMade('mdc', t.rootPem), (_req, res) => res.end('fake'));
    const fakePort = await listen(fake);
    try {
      const err = await connectMtls(billing, { host: '127.0.0.1', port: fakePort }).then(
        () => assert.fail('connected to an impostor'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof MtlsError);
      assert.equal(err.code, 'ERR_MTLS_UNTRUSTED_PEER');
    } finally {
      fake.closeAllConnections();
      fake.close();
    }
  });

  it('refuses, as a client, a certificate under the CAS root that names no service (the CAS itself)', async () => {
    const casPort = Number(new URL(t.url).port);
    await assert.rejects(connectMtls(billing, { host: '127.0.0.1', port: casPort }), {
      code: 'ERR_MTLS_NOT_A_SERVICE',
    });
  });

  it('parses exactly one service URI from the subject alternative names', () => {
    assert.deepEqual(parseServiceIdentity('DNS:mdc, URI:securecloud://service/mdc/instance/ab-12'), {
      service: 'mdc',
      instanceId: 'ab-12',
    });
    assert.equal(parseServiceIdentity('DNS:mdc'), null);
    assert.equal(parseServiceIdentity(undefined), null);
    const two = 'URI:securecloud://service/a/instance/1, URI:securecloud://service/b/instance/2';
    assert.equal(parseServiceIdentity(two), null);
    assert.equal(parseServiceIdentity('URI:securecloud://service/a/instance/1/x'), null);
  });
});
