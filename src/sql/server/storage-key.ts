/**
 * The storage key of a CascaDB server started without the CAS: 32 random bytes made on the first
 * start, sealed with the TEE backend's sealer and kept in `DATA/storage-key.sealed`. Only code with
 * the same measurement on the same platform can unseal it. On the SIMULATION backend the sealing
 * key lives in a file next to it (`DATA/sim-platform`): nothing is protected.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sealer } from '../../tee/index.ts';

/** File name of the sealed storage key in the data directory. */
export const SEALED_KEY_FILE = 'storage-key.sealed';

const AAD = Buffer.from('securecloud.cascadb.storage-key.v1', 'utf8');

/** The two keys a server derives from its storage key. */
export interface StorageKeys {
  /** AES-256-GCM value key for the secure store (key id 1). */
  readonly valueKey: Buffer;
  /** LMDB page-encryption key. */
  readonly pageKey: Buffer;
}

/**
 * Derives the value key and the LMDB page key from one 32-byte storage key (HKDF-SHA256 with
 * distinct labels), so one secret in the CAS covers both.
 */
export function deriveStorageKeys(storageKey: Uint8Array): StorageKeys {
  if (storageKey.length !== 32)
    throw new TypeError(`the storage key must be 32 bytes, got ${storageKey.length}`);
  const derive = (label: string) =>
    Buffer.from(hkdfSync('sha256', storageKey, Buffer.alloc(0), `securecloud.cascadb.${label}.v1`, 32));
  return { valueKey: derive('value-key'), pageKey: derive('page-key') };
}

/**
 * Reads and unseals `DIR/storage-key.sealed`, or creates it (random key, sealed, written
 * atomically with mode 0600) when absent. Returns the key and whether it was created.
 */
export async function loadOrCreateSealedKey(
  dataDir: string,
  sealer: Sealer,
): Promise<{ key: Buffer; created: boolean }> {
  const path = join(dataDir, SEALED_KEY_FILE);
  let sealed: Buffer | undefined;
  try {
    sealed = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (sealed !== undefined) {
    const key = Buffer.from(sealer.unseal(sealed, AAD));
    if (key.length !== 32) throw new TypeError(`${path} does not hold a 32-byte key`);
    return { key, created: false };
  }
  const key = randomBytes(32);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp`;
  await writeFile(tmp, sealer.seal(key, AAD), { mode: 0o600 });
  await rename(tmp, path);
  return { key, created: true };
}
