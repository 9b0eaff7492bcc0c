/**
 * The measurement of a service: one SHA-256 over a canonical listing of the files it runs, identical
 * on every machine for the same tree.
 *
 * Listing rules:
 * - A directory is walked recursively; a single file is measured as a one-line listing under its base
 *   name. The root itself may be a symbolic link (it is followed); links inside the tree are not.
 * - A regular file gives the line `<sha256 hex of its content> <size in bytes> <path>\n`.
 * - A symbolic link gives the line `<sha256 hex of its target text> symlink <path>\n` and is not
 *   followed (its target, being inside the tree, is measured in its own right). The target text must
 *   be relative, must not climb out of the root with `..`, and the link must resolve (through any
 *   chain of links) to an existing entry inside the root. Any other link is refused with
 *   ERR_MEASURE_IO: the service would run content the measurement does not cover, or content that
 *   depends on where the tree is installed.
 * - Paths are relative to the root with `/` separators; lines are sorted by the UTF-8 bytes of the path.
 * - Names must be valid UTF-8 without control characters (a newline would forge a line); others are refused.
 * - Directories give no line (an empty directory is not measured). Modes, owners and times are not
 *   measured. Sockets, FIFOs and devices are refused.
 * - Entries named `.git` are skipped unless `includeGit` is set; `exclude` patterns skip more.
 *
 * The measurement is SHA-256 of {@link MEASUREMENT_HEADER} followed by the listing.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { basename, join, posix, sep } from 'node:path';
import { TeeError } from './errors.ts';

/** The domain-separation line hashed before the listing. */
export const MEASUREMENT_HEADER = 'securecloud-measurement-v1\n';

/** One measured entry of the listing. */
export interface MeasuredFile {
  /** Relative path with `/` separators (the base name for a single file). */
  readonly path: string;
  readonly kind: 'file' | 'symlink';
  /** SHA-256 hex of the content (file) or of the target text (symlink). */
  readonly sha256: string;
  /** Bytes of content (file) or of target text (symlink). */
  readonly size: number;
  /** The link target text, for symlinks. */
  readonly target?: string;
}

/** The result of {@link measureService}. */
export interface ServiceMeasurement {
  /** SHA-256 hex of {@link MEASUREMENT_HEADER} ‖ `listing`. */
  readonly measurement: string;
  /** The entries, in listing order. */
  readonly files: readonly MeasuredFile[];
  /** The canonical listing (without the header). */
  readonly listing: string;
}

/** Options of {@link measureService}. */
export interface MeasureOptions {
  /**
   * Glob patterns of entries to skip: `*` and `?` match within one path segment, `**` across
   * segments. A pattern without `/` matches an entry's name at any depth; a pattern with `/` matches
   * the whole relative path from the root. A skipped directory is not entered.
   */
  readonly exclude?: readonly string[];
  /** Measure `.git` entries too. Default false. */
  readonly includeGit?: boolean;
  /** Files hashed at the same time. Default 8. */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
}

interface Entry {
  readonly rel: string;
  readonly abs: string;
  readonly kind: 'file' | 'symlink';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const READ_CHUNK = 256 * 1024;
// O_NOFOLLOW: a file swapped for a link between the walk and the read is refused, not followed.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);

/**
 * Measures the files of a service (a directory or a single file).
 *
 * @example
 * const { measurement, files } = await measureService('./dist', { exclude: ['*.map'] });
 */
export async function measureService(
  path: string,
  options: MeasureOptions = {},
): Promise<ServiceMeasurement> {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('path must be a non-empty string');
  const concurrency = options.concurrency ?? 8;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new TypeError('concurrency must be a positive integer');
  }
  const { signal } = options;
  signal?.throwIfAborted();
  const rootReal = await realpath(path).catch((err: unknown) => ioError(path, err));
  const entries = await collectEntries(path, rootReal, options);
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.rel), Buffer.from(b.rel)));
  const files = await mapBounded(entries, concurrency, (e) => measureEntry(e, rootReal, signal));
  const listing = files.map(listingLine).join('');
  const measurement = createHash('sha256').update(MEASUREMENT_HEADER).update(listing).digest('hex');
  return { measurement, files, listing };
}

/** The entries to measure: the walk of a directory, or the root file itself (followed if a link). */
async function collectEntries(path: string, rootReal: string, options: MeasureOptions): Promise<Entry[]> {
  const rootStat = await stat(rootReal).catch((err: unknown) => ioError(path, err));
  const entries: Entry[] = [];
  if (rootStat.isFile()) {
    entries.push({ rel: checkName(Buffer.from(basename(path)), path), abs: rootReal, kind: 'file' });
  } else if (rootStat.isDirectory()) {
    const skip = compileExcludes(options.exclude ?? [], options.includeGit ?? false);
    await walk(path, '', entries, skip, options.signal);
  } else {
    throw measureError(
      path,
      'is neither a regular file nor a directory',
      'measure the service directory or file',
    );
  }
  if (entries.length === 0) {
    throw measureError(path, 'contains no files to measure', 'check the path and the exclude patterns');
  }
  return entries;
}

function listingLine(f: MeasuredFile): string {
  return `${f.sha256} ${f.kind === 'symlink' ? 'symlink' : String(f.size)} ${f.path}\n`;
}

async function walk(
  dir: string,
  relDir: string,
  out: Entry[],
  skip: (rel: string, name: string) => boolean,
  signal: AbortSignal | undefined,
): Promise<void> {
  signal?.throwIfAborted();
  const dirents = await readdir(dir, { withFileTypes: true, encoding: 'buffer' }).catch((err: unknown) =>
    ioError(dir, err),
  );
  for (const d of dirents) {
    // Exclusion is tested on the (lossy) decoded name first, so that a badly named entry can be excluded.
    const lossy = d.name.toString('utf8');
    if (skip(relDir === '' ? lossy : `${relDir}/${lossy}`, lossy)) continue;
    const name = checkName(d.name, join(dir, lossy));
    const rel = relDir === '' ? name : `${relDir}/${name}`;
    const absPath = join(dir, name);
    if (d.isDirectory()) {
      await walk(absPath, rel, out, skip, signal);
    } else if (d.isFile() || d.isSymbolicLink()) {
      out.push({ rel, abs: absPath, kind: d.isFile() ? 'file' : 'symlink' });
    } else {
      throw measureError(
        absPath,
        'is a socket, FIFO or device',
        'exclude it (--exclude) or remove it from the tree',
      );
    }
  }
}

function checkName(raw: Buffer, where: string): string {
  let name: string;
  try {
    name = utf8.decode(raw);
  } catch {
    throw measureError(
      where,
      'has a name that is not valid UTF-8',
      'rename it (listings are UTF-8) or exclude it',
    );
  }
  if (hasControlCharacter(name)) {
    throw measureError(where, 'has a control character in its name', 'rename it or exclude it');
  }
  return name;
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

async function measureEntry(
  entry: Entry,
  rootReal: string,
  signal: AbortSignal | undefined,
): Promise<MeasuredFile> {
  signal?.throwIfAborted();
  if (entry.kind === 'symlink') return measureLink(entry, rootReal);
  const hash = createHash('sha256');
  let size = 0;
  const fh = await open(entry.abs, OPEN_FLAGS).catch((err: unknown) => ioError(entry.abs, err));
  try {
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await fh
        .read(buf, 0, buf.length, null)
        .catch((err: unknown) => ioError(entry.abs, err));
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return { path: entry.rel, kind: 'file', sha256: hash.digest('hex'), size };
}

async function measureLink(entry: Entry, rootReal: string): Promise<MeasuredFile> {
  const raw = await readlink(entry.abs, { encoding: 'buffer' }).catch((err: unknown) =>
    ioError(entry.abs, err),
  );
  const target = checkName(raw, entry.abs);
  const lexical = posix.normalize(posix.join(posix.dirname(entry.rel), target));
  const real = await realpath(entry.abs).catch(() => null);
  const inside =
    real !== null &&
    (real === rootReal || real.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep));
  if (posix.isAbsolute(target) || lexical === '..' || lexical.startsWith('../') || !inside) {
    throw measureError(
      entry.abs,
      `is a symbolic link to ${JSON.stringify(target)}, which is absolute, dangling or outside the measured tree`,
      'make it a relative link to an entry inside the tree, copy the target into the tree, or exclude the link',
    );
  }
  const sha256 = createHash('sha256').update(raw).digest('hex');
  return { path: entry.rel, kind: 'symlink', sha256, size: raw.length, target };
}

/** Compiles the exclude patterns into one predicate over (relative path, name). */
function compileExcludes(
  patterns: readonly string[],
  includeGit: boolean,
): (rel: string, name: string) => boolean {
  const byName: RegExp[] = [];
  const byPath: RegExp[] = [];
  for (const raw of patterns) {
    if (typeof raw !== 'string' || raw.trim() === '')
      throw new TypeError('exclude patterns must be non-empty strings');
    const p = raw.replace(/^\/+/, '').replace(/\/+$/, '');
    (raw.replace(/\/+$/, '').includes('/') ? byPath : byName).push(globToRegExp(p));
  }
  return (rel, name) =>
    (!includeGit && name === '.git') || byName.some((r) => r.test(name)) || byPath.some((r) => r.test(rel));
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'u');
}

/** Runs `fn` over `items` with at most `limit` in flight; keeps order; the first error wins. */
async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return results;
}

function measureError(path: string, problem: string, remedy: string, cause?: unknown): TeeError {
  return new TeeError(
    'ERR_MEASURE_IO',
    `${path} ${problem}; ${remedy}`,
    { check: 'measure', value: path },
    { cause },
  );
}

function ioError(path: string, err: unknown): never {
  if (err instanceof Error && err.name === 'AbortError') throw err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'EIO';
  const remedies: Record<string, string> = {
    EACCES: 'grant read permission or exclude it (--exclude)',
    EPERM: 'grant read permission or exclude it (--exclude)',
    ENOENT: 'check the path; if the tree changed while it was measured, measure a stable copy',
    ELOOP: 'the file was replaced by a symbolic link while it was measured; measure a stable copy',
  };
  throw measureError(path, `cannot be read (${code})`, remedies[code] ?? 'check the path and retry', err);
}
