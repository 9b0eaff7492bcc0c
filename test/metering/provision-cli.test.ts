// `securecloud meters provision`: files, formats, the registry digest, and the MDC's refusal of a
// registry that does not match the digest the CAS releases.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isMeteringError } from '../../src/metering/protocol/index.ts';
import { MeterKeyFile, MeterRegistry } from '../../src/metering/provisioning.ts';
import { runCli } from '../cli/helpers.ts';

describe('meters provision', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('writes keys, registry and digest; keys match the registry', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sc-prov-'));
    dirs.push(dir);
    const r = await runCli('meters', 'provision', '--count', '25', '--out', dir, '--first-id', '1');
    assert.equal(r.code, 0, r.err);
    const summary = JSON.parse(r.out);
    assert.equal(summary.count, 25);
    const registryBytes = await readFile(join(dir, 'registry.bin'));
    const digest = createHash('sha256').update(registryBytes).digest('hex');
    assert.equal(summary.registrySha256, digest);
    assert.equal(await readFile(join(dir, 'registry.sha256'), 'utf8'), digest);
    assert.equal((await stat(join(dir, 'meters.keys'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'mdc.key'))).mode & 0o777, 0o600);
    const registry = await MeterRegistry.load(join(dir, 'registry.bin'), digest);
    const keys = await MeterKeyFile.load(join(dir, 'meters.keys'));
    for (const i of [0, 7, 24]) {
      const id = String(i + 1).padStart(8, '0');
      const pub = registry.publicKey(id)!.export({ format: 'jwk' }).x;
      const fromPrivate = keys.privateKey(i).export({ format: 'jwk' }).x;
      assert.equal(fromPrivate, pub, `meter ${id}`);
    }
    assert.equal(registry.publicKey('00000026'), undefined);
    assert.equal(registry.publicKey('0000001'), undefined);
  });

  it('refuses a registry whose digest is not the released one', async () => {
    const dir = dirs[0]!;
    const bytes = await readFile(join(dir, 'registry.bin'));
    bytes[40] = (bytes[40] ?? 0) ^ 1;
    await writeFile(join(dir, 'registry.bin'), bytes);
    const digest = await readFile(join(dir, 'registry.sha256'), 'utf8');
    await assert.rejects(MeterRegistry.load(join(dir, 'registry.bin'), digest), (e) =>
      isMeteringError(e, 'ERR_REGISTRY'),
    );
  });

  it('is reproducible with --seed and refuses bad counts', async () => {
    const a = await mkdtemp(join(tmpdir(), 'sc-prov-'));
    const b = await mkdtemp(join(tmpdir(), 'sc-prov-'));
    dirs.push(a, b);
    await runCli('meters', 'provision', '--count', '3', '--out', a, '--seed', 'fleet');
    await runCli('meters', 'provision', '--count', '3', '--out', b, '--seed', 'fleet');
    assert.deepEqual(await readFile(join(a, 'registry.bin')), await readFile(join(b, 'registry.bin')));
    const bad = await runCli('meters', 'provision', '--count', '0', '--out', a);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--count 0/);
  });
});
