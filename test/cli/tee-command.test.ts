import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { runCli } from './helpers.ts';

const BIN = new URL('../../bin/securecloud', import.meta.url).pathname;

describe('securecloud tee', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sc-tee-'));
    await mkdir(join(dir, 'svc', 'lib'), { recursive: true });
    await writeFile(join(dir, 'svc', 'main.js'), 'console.log(1)\n');
    await writeFile(join(dir, 'svc', 'lib', 'util.js'), 'export const x = 1;\n');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('measure prints the same 64-hex measurement twice and a different one after a change', async () => {
    const a = await runCli('tee', 'measure', join(dir, 'svc'));
    const b = await runCli('tee', 'measure', join(dir, 'svc'));
    assert.equal(a.code, 0, a.err);
    assert.match(a.out.trim(), /^[0-9a-f]{64}$/);
    assert.equal(a.out, b.out);
    await writeFile(join(dir, 'svc', 'lib', 'util.js'), 'export const x = 2;\n');
    const c = await runCli('tee', 'measure', join(dir, 'svc'));
    assert.notEqual(c.out, a.out);
  });

  it('measure --json lists the files', async () => {
    const r = await runCli('tee', 'measure', join(dir, 'svc'), '--json');
    const j = JSON.parse(r.out);
    assert.deepEqual(
      j.files.map((f: { path: string }) => f.path),
      ['lib/util.js', 'main.js'],
    );
  });

  it('measure of a missing path exits 1 with the path in the message', async () => {
    const r = await runCli('tee', 'measure', join(dir, 'absent'));
    assert.equal(r.code, 1);
    assert.match(r.err, /absent/);
  });

  it('evidence from the sim backend is refused by attest verify unless simulation is allowed', async () => {
    const out = join(dir, 'sim.bin');
    const state = join(dir, 'state');
    const e = await runCli(
      'tee',
      'evidence',
      '--tee',
      'sim',
      '--measure',
      join(dir, 'svc'),
      '--sim-state',
      state,
      '--report-data',
      'abcd',
      '--out',
      out,
    );
    assert.equal(e.code, 0, e.err);
    assert.match(e.err, /SIMULATION/);
    const refused = await runCli('attest', 'verify', out, '--json');
    assert.equal(refused.code, 1);
    assert.equal(JSON.parse(refused.out).code, 'ERR_SIMULATION');
    const ok = await runCli('attest', 'verify', out, '--allow-simulation', '--json');
    assert.equal(ok.code, 0, ok.out);
    const j = JSON.parse(ok.out);
    assert.equal(j.simulation, true);
    assert.equal(j.platform, 'sim');
    assert.ok(j.reportData.startsWith('abcd000000'));
    const m = await runCli('tee', 'measure', join(dir, 'svc'));
    assert.equal(j.measurement, m.out.trim());
  });

  it('evidence exits 2 on an unknown backend and on report data over 64 bytes', async () => {
    assert.equal((await runCli('tee', 'evidence', '--tee', 'sgx2', '--out', join(dir, 'x'))).code, 2);
    const long = 'ab'.repeat(65);
    assert.equal(
      (await runCli('tee', 'evidence', '--tee', 'sim', '--report-data', long, '--out', join(dir, 'x'))).code,
      2,
    );
  });

  it('detect says SIMULATION on a machine without a TEE interface', async (t) => {
    const r = await runCli('tee', 'detect', '--json');
    const j = JSON.parse(r.out);
    if (j.name !== 'sim') t.skip(`this machine has a TEE interface (${j.name})`);
    else {
      assert.equal(j.simulation, true);
      assert.match(j.reason, /SIMULATION/);
    }
  });
});

describe('securecloud command', () => {
  it('runs through bin/securecloud with --help (exit 0) and an unknown command (exit 2)', async () => {
    const run = promisify(execFile);
    const help = await run(BIN, ['--help']);
    assert.match(help.stdout, /attest/);
    await assert.rejects(run(BIN, ['no-such-command']), (err: { code: number }) => err.code === 2);
  });
});
