import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { freshKeyPair } from '../../crypto/index.ts';
import { errnoCode } from '../backend-io.ts';
import { TeeError } from '../errors.ts';
import { deriveSimSealKey } from '../seal.ts';
import { simKeyFingerprint } from './sim-evidence.ts';

/** The state file's `format` value. */
export const SIM_PLATFORM_FORMAT = 'securecloud-sim-platform-v1';
/** The state file name inside the state directory. */
export const SIM_PLATFORM_FILE = 'platform.json';

/** The default state directory, `~/.securecloud/sim-platform`. */
export function defaultSimStateDir(): string {
  return join(homedir(), '.securecloud', 'sim-platform');
}

/**
 * A SIMULATED platform: an Ed25519 quoting key and a 32-byte platform secret kept in a file. It
 * protects nothing (anyone who can read the file can impersonate it); it only stands in for TEE
 * hardware during development.
 */
export class SimPlatform {
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Buffer;
  /** `sha256:<hex>` of {@link publicKey}. */
  readonly fingerprint: string;
  /** Where the state lives. */
  readonly stateFile: string;
  readonly #privateKey: KeyObject;
  readonly #secret: Buffer;

  constructor(privateKey: KeyObject, secret: Buffer, stateFile: string) {
    this.#privateKey = privateKey;
    this.#secret = secret;
    this.stateFile = stateFile;
    const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
    this.publicKey = Buffer.from(jwk.x as string, 'base64url');
    this.fingerprint = simKeyFingerprint(this.publicKey);
  }

  /** Signs `message` with the platform key (Ed25519). */
  sign(message: Uint8Array): Buffer {
    return sign(null, message, this.#privateKey);
  }

  /** The sealing key of `measurement` on this platform (see `seal.ts`). */
  sealKey(measurement: Uint8Array): KeyObject {
    return deriveSimSealKey(this.#secret, measurement);
  }
}

/**
 * Loads the sim platform from `stateDir`, creating it on first use. The state file is created with
 * mode 0600 (directory 0700) and published atomically with `link()`, so two processes starting at
 * once end up with the same platform. A corrupt file is an ERR_BACKEND_IO naming the file.
 */
export async function openSimPlatform(
  options: { stateDir?: string; signal?: AbortSignal } = {},
): Promise<SimPlatform> {
  const dir = options.stateDir ?? defaultSimStateDir();
  const file = join(dir, SIM_PLATFORM_FILE);
  options.signal?.throwIfAborted();
  const existing = await readState(file);
  if (existing !== null) return decodeState(existing, file);
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
    throw stateError(
      dir,
      `cannot create the sim state directory (${errnoCode(err)})`,
      'check permissions or pass another stateDir',
      err,
    );
  });
  options.signal?.throwIfAborted();
  await publishNewState(file);
  return decodeState((await readState(file)) ?? '', file);
}

async function readState(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw stateError(
      file,
      `cannot read the sim platform state (${errnoCode(err)})`,
      'check permissions or pass another stateDir',
      err,
    );
  }
}

async function publishNewState(file: string): Promise<void> {
  const { privateKey, privateRaw } = freshKeyPair('ed25519');
  privateRaw.fill(0);
  const secret = randomBytes(32);
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const text = `${JSON.stringify(
    {
      format: SIM_PLATFORM_FORMAT,
      warning: 'SIMULATION platform: this file IS the platform key; it protects nothing',
      privateKey: der.toString('base64'),
      secret: secret.toString('base64'),
    },
    null,
    2,
  )}\n`;
  der.fill(0);
  secret.fill(0);
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    // link() fails with EEXIST when another process published first: then its state wins.
    await link(tmp, file).catch((err: unknown) => {
      if (errnoCode(err) !== 'EEXIST') throw err;
    });
  } catch (err) {
    throw stateError(
      file,
      `cannot write the sim platform state (${errnoCode(err)})`,
      'check permissions or pass another stateDir',
      err,
    );
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

function decodeState(text: string, file: string): SimPlatform {
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (err) {
    throw corrupt(file, 'it is not JSON', err);
  }
  const s = state as Record<string, unknown> | null;
  if (s === null || typeof s !== 'object' || s.format !== SIM_PLATFORM_FORMAT)
    throw corrupt(file, `its format is not ${SIM_PLATFORM_FORMAT}`);
  if (typeof s.privateKey !== 'string' || typeof s.secret !== 'string')
    throw corrupt(file, 'privateKey or secret is missing');
  const secret = Buffer.from(s.secret, 'base64');
  if (secret.length !== 32) throw corrupt(file, `the secret has ${secret.length} bytes, expected 32`);
  const der = Buffer.from(s.privateKey, 'base64');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw corrupt(file, 'privateKey is not a PKCS#8 key', err);
  } finally {
    der.fill(0);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw corrupt(file, `privateKey is ${key.asymmetricKeyType}, expected ed25519`);
  return new SimPlatform(key, secret, file);
}

function corrupt(file: string, why: string, cause?: unknown): TeeError {
  return stateError(
    file,
    `the sim platform state is corrupt: ${why}`,
    'delete it to create a new sim platform (evidence and sealed data of the old one will no longer verify or unseal)',
    cause,
  );
}

function stateError(path: string, problem: string, remedy: string, cause?: unknown): TeeError {
  return new TeeError(
    'ERR_BACKEND_IO',
    `${path}: ${problem}; ${remedy}`,
    { check: 'sim-state', value: path },
    { cause },
  );
}
