import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { CasCa } from '../../src/cas/ca.ts';
import { generateUserKey } from '../../src/cas/user-keys.ts';
import { freshKeyPair } from '../../src/crypto/index.ts';
import {
  createHttpServer,
  HttpError,
  HttpRouter,
  type HttpServer,
  healthRoute,
  metricsRoute,
} from '../../src/platform/http.ts';
import { createHttpClient, HttpClientError } from '../../src/platform/http-client.ts';
import { createMetricsRegistry } from '../../src/platform/metrics.ts';

const ca = CasCa.create();
const serverKey = freshKeyPair('p256');
const serverCert = ca.issueTlsCertificate(['localhost', '127.0.0.1'], serverKey.publicKey, 1);
const tls = {
  key: serverKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  cert: serverCert,
};

class TeapotError extends Error {}

function makeRouter(): { router: HttpRouter; release: () => void; entered: Promise<void> } {
  let release = (): void => {};
  let enter = (): void => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const entered = new Promise<void>((resolve) => {
    enter = resolve;
  });
  const router = new HttpRouter()
    .get('/items/:id', (req) => ({ json: { id: req.params.id, q: req.query.get('q') } }))
    .post('/echo', async (req) => ({ json: { got: await req.json({ maxBytes: 64 }) } }))
    .get('/teapot', () => {
      throw new TeapotError('mapped');
    })
    .get('/boom', () => {
      throw new Error('db password hunter2 leaked');
    })
    .get('/whoami', (req) => ({
      json: { subject: req.peerCertificate?.subject ?? null, authorized: req.peerAuthorized },
    }))
    .get('/slow', async () => {
      enter();
      await gate;
      return { json: { done: true } };
    })
    .get('/list', () => ({ json: [1, 2] }));
  const registry = createMetricsRegistry();
  registry.counter('demo_total', 'Demo.').inc();
  healthRoute(router, () => ({ simulation: true }));
  metricsRoute(router, registry);
  return { router, release, entered };
}

describe('http server over TLS 1.3', () => {
  let server: HttpServer;
  let url: string;
  let release: () => void;
  let entered: Promise<void>;
  const logged: unknown[] = [];
  const client = createHttpClient({ tls: { ca: ca.rootPem } });

  before(async () => {
    const made = makeRouter();
    release = made.release;
    entered = made.entered;
    server = createHttpServer({
      router: made.router,
      tls: { ...tls, ca: ca.rootPem, requestCert: true },
      decorate: (body) => ({ ...body, simulation: true }),
      mapError: (err) =>
        err instanceof TeapotError
          ? { status: 418, code: 'ERR_TEAPOT', message: 'short and stout' }
          : undefined,
      onError: (err) => logged.push(err),
    });
    ({ url } = await server.listen(0, '127.0.0.1'));
    url = url.replace('127.0.0.1', 'localhost');
  });
  after(async () => {
    client.close();
    await server.close({ deadlineMs: 100 });
  });

  const get = (path: string) => client.request({ method: 'GET', url: `${url}${path}` });
  const json = (body: Buffer) => JSON.parse(body.toString('utf8'));

  it('routes path parameters and queries and decorates JSON objects', async () => {
    const res = await get('/items/a%20b?q=1');
    assert.equal(res.status, 200);
    assert.deepEqual(json(res.body), { id: 'a b', q: '1', simulation: true });
    assert.equal(res.headers['content-type'], 'application/json');
  });

  it('leaves arrays undecorated', async () => {
    assert.deepEqual(json((await get('/list')).body), [1, 2]);
  });

  it('answers 404 and 405 with error JSON', async () => {
    const missing = await get('/nope');
    assert.equal(missing.status, 404);
    assert.equal(json(missing.body).error.code, 'ERR_NOT_FOUND');
    const wrong = await client.request({ method: 'DELETE', url: `${url}/echo` });
    assert.equal(wrong.status, 405);
  });

  it('parses JSON bodies and refuses oversized or malformed ones', async () => {
    const ok = await client.request({ method: 'POST', url: `${url}/echo`, json: { a: 1 } });
    assert.deepEqual(json(ok.body).got, { a: 1 });
    const big = await client.request({ method: 'POST', url: `${url}/echo`, json: { a: 'x'.repeat(100) } });
    assert.equal(big.status, 413);
    assert.equal(json(big.body).error.code, 'ERR_BAD_REQUEST');
    const bad = await client.request({
      method: 'POST',
      url: `${url}/echo`,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(bad.status, 400);
  });

  it('maps known errors and hides unknown ones behind a request id', async () => {
    const tea = await get('/teapot');
    assert.equal(tea.status, 418);
    assert.deepEqual(json(tea.body).error, { code: 'ERR_TEAPOT', message: 'short and stout' });
    const boom = await get('/boom');
    assert.equal(boom.status, 500);
    const text = boom.body.toString('utf8');
    assert.doesNotMatch(text, /hunter2/);
    assert.equal(json(boom.body).error.code, 'ERR_INTERNAL');
    assert.match(text, new RegExp(String(boom.headers['x-request-id'])));
    assert.equal(logged.length, 1);
  });

  it('serves /healthz and /metrics', async () => {
    assert.deepEqual(json((await get('/healthz')).body), { ok: true, simulation: true });
    const metrics = await get('/metrics');
    assert.match(String(metrics.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(metrics.body.toString(), /^demo_total 1$/m);
  });

  it('exposes a client certificate to handlers without requiring it to chain', async () => {
    const user = generateUserKey('alice');
    const mtls = createHttpClient({ tls: { ca: ca.rootPem, cert: user.certificatePem, key: user.pem } });
    try {
      const res = await mtls.request({ method: 'GET', url: `${url}/whoami` });
      assert.deepEqual(json(res.body), { subject: 'CN=alice', authorized: false, simulation: true });
    } finally {
      mtls.close();
    }
    const anonymous = json((await get('/whoami')).body);
    assert.equal(anonymous.subject, null);
  });

  it('refuses TLS 1.2 clients', async () => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: Number(new URL(url).port),
      ca: ca.rootPem,
      servername: 'localhost',
      maxVersion: 'TLSv1.2',
    });
    const [err] = await once(socket, 'error');
    assert.match(String((err as Error).message), /version|alert|handshake/i);
  });

  it('refuses a server whose certificate does not chain to the pinned root', async () => {
    const other = createHttpClient({ tls: { ca: CasCa.create().rootPem } });
    try {
      await assert.rejects(other.request({ method: 'GET', url: `${url}/healthz` }), (err) => {
        assert.ok(err instanceof HttpClientError);
        assert.equal(err.kind, 'tls');
        return true;
      });
    } finally {
      other.close();
    }
  });

  it('finishes an in-flight request when closing', async () => {
    const pending = createHttpClient({ keepAlive: false, tls: { ca: ca.rootPem } }).request({
      method: 'GET',
      url: `${url}/slow`,
    });
    await entered;
    const closing = server.close({ deadlineMs: 10_000 });
    release();
    const res = await pending;
    assert.equal(res.status, 200);
    assert.deepEqual(json(res.body), { done: true, simulation: true });
    await closing;
  });
});

describe('http server limits', () => {
  it('cuts a client that sends headers too slowly', async () => {
    const server = createHttpServer({
      router: new HttpRouter(),
      headersTimeoutMs: 100,
      requestTimeoutMs: 200,
    });
    const { port } = await server.listen(0);
    try {
      const socket = netConnect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      await once(socket, 'close');
      assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.1 408/);
    } finally {
      await server.close({ deadlineMs: 100 });
    }
  });

  it('cuts requests still running at the close deadline', async () => {
    const router = new HttpRouter().get('/hang', () => new Promise(() => {}));
    const server = createHttpServer({ router });
    const { url } = await server.listen(0);
    const client = createHttpClient();
    const hanging = client.request({ method: 'GET', url: `${url}/hang` });
    while ((await new Promise<number>((r) => server.server.getConnections((_e, n) => r(n)))) < 1)
      await new Promise((r) => setImmediate(r));
    await server.close({ deadlineMs: 20 });
    await assert.rejects(hanging, (err) => err instanceof HttpClientError && err.kind === 'network');
    client.close();
  });

  it('gives up on a server that does not answer in time', async () => {
    const router = new HttpRouter().get('/hang', () => new Promise(() => {}));
    const server = createHttpServer({ router });
    const { url } = await server.listen(0);
    const client = createHttpClient({ timeoutMs: 50 });
    try {
      await assert.rejects(client.request({ method: 'GET', url: `${url}/hang` }), (err) => {
        assert.ok(err instanceof HttpClientError);
        assert.equal(err.kind, 'timeout');
        return true;
      });
    } finally {
      client.close();
      await server.close({ deadlineMs: 10 });
    }
  });

  it('refuses answers larger than the client limit', async () => {
    const router = new HttpRouter().get('/big', () => ({ text: 'x'.repeat(10_000) }));
    const server = createHttpServer({ router });
    const { url } = await server.listen(0);
    const client = createHttpClient({ maxResponseBytes: 1000 });
    try {
      await assert.rejects(
        client.request({ method: 'GET', url: `${url}/big` }),
        (err) => err instanceof HttpClientError && err.kind === 'too-large',
      );
    } finally {
      client.close();
      await server.close({ deadlineMs: 10 });
    }
  });

  it('maps HttpError thrown by handlers to its status', async () => {
    const router = new HttpRouter().get('/gone', () => {
      throw new HttpError(410, 'ERR_GONE', 'gone');
    });
    const server = createHttpServer({ router });
    const { url } = await server.listen(0);
    const client = createHttpClient();
    try {
      const res = await client.request({ method: 'GET', url: `${url}/gone` });
      assert.equal(res.status, 410);
    } finally {
      client.close();
      await server.close();
    }
  });
});
