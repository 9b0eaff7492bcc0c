import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import {
  createKeyring,
  type Keyring,
  PSEUDONYM_BYTES,
  sealedKeyId,
  VALUE_OVERHEAD,
} from '../../src/kvs/keyring.ts';
import { createMemoryEngine } from '../../src/kvs/memory-engine.ts';
import { createSecureStore } from '../../src/kvs/secure-store.ts';
import type { KeyValue, OpOptions, ScanRange, StorageEngine } from '../../src/kvs/types.ts';
import { b, collect, hex, rejectsWithCode, text } from './kvs-test-helpers.ts';

function setup(
  namespace = 'db1',
  keyring: Keyring = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] }),
) {
  const raw = createMemoryEngine();
  const store = createSecureStore(raw, keyring, { namespace, layout: 'values' });
  return { raw, store, keyring };
}

/** Changes one byte of the raw value stored at `key`. */
async function flipByte(raw: StorageEngine, key: Uint8Array, offset: number): Promise<void> {
  const sealed = (await raw.get(key)) as Uint8Array;
  sealed[offset] = (sealed[offset] as number) ^ 0x01;
  await raw.put(key, sealed);
}

// The `values` layout: one sealed frame per value. The `blocks` layout is in block-store.test.ts.
describe('secure store (values layout)', () => {
  it('seals values in the documented format, with no plaintext in the raw engine', async () => {
    const { raw, store, keyring } = setup();
    const marker = 'PLAINTEXT-MARKER-4f1c';
    await store.put(text('meter|42'), text(`${marker} reading 17.5 kWh`));
    await store.batch([{ type: 'put', key: text('meter|43'), value: text(marker.repeat(40)) }]);
    for (const { key, value } of await collect(raw.scan({}))) {
      assert.equal(Buffer.from(value).includes(marker), false, `plaintext found under ${hex(key)}`);
      assert.equal(value[0], 1, 'format version');
      assert.equal(sealedKeyId(value), keyring.currentId);
    }
    const sealed = (await raw.get(text('meter|42'))) as Uint8Array;
    assert.equal(sealed.length, `${marker} reading 17.5 kWh`.length + VALUE_OVERHEAD);
    assert.equal(
      Buffer.from((await store.get(text('meter|42'))) as Uint8Array).toString(),
      `${marker} reading 17.5 kWh`,
    );
  });

  it('uses a fresh nonce for every write of the same value', async () => {
    const { raw, store } = setup();
    await store.put(b(1), text('same'));
    const first = hex((await raw.get(b(1))) as Uint8Array);
    await store.put(b(1), text('same'));
    assert.notEqual(hex((await raw.get(b(1))) as Uint8Array), first);
  });

  it('raises ERR_KVS_INTEGRITY or ERR_KVS_KEY_UNKNOWN for any flipped byte, never a value', async () => {
    const { raw, store } = setup();
    const key = text('k');
    await store.put(key, text('secret value'));
    const original = (await raw.get(key)) as Uint8Array;
    for (let offset = 0; offset < original.length; offset++) {
      await raw.put(key, original);
      await flipByte(raw, key, offset);
      const code = offset >= 1 && offset <= 4 ? 'ERR_KVS_KEY_UNKNOWN' : 'ERR_KVS_INTEGRITY';
      await rejectsWithCode(store.get(key), code);
    }
  });

  it('raises ERR_KVS_INTEGRITY for truncated and empty raw values', async () => {
    const { raw, store } = setup();
    await store.put(b(1), text('value'));
    const sealed = (await raw.get(b(1))) as Uint8Array;
    for (const bad of [new Uint8Array(0), sealed.subarray(0, 32), sealed.subarray(0, sealed.length - 1)]) {
      await raw.put(b(1), bad);
      await rejectsWithCode(store.get(b(1)), 'ERR_KVS_INTEGRITY');
    }
  });

  it('raises ERR_KVS_INTEGRITY for a value copied to another key', async () => {
    const { raw, store } = setup();
    await store.put(text('alice'), text('balance 10'));
    await store.put(text('bob'), text('balance 99999'));
    await raw.put(text('alice'), (await raw.get(text('bob'))) as Uint8Array);
    await rejectsWithCode(store.get(text('alice')), 'ERR_KVS_INTEGRITY');
    await rejectsWithCode(collect(store.scan({})), 'ERR_KVS_INTEGRITY');
  });

  it('raises ERR_KVS_INTEGRITY for a value copied to another namespace', async () => {
    const keyring = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] });
    const raw = createMemoryEngine();
    const options = { closeEngine: false, layout: 'values' } as const;
    const tenantA = createSecureStore(raw, keyring, { namespace: 'tenant-a', ...options });
    const tenantB = createSecureStore(raw, keyring, { namespace: 'tenant-b', ...options });
    await tenantA.put(b(1), text('a'));
    await rejectsWithCode(tenantB.get(b(1)), 'ERR_KVS_INTEGRITY');
  });

  it('raises ERR_KVS_INTEGRITY with other key material and ERR_KVS_KEY_UNKNOWN without the key id', async () => {
    const { raw, store } = setup();
    await store.put(b(1), text('v'));
    const sameId = createSecureStore(raw, createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] }), {
      namespace: 'db1',
      closeEngine: false,
      layout: 'values',
    });
    await rejectsWithCode(sameId.get(b(1)), 'ERR_KVS_INTEGRITY');
    const otherId = createSecureStore(raw, createKeyring({ keys: [{ id: 2, key: randomBytes(32) }] }), {
      namespace: 'db1',
      closeEngine: false,
      layout: 'values',
    });
    await rejectsWithCode(otherId.get(b(1)), 'ERR_KVS_KEY_UNKNOWN');
  });

  it('rotates without downtime: old values readable, reencrypt rewrites all, then the old key goes', async () => {
    const { raw, store, keyring } = setup();
    for (let i = 0; i < 50; i++) await store.put(b(i), b(i, i));
    const newId = keyring.rotate(randomBytes(32));
    assert.equal(newId, 2);
    await store.put(b(100), b(100));
    assert.equal(sealedKeyId((await raw.get(b(100))) as Uint8Array), 2);
    assert.equal(hex((await store.get(b(7))) as Uint8Array), '0707');
    const progress: number[] = [];
    const result = await store.reencrypt({ chunkSize: 16, onProgress: (p) => progress.push(p.scanned) });
    assert.deepEqual(result, { scanned: 51, rewritten: 50, skipped: 0 });
    assert.deepEqual(progress, [16, 32, 48, 51]);
    for (const { value } of await collect(raw.scan({}))) assert.equal(sealedKeyId(value), 2);
    keyring.remove(1);
    assert.deepEqual(keyring.ids(), [2]);
    assert.equal((await collect(store.scan({}))).length, 51);
    assert.deepEqual(await store.reencrypt(), { scanned: 51, rewritten: 0, skipped: 0 });
  });

  it('raises ERR_KVS_KEY_UNKNOWN when the old key is dropped before reencryption', async () => {
    const { store, keyring } = setup();
    await store.put(b(1), b(1));
    keyring.rotate(randomBytes(32));
    keyring.remove(1);
    await rejectsWithCode(store.get(b(1)), 'ERR_KVS_KEY_UNKNOWN');
  });

  it('never overwrites a value written or deleted while reencrypt reads its chunk', async () => {
    const keyring = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] });
    const raw = createMemoryEngine();
    let store: ReturnType<typeof createSecureStore> | undefined;
    const pending: Promise<unknown>[] = [];
    let chunks = 0;
    // After each chunk is read and before it is rewritten, write and delete keys of that chunk.
    const spy: StorageEngine = {
      name: 'spy',
      get: (k, o) => raw.get(k, o),
      put: (k, v, o) => raw.put(k, v, o),
      delete: (k, o) => raw.delete(k, o),
      batch: (ops, o) => raw.batch(ops, o),
      close: () => raw.close(),
      scan: (range: ScanRange, o?: OpOptions) =>
        (async function* (): AsyncGenerator<KeyValue> {
          yield* raw.scan(range, o);
          if (range.limit !== 4 || !store) return;
          const base = chunks++ * 4;
          pending.push(store.put(b(base), text('new')), store.delete(b(base + 1)));
        })(),
    };
    store = createSecureStore(spy, keyring, { namespace: 'db1', layout: 'values' });
    for (let i = 0; i < 12; i++) await store.put(b(i), text('old'));
    keyring.rotate(randomBytes(32));
    const result = await store.reencrypt({ chunkSize: 4 });
    await Promise.all(pending);
    assert.equal(result.skipped, 6);
    for (let i = 0; i < 12; i += 4) {
      assert.equal(Buffer.from((await store.get(b(i))) as Uint8Array).toString(), 'new');
      assert.equal(await store.get(b(i + 1)), undefined, `key ${i + 1} came back`);
      assert.equal(Buffer.from((await store.get(b(i + 2))) as Uint8Array).toString(), 'old');
    }
    for (const { value } of await collect(raw.scan({}))) assert.equal(sealedKeyId(value), 2);
  });

  it('stops reencrypt with ERR_KVS_ABORTED or ERR_KVS_INTEGRITY', async () => {
    const { raw, store, keyring } = setup();
    for (let i = 0; i < 10; i++) await store.put(b(i), b(i));
    keyring.rotate(randomBytes(32));
    const controller = new AbortController();
    await rejectsWithCode(
      store.reencrypt({ chunkSize: 2, signal: controller.signal, onProgress: () => controller.abort() }),
      'ERR_KVS_ABORTED',
    );
    await flipByte(raw, b(8), 20);
    await rejectsWithCode(store.reencrypt({ chunkSize: 2 }), 'ERR_KVS_INTEGRITY');
    assert.equal(sealedKeyId((await raw.get(b(7))) as Uint8Array), 2);
  });

  it('closes the wrapped engine unless told not to', async () => {
    const { raw, store } = setup();
    await store.close();
    await rejectsWithCode(raw.get(b(1)), 'ERR_KVS_CLOSED');
    const raw2 = createMemoryEngine();
    const keyring = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] });
    await createSecureStore(raw2, keyring, { namespace: 'x', closeEngine: false, layout: 'values' }).close();
    assert.equal(await raw2.get(b(1)), undefined);
  });

  it('refuses bad namespaces with a TypeError', () => {
    const keyring = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] });
    for (const namespace of ['', 'x'.repeat(256), 42]) {
      assert.throws(
        () => createSecureStore(createMemoryEngine(), keyring, { namespace: namespace as string }),
        TypeError,
      );
      assert.throws(
        () =>
          createSecureStore(createMemoryEngine(), keyring, {
            namespace: namespace as string,
            layout: 'values',
          }),
        TypeError,
      );
    }
  });
});

describe('keyring', () => {
  it('keeps its keys out of inspection and serialization', () => {
    const key = randomBytes(32);
    const keyring = createKeyring({ keys: [{ id: 1, key }], pseudonymKey: randomBytes(32) });
    const shown = `${inspect(keyring, { showHidden: true, depth: 10 })}${JSON.stringify(keyring)}`;
    assert.equal(shown.includes(key.toString('hex')), false);
    assert.equal(shown.includes(key.toString('base64')), false);
    key.fill(0);
    assert.equal(keyring.open(keyring.seal(b(1), b(2)), b(2)).length, 1, 'the keyring holds its own copy');
  });

  it('refuses malformed keys, duplicate ids and removing the current key', () => {
    assert.throws(() => createKeyring({ keys: [] }), TypeError);
    assert.throws(() => createKeyring({ keys: [{ id: 1, key: randomBytes(16) }] }), TypeError);
    assert.throws(() => createKeyring({ keys: [{ id: -1, key: randomBytes(32) }] }), TypeError);
    assert.throws(() => createKeyring({ keys: [{ id: 2 ** 32, key: randomBytes(32) }] }), TypeError);
    assert.throws(() => createKeyring({ keys: [{ id: 1, key: randomBytes(32) }], currentId: 2 }), TypeError);
    const keyring = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] });
    assert.throws(() => keyring.add(1, randomBytes(32)), TypeError);
    assert.throws(() => keyring.remove(1), TypeError);
    keyring.destroy();
    assert.throws(() => keyring.seal(b(1), b(1)), TypeError);
  });

  it('makes 16-byte pseudonyms: deterministic, distinct per namespace and input', () => {
    const keyring = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }], pseudonymKey: randomBytes(32) });
    const p = keyring.pseudonym('meter', text('client-42'));
    assert.equal(p.length, PSEUDONYM_BYTES);
    assert.equal(hex(keyring.pseudonym('meter', text('client-42'))), hex(p));
    assert.notEqual(hex(keyring.pseudonym('home', text('client-42'))), hex(p));
    assert.notEqual(hex(keyring.pseudonym('meter', text('client-43'))), hex(p));
    const other = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }], pseudonymKey: randomBytes(32) });
    assert.notEqual(hex(other.pseudonym('meter', text('client-42'))), hex(p));
    assert.throws(
      () => createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] }).pseudonym('m', b(1)),
      TypeError,
    );
  });
});

describe('secure store associated data (values layout)', () => {
  it('round-trips keys of every length class up to the limit, growing its buffer as needed', async () => {
    const { store, raw } = setup();
    const lengths = [1, 2, 31, 32, 33, 255, 256, 1000, 1978];
    for (const n of lengths) await store.put(new Uint8Array(n).fill(n & 0xff), text(`value-${n}`));
    for (const n of [...lengths].reverse()) {
      const got = await store.get(new Uint8Array(n).fill(n & 0xff));
      assert.equal(got && Buffer.from(got).toString(), `value-${n}`);
    }
    // A value moved between two keys of different lengths still fails: the key is in the AAD.
    const moved = await raw.get(new Uint8Array(1000).fill(1000 & 0xff));
    await raw.put(new Uint8Array(33).fill(33), moved as Uint8Array);
    await rejectsWithCode(store.get(new Uint8Array(33).fill(33)), 'ERR_KVS_INTEGRITY');
  });
});
