import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isTeeError } from '../../src/tee/errors.ts';
import { createTsmBackend } from '../../src/tee/tsm/tsm-backend.ts';
import { rejectsWithCode } from './backend-contract.ts';
import {
  cannedTdxQuote,
  createFakeTsmTree,
  type FakeTsmOptions,
  type FakeTsmTree,
} from './fake-tee-devices.ts';

async function withTree(options: FakeTsmOptions, fn: (tree: FakeTsmTree) => Promise<void>): Promise<void> {
  const tree = await createFakeTsmTree(options);
  try {
    await fn(tree);
  } finally {
    await tree.close();
  }
}

describe('tsm backend', () => {
  it('maps tdx_guest to tdx and sev_guest to sev-snp', async () => {
    for (const [provider, platform] of [
      ['tdx_guest', 'tdx'],
      ['sev_guest', 'sev-snp'],
    ] as const) {
      await withTree({ provider }, async (tree) => {
        const backend = await createTsmBackend({ root: tree.root });
        assert.equal(backend.platform, platform);
        assert.equal(backend.provider, provider);
        assert.equal(backend.simulation, false);
      });
    }
  });

  it('uses a fresh report directory per call and removes it afterwards', async () => {
    await withTree({}, async (tree) => {
      const backend = await createTsmBackend({ root: tree.root });
      const reportData = randomBytes(64);
      const quote = Buffer.from(await backend.getEvidence(reportData));
      await backend.getEvidence(randomBytes(64));
      assert.deepEqual(quote.subarray(568, 632), reportData);
      assert.equal(new Set(tree.created).size, tree.created.length);
      assert.equal(tree.created.length, 3, 'one probe at creation, one per call');
      assert.deepEqual(await readdir(tree.root), []);
    });
  });

  it('refuses with ERR_BACKEND_RACE when generation moved by more than our write, and cleans up', async () => {
    await withTree({ racingWrites: 1 }, async (tree) => {
      const backend = await createTsmBackend({ root: tree.root });
      await assert.rejects(backend.getEvidence(randomBytes(64)), (err: unknown) => {
        assert.ok(isTeeError(err, 'ERR_BACKEND_RACE'));
        assert.equal(err.detail.check, 'tsm-generation');
        return true;
      });
      assert.deepEqual(await readdir(tree.root), []);
    });
  });

  it('refuses an outblob that does not carry the report data with ERR_BACKEND_IO, and cleans up', async () => {
    await withTree({ outblob: () => cannedTdxQuote(Buffer.alloc(64)) }, async (tree) => {
      const backend = await createTsmBackend({ root: tree.root });
      await rejectsWithCode(backend.getEvidence(randomBytes(64)), 'ERR_BACKEND_IO');
      assert.deepEqual(await readdir(tree.root), []);
    });
    await withTree({ outblob: async () => randomBytes(10) }, async (tree) => {
      const backend = await createTsmBackend({ root: tree.root });
      await rejectsWithCode(backend.getEvidence(randomBytes(64)), 'ERR_BACKEND_IO');
    });
  });

  it('is unavailable without configfs-tsm and says what it needs', async () => {
    const missing = join(tmpdir(), `no-tsm-${randomBytes(4).toString('hex')}`);
    await assert.rejects(createTsmBackend({ root: missing }), (err: unknown) => {
      assert.ok(isTeeError(err, 'ERR_BACKEND_UNAVAILABLE'));
      assert.match(err.message, /6\.7/);
      assert.match(err.message, /mount -t configfs/);
      return true;
    });
  });

  it('is unavailable with an unknown provider', async () => {
    await withTree({ provider: 'cca_guest' }, async (tree) => {
      await rejectsWithCode(createTsmBackend({ root: tree.root }), 'ERR_BACKEND_UNAVAILABLE');
      assert.deepEqual(await readdir(tree.root), []);
    });
  });

  it('cannot seal and points to keys released by the CAS', async () => {
    await withTree({}, async (tree) => {
      const backend = await createTsmBackend({ root: tree.root });
      await assert.rejects(backend.sealer(), (err: unknown) => {
        assert.ok(isTeeError(err, 'ERR_BACKEND_UNAVAILABLE'));
        assert.match(err.message, /CAS/);
        return true;
      });
    });
  });

  it('creates no report directory when the signal is already aborted', async () => {
    await withTree({}, async (tree) => {
      const backend = await createTsmBackend({ root: tree.root });
      await assert.rejects(backend.getEvidence(randomBytes(64), { signal: AbortSignal.abort() }), {
        name: 'AbortError',
      });
      assert.equal(tree.created.length, 1);
    });
  });
});
