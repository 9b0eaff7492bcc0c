import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTeeBackend, detectTeeBackend } from '../../src/tee/detect.ts';
import { createGramineBackend } from '../../src/tee/gramine/gramine-backend.ts';
import { createSimBackend } from '../../src/tee/sim/sim-backend.ts';
import { createSimVerifier } from '../../src/tee/sim/sim-verifier.ts';
import { createTsmBackend } from '../../src/tee/tsm/tsm-backend.ts';
import { inspectEvidence, verifyEvidence } from '../../src/tee/verify.ts';
import { type BackendUnderTest, rejectsWithCode, runBackendContract } from './backend-contract.ts';
import { createFakeGramineTree, createFakeTsmTree } from './fake-tee-devices.ts';

const MEASUREMENT = 'ab'.repeat(32);

async function simUnderTest(): Promise<BackendUnderTest> {
  const stateDir = await mkdtemp(join(tmpdir(), 'sim-contract-'));
  const backend = await createSimBackend({ stateDir, measurement: MEASUREMENT });
  const verifier = createSimVerifier({ trustedPlatformKeys: [backend.platformKey] });
  return {
    backend,
    assertEvidence: async (evidence, reportData) => {
      const result = await verifier.verify(evidence, { at: new Date(), allowSimulation: true });
      assert.equal(result.refusal, null);
      assert.equal(result.accepted, true);
      assert.equal(result.reportData, Buffer.from(reportData).toString('hex'));
    },
    otherMeasurementSealer: async () =>
      (await createSimBackend({ stateDir, measurement: 'cd'.repeat(32) })).sealer(),
    close: () => rm(stateDir, { recursive: true, force: true }),
  };
}

/**
 * Hardware evidence from the fake trees, checked by the real verifiers: it parses as the platform's
 * evidence and carries exactly the report data. The fakes patch the report data into a real quote
 * or report without re-signing it, so the verifier must also refuse it as not genuine.
 */
async function assertHardwareEvidence(
  kind: 'sgx' | 'tdx' | 'sev-snp',
  evidence: Uint8Array,
  reportData: Uint8Array,
): Promise<void> {
  const parsed = inspectEvidence(evidence);
  assert.equal(parsed.platform, kind);
  assert.equal(parsed.reportData, Buffer.from(reportData).toString('hex'));
  const result = await verifyEvidence(evidence, { at: new Date('2025-06-20T00:00:00Z') });
  assert.equal(result.genuine, false, 'a patched, unsigned report must not verify');
  assert.equal(result.accepted, false);
}

async function gramineUnderTest(): Promise<BackendUnderTest> {
  const tree = await createFakeGramineTree();
  const otherEnclave = await createFakeGramineTree();
  return {
    backend: await createGramineBackend({ root: tree.root }),
    assertEvidence: async (evidence, reportData) => assertHardwareEvidence('sgx', evidence, reportData),
    otherMeasurementSealer: async () => (await createGramineBackend({ root: otherEnclave.root })).sealer(),
    close: async () => {
      await tree.close();
      await otherEnclave.close();
    },
  };
}

async function tsmUnderTest(provider: 'tdx_guest' | 'sev_guest'): Promise<BackendUnderTest> {
  const tree = await createFakeTsmTree({ provider });
  const backend = await createTsmBackend({ root: tree.root });
  return {
    backend,
    assertEvidence: async (evidence, reportData) =>
      assertHardwareEvidence(provider === 'tdx_guest' ? 'tdx' : 'sev-snp', evidence, reportData),
    otherMeasurementSealer: null,
    close: () => tree.close(),
  };
}

runBackendContract('sim', simUnderTest);
runBackendContract('gramine-sgx (fake /dev/attestation)', gramineUnderTest);
runBackendContract('tsm tdx_guest (fake configfs-tsm)', () => tsmUnderTest('tdx_guest'));
runBackendContract('tsm sev_guest (fake configfs-tsm)', () => tsmUnderTest('sev_guest'));

describe('detectTeeBackend and createTeeBackend', () => {
  let tmp: string;
  let missing: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'detect-'));
    missing = join(tmp, 'missing');
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  it('detects gramine-sgx when the attestation tree says dcap', async () => {
    const tree = await createFakeGramineTree();
    try {
      const found = await detectTeeBackend({ gramineRoot: tree.root, tsmRoot: missing });
      assert.equal(found.name, 'gramine-sgx');
      assert.equal(found.simulation, false);
      const selection = await createTeeBackend('auto', { gramineRoot: tree.root, tsmRoot: missing });
      assert.equal(selection.backend.platform, 'sgx');
    } finally {
      await tree.close();
    }
  });

  it('detects tsm when the configfs-tsm report directory exists', async () => {
    const tree = await createFakeTsmTree({ provider: 'sev_guest' });
    try {
      const found = await detectTeeBackend({ gramineRoot: missing, tsmRoot: tree.root });
      assert.equal(found.name, 'tsm');
      const selection = await createTeeBackend('auto', { gramineRoot: missing, tsmRoot: tree.root });
      assert.equal(selection.backend.platform, 'sev-snp');
      assert.equal(selection.simulation, false);
    } finally {
      await tree.close();
    }
  });

  it('falls back to sim visibly, with simulation true and a reason', async () => {
    const selection = await createTeeBackend('auto', {
      gramineRoot: missing,
      tsmRoot: missing,
      sim: { stateDir: join(tmp, 'sim'), measurement: MEASUREMENT },
    });
    assert.equal(selection.name, 'sim');
    assert.equal(selection.simulation, true);
    assert.match(selection.reason, /SIMULATION/);
    assert.match(selection.reason, /missing/);
  });

  it('explains a Gramine enclave without DCAP in the fallback reason', async () => {
    const tree = await createFakeGramineTree({ attestationType: 'none' });
    try {
      const found = await detectTeeBackend({ gramineRoot: tree.root, tsmRoot: missing });
      assert.equal(found.name, 'sim');
      assert.match(found.reason, /sgx\.remote_attestation = "dcap"/);
    } finally {
      await tree.close();
    }
  });

  it('refuses an explicitly named backend that is not usable with ERR_BACKEND_UNAVAILABLE', async () => {
    await rejectsWithCode(
      createTeeBackend('gramine-sgx', { gramineRoot: missing }),
      'ERR_BACKEND_UNAVAILABLE',
    );
    await rejectsWithCode(createTeeBackend('tsm', { tsmRoot: missing }), 'ERR_BACKEND_UNAVAILABLE');
  });

  it('needs sim options for the sim backend and refuses unknown names with a TypeError', async () => {
    await assert.rejects(createTeeBackend('sim'), TypeError);
    await assert.rejects(createTeeBackend('sgx' as 'sim'), TypeError);
  });

  it('marks an explicit sim choice as SIMULATION', async () => {
    const selection = await createTeeBackend('sim', {
      sim: { stateDir: join(tmp, 'sim2'), measurement: MEASUREMENT },
    });
    assert.equal(selection.simulation, true);
    assert.match(selection.reason, /SIMULATION/);
    const evidence = await selection.backend.getEvidence(randomBytes(64));
    assert.equal(Buffer.from(evidence).subarray(0, 8).toString('latin1'), 'SCSIMEV1');
  });
});
