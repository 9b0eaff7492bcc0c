import { assertReportData } from '../backend-io.ts';
import { fromHex, toHex } from '../bytes.ts';
import { createAeadSealer, SEAL_KEY_IDS } from '../seal.ts';
import type { Sealer, TeeBackend } from '../types.ts';
import { encodeSimEvidenceBody, simSigningInput } from './sim-evidence.ts';
import { openSimPlatform, type SimPlatform } from './sim-platform.ts';

/** Options of {@link createSimBackend}. */
export interface SimBackendOptions {
  /** Where the sim platform key and secret live. Default `~/.securecloud/sim-platform`. */
  readonly stateDir?: string;
  /** The service measurement (32 bytes, or 64 hex digits), e.g. from `measureService`. */
  readonly measurement: string | Uint8Array;
  /** Signer identity (32 bytes or hex). Default 32 zero bytes. */
  readonly signer?: string | Uint8Array;
  /** Product id, 0–65535. Default 0. */
  readonly productId?: number;
  /** Security version, 0–65535. Default 0. */
  readonly svn?: number;
  /** Claim a debug configuration. Default false. */
  readonly debug?: boolean;
  readonly signal?: AbortSignal;
}

/** The SIMULATION backend: software-only evidence that protects nothing. */
export interface SimBackend extends TeeBackend {
  readonly name: 'sim';
  readonly platform: 'sim';
  readonly simulation: true;
  /** Hex of the raw Ed25519 platform public key (what `createSimVerifier({ trustedPlatformKeys })` takes). */
  readonly platformKey: string;
  /** `sha256:<hex>` of the platform key, as shown in verification details. */
  readonly platformKeyFingerprint: string;
  /** The measurement this backend claims, hex. */
  readonly measurement: string;
  /** A human-readable line that says SIMULATION. */
  describe(): string;
}

/**
 * Creates the SIMULATION backend. Its evidence (`sim-v1`) is signed by a software platform key kept
 * in `stateDir`; a verifier refuses it unless simulation is explicitly allowed. It protects nothing:
 * use it to develop and test without TEE hardware, never to protect data.
 *
 * @example
 * const { measurement } = await measureService('./service');
 * const backend = await createSimBackend({ measurement, stateDir: '/tmp/sim' });
 * const evidence = await backend.getEvidence(reportData);
 */
export async function createSimBackend(options: SimBackendOptions): Promise<SimBackend> {
  if (options === null || typeof options !== 'object') throw new TypeError('createSimBackend needs options');
  const measurement = bytes32(options.measurement, 'measurement');
  const signer = options.signer === undefined ? Buffer.alloc(32) : bytes32(options.signer, 'signer');
  const productId = u16(options.productId ?? 0, 'productId');
  const svn = u16(options.svn ?? 0, 'svn');
  if (options.debug !== undefined && typeof options.debug !== 'boolean')
    throw new TypeError('debug must be a boolean');
  const platform = await openSimPlatform({ stateDir: options.stateDir, signal: options.signal });
  return new SimBackendImpl(platform, { measurement, signer, productId, svn, debug: options.debug ?? false });
}

interface SimIdentity {
  readonly measurement: Buffer;
  readonly signer: Buffer;
  readonly productId: number;
  readonly svn: number;
  readonly debug: boolean;
}

class SimBackendImpl implements SimBackend {
  readonly name = 'sim' as const;
  readonly platform = 'sim' as const;
  readonly simulation = true as const;
  readonly platformKey: string;
  readonly platformKeyFingerprint: string;
  readonly measurement: string;
  readonly #platform: SimPlatform;
  readonly #identity: SimIdentity;

  constructor(platform: SimPlatform, identity: SimIdentity) {
    this.#platform = platform;
    this.#identity = identity;
    this.platformKey = toHex(platform.publicKey);
    this.platformKeyFingerprint = platform.fingerprint;
    this.measurement = toHex(identity.measurement);
  }

  async getEvidence(reportData: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    assertReportData(reportData);
    options.signal?.throwIfAborted();
    const body = encodeSimEvidenceBody({
      ...this.#identity,
      reportData,
      platformKey: this.#platform.publicKey,
    });
    return Buffer.concat([body, this.#platform.sign(simSigningInput(body))]);
  }

  async sealer(): Promise<Sealer> {
    return createAeadSealer(SEAL_KEY_IDS.sim, this.#platform.sealKey(this.#identity.measurement));
  }

  describe(): string {
    return `SIMULATION backend (software only, protects nothing): measurement ${this.measurement}, platform key ${this.platformKeyFingerprint} in ${this.#platform.stateFile}`;
  }

  toString(): string {
    return this.describe();
  }
}

function bytes32(value: string | Uint8Array, name: string): Buffer {
  let out: Buffer | null = null;
  if (value instanceof Uint8Array) out = Buffer.from(value);
  else if (typeof value === 'string' && /^(0x)?[0-9a-fA-F]{64}$/.test(value)) out = fromHex(value);
  if (out === null || out.length !== 32) throw new TypeError(`${name} must be 32 bytes (or 64 hex digits)`);
  return out;
}

function u16(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new TypeError(`${name} must be an integer 0–65535`);
  }
  return value;
}
