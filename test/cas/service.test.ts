import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CasService } from '../../src/cas/cas-service.ts';
import { CasError, type CasErrorCode } from '../../src/cas/errors.ts';
import { policyHash } from '../../src/cas/policy.ts';
import { signPolicy } from '../../src/cas/user-keys.ts';
import {
  apply,
  basePolicy,
  MDC,
  makeUser,
  memoryLogger,
  openCas,
  owner,
  reader,
  second,
  signed,
  simService,
  tempDir,
} from './cas-fixture.ts';

async function rejectsWith(
  promise: Promise<unknown> | (() => unknown),
  code: CasErrorCode,
): Promise<CasError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    assert.ok(err instanceof CasError, String(err));
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

const text = (p: Record<string, unknown>) => JSON.stringify(p, null, 2);

describe('policy updates', () => {
  it('refuses an unsigned first policy, a signer without update-policy, and a non-null predecessor', async () => {
    const cas = await openCas(await tempDir());
    try {
      const first = text(basePolicy());
      const unsigned = await rejectsWith(cas.applyPolicy(first, []), 'ERR_POLICY_SIGNATURE');
      assert.match(unsigned.message, /unsigned/);
      const auditor = await rejectsWith(
        cas.applyPolicy(first, signed(first, reader)),
        'ERR_POLICY_SIGNATURE',
      );
      assert.match(auditor.message, /"reader".*update-policy/);
      const stranger = makeUser('owner');
      await rejectsWith(cas.applyPolicy(first, signed(first, stranger)), 'ERR_POLICY_SIGNATURE');
      const chained = text(basePolicy({ predecessor: 'ab'.repeat(32) }));
      await rejectsWith(cas.applyPolicy(chained, signed(chained, owner)), 'ERR_POLICY_PREDECESSOR');
      await rejectsWith(cas.applyPolicy('version: 2\n', signed('version: 2\n', owner)), 'ERR_POLICY_INVALID');
      assert.equal(cas.status().policy, null);
      const applied = await cas.applyPolicy(first, signed(first, owner));
      assert.deepEqual(applied.signers, ['owner']);
      assert.equal(applied.hash, policyHash(first));
      assert.deepEqual(cas.status().policy, { name: 'smart-metering', hash: policyHash(first), version: 1 });
    } finally {
      await cas.close();
    }
  });

  it('refuses a stale predecessor, a wrong signer, a signature over other text and a threshold not met', async () => {
    const cas = await openCas(await tempDir());
    try {
      const v1 = await apply(cas, basePolicy({ updateThreshold: 2 }), owner, second);
      const stale = text(basePolicy({ predecessor: 'ab'.repeat(32), name: 'v2' }));
      const err = await rejectsWith(
        cas.applyPolicy(stale, signed(stale, owner, second)),
        'ERR_POLICY_PREDECESSOR',
      );
      assert.match(err.message, new RegExp(v1.hash));
      const v2 = text(basePolicy({ predecessor: v1.hash, name: 'v2' }));
      await rejectsWith(cas.applyPolicy(v2, signed(v2, owner)), 'ERR_POLICY_SIGNATURE');
      await rejectsWith(cas.applyPolicy(v2, signed(v2, owner, owner)), 'ERR_POLICY_SIGNATURE');
      await rejectsWith(cas.applyPolicy(v2, signed(v2, owner, reader)), 'ERR_POLICY_SIGNATURE');
      const forged = [
        ...signed(v2, owner),
        { user: 'second', signature: signPolicy('other text', second.key) },
      ];
      const bad = await rejectsWith(cas.applyPolicy(v2, forged), 'ERR_POLICY_SIGNATURE');
      assert.match(bad.message, /signature of "second" does not verify/);
      const ok = await cas.applyPolicy(v2, signed(v2, owner, second));
      assert.equal(ok.version, 2);
      assert.deepEqual(
        cas.policyHistory(owner.spki).map((p) => [p.name, p.predecessor]),
        [
          ['smart-metering', null],
          ['v2', v1.hash],
        ],
      );
    } finally {
      await cas.close();
    }
  });

  it('requires signers of the policy in force, not of the new one', async () => {
    const cas = await openCas(await tempDir());
    try {
      const v1 = await apply(cas, basePolicy());
      const newcomer = makeUser('newcomer');
      const p = basePolicy({ predecessor: v1.hash });
      (p.users as Record<string, unknown>).newcomer = {
        certificate: newcomer.certificatePem,
        roles: ['owner'],
      };
      const err = await rejectsWith(
        cas.applyPolicy(text(p), signed(text(p), newcomer)),
        'ERR_POLICY_SIGNATURE',
      );
      assert.match(err.message, /not a user of the policy in force/);
    } finally {
      await cas.close();
    }
  });

  it('keeps secrets whose spec is unchanged and regenerates those whose spec changed', async () => {
    const cas = await openCas(await tempDir());
    try {
      const v1 = await apply(cas, basePolicy());
      const key1 = (await cas.getSecret(owner.spki, 'dbKey')).fields.hex;
      const pw1 = (await cas.getSecret(owner.spki, 'dbPassword')).fields.value;
      await cas.putSecret(owner.spki, 'utilityToken', Buffer.from('kept'));
      const p = basePolicy({ predecessor: v1.hash });
      (p.secrets as Record<string, unknown>).dbPassword = { type: 'password', length: 40 };
      await apply(cas, p);
      assert.equal((await cas.getSecret(owner.spki, 'dbKey')).fields.hex, key1);
      const pw2 = (await cas.getSecret(owner.spki, 'dbPassword')).fields.value;
      assert.notEqual(pw2, pw1);
      assert.equal(pw2?.length, 40);
      const mdc = await simService(cas.dataDir, { measurement: MDC });
      const services = p.services as Record<string, Record<string, unknown>>;
      services.mdc = { ...services.mdc, env: { T: '{{ secrets.utilityToken.value }}' } };
      await apply(cas, { ...p, predecessor: cas.status().policy?.hash });
      assert.equal((await cas.attest(await mdc.request(cas, 'mdc'))).env.T, 'kept');
    } finally {
      await cas.close();
    }
  });

  it('refuses a certificate secret that claims the CAS name', async () => {
    const cas = await openCas(await tempDir());
    try {
      const p = basePolicy();
      (p.secrets as Record<string, unknown>).apiCert = {
        type: 'certificate',
        dnsNames: ['cas.securecloud.internal'],
        validDays: 1,
      };
      const err = await rejectsWith(apply(cas, p), 'ERR_POLICY_INVALID');
      assert.equal(err.path, 'secrets.apiCert.dnsNames[0]');
    } finally {
      await cas.close();
    }
  });
});

describe('users and secrets', () => {
  it('authorizes by the caller key and the role permissions', async () => {
    const cas = await openCas(await tempDir());
    try {
      await rejectsWith(() => cas.policyInForce(owner.spki), 'ERR_UNAUTHORIZED');
      await apply(cas, basePolicy());
      await rejectsWith(cas.getSecret(null, 'dbKey'), 'ERR_UNAUTHORIZED');
      await rejectsWith(cas.getSecret(makeUser('x').spki, 'dbKey'), 'ERR_UNAUTHORIZED');
      await rejectsWith(cas.getSecret(reader.spki, 'dbKey'), 'ERR_FORBIDDEN');
      await rejectsWith(cas.putSecret(reader.spki, 'utilityToken', Buffer.from('x')), 'ERR_FORBIDDEN');
      await rejectsWith(cas.getSecret(owner.spki, 'nosuch'), 'ERR_SECRET_UNKNOWN');
      await rejectsWith(cas.putSecret(owner.spki, 'dbKey', Buffer.from('x')), 'ERR_SECRET_NOT_WRITABLE');
      await cas.putSecret(owner.spki, 'utilityToken', Buffer.from('x'));
      await rejectsWith(cas.getSecret(owner.spki, 'utilityToken'), 'ERR_SECRET_NOT_READABLE');
      const key = await cas.getSecret(owner.spki, 'dbKey');
      assert.equal(key.type, 'symmetric-key');
      assert.match(key.fields.hex ?? '', /^[0-9a-f]{64}$/);
      assert.equal(cas.policyInForce(reader.spki).hash, cas.status().policy?.hash);
      const audit = await cas.auditEntries(reader.spki);
      assert.deepEqual(
        audit.map((e) => `${e.kind}:${e.outcome}`),
        ['start:ok', 'policy:ok', 'secret-write:ok', 'secret-read:ok'],
      );
      assert.equal(audit[3]?.actor, 'owner');
    } finally {
      await cas.close();
    }
  });
});

describe('state', () => {
  it('keeps the CA, policy, secrets and audit chain across a restart', async () => {
    const dir = await tempDir();
    let cas = await openCas(dir);
    await apply(cas, basePolicy());
    const before = { root: cas.rootPem, key: await cas.getSecret(owner.spki, 'dbKey'), status: cas.status() };
    await cas.close();
    assert.equal(await readFile(join(dir, 'root.pem'), 'utf8'), before.root);
    cas = await openCas(dir);
    try {
      assert.equal(cas.rootPem, before.root);
      assert.deepEqual(cas.status().policy, before.status.policy);
      assert.deepEqual(await cas.getSecret(owner.spki, 'dbKey'), before.key);
      const entries = await cas.auditEntries(owner.spki);
      assert.deepEqual(
        entries.map((e) => e.kind),
        ['start', 'policy', 'secret-read', 'start', 'secret-read'],
      );
    } finally {
      await cas.close();
    }
  });

  it('detects a tampered state file at start-up', async () => {
    const dir = await tempDir();
    const cas = await openCas(dir);
    await apply(cas, basePolicy());
    await cas.close();
    const path = join(dir, 'state.sealed');
    const blob = await readFile(path);
    blob[blob.length - 20] = (blob[blob.length - 20] ?? 0) ^ 0x01;
    await writeFile(path, blob);
    const err = await rejectsWith(openCas(dir), 'ERR_STATE_TAMPERED');
    assert.match(err.message, /state\.sealed was altered/);
  });

  it('refuses state sealed by a CAS with another measurement', async () => {
    const dir = await tempDir();
    await (await openCas(dir)).close();
    const { createSimBackend } = await import('../../src/tee/index.ts');
    const { CasService } = await import('../../src/cas/cas-service.ts');
    const other = await createSimBackend({
      measurement: 'ee'.repeat(32),
      stateDir: join(dir, 'sim-platform'),
    });
    const err = await rejectsWith(
      CasService.open({ dataDir: dir, backend: other, measurement: 'ee'.repeat(32) }),
      'ERR_STATE_TAMPERED',
    );
    assert.match(err.message, /securecloud cas recover/);
  });

  it('detects a changed, a removed and a truncated audit log entry at start-up', async () => {
    const dir = await tempDir();
    const cas = await openCas(dir);
    await apply(cas, basePolicy());
    await cas.putSecret(owner.spki, 'utilityToken', Buffer.from('t'));
    await cas.getSecret(owner.spki, 'dbKey');
    await cas.close();
    const path = join(dir, 'audit.log');
    const original = await readFile(path, 'utf8');
    const lines = original.trimEnd().split('\n');
    const reopen = async (content: string): Promise<CasError> => {
      await writeFile(path, content);
      return rejectsWith(openCas(dir), 'ERR_AUDIT_TAMPERED');
    };
    const changed = lines.map((l, i) => (i === 2 ? l.replace('"owner"', '"mallory"') : l));
    assert.match((await reopen(`${changed.join('\n')}\n`)).message, /entry 3/);
    const removed = lines.filter((_, i) => i !== 1);
    assert.match((await reopen(`${removed.join('\n')}\n`)).message, /removed/);
    const truncated = lines.slice(0, -1);
    assert.match((await reopen(`${truncated.join('\n')}\n`)).message, /removed from the end/);
    await writeFile(path, original);
    await (await openCas(dir)).close();
  });
});

describe('secrecy', () => {
  it('never writes secret values into logs, errors, the audit log or metrics', async () => {
    const dir = await tempDir();
    const logger = memoryLogger();
    const cas: CasService = await openCas(dir, { logger });
    const errors: string[] = [];
    const capture = async (p: Promise<unknown>) =>
      p.catch((e: Error) => errors.push(`${e.message} ${String(e.cause ?? '')}`));
    try {
      await apply(cas, basePolicy());
      await cas.putSecret(owner.spki, 'utilityToken', Buffer.from('utility-token-value-42'));
      const mdc = await simService(dir, { measurement: MDC });
      const grant = await cas.attest(await mdc.request(cas, 'mdc'));
      await capture(cas.attest(await mdc.request(cas, 'mdc', { nonce: 'ff'.repeat(32) })));
      await capture(cas.getSecret(reader.spki, 'dbKey'));
      await capture(cas.getSecret(owner.spki, 'utilityToken'));
      await capture(cas.putSecret(owner.spki, 'dbKey', Buffer.from('x')));
      const values = ['utility-token-value-42', Buffer.from('utility-token-value-42').toString('hex')];
      for (const name of ['dbKey', 'dbPassword', 'inmetro', 'apiCert']) {
        const fields = (await cas.getSecret(owner.spki, name)).fields;
        for (const [field, v] of Object.entries(fields))
          if (!/public|^pem$|chainPem/.test(field)) values.push(v);
      }
      for (const v of Object.values(grant.env)) values.push(v);
      await cas.close();
      const haystacks = {
        logs: logger.lines.join('\n'),
        errors: errors.join('\n'),
        audit: await readFile(join(dir, 'audit.log'), 'utf8'),
        metrics: cas.registry.render(),
      };
      assert.ok(logger.lines.length >= 3 && errors.length === 4);
      for (const [where, text] of Object.entries(haystacks)) {
        for (const v of values) {
          const probe = v
            .replace(/-----[A-Z ]+-----/g, '')
            .trim()
            .slice(0, 40);
          assert.ok(!text.includes(probe), `a secret value appears in the ${where}`);
        }
      }
    } finally {
      await cas.close();
    }
  });
});
