import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertReportData, errnoCode, isAbortError, readDeviceFile } from '../backend-io.ts';
import { TeeError } from '../errors.ts';
import { createAeadSealer, deriveGramineSealKey, SEAL_KEY_IDS } from '../seal.ts';
import type { Sealer, TeeBackend } from '../types.ts';

/** Where Gramine mounts its attestation pseudo-filesystem inside an enclave. */
export const DEFAULT_GRAMINE_ROOT = '/dev/attestation';

const MANIFEST_HINT =
  'set `sgx.remote_attestation = "dcap"` in the Gramine manifest, re-sign the enclave, and make sure the DCAP quote provider library (libsgx-dcap-default-qpl) and its PCCS are configured on the host';

/** Options of {@link createGramineBackend}. */
export interface GramineBackendOptions {
  /** The attestation pseudo-filesystem. Default `/dev/attestation`. */
  readonly root?: string;
  readonly signal?: AbortSignal;
}

/** The Gramine SGX backend: DCAP quotes through `/dev/attestation`. */
export interface GramineBackend extends TeeBackend {
  readonly name: 'gramine-sgx';
  readonly platform: 'sgx';
  readonly simulation: false;
  readonly root: string;
  describe(): string;
}

/**
 * Creates the backend for a process running inside a Gramine SGX enclave. Evidence is an SGX DCAP
 * quote: the backend writes the 64 report-data bytes to `root/user_report_data`, reads `root/quote`,
 * and checks that the quote (v3/v4, at offset 368) binds those bytes. Calls are serialized, because
 * `user_report_data` is one per process; use one backend per process. The sealer uses the
 * MRENCLAVE-bound sealing key Gramine exposes at `root/keys/_sgx_mrenclave`.
 *
 * Fails with ERR_BACKEND_UNAVAILABLE when `root` is missing (not in Gramine) or when
 * `root/attestation_type` is not `dcap` (the manifest does not enable DCAP attestation).
 */
export async function createGramineBackend(options: GramineBackendOptions = {}): Promise<GramineBackend> {
  const root = options.root ?? DEFAULT_GRAMINE_ROOT;
  options.signal?.throwIfAborted();
  const typePath = join(root, 'attestation_type');
  let type: string;
  try {
    type = (await readDeviceFile(typePath, options.signal)).toString('utf8').trim();
  } catch (err) {
    if (isAbortError(err)) throw err;
    throw new TeeError(
      'ERR_BACKEND_UNAVAILABLE',
      `gramine-sgx: cannot read ${typePath} (${errnoCode(err)}): the process does not run inside a Gramine SGX enclave; start it with gramine-sgx, or choose another backend (auto, tsm, sim)`,
      { check: 'gramine-attestation-type', value: errnoCode(err), expected: 'dcap' },
      { cause: err },
    );
  }
  if (type !== 'dcap') {
    const why =
      type === 'none' ? 'remote attestation is disabled' : `attestation type "${type}" is not supported`;
    throw new TeeError(
      'ERR_BACKEND_UNAVAILABLE',
      `gramine-sgx: ${why} (${typePath} says "${type}"); ${MANIFEST_HINT}`,
      {
        check: 'gramine-attestation-type',
        value: type,
        expected: 'dcap',
      },
    );
  }
  return new GramineBackendImpl(root);
}

class GramineBackendImpl implements GramineBackend {
  readonly name = 'gramine-sgx' as const;
  readonly platform = 'sgx' as const;
  readonly simulation = false as const;
  readonly root: string;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(root: string) {
    this.root = root;
  }

  async getEvidence(reportData: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    assertReportData(reportData);
    options.signal?.throwIfAborted();
    const data = Buffer.from(reportData);
    const run = this.#tail.then(() => this.#quote(data, options.signal));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #quote(reportData: Buffer, signal: AbortSignal | undefined): Promise<Uint8Array> {
    signal?.throwIfAborted();
    const rdPath = join(this.root, 'user_report_data');
    await writeFile(rdPath, reportData, { signal }).catch((err: unknown) => ioError(rdPath, 'write', err));
    const quotePath = join(this.root, 'quote');
    const quote = await readDeviceFile(quotePath, signal).catch((err: unknown) =>
      ioError(quotePath, 'read', err),
    );
    checkQuoteBinding(quote, reportData, quotePath);
    return quote;
  }

  async sealer(): Promise<Sealer> {
    const keyPath = join(this.root, 'keys', '_sgx_mrenclave');
    let raw: Buffer;
    try {
      raw = await readDeviceFile(keyPath);
    } catch (err) {
      if (err instanceof TeeError) throw err;
      throw new TeeError(
        'ERR_BACKEND_UNAVAILABLE',
        `gramine-sgx: cannot read the sealing key ${keyPath} (${errnoCode(err)}); this Gramine does not expose sealing keys under /dev/attestation/keys — upgrade Gramine`,
        { check: 'gramine-sealing-key', value: errnoCode(err) },
        { cause: err },
      );
    }
    try {
      if (raw.length !== 16) {
        throw new TeeError(
          'ERR_BACKEND_IO',
          `gramine-sgx: ${keyPath} gave ${raw.length} bytes, expected a 16-byte key`,
          {
            check: 'gramine-sealing-key',
            value: String(raw.length),
            expected: '16',
          },
        );
      }
      return createAeadSealer(SEAL_KEY_IDS['gramine-sgx-mrenclave'], deriveGramineSealKey(raw));
    } finally {
      raw.fill(0);
    }
  }

  describe(): string {
    return `gramine-sgx backend: SGX DCAP quotes through ${this.root}`;
  }
}

/** Checks that an SGX quote (v3 or v4, SGX) carries `reportData` at offset 368 (48-byte header + 320). */
function checkQuoteBinding(quote: Buffer, reportData: Buffer, path: string): void {
  const version = quote.length >= 8 ? quote.readUInt16LE(0) : -1;
  const teeType = quote.length >= 8 ? quote.readUInt32LE(4) : -1;
  if (quote.length < 432 || (version !== 3 && version !== 4) || teeType !== 0) {
    throw new TeeError(
      'ERR_BACKEND_IO',
      `gramine-sgx: ${path} did not return an SGX quote (v3/v4, at least 432 bytes): got ${quote.length} bytes, version ${version}; check the host's DCAP quote provider (aesmd / PCCS logs)`,
      {
        check: 'gramine-quote',
        value: `${quote.length} bytes, version ${version}`,
        expected: 'SGX quote v3 or v4',
      },
    );
  }
  if (!quote.subarray(368, 432).equals(reportData)) {
    throw new TeeError(
      'ERR_BACKEND_IO',
      `gramine-sgx: the quote from ${path} does not carry the report data that was written; another thread of this enclave wrote user_report_data at the same time — use one backend per process`,
      {
        check: 'gramine-quote-report-data',
        value: quote.subarray(368, 432).toString('hex'),
        expected: reportData.toString('hex'),
      },
    );
  }
}

function ioError(path: string, op: string, err: unknown): never {
  if (isAbortError(err) || err instanceof TeeError) throw err;
  throw new TeeError(
    'ERR_BACKEND_IO',
    `gramine-sgx: cannot ${op} ${path} (${errnoCode(err)}); check that the enclave runs with remote attestation enabled and that the host's DCAP quote provider works`,
    { check: 'gramine-io', value: `${path}: ${errnoCode(err)}` },
    { cause: err },
  );
}
