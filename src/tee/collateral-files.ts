import { basename } from 'node:path';
import { classifyCollateralFile, mergeDcapCollateral } from './dcap/collateral-file.ts';
import { isTeeError, TeeError } from './errors.ts';
import { readBoundedFile } from './evidence-file.ts';
import { classifySnpCollateralFile } from './snp/collateral-file.ts';
import type { Collateral, DcapCollateral, SnpCollateral } from './types.ts';

/** Collateral files larger than this are refused (the largest Intel TCB Info is tens of KiB). */
export const MAX_COLLATERAL_FILE_BYTES = 4 << 20;

/**
 * Classifies the bytes of one collateral file: Intel DCAP (dcap-qvl combined JSON, raw Intel PCS
 * bodies, PEM issuer chains, CRLs) or AMD SEV-SNP (VCEK / VLEK, ASK, ARK in DER or PEM). Throws
 * `ERR_COLLATERAL_MALFORMED` saying why neither recognizes it.
 */
export function classifyCollateral(bytes: Uint8Array, name: string): Collateral {
  let dcapError: TeeError;
  try {
    return { dcap: classifyCollateralFile(bytes, name) };
  } catch (err) {
    if (!isTeeError(err)) throw err;
    dcapError = err;
  }
  try {
    return { snp: classifySnpCollateralFile(bytes, name) };
  } catch (err) {
    if (!isTeeError(err)) throw err;
    throw new TeeError(
      'ERR_COLLATERAL_MALFORMED',
      `${name} is neither Intel DCAP collateral (${dcapError.message}) nor AMD SEV-SNP certificates (${err.message})`,
      { check: 'collateral-file', value: basename(name) },
    );
  }
}

/** Merges classified collateral; the same document given twice must be identical. */
export function mergeCollateral(parts: readonly Collateral[]): Collateral {
  const dcap = parts.flatMap((p) => (p.dcap ? [p.dcap] : []));
  const snp = parts.flatMap((p) => (p.snp ? [p.snp] : []));
  const out: { dcap?: DcapCollateral; snp?: SnpCollateral } = {};
  if (dcap.length > 0) out.dcap = mergeDcapCollateral(dcap);
  if (snp.length > 0) out.snp = mergeSnp(snp);
  return out;
}

function mergeSnp(parts: readonly SnpCollateral[]): SnpCollateral {
  const out: { -readonly [K in keyof SnpCollateral]: SnpCollateral[K] } = {};
  for (const part of parts) {
    for (const key of ['vcek', 'ask', 'ark'] as const) {
      const value = part[key];
      if (value === undefined) continue;
      const prior = out[key];
      if (prior !== undefined && !Buffer.from(prior).equals(Buffer.from(value))) {
        throw new TeeError(
          'ERR_COLLATERAL_MALFORMED',
          `two collateral files supply different ${key.toUpperCase()} certificates`,
          {
            check: 'collateral-file',
            value: key,
          },
        );
      }
      out[key] = value;
    }
  }
  return out;
}

/** Reads, classifies and merges collateral files (see {@link classifyCollateral}). */
export async function loadCollateralFiles(
  paths: readonly string[],
  options: { signal?: AbortSignal } = {},
): Promise<Collateral> {
  const parts: Collateral[] = [];
  for (const path of paths) {
    let bytes: Buffer;
    try {
      bytes = await readBoundedFile(path, MAX_COLLATERAL_FILE_BYTES, options.signal);
    } catch (err) {
      if (isTeeError(err))
        throw new TeeError('ERR_COLLATERAL_MALFORMED', err.message, { check: 'collateral-file' });
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new TeeError(
        'ERR_COLLATERAL_MISSING',
        `cannot read collateral file ${path}: ${code}`,
        { check: 'collateral-file' },
        { cause: err },
      );
    }
    parts.push(classifyCollateral(bytes, path));
  }
  return mergeCollateral(parts);
}
