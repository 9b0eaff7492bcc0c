import { randomBytes } from 'node:crypto';
import { mkdir, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertReportData, errnoCode, isAbortError, readDeviceFile } from '../backend-io.ts';
import { TeeError } from '../errors.ts';
import type { Sealer, TeeBackend } from '../types.ts';
import { isTsmProvider, outblobReportData, TSM_PROVIDERS, type TsmProvider } from './outblob-report-data.ts';

/** Where Linux (≥ 6.7) exposes configfs-tsm attestation reports. */
export const DEFAULT_TSM_ROOT = '/sys/kernel/config/tsm/report';

const SETUP_HINT =
  'configfs-tsm needs Linux 6.7 or later inside an Intel TDX or AMD SEV-SNP guest, the tdx_guest or sev-guest driver loaded, configfs mounted (`mount -t configfs none /sys/kernel/config`) and root privileges';

/** Options of {@link createTsmBackend}. */
export interface TsmBackendOptions {
  /** The configfs-tsm report directory. Default `/sys/kernel/config/tsm/report`. */
  readonly root?: string;
  readonly signal?: AbortSignal;
}

/** The configfs-tsm backend of confidential VMs (Intel TDX, AMD SEV-SNP). */
export interface TsmBackend extends TeeBackend {
  readonly name: 'tsm';
  readonly platform: 'tdx' | 'sev-snp';
  readonly simulation: false;
  /** The provider found at creation: `tdx_guest` or `sev_guest`. */
  readonly provider: TsmProvider;
  readonly root: string;
  describe(): string;
}

/**
 * Creates the configfs-tsm backend. At creation it makes (and removes) a probe report directory to
 * learn the provider, hence the platform. Each `getEvidence` creates its own report directory under
 * `root`, reads `generation`, writes the report data to `inblob`, reads `outblob` and `provider`,
 * re-reads `generation` and refuses with ERR_BACKEND_RACE unless it grew by exactly our one write,
 * then removes the directory (also on error). The outblob must carry the report data.
 *
 * Fails with ERR_BACKEND_UNAVAILABLE when `root` is missing or unusable.
 */
export async function createTsmBackend(options: TsmBackendOptions = {}): Promise<TsmBackend> {
  const root = options.root ?? DEFAULT_TSM_ROOT;
  options.signal?.throwIfAborted();
  const info = await stat(root).catch((err: unknown) =>
    unavailable(`cannot open ${root} (${errnoCode(err)})`, err),
  );
  if (!info.isDirectory()) unavailable(`${root} is not a directory`);
  const dir = join(root, reportName());
  await mkdir(dir).catch((err: unknown) =>
    unavailable(`cannot create a report in ${root} (${errnoCode(err)})`, err),
  );
  try {
    const provider = await readProvider(dir, options.signal).catch((err: unknown) => {
      if (isAbortError(err) || err instanceof TeeError) throw err;
      return unavailable(`cannot read the provider of ${dir} (${errnoCode(err)})`, err);
    });
    return new TsmBackendImpl(root, provider);
  } finally {
    await rmdir(dir).catch(() => undefined);
  }
}

class TsmBackendImpl implements TsmBackend {
  readonly name = 'tsm' as const;
  readonly simulation = false as const;
  readonly platform: 'tdx' | 'sev-snp';
  readonly provider: TsmProvider;
  readonly root: string;

  constructor(root: string, provider: TsmProvider) {
    this.root = root;
    this.provider = provider;
    this.platform = TSM_PROVIDERS[provider];
  }

  async getEvidence(reportData: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    assertReportData(reportData);
    const { signal } = options;
    signal?.throwIfAborted();
    const dir = join(this.root, reportName());
    await mkdir(dir).catch((err: unknown) => ioError(dir, 'create', err));
    let outblob: Buffer;
    try {
      outblob = await this.#report(dir, Buffer.from(reportData), signal);
    } catch (err) {
      await rmdir(dir).catch(() => undefined);
      throw err;
    }
    await rmdir(dir).catch((err: unknown) => ioError(dir, 'remove', err));
    return outblob;
  }

  async #report(dir: string, reportData: Buffer, signal: AbortSignal | undefined): Promise<Buffer> {
    const before = await readGeneration(dir, signal);
    signal?.throwIfAborted();
    const inblob = join(dir, 'inblob');
    await writeFile(inblob, reportData, { signal }).catch((err: unknown) => ioError(inblob, 'write', err));
    const outPath = join(dir, 'outblob');
    const outblob = await readDeviceFile(outPath, signal).catch((err: unknown) =>
      ioError(outPath, 'read', err),
    );
    const provider = await readProvider(dir, signal).catch((err: unknown) =>
      ioError(join(dir, 'provider'), 'read', err),
    );
    const after = await readGeneration(dir, signal);
    if (after !== before + 1) {
      throw new TeeError(
        'ERR_BACKEND_RACE',
        `tsm: generation of ${dir} went from ${before} to ${after} around our single write: another writer changed the report; retry`,
        { check: 'tsm-generation', value: String(after), expected: String(before + 1) },
      );
    }
    if (provider !== this.provider) {
      throw new TeeError(
        'ERR_BACKEND_IO',
        `tsm: the provider changed from ${this.provider} to ${provider}; recreate the backend`,
        {
          check: 'tsm-provider',
          value: provider,
          expected: this.provider,
        },
      );
    }
    checkBinding(this.provider, outblob, reportData, outPath);
    return outblob;
  }

  async sealer(): Promise<Sealer> {
    throw new TeeError(
      'ERR_BACKEND_UNAVAILABLE',
      'tsm: a confidential VM has no generic sealing key through configfs-tsm; seal with a key released by the CAS after attestation instead',
      { check: 'tsm-sealing' },
    );
  }

  describe(): string {
    return `tsm backend: ${this.platform} evidence (${this.provider}) through configfs-tsm at ${this.root}`;
  }
}

function checkBinding(provider: TsmProvider, outblob: Buffer, reportData: Buffer, path: string): void {
  const found = outblobReportData(provider, outblob);
  if (typeof found === 'string') {
    throw new TeeError('ERR_BACKEND_IO', `tsm: ${path} is not the expected evidence: ${found}`, {
      check: 'tsm-outblob',
      value: `${outblob.length} bytes`,
    });
  }
  if (!found.equals(reportData)) {
    throw new TeeError(
      'ERR_BACKEND_IO',
      `tsm: the evidence from ${path} does not carry the report data written to inblob`,
      {
        check: 'tsm-outblob-report-data',
        value: found.toString('hex'),
        expected: reportData.toString('hex'),
      },
    );
  }
}

async function readProvider(dir: string, signal: AbortSignal | undefined): Promise<TsmProvider> {
  const name = (await readDeviceFile(join(dir, 'provider'), signal)).toString('utf8').trim();
  if (!isTsmProvider(name)) {
    unavailable(`provider "${name}" is not supported (supported: ${Object.keys(TSM_PROVIDERS).join(', ')})`);
  }
  return name;
}

async function readGeneration(dir: string, signal: AbortSignal | undefined): Promise<number> {
  const path = join(dir, 'generation');
  const raw = await readDeviceFile(path, signal).catch((err: unknown) => ioError(path, 'read', err));
  const value = raw.toString('utf8').trim();
  if (!/^\d{1,15}$/.test(value)) {
    throw new TeeError(
      'ERR_BACKEND_IO',
      `tsm: ${path} is not a number: ${JSON.stringify(value.slice(0, 32))}`,
      {
        check: 'tsm-generation',
        value: value.slice(0, 32),
        expected: 'a decimal counter',
      },
    );
  }
  return Number(value);
}

/** A fresh report directory name: process id and 64 random bits, so concurrent users never share one. */
function reportName(): string {
  return `securecloud-${process.pid}-${randomBytes(8).toString('hex')}`;
}

function unavailable(problem: string, cause?: unknown): never {
  throw new TeeError(
    'ERR_BACKEND_UNAVAILABLE',
    `tsm: ${problem}; ${SETUP_HINT}`,
    { check: 'tsm-available', value: problem },
    { cause },
  );
}

function ioError(path: string, op: string, err: unknown): never {
  if (isAbortError(err) || err instanceof TeeError) throw err;
  throw new TeeError(
    'ERR_BACKEND_IO',
    `tsm: cannot ${op} ${path} (${errnoCode(err)}); check the guest's attestation driver (dmesg)`,
    {
      check: 'tsm-io',
      value: `${path}: ${errnoCode(err)}`,
    },
    { cause: err },
  );
}
