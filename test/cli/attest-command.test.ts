import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, vector } from './helpers.ts';

const AT_DCAP = '2025-06-20T00:00:00Z';

describe('securecloud attest verify', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sc-attest-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 0 and prints the JSON contract when a TDX quote is genuine and up to date', async () => {
    const r = await runCli(
      'attest',
      'verify',
      vector('dcap-qvl/tdx_quote'),
      '--collateral',
      vector('dcap-qvl/tdx_quote_collateral.json'),
      '--at',
      AT_DCAP,
      '--json',
    );
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.platform, 'tdx');
    assert.equal(j.genuine, true);
    assert.equal(j.accepted, true);
    assert.equal(j.tcbStatus, 'UpToDate');
    assert.deepEqual(j.advisories, []);
    assert.equal(j.debug, false);
    assert.match(j.mrtd, /^[0-9a-f]{96}$/);
    assert.match(j.reportData, /^[0-9a-f]{128}$/);
    assert.equal(j.reason, undefined);
  });

  it('exits 1 with the TCB status and advisories when the SGX quote needs configuration', async () => {
    const r = await runCli(
      'attest',
      'verify',
      vector('dcap-qvl/sgx_quote'),
      '--collateral',
      vector('dcap-qvl/sgx_quote_collateral.json'),
      '--at',
      AT_DCAP,
      '--json',
    );
    assert.equal(r.code, 1);
    const j = JSON.parse(r.out);
    assert.equal(j.genuine, true);
    assert.equal(j.accepted, false);
    assert.equal(j.tcbStatus, 'ConfigurationAndSWHardeningNeeded');
    assert.deepEqual(j.advisories, ['INTEL-SA-00289', 'INTEL-SA-00615']);
    assert.equal(j.code, 'ERR_TCB_STATUS');
    assert.match(j.reason, /INTEL-SA-00289/);
    assert.match(j.mrenclave, /^33d8736d/);
    assert.match(j.mrsigner, /^815f42f1/);
    assert.equal(Buffer.from(j.reportData, 'hex').subarray(0, 13).toString(), 'Hello, world!');
  });

  it('exits 0 when --accept adds the SGX quote TCB status', async () => {
    const r = await runCli(
      'attest',
      'verify',
      vector('dcap-qvl/sgx_quote'),
      '--collateral',
      vector('dcap-qvl/sgx_quote_collateral.json'),
      '--at',
      AT_DCAP,
      '--accept',
      'ConfigurationAndSWHardeningNeeded',
    );
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /ACCEPTED/);
  });

  it('accepts a SEV-SNP report given as .hex with its VCEK', async () => {
    const r = await runCli(
      'attest',
      'verify',
      vector('virtee/report_milan.hex'),
      '--collateral',
      vector('virtee/vcek_milan.der'),
      '--at',
      '2024-01-01T00:00:00Z',
      '--json',
    );
    assert.equal(r.code, 0, r.out);
    const j = JSON.parse(r.out);
    assert.equal(j.platform, 'sev-snp');
    assert.match(j.measurement, /^[0-9a-f]{96}$/);
  });

  it('refuses a debug SEV-SNP guest unless --allow-debug is given', async () => {
    const args = [
      'attest',
      'verify',
      vector('go-sev-guest/attestation.bin'),
      '--collateral',
      vector('go-sev-guest/vcek.testcer'),
      '--at',
      '2024-01-01T00:00:00Z',
      '--json',
    ];
    const refused = await runCli(...args);
    assert.equal(refused.code, 1);
    assert.equal(JSON.parse(refused.out).code, 'ERR_DEBUG');
    assert.equal(JSON.parse(refused.out).debug, true);
    const allowed = await runCli(...args, '--allow-debug');
    assert.equal(allowed.code, 0, allowed.out);
  });

  it('exits 1 with ERR_EVIDENCE_FORMAT when the file is random bytes', async () => {
    const file = join(dir, 'random.bin');
    await writeFile(file, randomBytes(700));
    const r = await runCli('attest', 'verify', file, '--json');
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.out).code, 'ERR_EVIDENCE_FORMAT');
  });

  it('exits 2 on a bad --at, an unknown --accept status or a missing file', async () => {
    const q = vector('dcap-qvl/tdx_quote');
    assert.equal((await runCli('attest', 'verify', q, '--at', 'yesterday')).code, 2);
    const bad = await runCli('attest', 'verify', q, '--accept', 'Fine');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown TCB status/);
    const missing = await runCli('attest', 'verify', join(dir, 'nope.bin'));
    assert.equal(missing.code, 2);
    assert.match(missing.err, /ENOENT/);
    assert.equal((await runCli('attest', 'verify')).code, 2);
  });

  it('exits 2 when a collateral file is not collateral', async () => {
    const file = join(dir, 'junk.json');
    await writeFile(file, '{"hello": 1}');
    const r = await runCli('attest', 'verify', vector('dcap-qvl/tdx_quote'), '--collateral', file);
    assert.equal(r.code, 2);
    assert.match(r.err, /junk\.json/);
  });
});

describe('securecloud attest inspect', () => {
  it('prints the parsed fields and says they are not verified', async () => {
    const r = await runCli('attest', 'inspect', vector('dcap-qvl/sgx_quote'));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /NOT VERIFIED/);
    assert.match(r.out, /33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb/);
  });

  it('prints JSON with --json', async () => {
    const r = await runCli('attest', 'inspect', vector('virtee/report_milan.hex'), '--json');
    assert.equal(r.code, 0);
    assert.equal(JSON.parse(r.out).platform, 'sev-snp');
  });
});
