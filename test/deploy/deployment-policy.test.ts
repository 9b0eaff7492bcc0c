import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateUserKey, parsePolicy, policyHash, templateSecretNames } from '../../src/cas/index.ts';
import {
  buildDeploymentPolicy,
  deploymentPolicyText,
  isSamePolicy,
  parseDeployment,
} from '../../src/deploy/index.ts';
import { MDC_SECRETS } from '../../src/metering/policy.ts';

const owner = generateUserKey('owner');
const M = 'ab'.repeat(32);
const B = 'cd'.repeat(32);

function policyFor(yaml: string, simulation = true) {
  return buildDeploymentPolicy({
    deployment: parseDeployment(yaml, 'd', '/w'),
    ownerCertificatePem: owner.certificatePem,
    serviceMeasurement: M,
    cascadbMeasurement: B,
    simulation,
  });
}

describe('deployment policy', () => {
  it('is a policy the CAS accepts, with the owner, the services, the channel and the secrets', () => {
    const text = deploymentPolicyText(policyFor('mdc: { shards: 2 }'), null);
    const p = parsePolicy(text, { format: 'json' });
    assert.equal(p.name, 'securecloud-local');
    assert.equal(p.predecessor, null);
    assert.deepEqual(Object.keys(p.users), ['owner']);
    assert.deepEqual(Object.keys(p.services).sort(), ['aggregator', 'cascadb', 'mdc', 'scbr-router']);
    assert.deepEqual(p.services.mdc?.accept, [{ measurement: M }]);
    assert.deepEqual(p.services.cascadb?.accept, [{ measurement: B }]);
    assert.equal(p.services.mdc?.allowSimulation, true);
    assert.deepEqual(p.services.mdc?.platforms, ['sim']);
    // Room for one restart per shard while the killed instance's lease runs out.
    assert.equal(p.services.mdc?.maxInstances, 6);
    assert.ok(p.channels['metering-ingest']);
    for (const name of Object.values(MDC_SECRETS)) assert.ok(p.secrets[name], name);
    assert.equal(p.secrets.storageKey?.type, 'symmetric-key');
    assert.equal(p.secrets.dbPassword?.type, 'password');
  });

  it('grants CascaDB the secrets `sql serve` reads, and the MDC its own', () => {
    const p = policyFor('');
    const services = p.services as Record<string, { env: Record<string, string> }>;
    const granted = (s: string) =>
      new Set(Object.values(services[s]!.env).flatMap((v) => templateSecretNames(v)));
    assert.deepEqual([...granted('cascadb')].sort(), ['dbPassword', 'storageKey']);
    assert.deepEqual([...granted('mdc')].sort(), Object.values(MDC_SECRETS).sort());
  });

  it('adds the SCBR router with its two channels, no secret, and room for a restart', () => {
    const p = parsePolicy(deploymentPolicyText(policyFor(''), null), { format: 'json' });
    const router = p.services['scbr-router'];
    assert.deepEqual(router?.accept, [{ measurement: M }]);
    assert.deepEqual(router?.platforms, ['sim']);
    assert.equal(router?.allowSimulation, true);
    assert.equal(router?.maxInstances, 4);
    assert.deepEqual(router?.env ?? {}, {});
    assert.deepEqual(p.channels['scbr.publish']?.repliers, ['scbr-router']);
    assert.deepEqual(p.channels['scbr.publish']?.requesters, ['mdc']);
    assert.deepEqual(p.channels['scbr.subscribe']?.repliers, ['scbr-router']);
    assert.deepEqual(p.channels['scbr.subscribe']?.requesters, []);
  });

  it('leaves the SCBR router and its channels out when it is disabled', () => {
    const p = parsePolicy(deploymentPolicyText(policyFor('scbr: { enabled: false }'), null), {
      format: 'json',
    });
    assert.equal(p.services['scbr-router'], undefined);
    assert.deepEqual(Object.keys(p.channels), ['metering-ingest']);
  });

  it('leaves CascaDB out when it is disabled', () => {
    const p = policyFor('cascadb: { enabled: false }');
    assert.equal((p.services as Record<string, unknown>).cascadb, undefined);
    assert.equal((p.secrets as Record<string, unknown>).storageKey, undefined);
  });

  it('accepts hardware platforms only, without simulation, off the sim backend', () => {
    const p = parsePolicy(deploymentPolicyText(policyFor('', false), null), { format: 'json' });
    assert.deepEqual(p.services.mdc?.platforms, ['sgx', 'tdx', 'sev-snp']);
    assert.equal(p.services.mdc?.allowSimulation, false);
  });

  it('recognizes the policy in force whatever its predecessor', () => {
    const policy = policyFor('');
    const first = deploymentPolicyText(policy, null);
    const second = deploymentPolicyText(policy, policyHash(first));
    assert.ok(isSamePolicy(first, policy));
    assert.ok(isSamePolicy(second, policy));
    assert.equal(JSON.parse(second).predecessor, policyHash(first));
  });

  it('sees a change of code, shards or owner as a new policy', () => {
    const text = deploymentPolicyText(policyFor(''), null);
    assert.ok(!isSamePolicy(text, policyFor('mdc: { shards: 2 }')));
    const other = buildDeploymentPolicy({
      deployment: parseDeployment('', 'd', '/w'),
      ownerCertificatePem: owner.certificatePem,
      serviceMeasurement: 'ef'.repeat(32),
      cascadbMeasurement: B,
      simulation: true,
    });
    assert.ok(!isSamePolicy(text, other));
    assert.ok(!isSamePolicy('version: 1\nname: yaml-policy\n', policyFor('')));
  });
});
