import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, readFile, realpath } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { entryFile, mapPolicyPath } from '../../src/cli/run-command.ts';
import { runCli } from '../cli/helpers.ts';
import { startTestCas, type TestCas } from './platform-fixture.ts';

const BIN = new URL('../../bin/securecloud', import.meta.url).pathname;

// The mdc "service": reports what it received to the file named by its first argument, then exits
// with the code given as its second argument.
const MDC_SCRIPT = `const fs = require('node:fs');
const [out, code, ...granted] = process.argv.slice(2);
const dir = process.env.SECURECLOUD_FILES_DIR;
const mode = (p) => (fs.statSync(p).mode & 0o777).toString(8);
fs.writeFileSync(out, JSON.stringify({
  dir,
  granted,
  env: { DB_KEY: process.env.DB_KEY, TLS_CERT_FILE: process.env.TLS_CERT_FILE, WHO: process.env.WHO,
         KEEP: process.env.SC_RUN_TEST_KEEP },
  tls: fs.readFileSync(process.env.TLS_CERT_FILE, 'utf8'),
  dbConf: fs.readFileSync(dir + '/etc/mdc/db.conf', 'utf8'),
  modes: { dir: mode(dir), tls: mode(dir + '/run/secrets/tls.pem'), run: mode(dir + '/run') },
}));
process.exit(Number(code));
`;

// The reports "service": prints its files dir, then waits; on SIGTERM it says so and exits 7.
const REPORTS_SCRIPT = `process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(7); });
console.log(process.env.SECURECLOUD_FILES_DIR);
setInterval(() => {}, 1000);
`;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('securecloud run', () => {
  let t: TestCas;
  const common = () => [
    '--cas',
    t.url,
    '--cas-root',
    t.rootFile,
    '--tee',
    'sim',
    '--sim-state',
    t.simStateDir,
  ];

  before(async () => {
    t = await startTestCas({ code: { mdc: MDC_SCRIPT, reports: REPORTS_SCRIPT } });
  });
  after(async () => {
    await t?.close();
  });

  it('starts the command with the granted env, files and args, then removes the files dir', async () => {
    const out = join(t.dir, 'report.json');
    process.env.SC_RUN_TEST_KEEP = 'inherited';
    const r = await runCli('run', 'mdc', ...common(), '--', process.execPath, t.code.mdc, out, '0').finally(
      () => {
        delete process.env.SC_RUN_TEST_KEEP;
      },
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /^SIMULATION: mdc runs on the sim TEE backend/m);
    assert.match(r.err, /mdc attested as instance \S+ \(sim SIMULATION\)/);
    const report = JSON.parse(await readFile(out, 'utf8'));
    const dbKey = await t.cas.getSecret(t.ownerSpki, 'dbKey');
    const dbPassword = await t.cas.getSecret(t.ownerSpki, 'dbPassword');
    assert.equal(report.env.DB_KEY, dbKey.fields.hex);
    assert.equal(report.env.KEEP, 'inherited');
    assert.match(report.env.WHO, /^mdc\/\S+$/);
    // The policy path /run/secrets/tls.pem is written under the files dir, and an env value naming it
    // is rewritten to where it was written.
    assert.equal(report.env.TLS_CERT_FILE, join(report.dir, 'run/secrets/tls.pem'));
    assert.match(report.tls, /^-----BEGIN CERTIFICATE-----/);
    assert.equal(report.dbConf, `password=${dbPassword.fields.value}\n`);
    assert.deepEqual(report.granted, ['--db-password', dbPassword.fields.value]);
    assert.deepEqual(report.modes, { dir: '700', tls: '600', run: '700' });
    assert.equal(await exists(report.dir), false, 'the files dir is removed after the command exits');
    assert.ok(!r.err.includes(dbKey.fields.hex as string), 'no secret on stderr');
    assert.equal(t.cas.status().services.mdc?.instances, 0, 'the lease is released');
  });

  it("exits with the command's exit code, and still removes the files dir", async () => {
    const out = join(t.dir, 'report3.json');
    const r = await runCli('run', 'mdc', ...common(), '--', process.execPath, t.code.mdc, out, '3');
    assert.equal(r.code, 3, r.err);
    const report = JSON.parse(await readFile(out, 'utf8'));
    assert.equal(await exists(report.dir), false);
  });

  it('refuses to start the command when the measured code is not accepted', async () => {
    const out = join(t.dir, 'never.json');
    const r = await runCli(
      'run',
      'mdc',
      ...common(),
      '--measure',
      t.code.billing,
      '--',
      process.execPath,
      t.code.mdc,
      out,
      '0',
    );
    assert.equal(r.code, 1);
    assert.match(r.err, /\[ERR_ATTESTATION_REFUSED measurement-not-accepted\]/);
    assert.equal(await exists(out), false, 'the command did not run');
  });

  it('says what is wrong with a missing --cas-root or a command that does not exist', async () => {
    const noRoot = await runCli(
      'run',
      'mdc',
      '--cas',
      t.url,
      '--cas-root',
      join(t.dir, 'absent.pem'),
      '--',
      'true',
    );
    assert.equal(noRoot.code, 2);
    assert.match(noRoot.err, /--cas-root .*absent\.pem: ENOENT/);
    const missing = await runCli('run', 'mdc', ...common(), '--', 'no-such-program-sc');
    assert.equal(missing.code, 2);
    assert.match(missing.err, /cannot tell what "no-such-program-sc" runs.*--measure/);
  });

  it('forwards SIGTERM to the command, exits with its code and removes the files dir', async () => {
    const cli = spawn(
      process.execPath,
      [BIN, 'run', 'reports', ...common(), '--', process.execPath, t.code.reports],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    cli.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    const lines = createInterface({ input: cli.stdout })[Symbol.asyncIterator]();
    const dir = (await lines.next()).value as string;
    assert.ok(await exists(dir), err);
    cli.kill('SIGTERM');
    assert.equal((await lines.next()).value, 'got SIGTERM');
    const [code] = await once(cli, 'exit');
    assert.equal(code, 7, err);
    assert.equal(await exists(dir), false);
  });

  it('measures the first argument that is an existing file, else the program found on PATH', async () => {
    assert.equal(await entryFile(['node', '--no-warnings', t.code.mdc, 'x']), await realpath(t.code.mdc));
    assert.equal(await entryFile([process.execPath, '-e', '1']), await realpath(process.execPath));
    const onPath = await entryFile(['node', '-e', '1']);
    assert.ok(isAbsolute(onPath) && (await exists(onPath)), onPath);
  });

  it('maps policy paths under the files dir and never outside it', () => {
    assert.equal(mapPolicyPath('/tmp/d', '/run/secrets/tls.pem'), '/tmp/d/run/secrets/tls.pem');
    assert.equal(mapPolicyPath('/tmp/d', '/../../etc/passwd'), '/tmp/d/etc/passwd');
    assert.equal(mapPolicyPath('/tmp/d', 'rel/x'), '/tmp/d/rel/x');
    assert.throws(() => mapPolicyPath('/tmp/d', '/run/'));
  });
});
