import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { CasCa } from '../../src/cas/ca.ts';
import { isCasError } from '../../src/cas/errors.ts';
import { findUserByPublicKey, parsePolicy, permissionsOf, policyHash } from '../../src/cas/policy.ts';
import { createSelfSignedUserCertificate } from '../../src/cas/x509.ts';
import { freshKeyPair } from '../../src/crypto/index.ts';
import { examplePolicy, MEASUREMENT, makeUser, SIGNER, yamlBlock } from './policy-fixture.ts';

const operator = makeUser('operator');
const auditor = makeUser('auditor');
const example = examplePolicy(operator, auditor);

/** Parses `text`, expecting ERR_POLICY_INVALID; returns the error. */
function invalid(text: string, options?: { format?: 'yaml' | 'json' }) {
  try {
    parsePolicy(text, options);
  } catch (err) {
    assert.ok(isCasError(err, 'ERR_POLICY_INVALID'), `expected ERR_POLICY_INVALID, got ${err}`);
    return err;
  }
  return assert.fail('the policy was accepted');
}

function edit(from: string, to: string): string {
  assert.ok(example.includes(from), `the example has ${from}`);
  return example.replace(from, to);
}

describe('parsePolicy: the example policy', () => {
  it('parses the example of the issue and keeps its values', () => {
    const p = parsePolicy(example);
    assert.equal(p.name, 'smart-metering');
    assert.equal(p.predecessor, null);
    assert.deepEqual(Object.keys(p.users), ['operator', 'auditor']);
    const mdc = p.services.mdc!;
    assert.deepEqual(mdc.accept, [{ measurement: MEASUREMENT }, { signer: SIGNER, productId: 1, minSvn: 2 }]);
    assert.equal(mdc.maxInstances, 4);
    assert.equal(mdc.allowSimulation, true);
    assert.deepEqual(mdc.env, {
      DB_KEY: '{{ secrets.dbKey.hex }}',
      INMETRO_KEY: '{{ secrets.inmetro.privatePem }}',
    });
    assert.deepEqual(mdc.files, { '/run/secrets/tls.pem': '{{ self.certificate.pem }}' });
    assert.deepEqual(p.secrets.apiCert, { type: 'certificate', dnsNames: ['mdc'], validDays: 30 });
    assert.deepEqual(p.secrets.dbPassword, { type: 'password', length: 32 });
  });

  it('grants a service the secrets its templates name plus those it lists', () => {
    const p = parsePolicy(
      edit(
        '    args:  []',
        '    args:  ["--token={{ secrets.utilityToken.value }}"]\n    secrets: [dbPassword, dbKey]',
      ),
    );
    assert.deepEqual(p.services.mdc!.secrets, ['dbKey', 'inmetro', 'utilityToken', 'dbPassword']);
  });

  it('fills in the defaults when a service says only what it accepts', () => {
    const p = parsePolicy(
      edit(
        'services:\n  mdc:',
        `services:\n  meter:\n    accept: [{ measurement: "${MEASUREMENT}" }]\n  mdc:`,
      ),
    );
    assert.deepEqual(p.services.meter, {
      accept: [{ measurement: MEASUREMENT }],
      platforms: ['sgx', 'tdx', 'sev-snp', 'sim'],
      allowSimulation: false,
      allowDebug: false,
      tcb: { accept: ['UpToDate', 'SWHardeningNeeded'], advisories: [] },
      maxInstances: 1,
      env: {},
      files: {},
      args: [],
      secrets: [],
    });
    assert.equal(p.updateThreshold, 1);
  });

  it('accepts the same policy as JSON, and auto-detects JSON', () => {
    const yaml = parsePolicy(example);
    const json = JSON.stringify({ ...yaml, users: { ...yaml.users } });
    assert.deepEqual(parsePolicy(json, { format: 'json' }), yaml);
    assert.deepEqual(parsePolicy(json), yaml);
  });

  it('reads unquoted all-digit hex (YAML would make it a number) from the source text', () => {
    const p = parsePolicy(edit(`signer: "${SIGNER}"`, `signer: ${'0'.repeat(64)}`));
    assert.deepEqual(p.services.mdc!.accept[1], { signer: '0'.repeat(64), productId: 1, minSvn: 2 });
  });

  it('returns a frozen policy', () => {
    const p = parsePolicy(example);
    assert.ok(Object.isFrozen(p) && Object.isFrozen(p.services.mdc!.accept));
  });
});

describe('parsePolicy: errors point at the path, line and column', () => {
  it('says what is wrong with a value and where', () => {
    const err = invalid(edit('productId: 1, minSvn: 2', 'productId: 1, minSvn: "two"'));
    assert.equal(err.path, 'services.mdc.accept[1].minSvn');
    assert.match(
      err.message,
      /^services\.mdc\.accept\[1\]\.minSvn: expected an integer 0\.\.65535, got "two" \(line 38, column \d+\)$/,
    );
  });

  it('refuses an unknown key with a suggestion, pointing at the key', () => {
    const err = invalid(edit('allowSimulation: true', 'allowSimulaton: true'));
    assert.equal(err.path, 'services.mdc.allowSimulaton');
    assert.equal(
      err.message,
      'services.mdc.allowSimulaton: unknown key "allowSimulaton"; did you mean "allowSimulation"? (line 40, column 5)',
    );
    assert.match(invalid(edit('version: 1', 'version: 1\nsecret: {}')).message, /did you mean "secrets"\?/);
    assert.match(invalid(edit('version: 1', 'version: 1\nzzz: {}')).message, /expected one of version, name/);
  });

  it('refuses a template that names an undeclared secret or an unknown field', () => {
    const undeclared = invalid(edit('secrets.dbKey.hex', 'secrets.dbKy.hex'));
    assert.equal(undeclared.path, 'services.mdc.env.DB_KEY');
    assert.match(
      undeclared.message,
      /names secret "dbKy", which is not declared under secrets \(did you mean "dbKey"\?\)/,
    );
    const field = invalid(edit('secrets.dbKey.hex', 'secrets.dbKey.pem'));
    assert.match(
      field.message,
      /secret "dbKey" is a symmetric-key, which has the fields hex, base64, not "pem"/,
    );
    const self = invalid(edit('{{ self.certificate.pem }}', '{{ self.cert }}'));
    assert.equal(self.path, 'services.mdc.files["/run/secrets/tls.pem"]');
    assert.match(
      invalid(edit('{{ self.certificate.pem }}', '{{ env.HOME }}')).message,
      /not a template expression/,
    );
    assert.match(invalid(edit('{{ self.certificate.pem }}', '{{ self.name ')).message, /is not closed/);
  });

  it('refuses roles that do not exist, with a suggestion', () => {
    const err = invalid(edit('roles: [audit]', 'roles: [audt]'));
    assert.equal(err.path, 'users.auditor.roles[0]');
    assert.match(err.message, /got "audt" \(did you mean "audit"\?\)/);
  });

  it('refuses a user certificate that does not parse, is not P-256/Ed25519, or repeats a key', () => {
    const broken = operator.certificatePem.replace(/^(-----BEGIN CERTIFICATE-----\n)..../, '$1AAAA');
    assert.match(
      invalid(example.replace(yamlBlock(operator.certificatePem, 6), yamlBlock(broken, 6))).message,
      /does not parse/,
    );
    const rsa = CasCa.create().issueTlsCertificate(
      ['rsa'],
      generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
      1,
    );
    const wrongType = invalid(example.replace(yamlBlock(operator.certificatePem, 6), yamlBlock(rsa, 6)));
    assert.match(wrongType.message, /the certificate key is rsa; user keys are P-256 or Ed25519/);
    const twice = example.replace(
      yamlBlock(auditor.certificatePem, 6),
      yamlBlock(operator.certificatePem, 6),
    );
    assert.match(
      invalid(twice).message,
      /users\.auditor\.certificate: has the same public key as user "operator"/,
    );
    assert.match(
      invalid(example.replace(yamlBlock(operator.certificatePem, 6), '      not a pem')).message,
      /found 0/,
    );
  });

  it('accepts Ed25519 user certificates', () => {
    const { privateKey } = freshKeyPair('ed25519');
    const pem = createSelfSignedUserCertificate('auditor', privateKey, 30);
    const p = parsePolicy(example.replace(yamlBlock(auditor.certificatePem, 6), yamlBlock(pem, 6)));
    assert.equal(p.users.auditor!.certificate, `${pem.trimEnd()}\n`);
  });

  it('checks measurements, signers, platforms, TCB statuses and instance counts', () => {
    assert.match(
      invalid(edit(`measurement: "${MEASUREMENT}"`, `measurement: "${'ab'.repeat(31)}"`)).message,
      /expected 64 or 96 hex digits, got 62 digits/,
    );
    assert.match(
      invalid(edit(`measurement: "${MEASUREMENT}"`, 'measurement: "xyz"')).message,
      /expected 64 or 96 hex digits, got "xyz"/,
    );
    const tdx = parsePolicy(edit(`measurement: "${MEASUREMENT}"`, `measurement: "${'AB'.repeat(48)}"`));
    assert.deepEqual(tdx.services.mdc!.accept[0], { measurement: 'ab'.repeat(48) });
    assert.match(
      invalid(edit('productId: 1, minSvn: 2', 'productId: 1')).message,
      /missing required key "minSvn"/,
    );
    assert.match(
      invalid(edit(`- measurement: "${MEASUREMENT}"`, `- { measurement: "${MEASUREMENT}", minSvn: 1 }`))
        .message,
      /not both/,
    );
    assert.match(
      invalid(edit('[sgx, tdx, sev-snp, sim]', '[sgx, tdx, snp]')).message,
      /platforms\[2\]: expected one of sgx, tdx, sev-snp, sim, got "snp"/,
    );
    assert.match(invalid(edit('[sgx, tdx, sev-snp, sim]', '[sgx, sgx]')).message, /"sgx" is listed twice/);
    assert.match(
      invalid(edit('SWHardeningNeeded]', 'SWHardenningNeeded]')).message,
      /did you mean "SWHardeningNeeded"\?/,
    );
    assert.match(invalid(edit('advisories: []', 'advisories: ["a b"]')).message, /advisory id/);
    assert.match(
      invalid(edit('maxInstances: 4', 'maxInstances: 0')).message,
      /maxInstances: expected an integer 1\.\.100000, got 0/,
    );
    assert.match(
      invalid(edit('allowDebug: false', 'allowDebug: "no"')).message,
      /expected true or false, got "no"/,
    );
  });

  it('checks secret specs, env names and file paths', () => {
    assert.match(
      invalid(edit('bits: 256', 'bits: 100')).message,
      /secrets\.dbKey\.bits: expected 128, 192 or 256, got 100/,
    );
    assert.match(
      invalid(edit('{ type: password }', '{ type: password, bits: 1 }')).message,
      /unknown key "bits"; expected one of type, length/,
    );
    assert.match(
      invalid(edit('algorithm: ed25519', 'algorithm: ed448')).message,
      /expected one of ed25519, x25519, p256/,
    );
    assert.match(
      invalid(edit('{ type: user-provided }', '{ type: user-provided-x }')).message,
      /did you mean "user-provided"/,
    );
    assert.match(
      invalid(edit('dnsNames: [mdc]', 'dnsNames: ["not a name"]')).message,
      /expected a DNS name or IP address/,
    );
    assert.match(
      invalid(edit('DB_KEY:', '"1DB":')).message,
      /services\.mdc\.env\["1DB"\]: "1DB" is not a valid name/,
    );
    assert.match(
      invalid(edit('"/run/secrets/tls.pem"', '"/run/../etc/passwd"')).message,
      /not a valid file path/,
    );
    assert.match(invalid(edit('"/run/secrets/tls.pem"', '"relative.pem"')).message, /not a valid file path/);
    assert.match(
      invalid(edit('services:\n  mdc:', 'services:\n  MDC_x:')).message,
      /"MDC_x" is not a valid name: lower-case letters/,
    );
  });

  it('does not confuse inherited object members or __proto__ with declared names', () => {
    assert.match(
      invalid(edit('secrets.dbKey.hex', 'secrets.toString.hex')).message,
      /names secret "toString", which is not declared/,
    );
    assert.match(invalid(edit('secrets.dbKey.hex', 'secrets.constructor.hex')).message, /not declared/);
    assert.match(
      invalid(edit('DB_KEY:', '__proto__:')).message,
      /services\.mdc\.env\.__proto__: "__proto__" is a reserved name/,
    );
    const json = JSON.stringify({
      ...parsePolicy(example),
      secrets: JSON.parse('{"__proto__": {"type": "password"}}'),
    });
    assert.match(invalid(json).message, /reserved name/);
  });

  it('refuses a policy nobody could update, and a threshold above the number of updaters', () => {
    assert.match(
      invalid(edit('roles: [owner]', 'roles: [audit]')).message,
      /^users: no user has a role that can update-policy/,
    );
    assert.match(
      invalid(edit('predecessor: null', 'predecessor: null\nupdateThreshold: 2')).message,
      /updateThreshold: expected an integer 1\.\.1, got 2/,
    );
  });

  it('checks version, name and predecessor', () => {
    assert.match(
      invalid(edit('version: 1', 'version: 2')).message,
      /^version: expected 1 .*got 2 \(line 1, column 10\)$/,
    );
    assert.match(invalid(edit('name: smart-metering\n', '')).message, /^policy: missing required key "name"/);
    assert.match(
      invalid(edit('predecessor: null', 'predecessor: abc')).message,
      /predecessor: expected 64 hex digits/,
    );
    const hash = 'Ab'.repeat(32);
    assert.equal(
      parsePolicy(edit('predecessor: null', `predecessor: "${hash}"`)).predecessor,
      hash.toLowerCase(),
    );
  });

  it('gives the line and column of YAML and JSON syntax errors, duplicate keys included', () => {
    assert.match(
      invalid('version: 1\nname: [x\n').message,
      /^the policy is not valid YAML at line \d+, column \d+: /,
    );
    assert.match(
      invalid('version: 1\nversion: 1\n').message,
      /not valid YAML at line 2, column 1: Map keys must be unique/,
    );
    assert.match(
      invalid('{"version": 1,\n "name": "x",}', { format: 'json' }).message,
      /not valid JSON at line 2, column 14/,
    );
    assert.match(invalid('version: 1\n---\nname: x\n').message, /not valid YAML/);
    assert.match(invalid('a: !foo bar\n').message, /Unresolved tag/);
    assert.match(invalid('- 1\n').message, /^policy: expected a map, got a list/);
  });
});

describe('policyHash', () => {
  it('is the SHA-256 of the exact UTF-8 bytes', () => {
    assert.equal(
      policyHash('name: é\n'),
      createHash('sha256').update(Buffer.from('name: é\n', 'utf8')).digest('hex'),
    );
    assert.notEqual(policyHash(example), policyHash(`${example} `));
  });
});

describe('permissionsOf and findUserByPublicKey', () => {
  const policy = parsePolicy(example);

  it('unions the permissions of a user roles, and gives nothing to strangers', () => {
    assert.deepEqual([...permissionsOf(policy, 'operator')].sort(), [
      'read-audit',
      'read-secret',
      'update-policy',
      'write-secret',
    ]);
    assert.deepEqual([...permissionsOf(policy, 'auditor')], ['read-audit']);
    assert.equal(permissionsOf(policy, 'mallory').size, 0);
    assert.equal(permissionsOf(policy, '__proto__').size, 0);
    assert.equal(permissionsOf(policy, 'toString').size, 0);
  });

  it('finds the user whose certificate holds a public key', () => {
    assert.equal(findUserByPublicKey(policy, operator.spki), 'operator');
    assert.equal(findUserByPublicKey(policy, new Uint8Array(auditor.spki)), 'auditor');
    assert.equal(findUserByPublicKey(policy, makeUser('x').spki), null);
    const copy = JSON.parse(JSON.stringify(policy));
    assert.equal(findUserByPublicKey(copy, auditor.spki), 'auditor');
  });
});
