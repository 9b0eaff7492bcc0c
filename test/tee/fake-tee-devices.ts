/**
 * Fake TEE device trees for tests, in temporary directories.
 *
 * The real interfaces are pseudo-filesystems that react to writes (Gramine's `/dev/attestation`) or
 * to `mkdir` (configfs-tsm). A plain directory cannot, so while a fake is open this helper
 * interposes on `mkdir`, `writeFile` and `rmdir` of `node:fs/promises` (through
 * `syncBuiltinESMExports`, which updates the ESM bindings the backends import) for paths inside the
 * fake root only; every other path goes straight to the real functions. The backends are unchanged
 * production code with no test hooks.
 *
 * Emulated:
 * - Gramine: `attestation_type`; writing exactly 64 bytes to `user_report_data` makes `quote` an SGX
 *   v3 quote (a real one from the shared vectors) whose report data (offset 368) is those bytes; other
 *   sizes fail with EINVAL; `keys/_sgx_mrenclave` holds a 16-byte key.
 * - configfs-tsm: `mkdir root/<name>` creates the attributes `provider`, `generation` (0), `inblob`,
 *   `outblob`, `auxblob`, `privlevel_floor`; writing `inblob` (at most 64 bytes) bumps `generation`
 *   and makes `outblob` a TDX v4 quote or SEV-SNP report (real vectors) carrying the inblob as report
 *   data; `rmdir` removes the attributes with the directory.
 * Not emulated: signatures over the patched bytes (they no longer verify), privilege levels, auxblob
 * certificates, permissions, the kernel's locking, reads that block while the quote is generated,
 * and callers that use other fs entry points (callbacks, FileHandle).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink } from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const VECTORS = new URL('../../../shared/vectors/', import.meta.url);

/** A real SGX v3 quote with `reportData` patched in at offset 368 (its signature no longer verifies). */
export async function cannedSgxQuote(reportData: Uint8Array): Promise<Buffer> {
  return patch(await readFile(new URL('dcap-qvl/sgx_quote', VECTORS)), 368, reportData);
}

/** A real TDX v4 quote with `reportData` patched in at offset 568. */
export async function cannedTdxQuote(reportData: Uint8Array): Promise<Buffer> {
  return patch(await readFile(new URL('dcap-qvl/tdx_quote', VECTORS)), 568, reportData);
}

/** A real SEV-SNP (Milan) report with `reportData` patched in at offset 0x50. */
export async function cannedSnpReport(reportData: Uint8Array): Promise<Buffer> {
  const hex = (await readFile(new URL('virtee/report_milan.hex', VECTORS), 'utf8')).replace(/\s+/g, '');
  return patch(Buffer.from(hex, 'hex'), 0x50, reportData);
}

function patch(evidence: Buffer, offset: number, reportData: Uint8Array): Buffer {
  const out = Buffer.from(evidence);
  Buffer.from(reportData).copy(out, offset);
  return out;
}

/** A fake device tree; `close()` removes it and stops interposing when it was the last one. */
export interface FakeTree {
  readonly root: string;
  close(): Promise<void>;
}

interface Interceptor {
  readonly root: string;
  afterMkdir?(path: string): Promise<void>;
  onWriteFile?(path: string, data: Buffer): Promise<boolean>;
  beforeRmdir?(path: string): Promise<void>;
}

const fsp = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises');
const real = { mkdir: fsp.mkdir, writeFile: fsp.writeFile, rmdir: fsp.rmdir };
const active = new Set<Interceptor>();

function owner(path: unknown): { fake: Interceptor; path: string } | null {
  if (typeof path !== 'string') return null;
  const abs = resolve(path);
  for (const fake of active) if (abs.startsWith(`${fake.root}/`)) return { fake, path: abs };
  return null;
}

function install(fake: Interceptor): void {
  active.add(fake);
  if (active.size > 1) return;
  const patched = fsp as unknown as Record<string, unknown>;
  patched.mkdir = async (path: string, options?: unknown) => {
    const result = await real.mkdir(path, options as never);
    await owner(path)?.fake.afterMkdir?.(resolve(path));
    return result;
  };
  patched.writeFile = async (path: string, data: unknown, options?: unknown) => {
    const hit = owner(path);
    if (hit?.fake.onWriteFile && (await hit.fake.onWriteFile(hit.path, Buffer.from(data as Uint8Array))))
      return;
    return real.writeFile(path, data as never, options as never);
  };
  patched.rmdir = async (path: string, options?: unknown) => {
    await owner(path)?.fake.beforeRmdir?.(resolve(path));
    return real.rmdir(path, options as never);
  };
  syncBuiltinESMExports();
}

function uninstall(fake: Interceptor): void {
  active.delete(fake);
  if (active.size > 0) return;
  Object.assign(fsp, real);
  syncBuiltinESMExports();
}

async function openFake(
  prefix: string,
  make: (root: string) => Omit<Interceptor, 'root'>,
): Promise<FakeTree> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const fake: Interceptor = { root, ...make(root) };
  install(fake);
  return {
    root,
    close: async () => {
      uninstall(fake);
      await rm(root, { recursive: true, force: true });
    },
  };
}

function einval(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`EINVAL: invalid argument, write '${path}'`), { code: 'EINVAL' });
}

/** Options of {@link createFakeGramineTree}. */
export interface FakeGramineOptions {
  readonly attestationType?: string;
  /** The `_sgx_mrenclave` sealing key (16 bytes); random by default; null leaves it out. */
  readonly mrenclaveKey?: Uint8Array | null;
  /** Builds the quote for the report data written; default {@link cannedSgxQuote}. */
  readonly quote?: (reportData: Buffer) => Promise<Buffer>;
}

/** A fake `/dev/attestation` of Gramine (see the file comment). */
export async function createFakeGramineTree(options: FakeGramineOptions = {}): Promise<FakeTree> {
  const quoteFor = options.quote ?? cannedSgxQuote;
  const tree = await openFake('fake-gramine-', (root) => ({
    onWriteFile: async (path, data) => {
      if (path !== join(root, 'user_report_data')) return false;
      if (data.length !== 64) throw einval(path);
      await real.writeFile(path, data);
      await real.writeFile(join(root, 'quote'), await quoteFor(data));
      return true;
    },
  }));
  await real.writeFile(join(tree.root, 'attestation_type'), options.attestationType ?? 'dcap');
  await real.writeFile(join(tree.root, 'user_report_data'), Buffer.alloc(64));
  await real.writeFile(join(tree.root, 'quote'), await quoteFor(Buffer.alloc(64)));
  if (options.mrenclaveKey !== null) {
    await real.mkdir(join(tree.root, 'keys'));
    await real.writeFile(join(tree.root, 'keys', '_sgx_mrenclave'), options.mrenclaveKey ?? randomBytes(16));
  }
  return tree;
}

/** Options of {@link createFakeTsmTree}. */
export interface FakeTsmOptions {
  /** The provider name; default `tdx_guest`. */
  readonly provider?: string;
  /** Writes by a simulated concurrent writer after each of ours (bumps `generation`); default 0. */
  readonly racingWrites?: number;
  /** Builds the outblob for the inblob written; default by provider. */
  readonly outblob?: (inblob: Buffer) => Promise<Buffer>;
}

/** A fake configfs-tsm tree. */
export interface FakeTsmTree extends FakeTree {
  /** Report directories created so far (absolute paths). */
  readonly created: readonly string[];
}

const TSM_ATTRIBUTES = ['provider', 'generation', 'inblob', 'outblob', 'auxblob', 'privlevel_floor'] as const;

/** A fake configfs-tsm report directory (see the file comment). */
export async function createFakeTsmTree(options: FakeTsmOptions = {}): Promise<FakeTsmTree> {
  const provider = options.provider ?? 'tdx_guest';
  const outblobFor =
    options.outblob ??
    (provider === 'sev_guest'
      ? cannedSnpReport
      : provider === 'tdx_guest'
        ? cannedTdxQuote
        : async () => Buffer.alloc(0));
  const created: string[] = [];
  const isReport = (root: string, path: string) => dirname(path) === root;
  const tree = await openFake('fake-tsm-', (root) => ({
    afterMkdir: async (path) => {
      if (!isReport(root, path)) return;
      created.push(path);
      const initial = { provider: `${provider}\n`, generation: '0\n', privlevel_floor: '0\n' } as Record<
        string,
        string
      >;
      for (const name of TSM_ATTRIBUTES) await real.writeFile(join(path, name), initial[name] ?? '');
    },
    onWriteFile: async (path, data) => {
      if (!(path.endsWith('/inblob') && isReport(root, dirname(path)))) return false;
      if (data.length > 64) throw einval(path);
      const dir = dirname(path);
      const generation = Number((await readFile(join(dir, 'generation'), 'utf8')).trim());
      await real.writeFile(path, data);
      await real.writeFile(join(dir, 'generation'), `${generation + 1 + (options.racingWrites ?? 0)}\n`);
      await real.writeFile(join(dir, 'outblob'), await outblobFor(data));
      return true;
    },
    beforeRmdir: async (path) => {
      if (!isReport(root, path)) return;
      for (const name of TSM_ATTRIBUTES) await unlink(join(path, name)).catch(() => undefined);
    },
  }));
  return { ...tree, created };
}
