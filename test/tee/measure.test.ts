import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isTeeError } from '../../src/tee/errors.ts';
import { MEASUREMENT_HEADER, measureService } from '../../src/tee/measure.ts';
import { rejectsWithCode } from './backend-contract.ts';

const sha = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('measureService', () => {
  let tmp: string;
  let tree: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'measure-'));
    tree = join(tmp, 'svc');
    await mkdir(join(tree, 'lib', 'deep'), { recursive: true });
    await mkdir(join(tree, '.git'));
    await writeFile(join(tree, 'main.js'), 'console.log(1)\n');
    await writeFile(join(tree, 'Zeta.txt'), 'z');
    await writeFile(join(tree, 'lib', 'deep', 'é.js'), 'e');
    await writeFile(join(tree, 'lib-a.js'), 'a');
    await writeFile(join(tree, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    await symlink('lib/deep/é.js', join(tree, 'alias.js'));
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  it('hashes a header line and a listing sorted by the UTF-8 bytes of the paths', async () => {
    const result = await measureService(tree);
    // 'Z' (0x5a) sorts before 'a' (0x61); '-' (0x2d) before '/' (0x2f).
    const expected = [
      `${sha('z')} 1 Zeta.txt\n`,
      `${sha('lib/deep/é.js')} symlink alias.js\n`,
      `${sha('a')} 1 lib-a.js\n`,
      `${sha('e')} 1 lib/deep/é.js\n`,
      `${sha('console.log(1)\n')} 15 main.js\n`,
    ];
    assert.equal(result.listing, expected.join(''));
    assert.equal(result.measurement, sha(MEASUREMENT_HEADER + result.listing));
    assert.deepEqual(
      result.files.map((f) => [f.path, f.kind]),
      [
        ['Zeta.txt', 'file'],
        ['alias.js', 'symlink'],
        ['lib-a.js', 'file'],
        ['lib/deep/é.js', 'file'],
        ['main.js', 'file'],
      ],
    );
    assert.equal(result.files[1]?.target, 'lib/deep/é.js');
  });

  it('gives the same measurement for a copy elsewhere with other modes and times', async () => {
    const copy = join(tmp, 'copy');
    await cp(tree, copy, { recursive: true, verbatimSymlinks: true });
    await chmod(join(copy, 'main.js'), 0o755);
    await utimes(join(copy, 'Zeta.txt'), new Date(0), new Date(0));
    assert.equal((await measureService(copy)).measurement, (await measureService(tree)).measurement);
    assert.equal(
      (await measureService(copy, { concurrency: 1 })).measurement,
      (await measureService(tree)).measurement,
    );
  });

  it('changes when one byte of one file changes', async () => {
    const copy = join(tmp, 'changed');
    await cp(tree, copy, { recursive: true, verbatimSymlinks: true });
    await writeFile(join(copy, 'lib-a.js'), 'b');
    assert.notEqual((await measureService(copy)).measurement, (await measureService(tree)).measurement);
  });

  it('skips .git unless asked, and applies exclude patterns by name and by path', async () => {
    const withGit = await measureService(tree, { includeGit: true });
    assert.ok(withGit.files.some((f) => f.path === '.git/HEAD'));
    const byName = await measureService(tree, { exclude: ['*.txt'] });
    assert.ok(!byName.files.some((f) => f.path.endsWith('.txt')));
    const byPath = await measureService(tree, { exclude: ['lib/**'] });
    assert.ok(!byPath.files.some((f) => f.path.startsWith('lib/')));
    assert.ok(byPath.files.some((f) => f.path === 'lib-a.js'));
    const dir = await measureService(tree, { exclude: ['deep', 'alias.js'] });
    assert.deepEqual(
      dir.files.map((f) => f.path),
      ['Zeta.txt', 'lib-a.js', 'main.js'],
    );
  });

  it('measures a single file under its base name, following a root link', async () => {
    const result = await measureService(join(tree, 'main.js'));
    assert.equal(result.listing, `${sha('console.log(1)\n')} 15 main.js\n`);
    await symlink(join(tree, 'main.js'), join(tmp, 'entry.js'));
    const viaLink = await measureService(join(tmp, 'entry.js'));
    assert.equal(viaLink.listing, `${sha('console.log(1)\n')} 15 entry.js\n`);
  });

  it('streams large files', async () => {
    const big = join(tmp, 'big.bin');
    const content = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(big, content);
    const [file] = (await measureService(big)).files;
    assert.equal(file?.sha256, sha(content));
    assert.equal(file?.size, content.length);
  });

  it('refuses links that are absolute, dangling or point outside the tree', async () => {
    for (const [name, target] of [
      ['abs', join(tree, 'main.js')],
      ['out', '../outside.txt'],
      ['dangling', 'nothing-here'],
    ] as const) {
      const dir = join(tmp, `link-${name}`);
      await mkdir(dir);
      await writeFile(join(tmp, 'outside.txt'), 'x');
      await symlink(target, join(dir, 'l'));
      await assert.rejects(measureService(dir), (err: unknown) => {
        assert.ok(isTeeError(err, 'ERR_MEASURE_IO'), String(err));
        assert.match(err.message, /symbolic link/);
        return true;
      });
    }
  });

  it('refuses a link chain that climbs out of the tree through an inner link', async () => {
    const dir = join(tmp, 'chain');
    await mkdir(dir);
    await symlink('.', join(dir, 'here'));
    await symlink('here/../outside.txt', join(dir, 'sneaky'));
    await rejectsWithCode(measureService(dir), 'ERR_MEASURE_IO');
  });

  it('refuses names that are not UTF-8 or contain control characters', async () => {
    const bad = join(tmp, 'badnames');
    await mkdir(bad);
    await writeFile(Buffer.from(`${bad}/\xff.js`, 'latin1'), 'x');
    await rejectsWithCode(measureService(bad), 'ERR_MEASURE_IO');
    await writeFile(join(bad, 'ok.js'), 'x');
    assert.deepEqual(
      (await measureService(bad, { exclude: ['?.js'] })).files.map((f) => f.path),
      ['ok.js'],
    );
    const nl = join(tmp, 'newline');
    await mkdir(nl);
    await writeFile(join(nl, 'a\nb'), 'x');
    await rejectsWithCode(measureService(nl), 'ERR_MEASURE_IO');
  });

  it('refuses FIFOs and other special files', async (t) => {
    const dir = join(tmp, 'fifo');
    await mkdir(dir);
    try {
      execFileSync('mkfifo', [join(dir, 'pipe')]);
    } catch {
      t.skip('mkfifo is not available here');
      return;
    }
    await rejectsWithCode(measureService(dir), 'ERR_MEASURE_IO');
  });

  it('says ERR_MEASURE_IO with the path for a missing path or an empty tree', async () => {
    const missing = join(tmp, 'missing');
    await assert.rejects(measureService(missing), (err: unknown) => {
      assert.ok(isTeeError(err, 'ERR_MEASURE_IO'));
      assert.equal(err.detail.value, missing);
      return true;
    });
    const empty = join(tmp, 'empty');
    await mkdir(join(empty, 'sub'), { recursive: true });
    await rejectsWithCode(measureService(empty), 'ERR_MEASURE_IO');
  });

  it('honours an aborted signal and refuses bad options with a TypeError', async () => {
    await assert.rejects(measureService(tree, { signal: AbortSignal.abort() }), { name: 'AbortError' });
    await assert.rejects(measureService(''), TypeError);
    await assert.rejects(measureService(tree, { concurrency: 0 }), TypeError);
    await assert.rejects(measureService(tree, { exclude: [''] }), TypeError);
  });
});
