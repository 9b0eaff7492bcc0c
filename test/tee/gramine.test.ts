import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isTeeError } from '../../src/tee/errors.ts';
import { createGramineBackend } from '../../src/tee/gramine/gramine-backend.ts';
import { rejectsWithCode } from './backend-contract.ts';
import { cannedSgxQuote, createFakeGramineTree, type FakeGramineOptions } from './fake-tee-devices.ts';

async function withTree(options: FakeGramineOptions, fn: (root: string) => Promise<void>): Promise<void> {
  const tree = await createFakeGramineTree(options);
  try {
    await fn(tree.root);
  } finally {
    await tree.close();
  }
}

describe('gramine-sgx backend', () => {
  it('writes the report data to user_report_data and returns the quote that binds it', async () => {
    await withTree({}, async (root) => {
      const backend = await createGramineBackend({ root });
      assert.equal(backend.platform, 'sgx');
      assert.equal(backend.simulation, false);
      const reportData = randomBytes(64);
      const quote = Buffer.from(await backend.getEvidence(reportData));
      assert.deepEqual(await readFile(join(root, 'user_report_data')), reportData);
      assert.deepEqual(quote.subarray(368, 432), reportData);
      assert.equal(quote.readUInt16LE(0), 3);
    });
  });

  it('serializes concurrent calls so that each quote binds its own report data', async () => {
    await withTree({}, async (root) => {
      const backend = await createGramineBackend({ root });
      const inputs = Array.from({ length: 5 }, () => randomBytes(64));
      const quotes = await Promise.all(inputs.map((rd) => backend.getEvidence(rd)));
      for (const [i, q] of quotes.entries()) assert.deepEqual(Buffer.from(q).subarray(368, 432), inputs[i]);
    });
  });

  it('is unavailable outside Gramine, naming the path', async () => {
    const missing = join(tmpdir(), `no-gramine-${randomBytes(4).toString('hex')}`);
    await assert.rejects(createGramineBackend({ root: missing }), (err: unknown) => {
      assert.ok(isTeeError(err, 'ERR_BACKEND_UNAVAILABLE'));
      assert.match(err.message, /attestation_type/);
      return true;
    });
  });

  it('explains the manifest setting when remote attestation is disabled', async () => {
    await withTree({ attestationType: 'none' }, async (root) => {
      await assert.rejects(createGramineBackend({ root }), (err: unknown) => {
        assert.ok(isTeeError(err, 'ERR_BACKEND_UNAVAILABLE'));
        assert.match(err.message, /sgx\.remote_attestation = "dcap"/);
        assert.equal(err.detail.value, 'none');
        return true;
      });
    });
  });

  it('refuses a quote that does not carry the report data with ERR_BACKEND_IO', async () => {
    await withTree({ quote: () => cannedSgxQuote(Buffer.alloc(64, 9)) }, async (root) => {
      const backend = await createGramineBackend({ root });
      await rejectsWithCode(backend.getEvidence(randomBytes(64)), 'ERR_BACKEND_IO');
    });
  });

  it('refuses something that is not an SGX quote with ERR_BACKEND_IO', async () => {
    await withTree({ quote: async () => randomBytes(100) }, async (root) => {
      const backend = await createGramineBackend({ root });
      await rejectsWithCode(backend.getEvidence(randomBytes(64)), 'ERR_BACKEND_IO');
    });
  });

  it('seals with the _sgx_mrenclave key: same key unseals, another enclave cannot', async () => {
    const key = randomBytes(16);
    await withTree({ mrenclaveKey: key }, async (root) => {
      const blob = (await (await createGramineBackend({ root })).sealer()).seal(Buffer.from('state'));
      await withTree({ mrenclaveKey: key }, async (sameEnclave) => {
        const sealer = await (await createGramineBackend({ root: sameEnclave })).sealer();
        assert.equal(Buffer.from(sealer.unseal(blob)).toString(), 'state');
      });
      await withTree({}, async (otherEnclave) => {
        const sealer = await (await createGramineBackend({ root: otherEnclave })).sealer();
        assert.throws(
          () => sealer.unseal(blob),
          (err: unknown) => isTeeError(err, 'ERR_SEAL_INTEGRITY'),
        );
      });
    });
  });

  it('says ERR_BACKEND_UNAVAILABLE without a sealing key and ERR_BACKEND_IO for a key of the wrong size', async () => {
    await withTree({ mrenclaveKey: null }, async (root) => {
      await rejectsWithCode((await createGramineBackend({ root })).sealer(), 'ERR_BACKEND_UNAVAILABLE');
    });
    await withTree({ mrenclaveKey: randomBytes(32) }, async (root) => {
      await rejectsWithCode((await createGramineBackend({ root })).sealer(), 'ERR_BACKEND_IO');
    });
  });

  it('honours an aborted signal when it is created', async () => {
    await assert.rejects(createGramineBackend({ root: '/nonexistent', signal: AbortSignal.abort() }), {
      name: 'AbortError',
    });
  });
});
