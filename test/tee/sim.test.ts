import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isTeeError } from '../../src/tee/errors.ts';
import { createSimBackend, type SimBackend } from '../../src/tee/sim/sim-backend.ts';
import { parseSimEvidence, SIM_EVIDENCE_SIZE } from '../../src/tee/sim/sim-evidence.ts';
import { SIM_PLATFORM_FILE } from '../../src/tee/sim/sim-platform.ts';
import { createSimVerifier } from '../../src/tee/sim/sim-verifier.ts';
import { rejectsWithCode, throwsWithCode } from './backend-contract.ts';

const MEASUREMENT = '11'.repeat(32);
const at = new Date('2025-01-01T00:00:00Z');

describe('sim backend', () => {
  let tmp: string;
  let backend: SimBackend;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'sim-test-'));
    backend = await createSimBackend({
      stateDir: join(tmp, 'a'),
      measurement: MEASUREMENT,
      productId: 7,
      svn: 3,
    });
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  it('persists the platform in a 0600 file inside a 0700 directory and loads it on the next start', async () => {
    const file = join(tmp, 'a', SIM_PLATFORM_FILE);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(tmp, 'a'))).mode & 0o777, 0o700);
    const again = await createSimBackend({ stateDir: join(tmp, 'a'), measurement: MEASUREMENT });
    assert.equal(again.platformKey, backend.platformKey);
    const blob = (await backend.sealer()).seal(Buffer.from('kept'));
    assert.equal(Buffer.from((await again.sealer()).unseal(blob)).toString(), 'kept');
    assert.deepEqual(await readdir(join(tmp, 'a')), [SIM_PLATFORM_FILE]);
  });

  it('ends up with one platform when two starts race on an empty state directory', async () => {
    const dir = join(tmp, 'race');
    const [a, b] = await Promise.all([
      createSimBackend({ stateDir: dir, measurement: MEASUREMENT }),
      createSimBackend({ stateDir: dir, measurement: MEASUREMENT }),
    ]);
    assert.equal(a.platformKey, b.platformKey);
  });

  it('refuses a corrupt state file with ERR_BACKEND_IO naming the file and the remedy', async () => {
    for (const [name, text] of [
      ['notjson', '{'],
      ['format', '{"format":"other"}'],
      ['secret', '{"format":"securecloud-sim-platform-v1","privateKey":"AAAA","secret":"AAAA"}'],
    ] as const) {
      const dir = join(tmp, `corrupt-${name}`);
      await createSimBackend({ stateDir: dir, measurement: MEASUREMENT });
      await writeFile(join(dir, SIM_PLATFORM_FILE), text);
      await assert.rejects(createSimBackend({ stateDir: dir, measurement: MEASUREMENT }), (err: unknown) => {
        assert.ok(isTeeError(err, 'ERR_BACKEND_IO'));
        assert.match(err.message, new RegExp(SIM_PLATFORM_FILE));
        assert.match(err.message, /delete it/);
        return true;
      });
    }
  });

  it('writes sim-v1 evidence with the documented layout', async () => {
    const reportData = randomBytes(64);
    const evidence = Buffer.from(await backend.getEvidence(reportData));
    assert.equal(evidence.length, SIM_EVIDENCE_SIZE);
    assert.equal(evidence.subarray(0, 8).toString('latin1'), 'SCSIMEV1');
    assert.equal(evidence.readUInt16LE(8), 1);
    assert.equal(evidence.subarray(10, 42).toString('hex'), MEASUREMENT);
    assert.deepEqual(evidence.subarray(42, 74), Buffer.alloc(32));
    assert.equal(evidence.readUInt16LE(74), 7);
    assert.equal(evidence.readUInt16LE(76), 3);
    assert.equal(evidence.readUInt16LE(78), 0);
    assert.deepEqual(evidence.subarray(80, 144), reportData);
    assert.equal(evidence.subarray(144, 176).toString('hex'), backend.platformKey);
  });

  it('says SIMULATION where a human reads it', () => {
    assert.match(backend.describe(), /SIMULATION/);
    assert.match(String(backend), /protects nothing/);
  });

  it('refuses bad options with a TypeError', async () => {
    const stateDir = join(tmp, 'a');
    await assert.rejects(createSimBackend({ stateDir, measurement: 'abc' }), TypeError);
    await assert.rejects(createSimBackend({ stateDir, measurement: new Uint8Array(31) }), TypeError);
    await assert.rejects(
      createSimBackend({ stateDir, measurement: MEASUREMENT, productId: 70000 }),
      TypeError,
    );
    await assert.rejects(createSimBackend({ stateDir, measurement: MEASUREMENT, svn: -1 }), TypeError);
    await assert.rejects(createSimBackend({ stateDir, measurement: MEASUREMENT, signer: 'zz' }), TypeError);
  });
});

describe('sim verifier', () => {
  let tmp: string;
  let backend: SimBackend;
  let stranger: SimBackend;
  let evidence: Uint8Array;
  const reportData = randomBytes(64);
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'simv-test-'));
    backend = await createSimBackend({
      stateDir: join(tmp, 'a'),
      measurement: MEASUREMENT,
      signer: '22'.repeat(32),
    });
    stranger = await createSimBackend({ stateDir: join(tmp, 'b'), measurement: MEASUREMENT });
    evidence = await backend.getEvidence(reportData);
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  it('accepts genuine evidence when simulation is allowed, as UpToDate with sim details', async () => {
    const result = await createSimVerifier().verify(evidence, { at, allowSimulation: true });
    assert.equal(result.accepted, true);
    assert.equal(result.genuine, true);
    assert.equal(result.platform, 'sim');
    assert.equal(result.simulation, true);
    assert.equal(result.tcbStatus, 'UpToDate');
    assert.equal(result.measurement, MEASUREMENT);
    assert.equal(result.signer, '22'.repeat(32));
    assert.equal(result.reportData, reportData.toString('hex'));
    assert.equal(result.details.simPlatformKey, backend.platformKeyFingerprint);
    assert.equal(result.details.simulation, true);
  });

  it('refuses genuine evidence with ERR_SIMULATION unless simulation is allowed', async () => {
    const result = await createSimVerifier().verify(evidence, { at });
    assert.equal(result.genuine, true);
    assert.equal(result.accepted, false);
    assert.equal(result.refusal?.code, 'ERR_SIMULATION');
  });

  it('refuses debug evidence with ERR_DEBUG unless debug is allowed', async () => {
    const debug = await createSimBackend({ stateDir: join(tmp, 'a'), measurement: MEASUREMENT, debug: true });
    const ev = await debug.getEvidence(reportData);
    const refused = await createSimVerifier().verify(ev, { at, allowSimulation: true });
    assert.equal(refused.refusal?.code, 'ERR_DEBUG');
    const allowed = await createSimVerifier().verify(ev, { at, allowSimulation: true, allowDebug: true });
    assert.equal(allowed.accepted, true);
  });

  it('accepts trusted platform keys given as hex, bytes or fingerprint and refuses others with ERR_SIM_PLATFORM_KEY', async () => {
    for (const key of [
      backend.platformKey,
      Buffer.from(backend.platformKey, 'hex'),
      backend.platformKeyFingerprint,
    ]) {
      const result = await createSimVerifier({ trustedPlatformKeys: [key] }).verify(evidence, {
        at,
        allowSimulation: true,
      });
      assert.equal(result.accepted, true);
    }
    const other = await stranger.getEvidence(reportData);
    const result = await createSimVerifier({ trustedPlatformKeys: [backend.platformKey] }).verify(other, {
      at,
      allowSimulation: true,
    });
    assert.equal(result.genuine, false);
    assert.equal(result.refusal?.code, 'ERR_SIM_PLATFORM_KEY');
    assert.equal(result.refusal?.value, stranger.platformKeyFingerprint);
    assert.throws(() => createSimVerifier({ trustedPlatformKeys: ['not a key'] }), TypeError);
  });

  it('refuses every altered signed byte or signature with ERR_SIM_SIGNATURE', async () => {
    const verifier = createSimVerifier();
    for (const offset of [10, 42, 74, 80, 143, 144, 176, 239]) {
      const altered = Buffer.from(evidence);
      altered[offset] = (altered[offset] ?? 0) ^ 0x04;
      const result = await verifier.verify(altered, { at, allowSimulation: true });
      assert.equal(result.refusal?.code, 'ERR_SIM_SIGNATURE', `offset ${offset}`);
      assert.equal(result.accepted, false);
    }
  });

  it('throws ERR_EVIDENCE_* on malformed input and never another error', async () => {
    const verifier = createSimVerifier();
    const ev = Buffer.from(evidence);
    throwsWithCode(() => verifier.inspect(ev.subarray(0, 100)), 'ERR_EVIDENCE_TRUNCATED');
    throwsWithCode(() => verifier.inspect(Buffer.concat([ev, Buffer.alloc(1)])), 'ERR_EVIDENCE_MALFORMED');
    const badVersion = Buffer.from(ev);
    badVersion.writeUInt16LE(2, 8);
    throwsWithCode(() => verifier.inspect(badVersion), 'ERR_EVIDENCE_FORMAT');
    const badFlags = Buffer.from(ev);
    badFlags.writeUInt16LE(0x8001, 78);
    await rejectsWithCode(verifier.verify(badFlags, { at, allowSimulation: true }), 'ERR_EVIDENCE_MALFORMED');
    for (let n = 0; n < 200; n++) {
      const junk = Buffer.concat([Buffer.from('SCSIMEV1'), randomBytes(n % 260)]);
      try {
        verifier.inspect(junk);
      } catch (err) {
        assert.ok(isTeeError(err) && err.code.startsWith('ERR_EVIDENCE_'), String(err));
      }
    }
  });

  it('sniffs its format and parses without verifying', () => {
    const verifier = createSimVerifier();
    assert.equal(verifier.name, 'sim');
    assert.equal(verifier.canVerify(evidence), true);
    assert.equal(verifier.canVerify(randomBytes(240)), false);
    const parsed = verifier.inspect(evidence);
    assert.equal(parsed.format, 'sim-v1');
    assert.equal(parsed.platform, 'sim');
    assert.equal(parseSimEvidence(evidence).debug, false);
  });

  it('throws a TypeError without a verification time and honours an aborted signal', async () => {
    const verifier = createSimVerifier();
    await assert.rejects(verifier.verify(evidence, {} as { at: Date }), TypeError);
    await assert.rejects(verifier.verify(evidence, { at: new Date('nope') }), TypeError);
    await assert.rejects(verifier.verify(evidence, { at, signal: AbortSignal.abort() }), {
      name: 'AbortError',
    });
  });
});
