/**
 * The small file beside an LMDB store (`kvs-lmdb.json`) that records whether its pages are
 * encrypted and a check value of the key. lmdb cannot tell a wrong key from a corrupt file: it
 * reports MDB_CORRUPTED at best and crashes the process when an encrypted file is opened without
 * a key. So the key is checked here, before lmdb ever maps the file.
 *
 * From the caller's 32-byte key, HKDF-SHA256 derives two independent values: the page key handed
 * to lmdb, and the check value stored in the file (which reveals nothing about the page key).
 * lmdb v3 reads its key as a 32-byte UTF-8 string (a Buffer aborts the process), so each derived
 * byte is reduced to 7 bits: the page key carries 224 bits.
 */
import { hkdfSync, timingSafeEqual } from 'node:crypto';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KvsError } from './errors.ts';

/** Name of the key-check file in the store directory. */
export const LMDB_KEY_FILE = 'kvs-lmdb.json';

const FORMAT = 'securecloud-kvs-lmdb';
const PAGE_KEY_INFO = 'securecloud.kvs.lmdb.page-key.v1';
const CHECK_INFO = 'securecloud.kvs.lmdb.key-check.v1';

interface KeyFile {
  readonly format: typeof FORMAT;
  readonly version: 1;
  readonly encryption: 'lmdb-chacha8' | 'none';
  readonly keyCheck?: string;
}

/**
 * Checks (or, for a new store, writes) the key file of the store in `dir` and returns the page key
 * for lmdb, or `undefined` for an unencrypted store.
 */
export async function prepareLmdbKeyFile(
  dir: string,
  encryptionKey: Uint8Array | undefined,
): Promise<string | undefined> {
  if (
    encryptionKey !== undefined &&
    (!(encryptionKey instanceof Uint8Array) || encryptionKey.length !== 32)
  ) {
    throw new TypeError('encryptionKey must be 32 bytes');
  }
  const file = join(dir, LMDB_KEY_FILE);
  const found = await readKeyFile(file);
  const check = encryptionKey && derive(encryptionKey, CHECK_INFO).toString('hex');
  if (found === undefined) {
    if (await exists(join(dir, 'data.mdb'))) {
      throw new KvsError(
        'ERR_KVS_IO',
        `${dir} holds an LMDB data file but no ${LMDB_KEY_FILE}; restore that file with the data (opening an encrypted file blindly can crash the process)`,
      );
    }
    const record: KeyFile = check
      ? { format: FORMAT, version: 1, encryption: 'lmdb-chacha8', keyCheck: check }
      : { format: FORMAT, version: 1, encryption: 'none' };
    await writeFile(`${file}.tmp`, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    await rename(`${file}.tmp`, file);
  } else {
    assertMatches(dir, found, check);
  }
  return encryptionKey && pageKeyString(derive(encryptionKey, PAGE_KEY_INFO));
}

function assertMatches(dir: string, found: KeyFile, check: string | undefined): void {
  if (found.encryption === 'none') {
    if (check) {
      throw new KvsError(
        'ERR_KVS_IO',
        `the LMDB store at ${dir} was created without encryption; open it without encryptionKey, or copy its data into a new encrypted store`,
      );
    }
    return;
  }
  if (!check) {
    throw new KvsError(
      'ERR_KVS_KEY_UNKNOWN',
      `the LMDB store at ${dir} is encrypted; pass its encryptionKey`,
    );
  }
  const expected = Buffer.from(found.keyCheck ?? '', 'hex');
  const actual = Buffer.from(check, 'hex');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new KvsError(
      'ERR_KVS_INTEGRITY',
      `the encryptionKey does not match the LMDB store at ${dir} (its ${LMDB_KEY_FILE} check value differs); fetch the key this store was created with`,
    );
  }
}

/**
 * Whether the LMDB store in `dir` was created with page encryption: `true` or `false` from its key
 * file, `undefined` when there is no store there yet (no key file). Lets a service keep the
 * setting an existing store was created with.
 */
export async function lmdbPagesEncrypted(dir: string): Promise<boolean | undefined> {
  const found = await readKeyFile(join(dir, LMDB_KEY_FILE));
  return found === undefined ? undefined : found.encryption === 'lmdb-chacha8';
}

async function readKeyFile(file: string): Promise<KeyFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KvsError('ERR_KVS_IO', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
  let parsed: Partial<KeyFile> | null = null;
  try {
    parsed = JSON.parse(text) as Partial<KeyFile>;
  } catch {
    // reported below
  }
  const valid =
    parsed?.format === FORMAT &&
    parsed.version === 1 &&
    (parsed.encryption === 'none' ||
      (parsed.encryption === 'lmdb-chacha8' &&
        typeof parsed.keyCheck === 'string' &&
        /^[0-9a-f]{64}$/.test(parsed.keyCheck)));
  if (!valid) {
    throw new KvsError(
      'ERR_KVS_IO',
      `${file} is not a valid ${FORMAT} v1 key file; restore it from a backup`,
    );
  }
  return parsed as KeyFile;
}

function derive(key: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, new Uint8Array(0), info, 32));
}

/** 32 characters of 7 bits each, so that lmdb's UTF-8 reading yields exactly 32 bytes. */
function pageKeyString(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += String.fromCharCode(b & 0x7f);
  bytes.fill(0);
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
