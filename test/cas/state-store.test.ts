import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { CasCa } from '../../src/cas/ca.ts';
import { isCasError } from '../../src/cas/errors.ts';
import { generateSecret } from '../../src/cas/secrets.ts';
import { generateRecoveryKeyPair } from '../../src/cas/state-recovery.ts';
import { StateStore } from '../../src/cas/state-store.ts';
import { freshKeyPair } from '../../src/crypto/index.ts';
import { createSimBackend, type Sealer } from '../../src/tee/index.ts';

const SECRET = 'TOP-SECRET-4b1d-never-print-me';
const M1 = '11'.repeat(32);
const M2 = '22'.repeat(32);

let root: string;
let sealer1: Sealer;
let sealer2: Sealer;
let counter = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cas-state-'));
  const platform = join(root, 'sim-platform');
  sealer1 = await (await createSimBackend({ measurement: M1, stateDir: platform })).sealer();
  sealer2 = await (await createSimBackend({ measurement: M2, stateDir: platform })).sealer();
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

function freshDir(): string {
  counter++;
  return join(root, `data-${counter}`);
}

/** Everything an error shows: message, stack, inspect and the cause chain. */
function everything(err: unknown): string {
  return `${(err as Error).message}\n${(err as Error).stack}\n${inspect(err, { depth: 10 })}`;
}

async function expectTampered(run: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(run, (err: unknown) => {
    assert.ok(isCasError(err, 'ERR_STATE_TAMPERED'), `expected ERR_STATE_TAMPERED, got ${err}`);
    assert.match((err as Error).message, pattern);
    assert.ok(!everything(err).includes(SECRET), 'the error shows the secret');
    return true;
  });
}

async function flipByte(path: string, at: number): Promise<void> {
  const bytes = await readFile(path);
  const i = at < 0 ? bytes.length + at : at;
  bytes[i] = bytes[i]! ^ 0x01;
  await writeFile(path, bytes);
}

describe('StateStore: save and load', () => {
  it('starts empty, then keeps what was saved across reopening', async () => {
    const dir = freshDir();
    const store = await StateStore.open(dir, sealer1);
    assert.equal(await store.load(), null);
    await store.save({ policy: 'p', secrets: { db: SECRET }, n: 1 });
    await store.close();
    const again = await StateStore.open(dir, sealer1);
    assert.deepEqual(await again.load(), { policy: 'p', secrets: { db: SECRET }, n: 1 });
    assert.deepEqual((await readdir(dir)).sort(), ['state-key.sealed', 'state.sealed']);
  });

  it('never writes the plaintext to disk', async () => {
    const dir = freshDir();
    const store = await StateStore.open(dir, sealer1);
    await store.save({ secret: SECRET });
    for (const name of await readdir(dir)) {
      assert.ok(!(await readFile(join(dir, name))).includes(SECRET), name);
    }
  });

  it('serializes concurrent saves: the last one wins', async () => {
    const store = await StateStore.open(freshDir(), sealer1);
    await Promise.all([1, 2, 3, 4, 5].map((n) => store.save({ n })));
    assert.deepEqual(await store.load(), { n: 5 });
  });

  it('refuses a SecretValue inside the state, without showing it', async () => {
    const store = await StateStore.open(freshDir(), sealer1);
    const secret = generateSecret('k', { type: 'password', length: 20 }, CasCa.create());
    await assert.rejects(store.save({ secrets: { k: secret } }), (err: unknown) => {
      assert.ok(err instanceof TypeError && /serializeSecret/.test(err.message));
      return true;
    });
  });

  it('leaves the old state readable after a crash between write and rename, and removes the temp file', async () => {
    const dir = freshDir();
    const store = await StateStore.open(dir, sealer1);
    await store.save({ version: 'old' });
    // A crash after the temp file was written (maybe partly) but before the rename.
    await writeFile(join(dir, 'state.sealed.tmp-0123456789ab'), 'half-written new state');
    const reopened = await StateStore.open(dir, sealer1);
    assert.deepEqual(await reopened.load(), { version: 'old' });
    assert.deepEqual((await readdir(dir)).sort(), ['state-key.sealed', 'state.sealed']);
  });
});

describe('StateStore: tampering', () => {
  it('detects a changed state.sealed (header, body or tag) with ERR_STATE_TAMPERED', async () => {
    for (const at of [2, 20, -1]) {
      const dir = freshDir();
      const store = await StateStore.open(dir, sealer1);
      await store.save({ secret: SECRET });
      await flipByte(join(dir, 'state.sealed'), at);
      await expectTampered(
        async () => (await StateStore.open(dir, sealer1)).load(),
        /state\.sealed was altered, or sealed by a CAS with another measurement; restore a backup or start with an empty --data dir/,
      );
    }
  });

  it('detects a truncated state.sealed', async () => {
    const dir = freshDir();
    await (await StateStore.open(dir, sealer1)).save({ secret: SECRET });
    await writeFile(join(dir, 'state.sealed'), (await readFile(join(dir, 'state.sealed'))).subarray(0, 10));
    await expectTampered(async () => (await StateStore.open(dir, sealer1)).load(), /was altered/);
  });

  it('detects a changed state-key.sealed and names the recovery command', async () => {
    const dir = freshDir();
    await (await StateStore.open(dir, sealer1)).save({ secret: SECRET });
    await flipByte(join(dir, 'state-key.sealed'), 30);
    await expectTampered(
      () => StateStore.open(dir, sealer1),
      /state-key\.sealed does not unseal: .*run `securecloud cas recover --data .* --recovery-key KEY\.pem`/,
    );
  });

  it('refuses a CAS with another measurement', async () => {
    const dir = freshDir();
    await (await StateStore.open(dir, sealer1)).save({ secret: SECRET });
    await expectTampered(() => StateStore.open(dir, sealer2), /another measurement/);
  });

  it('refuses a state whose key file was removed instead of starting afresh', async () => {
    const dir = freshDir();
    await (await StateStore.open(dir, sealer1)).save({ secret: SECRET });
    await unlink(join(dir, 'state-key.sealed'));
    await expectTampered(
      () => StateStore.open(dir, sealer1),
      /state-key\.sealed is missing but .*state\.sealed exists/,
    );
  });
});

describe('StateStore: recovery after the sealer changes', () => {
  const x25519 = generateRecoveryKeyPair();
  const p256 = generateRecoveryKeyPair('p256');
  const pubs = [createPublicKey(x25519.publicPem), createPublicKey(p256.publicPem)];

  async function sealedWithRecovery(): Promise<string> {
    const dir = freshDir();
    const store = await StateStore.open(dir, sealer1, { recoveryPublicKeys: pubs });
    await store.save({ secret: SECRET, policies: ['p1'] });
    return dir;
  }

  for (const [label, pair] of [
    ['X25519', x25519],
    ['P-256', p256],
  ] as const) {
    it(`takes the state over with a ${label} recovery key and re-seals it for the new measurement`, async () => {
      const dir = await sealedWithRecovery();
      await expectTampered(() => StateStore.open(dir, sealer2), /cas recover/);
      const recovered = await StateStore.recover(dir, sealer2, createPrivateKey(pair.privatePem));
      assert.deepEqual(await recovered.load(), { secret: SECRET, policies: ['p1'] });
      const reopened = await StateStore.open(dir, sealer2);
      assert.deepEqual(await reopened.load(), { secret: SECRET, policies: ['p1'] });
      await expectTampered(() => StateStore.open(dir, sealer1), /does not unseal/);
    });
  }

  it('refuses a recovery key the state was not wrapped to', async () => {
    const dir = await sealedWithRecovery();
    const stranger = createPrivateKey(generateRecoveryKeyPair().privatePem);
    await assert.rejects(StateStore.recover(dir, sealer2, stranger), (e: unknown) =>
      isCasError(e, 'ERR_BAD_REQUEST'),
    );
  });

  it('refuses an altered recovery file', async () => {
    const dir = await sealedWithRecovery();
    const path = join(dir, 'state-key.recovery.json');
    const file = JSON.parse(await readFile(path, 'utf8'));
    const ct = Buffer.from(file.wraps[0].ciphertext, 'base64');
    ct[0] = ct[0]! ^ 1;
    file.wraps[0].ciphertext = ct.toString('base64');
    await writeFile(path, JSON.stringify(file));
    await expectTampered(
      () => StateStore.recover(dir, sealer2, createPrivateKey(x25519.privatePem)),
      /was altered/,
    );
  });

  it('says so when no recovery keys were configured', async () => {
    const dir = freshDir();
    await (await StateStore.open(dir, sealer1)).save({ a: 1 });
    await assert.rejects(
      StateStore.recover(dir, sealer2, createPrivateKey(x25519.privatePem)),
      (e: unknown) =>
        isCasError(e, 'ERR_STATE_IO') && /not configured with recovery keys/.test((e as Error).message),
    );
  });

  it('rewraps only when the set of recovery keys changes', async () => {
    const dir = await sealedWithRecovery();
    const path = join(dir, 'state-key.recovery.json');
    const before = await readFile(path, 'utf8');
    await StateStore.open(dir, sealer1, { recoveryPublicKeys: [...pubs].reverse() });
    assert.equal(await readFile(path, 'utf8'), before);
    await StateStore.open(dir, sealer1, { recoveryPublicKeys: [pubs[0]!] });
    assert.equal(JSON.parse(await readFile(path, 'utf8')).wraps.length, 1);
    await assert.rejects(StateStore.recover(dir, sealer2, createPrivateKey(p256.privatePem)), (e: unknown) =>
      isCasError(e, 'ERR_BAD_REQUEST'),
    );
  });

  it('rewrites a damaged recovery file when the CAS opens with its recovery keys', async () => {
    const dir = await sealedWithRecovery();
    const path = join(dir, 'state-key.recovery.json');
    const file = JSON.parse(await readFile(path, 'utf8'));
    file.wraps[0].tag = Buffer.alloc(16).toString('base64');
    await writeFile(path, JSON.stringify(file));
    await StateStore.open(dir, sealer1, { recoveryPublicKeys: pubs });
    const recovered = await StateStore.recover(dir, sealer2, createPrivateKey(x25519.privatePem));
    assert.deepEqual(await recovered.load(), { secret: SECRET, policies: ['p1'] });
    await writeFile(path, 'not json');
    await StateStore.open(dir, sealer2, { recoveryPublicKeys: pubs });
    assert.equal(JSON.parse(await readFile(path, 'utf8')).wraps.length, 2);
  });

  it('refuses recovery keys of other types', async () => {
    const ed = freshKeyPair('ed25519').publicKey;
    await assert.rejects(StateStore.open(freshDir(), sealer1, { recoveryPublicKeys: [ed] }), TypeError);
  });
});
