/**
 * Meter provisioning: each meter's Ed25519 key (as the factory would burn it in), the MDC identity
 * key whose public half every meter carries, and the registry of meter public keys that the MDC
 * loads. Files (in the output directory):
 *
 * | file | secret | content |
 * |---|---|---|
 * | `meters.keys` | yes (0600) | `SCMKEYS2` ‖ count u32 ‖ first id u32 ‖ count × (32-byte Ed25519 seed ‖ 32-byte public key) |
 * | `registry.bin` | no | `SCMREG01` ‖ count u32 ‖ first id u32 ‖ count × 32-byte raw public keys |
 * | `mdc.key` | yes (0600) | the MDC identity's 32-byte Ed25519 seed (upload it to the CAS) |
 * | `registry.sha256` | no | the SHA-256 of `registry.bin`, hex (upload it as the CAS secret) |
 * | `provision.json` | no | count, first id, SHA-256 of `registry.bin`, MDC public key, time |
 *
 * Meter ids are 8 decimal digits, consecutive from the first id. The MDC obtains the registry's
 * digest from the CAS (a user-provided secret) and refuses a registry file that does not match it.
 */

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { freshRawKeyPair } from '../crypto/index.ts';
import { ed25519PublicFromRaw, MeteringError } from './protocol/index.ts';
import { ed25519FromSeedAndPublic } from './protocol/keys.ts';

const KEYS_MAGIC = Buffer.from('SCMKEYS2');
const KEY_ENTRY = 64;
const REGISTRY_MAGIC = Buffer.from('SCMREG01');
const HEADER = 16;
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
/** Most meters one provisioning run makes (ids are 8 digits). */
export const MAX_METERS = 10_000_000;

/** What {@link provisionMeters} wrote. */
export interface ProvisionResult {
  readonly dir: string;
  readonly count: number;
  readonly firstId: number;
  readonly registrySha256: string;
  /** The MDC identity public key, raw, hex. */
  readonly mdcPublicKey: string;
  readonly seconds: number;
}

/** The meter id (8 decimal digits) of a number. */
export function meterIdOf(n: number): string {
  if (!Number.isInteger(n) || n < 1 || n > 99_999_999)
    throw new RangeError(`meter number ${n} is not 1..99999999`);
  return String(n).padStart(8, '0');
}

/** An Ed25519 private key from a 32-byte seed. */
export function ed25519FromSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, seed]), format: 'der', type: 'pkcs8' });
}

/** The raw 32-byte public key of an Ed25519 seed. */
export function ed25519PublicRaw(seed: Uint8Array): Buffer {
  const spki = createPublicKey(ed25519FromSeed(seed)).export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - 32);
}

/**
 * Creates key material for `count` meters in `dir`. Seeds are random, or derived from `seed` with
 * HKDF (reproducible test fleets; never for real meters). Reports progress every 10,000 meters.
 */
export async function provisionMeters(o: {
  dir: string;
  count: number;
  firstId?: number;
  seed?: string;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}): Promise<ProvisionResult> {
  const started = performance.now();
  const firstId = o.firstId ?? 1;
  if (!Number.isInteger(o.count) || o.count < 1 || o.count > MAX_METERS)
    throw new RangeError(`--count must be 1..${MAX_METERS}, not ${o.count}`);
  if (!Number.isInteger(firstId) || firstId < 1 || firstId + o.count - 1 > 99_999_999)
    throw new RangeError('meter ids are 8 digits: first id + count - 1 must be at most 99999999');
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  // Random keys come from freshRawKeyPair (fast; see src/crypto); seeded ones (reproducible test fleets, never
  // real meters) are derived with HKDF and go through the slower DER import.
  const keyOf = (i: number): { seed: Buffer; pub: Buffer } => {
    if (o.seed === undefined) {
      const { privateRaw, publicRaw } = freshRawKeyPair('ed25519');
      return { seed: privateRaw, pub: publicRaw };
    }
    const seed = Buffer.from(hkdfSync('sha256', o.seed, 'securecloud/meters', `meter/${firstId + i}`, 32));
    return { seed, pub: ed25519PublicRaw(seed) };
  };
  const keys = Buffer.alloc(HEADER + KEY_ENTRY * o.count);
  const registry = Buffer.alloc(HEADER + 32 * o.count);
  for (const [b, magic] of [
    [keys, KEYS_MAGIC],
    [registry, REGISTRY_MAGIC],
  ] as const) {
    magic.copy(b, 0);
    b.writeUInt32BE(o.count, 8);
    b.writeUInt32BE(firstId, 12);
  }
  for (let i = 0; i < o.count; i++) {
    const { seed, pub } = keyOf(i);
    seed.copy(keys, HEADER + KEY_ENTRY * i);
    pub.copy(keys, HEADER + KEY_ENTRY * i + 32);
    pub.copy(registry, HEADER + 32 * i);
    seed.fill(0);
    if ((i + 1) % 10_000 === 0 || i + 1 === o.count) {
      o.onProgress?.(i + 1, o.count);
      o.signal?.throwIfAborted();
      await new Promise((r) => setImmediate(r));
    }
  }
  const mdcSeed =
    o.seed === undefined
      ? randomBytes(32)
      : Buffer.from(hkdfSync('sha256', o.seed, 'securecloud/meters', 'mdc', 32));
  const registrySha256 = createHash('sha256').update(registry).digest('hex');
  const mdcPublicKey = ed25519PublicRaw(mdcSeed).toString('hex');
  await writeAtomic(join(o.dir, 'meters.keys'), keys, 0o600);
  await writeAtomic(join(o.dir, 'registry.bin'), registry, 0o644);
  await writeAtomic(join(o.dir, 'mdc.key'), mdcSeed, 0o600);
  await writeAtomic(join(o.dir, 'registry.sha256'), Buffer.from(registrySha256), 0o644);
  keys.fill(0);
  mdcSeed.fill(0);
  const result: ProvisionResult = {
    dir: o.dir,
    count: o.count,
    firstId,
    registrySha256,
    mdcPublicKey,
    seconds: (performance.now() - started) / 1000,
  };
  await writeAtomic(
    join(o.dir, 'provision.json'),
    Buffer.from(
      `${JSON.stringify({ count: o.count, firstId, registrySha256, mdcPublicKey, createdAt: new Date().toISOString() }, null, 2)}\n`,
    ),
    0o644,
  );
  return result;
}

async function writeAtomic(path: string, data: Uint8Array, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** The registry of meter public keys, as the MDC loads it. */
export class MeterRegistry {
  readonly count: number;
  readonly firstId: number;
  readonly sha256: string;
  readonly #keys: Buffer;
  readonly #cache = new Map<number, KeyObject>();

  private constructor(bytes: Buffer, sha256: string) {
    this.count = bytes.readUInt32BE(8);
    this.firstId = bytes.readUInt32BE(12);
    this.sha256 = sha256;
    this.#keys = bytes.subarray(HEADER);
  }

  /** Parses registry bytes; refuses them when their SHA-256 is not `expectedSha256` (hex) if given. */
  static fromBytes(bytes: Buffer, expectedSha256?: string): MeterRegistry {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (expectedSha256 !== undefined && sha256 !== expectedSha256.toLowerCase()) {
      throw new MeteringError(
        'ERR_REGISTRY',
        `the meter registry's SHA-256 is ${sha256}, but the CAS released ${expectedSha256}: the file was altered or is from another provisioning run; use the registry.bin that matches the digest uploaded to the CAS`,
        { check: 'registry-sha256', value: sha256, expected: expectedSha256 },
      );
    }
    if (bytes.length < HEADER || !bytes.subarray(0, 8).equals(REGISTRY_MAGIC))
      throw new MeteringError(
        'ERR_REGISTRY',
        'not a meter registry (bad magic): expected registry.bin from `securecloud meters provision`',
        { check: 'registry-magic' },
      );
    const count = bytes.readUInt32BE(8);
    if (bytes.length !== HEADER + 32 * count)
      throw new MeteringError(
        'ERR_REGISTRY',
        `meter registry is ${bytes.length} bytes, expected ${HEADER + 32 * count} for ${count} meters`,
        { check: 'registry-length' },
      );
    return new MeterRegistry(bytes, sha256);
  }

  /** Loads `registry.bin`. */
  static async load(path: string, expectedSha256?: string): Promise<MeterRegistry> {
    return MeterRegistry.fromBytes(await readFile(path), expectedSha256);
  }

  /** The meter's public key, or undefined when the id is not in the registry. */
  publicKey(meterId: string): KeyObject | undefined {
    const i = Number(meterId) - this.firstId;
    if (!/^[0-9]{8}$/.test(meterId) || i < 0 || i >= this.count) return undefined;
    let key = this.#cache.get(i);
    if (key === undefined) {
      key = ed25519PublicFromRaw(this.#keys.subarray(32 * i, 32 * i + 32));
      if (this.#cache.size >= 4096) this.#cache.clear();
      this.#cache.set(i, key);
    }
    return key;
  }
}

/** The meters' private seeds, as the simulator loads them (the factory side; secret). */
export class MeterKeyFile {
  readonly count: number;
  readonly firstId: number;
  readonly #seeds: Buffer;

  private constructor(bytes: Buffer) {
    this.count = bytes.readUInt32BE(8);
    this.firstId = bytes.readUInt32BE(12);
    this.#seeds = bytes.subarray(HEADER);
  }

  /** Loads `meters.keys`. */
  static async load(path: string): Promise<MeterKeyFile> {
    const bytes = await readFile(path);
    if (bytes.length < HEADER || !bytes.subarray(0, 8).equals(KEYS_MAGIC))
      throw new MeteringError(
        'ERR_REGISTRY',
        `${path} is not a meter key file: run \`securecloud meters provision\``,
        { check: 'keys-magic' },
      );
    if (bytes.length !== HEADER + KEY_ENTRY * bytes.readUInt32BE(8))
      throw new MeteringError('ERR_REGISTRY', `${path} is truncated`, { check: 'keys-length' });
    return new MeterKeyFile(bytes);
  }

  /** The Ed25519 private key of meter `index` (0-based); made on demand, not cached. */
  privateKey(index: number): KeyObject {
    if (!Number.isInteger(index) || index < 0 || index >= this.count)
      throw new RangeError(`meter index ${index} out of range`);
    const at = KEY_ENTRY * index;
    return ed25519FromSeedAndPublic(
      this.#seeds.subarray(at, at + 32),
      this.#seeds.subarray(at + 32, at + 64),
    );
  }

  /** Zeroes the seeds. */
  destroy(): void {
    this.#seeds.fill(0);
  }
}

/** Reads `mdc.key` (32-byte seed) into the MDC identity private key. */
export async function loadMdcIdentity(path: string): Promise<KeyObject> {
  const seed = await readFile(path);
  if (seed.length !== 32)
    throw new MeteringError('ERR_REGISTRY', `${path} is not a 32-byte MDC key seed`, { check: 'mdc-key' });
  try {
    return ed25519FromSeed(seed);
  } finally {
    seed.fill(0);
  }
}
