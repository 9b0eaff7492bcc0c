import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type RunningCas, startCas } from '../../src/cli/cas-serve-command.ts';
import { runCli } from '../cli/helpers.ts';
import { tempDir } from './cas-fixture.ts';

const BIN = fileURLToPath(new URL('../../bin/securecloud', import.meta.url));

function policyYaml(
  certs: Record<string, string>,
  extra: { name?: string; predecessor?: string; threshold?: number } = {},
) {
  const indent = (pem: string) =>
    pem
      .trim()
      .split('\n')
      .map((l) => `      ${l}`)
      .join('\n');
  return `version: 1
name: ${extra.name ?? 'smart-metering'}
predecessor: ${extra.predecessor ? `"${extra.predecessor}"` : 'null'}
updateThreshold: ${extra.threshold ?? 1}
users:
${Object.entries(certs)
  .map(
    ([user, pem]) =>
      `  ${user}:\n    certificate: |\n${indent(pem)}\n    roles: [${user === 'reader' ? 'auditor' : 'owner'}]`,
  )
  .join('\n')}
roles:
  owner: { can: [update-policy, write-secret, read-secret, read-audit] }
  auditor: { can: [read-audit] }
services:
  mdc:
    accept:
      - measurement: "${'11'.repeat(32)}"
    allowSimulation: true
    env: { DB_KEY: "{{ secrets.dbKey.hex }}" }
secrets:
  dbKey: { type: symmetric-key, bits: 256 }
  utilityToken: { type: user-provided }
`;
}

const quietIo = () => {
  const lines: string[] = [];
  return { lines, out: (t: string) => lines.push(t), err: (t: string) => lines.push(t) };
};

describe('securecloud cas (in-process CAS, CLI end to end)', () => {
  let dir: string;
  let cas: RunningCas;
  let target: string[];
  const io = quietIo();
  const certs: Record<string, string> = {};
  const key = (user: string) => join(dir, `${user}.pem`);
  const file = (name: string) => join(dir, name);
  const hashes: string[] = [];

  before(async () => {
    dir = await tempDir('cas-cli-');
    cas = await startCas(
      { data: join(dir, 'data'), port: 0, host: '127.0.0.1', tee: 'sim', recoveryKeys: [] },
      io,
    );
    target = ['--cas', cas.url, '--cas-root', cas.rootPath];
  });
  after(async () => {
    await cas.stop();
  });

  it('prints a banner with the URL, root, measurement and SIMULATION', () => {
    const banner = io.lines.find((l) => l.startsWith('securecloud CAS listening')) ?? '';
    assert.match(banner, new RegExp(`listening on ${cas.url}`));
    assert.match(banner, new RegExp(cas.measurement));
    assert.match(banner, /SIMULATION/);
    assert.match(banner, /root\.pem/);
  });

  it('verifies the CAS, refusing simulation unless allowed and a wrong measurement', async () => {
    const ok = await runCli(
      'cas',
      'verify',
      ...target,
      '--allow-simulation',
      '--expect-measurement',
      cas.measurement,
    );
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /CAS VERIFIED/);
    const sim = await runCli('cas', 'verify', ...target);
    assert.equal(sim.code, 1);
    assert.match(sim.out, /ERR_SIMULATION/);
    const wrong = await runCli(
      'cas',
      'verify',
      ...target,
      '--allow-simulation',
      '--expect-measurement',
      'ab'.repeat(32),
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.out, /is not the expected/);
  });

  it('makes user keys whose certificates go into the policy', async () => {
    for (const user of ['owner', 'second', 'reader']) {
      const r = await runCli('cas', 'users', 'keygen', user, '--out', key(user));
      assert.equal(r.code, 0, r.err);
      certs[user] = r.out.slice(r.out.indexOf('-----BEGIN CERTIFICATE-----'));
    }
    const again = await runCli('cas', 'users', 'keygen', 'owner', '--out', key('owner'));
    assert.equal(again.code, 2);
  });

  it('applies a YAML policy and shows status, policy and history', async () => {
    await writeFile(file('v1.yaml'), policyYaml(certs));
    const r = await runCli('cas', 'policy', 'apply', file('v1.yaml'), '--as', key('owner'), ...target);
    assert.equal(r.code, 0, r.err);
    hashes.push(/hash\s+([0-9a-f]{64})/.exec(r.out)?.[1] ?? '');
    const status = JSON.parse((await runCli('cas', 'status', '--json', ...target)).out);
    assert.deepEqual(status.policy, { name: 'smart-metering', hash: hashes[0], version: 1 });
    assert.equal(status.simulation, true);
    const show = await runCli('cas', 'policy', 'show', '--as', key('reader'), ...target);
    assert.equal(show.out.trimEnd(), policyYaml(certs).trimEnd());
    const history = await runCli('cas', 'policy', 'history', '--as', key('reader'), '--json', ...target);
    assert.equal(JSON.parse(history.out)[0].hash, hashes[0]);
    assert.equal((await runCli('cas', 'policy', 'show', ...target)).code, 2);
  });

  it('stores user-provided secrets and reads generated ones', async () => {
    await writeFile(file('token'), 'utility-token');
    const put = await runCli(
      'cas',
      'secret',
      'put',
      'utilityToken',
      '--from',
      file('token'),
      '--as',
      key('owner'),
      ...target,
    );
    assert.equal(put.code, 0, put.err);
    const get = await runCli(
      'cas',
      'secret',
      'get',
      'dbKey',
      '--as',
      key('owner'),
      '--field',
      'hex',
      ...target,
    );
    assert.match(get.out, /^[0-9a-f]{64}\n$/);
    const writeOnly = await runCli('cas', 'secret', 'get', 'utilityToken', '--as', key('owner'), ...target);
    assert.equal(writeOnly.code, 1);
    assert.match(writeOnly.err, /ERR_SECRET_NOT_READABLE/);
    const forbidden = await runCli('cas', 'secret', 'get', 'dbKey', '--as', key('reader'), ...target);
    assert.match(forbidden.err, /ERR_FORBIDDEN/);
  });

  it('enforces predecessors and a threshold of signatures collected offline', async () => {
    await writeFile(file('v2.yaml'), policyYaml(certs, { name: 'v2', predecessor: hashes[0], threshold: 2 }));
    const v2 = await runCli('cas', 'policy', 'apply', file('v2.yaml'), '--as', key('owner'), ...target);
    assert.equal(v2.code, 0, v2.err);
    hashes.push(/hash\s+([0-9a-f]{64})/.exec(v2.out)?.[1] ?? '');
    await writeFile(
      file('stale.yaml'),
      policyYaml(certs, { name: 'stale', predecessor: hashes[0], threshold: 2 }),
    );
    const stale = await runCli(
      'cas',
      'policy',
      'apply',
      file('stale.yaml'),
      '--as',
      key('owner'),
      '--sign-with',
      key('second'),
      ...target,
    );
    assert.equal(stale.code, 1);
    assert.match(stale.err, /ERR_POLICY_PREDECESSOR/);
    await writeFile(file('v3.yaml'), policyYaml(certs, { name: 'v3', predecessor: hashes[1], threshold: 2 }));
    const alone = await runCli('cas', 'policy', 'apply', file('v3.yaml'), '--as', key('owner'), ...target);
    assert.equal(alone.code, 1);
    assert.match(alone.err, /ERR_POLICY_SIGNATURE.*1 valid signature/);
    const sign = await runCli(
      'cas',
      'policy',
      'sign',
      file('v3.yaml'),
      '--as',
      key('second'),
      '--out',
      file('v3.sig'),
    );
    assert.equal(sign.code, 0, sign.err);
    const wrongDoc = await runCli(
      'cas',
      'policy',
      'apply',
      file('v2.yaml'),
      '--as',
      key('owner'),
      '--signature',
      file('v3.sig'),
      ...target,
    );
    assert.equal(wrongDoc.code, 2);
    const both = await runCli(
      'cas',
      'policy',
      'apply',
      file('v3.yaml'),
      '--as',
      key('owner'),
      '--signature',
      file('v3.sig'),
      ...target,
    );
    assert.equal(both.code, 0, both.err);
    assert.match(both.out, /signed by\s+owner, second/);
  });

  it('lists and verifies the audit log online', async () => {
    const list = await runCli('cas', 'audit', '--as', key('reader'), ...target);
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /^1 \S+ start cas ok/m);
    assert.match(list.out, /policy owner,second refused ERR_POLICY_PREDECESSOR/);
    assert.match(list.out, /secret-write owner ok/);
    assert.doesNotMatch(list.out, /utility-token/);
    const verify = await runCli('cas', 'audit', '--verify', '--as', key('reader'), ...target);
    assert.equal(verify.code, 0, verify.err);
    assert.match(verify.out, /audit log verified: \d+ entries/);
  });

  it('logs JSON lines marked simulation without secret values', () => {
    const json = io.lines.filter((l) => l.startsWith('{'));
    assert.ok(json.length > 3);
    for (const line of json) assert.equal(JSON.parse(line).simulation, true);
    assert.ok(!json.some((l) => l.includes('utility-token')));
  });
});

describe('securecloud cas offline: audit verification and recovery', () => {
  it('verifies the audit log against the sealed head and recovers the state with a recovery key', async () => {
    const dir = await tempDir('cas-offline-');
    const data = join(dir, 'data');
    const keygen = await runCli('cas', 'recovery-keygen', '--out', join(dir, 'recovery.pem'));
    assert.equal(keygen.code, 0, keygen.err);
    const options = {
      data,
      port: 0,
      host: '127.0.0.1',
      tee: 'sim' as const,
      recoveryKeys: [join(dir, 'recovery.pub.pem')],
    };
    const first = await startCas(options, quietIo());
    const status = JSON.parse(
      (await runCli('cas', 'status', '--json', '--cas', first.url, '--cas-root', first.rootPath)).out,
    );
    await first.stop();
    const ok = await runCli('cas', 'audit', '--verify', '--data', data, '--tee', 'sim');
    assert.equal(ok.code, 0, ok.err);
    const log = await readFile(join(data, 'audit.log'), 'utf8');
    await writeFile(join(data, 'audit.log'), log.replace('"start"', '"START"'));
    const tampered = await runCli('cas', 'audit', '--verify', '--data', data, '--tee', 'sim');
    assert.equal(tampered.code, 1);
    assert.match(tampered.err, /ERR_AUDIT_TAMPERED.*entry 1/);
    await writeFile(join(data, 'audit.log'), log);
    // A new sim platform stands for another machine or CAS build: its sealing key differs.
    await rm(join(data, 'sim-platform'), { recursive: true });
    await assert.rejects(startCas(options, quietIo()), /securecloud cas recover/);
    const recovered = await runCli(
      'cas',
      'recover',
      '--data',
      data,
      '--recovery-key',
      join(dir, 'recovery.pem'),
      '--tee',
      'sim',
    );
    assert.equal(recovered.code, 0, recovered.err);
    const again = await startCas(options, quietIo());
    try {
      const after = JSON.parse(
        (await runCli('cas', 'status', '--json', '--cas', again.url, '--cas-root', again.rootPath)).out,
      );
      assert.equal(after.auditHead.seq >= status.auditHead.seq, true);
      assert.equal(await readFile(again.rootPath, 'utf8'), await readFile(first.rootPath, 'utf8'));
    } finally {
      await again.stop();
    }
  });
});

describe('securecloud cas serve (child process)', () => {
  it('serves until SIGTERM, then stops gracefully with exit code 0', async () => {
    const dir = await tempDir('cas-serve-');
    const child = spawn(
      process.execPath,
      [BIN, 'cas', 'serve', '--data', join(dir, 'data'), '--port', '0', '--tee', 'sim'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const stderr: string[] = [];
    createInterface({ input: child.stderr }).on('line', (l) => stderr.push(l));
    const lines = createInterface({ input: child.stdout });
    let url = '';
    for await (const line of lines) {
      const m = /listening on (https:\/\/\S+)/.exec(line);
      if (m) {
        url = m[1] ?? '';
        break;
      }
    }
    const root = join(dir, 'data', 'root.pem');
    const status = await runCli('cas', 'status', '--json', '--cas', url, '--cas-root', root);
    assert.equal(JSON.parse(status.out).simulation, true);
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
    assert.ok(stderr.length >= 2);
    for (const line of stderr) assert.equal(JSON.parse(line).simulation, true, line);
    assert.match(stderr.at(-1) ?? '', /CAS stopped/);
  });
});
