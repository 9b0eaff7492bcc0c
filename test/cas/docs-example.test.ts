import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parsePolicy } from '../../src/cas/index.ts';
import { makeUser, yamlBlock } from './policy-fixture.ts';

const DOC = new URL('../../docs/cas.md', import.meta.url);

describe('docs/cas.md', () => {
  it('has an example smart-metering policy that the CAS accepts once certificates and measurements are filled in', async () => {
    const text = await readFile(DOC, 'utf8');
    const block = /```yaml\n(version: 1\nname: smart-metering[\s\S]*?)```/.exec(text)?.[1];
    assert.ok(block, 'the smart-metering example is in docs/cas.md');
    const certs = [makeUser('operator'), makeUser('regulator')].map((u) => yamlBlock(u.certificatePem, 6));
    let i = 0;
    const filled = block
      .replace(
        / {6}-----BEGIN CERTIFICATE-----\n[\s\S]*?-----END CERTIFICATE-----\n/g,
        () => `${certs[i++]}\n`,
      )
      .replace(/"<[^>]+>"/g, `"${'ab'.repeat(32)}"`);
    assert.equal(i, 2);
    const policy = parsePolicy(filled);
    assert.equal(policy.name, 'smart-metering');
    assert.equal(policy.updateThreshold, 2);
    assert.deepEqual(Object.keys(policy.services).sort(), ['cascadb', 'mdc', 'scbr-router']);
    assert.equal(policy.services.mdc?.maxInstances, 4);
    assert.equal(policy.secrets.meterRegistry?.type, 'user-provided');
  });
});
