/**
 * The CAS's sealed state on disk.
 *
 * - `DIR/state.sealed`: the state as JSON, encrypted with a random 256-bit state key: magic `SCST`,
 *   version 1, 12-byte nonce, AES-256-GCM ciphertext, 16-byte tag; the GCM associated data is the
 *   17-byte header followed by `securecloud-cas-state-v1`.
 * - `DIR/state-key.sealed`: the state key, sealed with the TEE sealer (bound to the CAS measurement),
 *   associated data `securecloud-cas-state-key-v1`.
 * - `DIR/state-key.recovery.json`: the state key wrapped to each recovery public key (see
 *   state-recovery.ts), so that a new CAS version (another measurement) can take the state over.
 *
 * Every file is written atomically: temp file, fsync, rename, fsync of the directory.
 */
import { createCipheriv, createDecipheriv, type KeyObject, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Sealer } from '../tee/index.ts';
import { CasError } from './errors.ts';
import { isSecretValue } from './secrets.ts';
import {
  parseRecoveryFile,
  type RecoveryFile,
  recoveryAlgorithm,
  recoveryFileIsCurrent,
  recoveryKeyId,
  recoveryMac,
  unwrapStateKey,
  wrapStateKey,
} from './state-recovery.ts';

const STATE_FILE = 'state.sealed';
const KEY_FILE = 'state-key.sealed';
const RECOVERY_FILE = 'state-key.recovery.json';
const STATE_AD = 'securecloud-cas-state-v1';
const KEY_AD = Buffer.from('securecloud-cas-state-key-v1');
const MAGIC = Buffer.from('SCST', 'latin1');
const HEADER = 17;
const TAG = 16;
const STRAY_TMP = /^(state\.sealed|state-key\.sealed|state-key\.recovery\.json)\.tmp-[0-9a-f]+$/;

/** Options of {@link StateStore.open}. */
export interface StateStoreOptions {
  /** Public keys (X25519 or P-256) the state key is wrapped to; replaces the recovery file when they differ. */
  readonly recoveryPublicKeys?: readonly KeyObject[];
  readonly signal?: AbortSignal;
}

/** The sealed state of one CAS data directory. */
export class StateStore {
  readonly dir: string;
  /** The 32-byte state key. */
  readonly #key: Buffer;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(dir: string, key: Buffer) {
    this.dir = dir;
    this.#key = key;
  }

  /**
   * Opens (or creates) the state in `dir`: unseals the state key with `sealer`, or makes one for an
   * empty directory. Removes temp files left by a crash. Throws CasError `ERR_STATE_TAMPERED` with
   * the remedy when the state key does not unseal.
   */
  static async open(dir: string, sealer: Sealer, options: StateStoreOptions = {}): Promise<StateStore> {
    for (const k of options.recoveryPublicKeys ?? []) {
      if (k?.type !== 'public') throw new TypeError('recoveryPublicKeys are public keys');
      recoveryAlgorithm(k);
    }
    options.signal?.throwIfAborted();
    await io(`create ${dir}`, () => mkdir(dir, { recursive: true, mode: 0o700 }));
    await removeStrayTemps(dir);
    let key = await readOptional(join(dir, KEY_FILE));
    if (key === null) {
      if ((await readOptional(join(dir, STATE_FILE))) !== null) {
        throw new CasError(
          'ERR_STATE_TAMPERED',
          `${join(dir, KEY_FILE)} is missing but ${join(dir, STATE_FILE)} exists; restore a backup of the whole --data dir, run \`securecloud cas recover --data ${dir} --recovery-key KEY.pem\`, or start with an empty --data dir`,
        );
      }
      key = randomBytes(32);
      await writeAtomic(join(dir, KEY_FILE), Buffer.from(sealer.seal(key, KEY_AD)));
    } else {
      key = unsealKey(sealer, key, dir);
    }
    const store = new StateStore(dir, key);
    if (options.recoveryPublicKeys && options.recoveryPublicKeys.length > 0) {
      await store.#updateRecovery(options.recoveryPublicKeys);
    }
    return store;
  }

  /**
   * Takes over the state in `dir` after the sealer changed (a new CAS version): unwraps the state
   * key with a recovery private key, checks it opens `state.sealed`, and re-seals it with `sealer`.
   */
  static async recover(dir: string, sealer: Sealer, recoveryPrivateKey: KeyObject): Promise<StateStore> {
    const where = join(dir, RECOVERY_FILE);
    const text = await readOptional(where);
    if (text === null) {
      throw new CasError(
        'ERR_STATE_IO',
        `${where} does not exist: this state was not configured with recovery keys`,
      );
    }
    const key = unwrapStateKey(parseRecoveryFile(text.toString('utf8'), where), recoveryPrivateKey, where);
    const store = new StateStore(dir, key);
    await store.load();
    await writeAtomic(join(dir, KEY_FILE), Buffer.from(sealer.seal(key, KEY_AD)));
    return store;
  }

  /** The state, or null when none was saved. Throws CasError `ERR_STATE_TAMPERED` when it does not decrypt. */
  async load(): Promise<unknown | null> {
    if (this.#closed) throw new TypeError('the state store is closed');
    const path = join(this.dir, STATE_FILE);
    const blob = await readOptional(path);
    if (blob === null) return null;
    const tampered = () =>
      new CasError(
        'ERR_STATE_TAMPERED',
        `${path} was altered, or sealed by a CAS with another measurement; restore a backup or start with an empty --data dir`,
      );
    if (blob.length < HEADER + TAG || !blob.subarray(0, 4).equals(MAGIC) || blob[4] !== 1) throw tampered();
    const plain = decrypt(this.#key, blob);
    if (plain === null) throw tampered();
    try {
      return JSON.parse(plain.toString('utf8'));
    } catch {
      // Never pass the parser's message on: it quotes the plaintext.
      throw tampered();
    } finally {
      plain.fill(0);
    }
  }

  /**
   * Encrypts and writes `state` atomically. Saves are serialized. `state` must be plain JSON data:
   * a SecretValue inside it is a TypeError (serialize it with `serializeSecret`).
   */
  save(state: unknown): Promise<void> {
    if (this.#closed) return Promise.reject(new TypeError('the state store is closed'));
    const run = this.#queue.then(() => this.#save(state));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Waits for pending saves, then zeroes the state key; later calls throw a TypeError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue;
    this.#key.fill(0);
  }

  async #save(state: unknown): Promise<void> {
    const json = JSON.stringify(state, function (this: Record<string, unknown>, key: string, value: unknown) {
      if (isSecretValue(this[key])) {
        throw new TypeError(
          `the state holds a SecretValue at "${key}": store serializeSecret(secret) instead`,
        );
      }
      return value;
    });
    if (json === undefined) throw new TypeError('the state must be JSON data');
    const plain = Buffer.from(json, 'utf8');
    const header = Buffer.concat([MAGIC, Buffer.from([1]), randomBytes(12)]);
    const cipher = createCipheriv('aes-256-gcm', this.#key, header.subarray(5));
    cipher.setAAD(Buffer.concat([header, Buffer.from(STATE_AD)]));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    plain.fill(0);
    await writeAtomic(join(this.dir, STATE_FILE), Buffer.concat([header, body, cipher.getAuthTag()]));
  }

  async #updateRecovery(keys: readonly KeyObject[]): Promise<void> {
    const path = join(this.dir, RECOVERY_FILE);
    const existing = await readOptional(path);
    if (existing !== null) {
      let file: RecoveryFile | null = null;
      try {
        file = parseRecoveryFile(existing.toString('utf8'), path);
      } catch {
        // A damaged recovery file is rewritten below: the state key is at hand.
      }
      if (file && recoveryFileIsCurrent(file, this.#key, [...new Set(keys.map(recoveryKeyId))])) return;
    }
    const unique = keys.filter((k, i) => keys.findIndex((o) => recoveryKeyId(o) === recoveryKeyId(k)) === i);
    const wraps = unique.map((k) => wrapStateKey(this.#key, k));
    const file: RecoveryFile = { version: 1, wraps, mac: recoveryMac(this.#key, wraps) };
    await writeAtomic(path, Buffer.from(`${JSON.stringify(file, null, 2)}\n`));
  }
}

function unsealKey(sealer: Sealer, blob: Buffer, dir: string): Buffer {
  let key: Buffer;
  try {
    key = Buffer.from(sealer.unseal(blob, KEY_AD));
  } catch (err) {
    throw new CasError(
      'ERR_STATE_TAMPERED',
      `${join(dir, KEY_FILE)} does not unseal: it was altered, or sealed by a CAS with another measurement (a new version); run \`securecloud cas recover --data ${dir} --recovery-key KEY.pem\` with a recovery key, or start with an empty --data dir`,
      { cause: err },
    );
  }
  if (key.length !== 32)
    throw new CasError('ERR_STATE_TAMPERED', `${join(dir, KEY_FILE)} does not hold a 32-byte key`);
  return key;
}

function decrypt(key: Buffer, blob: Buffer): Buffer | null {
  const header = blob.subarray(0, HEADER);
  const decipher = createDecipheriv('aes-256-gcm', key, header.subarray(5));
  decipher.setAAD(Buffer.concat([header, Buffer.from(STATE_AD)]));
  decipher.setAuthTag(blob.subarray(blob.length - TAG));
  const plain = decipher.update(blob.subarray(HEADER, blob.length - TAG));
  try {
    return Buffer.concat([plain, decipher.final()]);
  } catch {
    return null;
  } finally {
    plain.fill(0);
  }
}

async function io<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new CasError('ERR_STATE_IO', `cannot ${what} (${code})`, { cause: err });
  }
}

async function readOptional(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new CasError('ERR_STATE_IO', `cannot read ${path} (${code})`, { cause: err });
  }
}

async function removeStrayTemps(dir: string): Promise<void> {
  const names = await io(`list ${dir}`, () => readdir(dir));
  for (const name of names) {
    if (STRAY_TMP.test(name)) await unlink(join(dir, name)).catch(() => undefined);
  }
}

/** Writes `data` to `path` atomically: a temp file in the same directory, fsync, rename, fsync of the directory. */
async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  await io(`write ${path}`, async () => {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, path);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    const dirHandle = await open(dirname(path), 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  });
}
