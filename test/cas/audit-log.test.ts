import assert from 'node:assert/strict';
import { createHash, verify } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canonicalJson } from '../../src/cas/audit-chain.ts';
import { type AuditEntry, AuditLog, verifyAuditLog } from '../../src/cas/audit-log.ts';
import { isCasError } from '../../src/cas/errors.ts';
import { freshKeyPair } from '../../src/crypto/index.ts';

const { privateKey, publicKey } = freshKeyPair('ed25519');
const key = { sign: privateKey, verify: publicKey };

let root: string;
let counter = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cas-audit-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

function freshPath(): string {
  counter++;
  return join(root, `audit-${counter}.jsonl`);
}

/** A log of `n` entries; returns its path and the head to keep in the sealed state. */
async function writeLog(
  n: number,
  signKey = key,
): Promise<{ path: string; head: { seq: number; hash: string } }> {
  const path = freshPath();
  const log = await AuditLog.open(path, signKey, null);
  for (let i = 1; i <= n; i++) {
    await log.append({
      kind: 'attestation',
      actor: `service:mdc#${i}`,
      outcome: i % 2 === 0 ? 'refused' : 'granted',
      ...(i % 2 === 0 ? { reason: 'measurement-not-accepted' } : {}),
      detail: { measurement: 'ab'.repeat(32), n: i, simulation: true },
    });
  }
  const head = log.head();
  await log.close();
  return { path, head };
}

async function lines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
}

async function writeLines(path: string, list: string[]): Promise<void> {
  await writeFile(path, list.map((l) => `${l}\n`).join(''));
}

describe('AuditLog: appending', () => {
  it('chains and signs entries, and verifies', async () => {
    const { path, head } = await writeLog(3);
    const entries = (await lines(path)).map((l) => JSON.parse(l) as AuditEntry);
    assert.deepEqual(
      entries.map((e) => e.seq),
      [1, 2, 3],
    );
    assert.equal(entries[0]!.prev, '0'.repeat(64));
    assert.equal(entries[1]!.prev, entries[0]!.hash);
    assert.deepEqual(head, { seq: 3, hash: entries[2]!.hash });
    assert.deepEqual(await verifyAuditLog(path, publicKey, head), { ok: true, entries: 3 });
  });

  it('hashes and signs as documented', async () => {
    const { path } = await writeLog(1);
    const [entry] = (await lines(path)).map((l) => JSON.parse(l) as AuditEntry);
    const { hash, sig, ...body } = entry!;
    assert.equal(hash, createHash('sha256').update(canonicalJson(body)).digest('hex'));
    const message = Buffer.concat([Buffer.from('securecloud-audit-v1\0'), Buffer.from(hash, 'hex')]);
    assert.ok(verify(null, message, publicKey, Buffer.from(sig, 'base64')));
  });

  it('continues the chain after reopening with the sealed head', async () => {
    const { path, head } = await writeLog(2);
    const log = await AuditLog.open(path, key, head);
    const e = await log.append({
      kind: 'policy',
      actor: 'user:operator',
      outcome: 'ok',
      detail: { hash: 'x' },
    });
    assert.equal(e.seq, 3);
    assert.equal(e.prev, head.hash);
    await log.close();
    assert.deepEqual(await verifyAuditLog(path, publicKey, log.head()), { ok: true, entries: 3 });
  });

  it('gives concurrent appends consecutive numbers, and lists entries from a seq', async () => {
    const log = await AuditLog.open(freshPath(), key, null);
    const made = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        log.append({ kind: 'secret-read', actor: `u${i}`, outcome: 'ok' }),
      ),
    );
    assert.deepEqual(
      made.map((e) => e.seq),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    const listed: number[] = [];
    for await (const e of log.entries({ from: 8 })) listed.push(e.seq);
    assert.deepEqual(listed, [8, 9, 10]);
    await log.close();
  });

  it('refuses malformed input and mismatched keys', async () => {
    const log = await AuditLog.open(freshPath(), key, null);
    const bad = [
      { kind: 'nope', actor: 'a', outcome: 'ok' },
      { kind: 'start', actor: 'a', outcome: 'maybe' },
      { kind: 'start', actor: 1, outcome: 'ok' },
      { kind: 'start', actor: 'a', outcome: 'ok', detail: { x: { nested: true } } },
      { kind: 'start', actor: 'a', outcome: 'ok', detail: { x: Number.NaN } },
    ];
    for (const e of bad) assert.throws(() => log.append(e as never), TypeError);
    await log.close();
    const other = freshKeyPair('ed25519');
    await assert.rejects(
      AuditLog.open(freshPath(), { sign: privateKey, verify: other.publicKey }, null),
      TypeError,
    );
  });
});

describe('AuditLog: tampering is detected with the entry and the reason', () => {
  it('detects a changed entry', async () => {
    const { path, head } = await writeLog(5);
    const list = await lines(path);
    list[1] = list[1]!.replace('"refused"', '"granted"');
    await writeLines(path, list);
    const result = await verifyAuditLog(path, publicKey, head);
    assert.deepEqual(result, {
      ok: false,
      seq: 2,
      reason: 'the entry does not match its hash: it was altered',
    });
  });

  it('detects a changed entry whose hash was recomputed (the signature fails)', async () => {
    const { path, head } = await writeLog(5);
    const list = await lines(path);
    const e = JSON.parse(list[2]!) as AuditEntry;
    const { hash: _h, sig: _s, ...body } = { ...e, actor: 'someone-else' };
    list[2] = JSON.stringify({
      ...body,
      hash: createHash('sha256').update(canonicalJson(body)).digest('hex'),
      sig: e.sig,
    });
    await writeLines(path, list);
    const result = await verifyAuditLog(path, publicKey, head);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.seq, 3);
    assert.match(!result.ok ? result.reason : '', /signature is not valid/);
  });

  it('detects a removed entry', async () => {
    const { path, head } = await writeLog(5);
    const list = await lines(path);
    list.splice(2, 1);
    await writeLines(path, list);
    assert.deepEqual(await verifyAuditLog(path, publicKey, head), {
      ok: false,
      seq: 3,
      reason: 'expected entry 3, found entry 4: an entry was removed or the entries were re-ordered',
    });
  });

  it('detects re-ordered entries', async () => {
    const { path, head } = await writeLog(5);
    const list = await lines(path);
    [list[1], list[2]] = [list[2]!, list[1]!];
    await writeLines(path, list);
    const result = await verifyAuditLog(path, publicKey, head);
    assert.deepEqual(result, {
      ok: false,
      seq: 2,
      reason: 'expected entry 2, found entry 3: an entry was removed or the entries were re-ordered',
    });
  });

  it('detects a truncated tail against the head from the sealed state', async () => {
    const { path, head } = await writeLog(5);
    await writeLines(path, (await lines(path)).slice(0, 3));
    assert.deepEqual(await verifyAuditLog(path, publicKey, head), {
      ok: false,
      seq: 4,
      reason:
        'the log ends at entry 3 but the head kept in the sealed state is entry 5: entries were removed from the end',
    });
    // Without the head a clean cut cannot be seen: that is why the head lives in the sealed state.
    assert.deepEqual(await verifyAuditLog(path, publicKey), { ok: true, entries: 3 });
  });

  it('detects a whole log swapped for another one of the same length', async () => {
    const a = await writeLog(3);
    const b = await writeLog(3);
    await writeFile(a.path, await readFile(b.path));
    const result = await verifyAuditLog(a.path, publicKey, a.head);
    assert.deepEqual(result, {
      ok: false,
      seq: 3,
      reason: 'the hash differs from the head kept in the sealed state: the log was rewritten',
    });
  });

  it('detects entries signed by another key, and lines that are not entries', async () => {
    const other = freshKeyPair('ed25519');
    const { path } = await writeLog(2, { sign: other.privateKey, verify: other.publicKey });
    const result = await verifyAuditLog(path, publicKey);
    assert.equal(!result.ok && result.seq, 1);
    await appendFile(path, 'garbage\n');
    const garbage = await verifyAuditLog(path, other.publicKey);
    assert.deepEqual(garbage, { ok: false, seq: 3, reason: 'the line is not JSON (entry 3 expected)' });
  });

  it('refuses to open a tampered log, naming the entry', async () => {
    const { path, head } = await writeLog(4);
    const list = await lines(path);
    list.splice(1, 1);
    await writeLines(path, list);
    await assert.rejects(
      AuditLog.open(path, key, head),
      (e: unknown) =>
        isCasError(e, 'ERR_AUDIT_TAMPERED') &&
        /entry 2: expected entry 2, found entry 3/.test((e as Error).message),
    );
  });

  it('reports an incomplete last line, and open cuts it off and goes on', async () => {
    const { path, head } = await writeLog(2);
    await appendFile(path, '{"seq":3,"time":"2026-');
    const result = await verifyAuditLog(path, publicKey, head);
    assert.equal(!result.ok && result.seq, 3);
    assert.match(!result.ok ? result.reason : '', /incomplete/);
    const log = await AuditLog.open(path, key, head);
    assert.equal((await log.append({ kind: 'start', actor: 'cas', outcome: 'ok' })).seq, 3);
    await log.close();
    assert.deepEqual(await verifyAuditLog(path, publicKey, log.head()), { ok: true, entries: 3 });
  });

  it('treats a missing file as empty, unless the head says there were entries', async () => {
    assert.deepEqual(await verifyAuditLog(freshPath(), publicKey), { ok: true, entries: 0 });
    const result = await verifyAuditLog(freshPath(), publicKey, { seq: 2, hash: 'ab'.repeat(32) });
    assert.equal(!result.ok && result.seq, 1);
  });
});
