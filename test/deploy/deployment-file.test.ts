import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import {
  assertPortsFree,
  type Deployment,
  deploymentPorts,
  isDeployError,
  loadDeployment,
  parseByteSize,
  parseDeployment,
  validateDeployment,
} from '../../src/deploy/index.ts';

const EXAMPLE = new URL('../../deploy/securecloud.example.yaml', import.meta.url).pathname;

function invalid(text: string, path: string, pattern: RegExp): void {
  assert.throws(
    () => parseDeployment(text, 'd.yaml', '/work'),
    (err: unknown) => {
      assert.ok(isDeployError(err, 'ERR_DEPLOYMENT_INVALID'), String(err));
      assert.equal(err.path, path);
      assert.match(err.message, pattern);
      assert.ok(err.message.startsWith(`d.yaml: ${path}:`), err.message);
      return true;
    },
  );
}

describe('deployment file', () => {
  it('fills in every default for an empty document', () => {
    const d = parseDeployment('', 'd.yaml', '/work');
    assert.equal(d.dataDir, '/work/.securecloud');
    assert.equal(d.tee, 'sim');
    assert.equal(d.host, '127.0.0.1');
    assert.equal(d.enclaveSize, 2 * 1024 ** 3);
    assert.deepEqual(d.cas, { port: 8443 });
    assert.deepEqual(d.mdc, { shards: 1, busPort: 7100, httpPort: 7180 });
    assert.deepEqual(d.scbr, { enabled: true, publishPort: 7300, subscribePort: 7301, httpPort: 7380 });
    assert.deepEqual(d.aggregators, { count: 1, port: 7200, httpPort: 7280 });
    assert.equal(d.meters.count, 2000);
    assert.equal(d.meters.rounds, 0);
    assert.deepEqual(d.restart, { initialSeconds: 1, maxSeconds: 30, resetAfterSeconds: 60 });
  });

  it('reads the documented example as the defaults', async () => {
    const example = await loadDeployment(EXAMPLE, '/work');
    assert.deepEqual(example, validateDeployment({}, '/work'));
  });

  it('resolves a relative dataDir against the working directory', () => {
    assert.equal(parseDeployment('dataDir: data/x', 'd', '/srv').dataDir, '/srv/data/x');
    assert.equal(parseDeployment('dataDir: /abs', 'd', '/srv').dataDir, '/abs');
  });

  it('names the path and the value of a wrong entry', () => {
    invalid('mdc:\n  shards: x\n', 'mdc.shards', /expected an integer 1\.\.16, got "x"/);
    invalid('mdc: { shards: 17 }', 'mdc.shards', /got 17/);
    invalid('cas: { port: 70000 }', 'cas.port', /1\.\.65535/);
    invalid('tee: sgx', 'tee', /sim, auto, gramine-sgx, tsm/);
    invalid('meters: { speed: 0 }', 'meters.speed', /1\.\.100000/);
    invalid('cascadb: { enabled: yes please }', 'cascadb.enabled', /true or false/);
    invalid('scbr: { enabled: 1 }', 'scbr.enabled', /true or false/);
    invalid('scbr: { publishPort: 0 }', 'scbr.publishPort', /1\.\.65535, got 0/);
    invalid('version: 2', 'version', /expected 1/);
    invalid('mdc: 3', 'mdc', /expected a mapping/);
  });

  it('refuses unknown keys, listing the allowed ones', () => {
    invalid('mdcs: { shards: 2 }', 'mdcs', /unknown key \(allowed: version, name/);
    invalid('mdc: { shard: 2 }', 'mdc.shard', /unknown key \(allowed: shards, busPort, httpPort\)/);
    invalid(
      'scbr: { port: 7300 }',
      'scbr.port',
      /unknown key \(allowed: enabled, publishPort, subscribePort, httpPort\)/,
    );
  });

  it('refuses two services on one port', () => {
    invalid('mdc: { httpPort: 8443 }', 'mdc.httpPort', /port 8443 of mdc-0 is also cas\.port of cas/);
    // Shard ranges: mdc-1 lands on aggregator-0's port.
    invalid(
      'mdc: { shards: 2, busPort: 7199 }',
      'aggregators.port',
      /port 7200 of aggregator-0 is also mdc\.busPort of mdc-1/,
    );
  });

  it("refuses an SCBR router port another service uses, and among the router's own", () => {
    invalid(
      'scbr: { httpPort: 7180 }',
      'mdc.httpPort',
      /port 7180 of mdc-0 is also scbr\.httpPort of scbr-router/,
    );
    invalid(
      'scbr: { subscribePort: 7300 }',
      'scbr.subscribePort',
      /port 7300 of scbr-router is also scbr\.publishPort of scbr-router/,
    );
  });

  it('ignores the ports of a disabled SCBR router', () => {
    const d = parseDeployment('scbr: { enabled: false, httpPort: 8443 }', 'd', '/w');
    assert.ok(!deploymentPorts(d).some((p) => p.service === 'scbr-router'));
  });

  it('ignores the ports of a disabled CascaDB', () => {
    const d = parseDeployment('cascadb: { enabled: false, port: 8443 }', 'd', '/w');
    assert.ok(!deploymentPorts(d).some((p) => p.service === 'cascadb'));
  });

  it('lists one port per shard and aggregator', () => {
    const d = parseDeployment('mdc: { shards: 3 }\naggregators: { count: 2 }', 'd', '/w');
    const ports = deploymentPorts(d).map((p) => `${p.service}:${p.port}`);
    assert.deepEqual(ports, [
      'cas:8443',
      'cascadb:5433',
      'cascadb:5480',
      'scbr-router:7300',
      'scbr-router:7301',
      'scbr-router:7380',
      'mdc-0:7100',
      'mdc-0:7180',
      'mdc-1:7101',
      'mdc-1:7181',
      'mdc-2:7102',
      'mdc-2:7182',
      'aggregator-0:7200',
      'aggregator-0:7280',
      'aggregator-1:7201',
      'aggregator-1:7281',
    ]);
  });

  it('checks that the backoff maximum is not below its start', () => {
    invalid(
      'restart: { initialSeconds: 10, maxSeconds: 5 }',
      'restart.maxSeconds',
      /below restart\.initialSeconds/,
    );
  });

  it('reads enclave sizes in bytes or binary units', () => {
    assert.equal(parseByteSize('2GiB'), 2 * 1024 ** 3);
    assert.equal(parseByteSize('512 MiB'), 512 * 1024 ** 2);
    assert.equal(parseByteSize(134_217_728), 134_217_728);
    assert.equal(parseDeployment('enclaveSize: 256MiB', 'd', '/w').enclaveSize, 256 * 1024 ** 2);
    invalid('enclaveSize: 2GB', 'enclaveSize', /KiB\/MiB\/GiB\/TiB/);
    invalid('enclaveSize: 1KiB', 'enclaveSize', /from 1MiB to 1TiB/);
  });

  it('reports YAML syntax errors with the file name', () => {
    assert.throws(
      () => parseDeployment('mdc: { shards: 2', 'broken.yaml'),
      (err: unknown) =>
        isDeployError(err, 'ERR_DEPLOYMENT_INVALID') && /^broken\.yaml is not valid YAML/.test(err.message),
    );
    assert.throws(
      () => parseDeployment('cas: {port: 1}\ncas: {port: 2}\n', 'dup.yaml'),
      (err: unknown) => isDeployError(err, 'ERR_DEPLOYMENT_INVALID'),
    );
  });

  it('says which deployment file it cannot read', async () => {
    await assert.rejects(loadDeployment('/nonexistent/d.yaml'), (err: unknown) => {
      return (
        isDeployError(err, 'ERR_DEPLOYMENT_INVALID') && /\/nonexistent\/d\.yaml \(ENOENT\)/.test(err.message)
      );
    });
  });
});

describe('port check', () => {
  it('names the taken port, its service, its key and the remedy', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      await assert.rejects(
        assertPortsFree('127.0.0.1', [{ service: 'mdc-0', port, path: 'mdc.httpPort' }]),
        (err: unknown) => {
          assert.ok(isDeployError(err, 'ERR_PORT_IN_USE'));
          assert.match(
            err.message,
            new RegExp(`port ${port} on 127\\.0\\.0\\.1 \\(mdc-0, mdc\\.httpPort\\) is in use`),
          );
          assert.match(err.message, /securecloud status/);
          assert.match(err.message, /set another mdc\.httpPort/);
          return true;
        },
      );
    } finally {
      await new Promise((r) => server.close(r));
    }
    await assertPortsFree('127.0.0.1', [{ service: 'mdc-0', port, path: 'mdc.httpPort' }]);
  });
});

describe('the example file', () => {
  it('documents every key the validator knows', async () => {
    const text = await readFile(EXAMPLE, 'utf8');
    const d: Deployment = validateDeployment({}, '/');
    for (const key of Object.keys(d)) assert.match(text, new RegExp(`^${key}:`, 'm'), key);
  });
});
