import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../cli/helpers.ts';

describe('up, status and reset on the command line', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sc-deploy-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('documents the deployment file in up --help', async () => {
    const r = await runCli('up', '--help');
    assert.equal(r.code, 0);
    assert.match(r.out, /deployment file/);
    assert.match(r.out, /docs\/deployment\.md/);
    assert.match(r.out, /mdc: \{ shards: 1/);
    assert.match(r.out, /scbr: \{ enabled: true, publishPort: 7300/);
  });

  it('documents scbr-router and refuses a malformed endpoint before attesting (exit 2)', async () => {
    const help = await runCli('scbr-router', '--help');
    assert.equal(help.code, 0);
    for (const flag of ['--publish', '--subscribe', '--http', '--cas', '--cas-root', '--tee'])
      assert.match(help.out, new RegExp(`${flag} `), flag);
    assert.match(help.out, /tcp:\/\/127\.0\.0\.1:7300/);
    const r = await runCli('scbr-router', '--publish', '127.0.0.1:7300', '--cas-root', join(dir, 'none.pem'));
    assert.equal(r.code, 2);
    assert.match(r.err, /--publish 127\.0\.0\.1:7300: expected tcp:\/\/HOST:PORT/);
  });

  it('refuses an invalid deployment file with the path of the error (exit 2)', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'mdc:\n  shards: x\n');
    const r = await runCli('up', file);
    assert.equal(r.code, 2);
    assert.match(r.err, /bad\.yaml: mdc\.shards: expected an integer 1\.\.16, got "x"/);
  });

  it('says that nothing runs, and exits 1', async () => {
    const r = await runCli('status', '--data', join(dir, 'none'));
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /no deployment runs on .*none \(no up\.json there\): start one with `securecloud up`/,
    );
    const j = await runCli('status', '--data', join(dir, 'none'), '--json');
    assert.equal(j.code, 1);
    assert.equal(JSON.parse(j.out).running, false);
  });

  it('resets a data directory with --yes, and needs it when not on a terminal', async () => {
    const data = join(dir, 'data');
    await mkdir(join(data, 'cas'), { recursive: true });
    await writeFile(join(data, 'owner.pem'), 'x');
    if (!process.stdin.isTTY) {
      const asked = await runCli('reset', '--data', data);
      assert.equal(asked.code, 2);
      assert.match(asked.err, /pass --yes/);
      await stat(data);
    }
    const r = await runCli('reset', '--data', data, '--yes');
    assert.equal(r.code, 0, r.err);
    await assert.rejects(stat(data));
    const again = await runCli('reset', '--data', data, '--yes');
    assert.equal(again.code, 0);
    assert.match(again.out, /nothing to reset/);
  });

  it('does not erase a directory that is not a deployment’s', async () => {
    const other = join(dir, 'home');
    await mkdir(other);
    await writeFile(join(other, 'thesis.tex'), 'precious');
    const r = await runCli('reset', '--data', other, '--yes');
    assert.equal(r.code, 1);
    assert.match(r.err, /does not look like a securecloud data directory/);
    await stat(join(other, 'thesis.tex'));
  });

  it('refuses to reset while a deployment runs on it', async () => {
    const data = join(dir, 'running');
    await mkdir(data);
    // This test process stands in for the supervisor.
    await writeFile(
      join(data, 'up.json'),
      JSON.stringify({ version: 1, supervisorPid: process.pid, services: [] }),
    );
    const r = await runCli('reset', '--data', data, '--yes');
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`supervisor pid ${process.pid}.*stop it first`));
    await stat(join(data, 'up.json'));
  });
});
