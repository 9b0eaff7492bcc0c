import { TeeError } from '../errors.ts';
import type { TcbStatus } from '../types.ts';
import type { PckExtensions } from './pck-extensions.ts';
import type { QeIdentity } from './qe-identity.ts';
import type { DcapQuote, TdReportBody } from './quote.ts';
import type { IsvSvnTcbLevel, TcbInfo, TcbLevel, TcbLevelStatus, TdxModule } from './tcb-info.ts';

/** The TCB levels selected for one quote, and the statuses that combine into the final one. */
export interface TcbMatch {
  readonly platform: TcbLevel;
  readonly module: IsvSvnTcbLevel | null;
}

function notFound(check: string, message: string, value: string, expected: string): never {
  throw new TeeError('ERR_TCB_LEVEL_NOT_FOUND', message, { check, value, expected });
}

function allAtLeast(actual: ArrayLike<number>, required: readonly number[], from = 0): boolean {
  for (let i = from; i < required.length; i++) if ((actual[i] ?? 0) < required[i]!) return false;
  return true;
}

/**
 * Selects the platform TCB level (Intel QVL `matchTcbLevels`): the first level, in the TCB Info's
 * order, whose 16 SGX components and PCESVN are all ≤ the PCK certificate's; for TDX also the 16 TEE
 * TCB SVN components of the TD report (components 1 and 2 are skipped when the TDX module major
 * version, TEE_TCB_SVN[1], is not 0: the module is judged by its own identity instead).
 */
export function matchPlatformTcbLevel(info: TcbInfo, pck: PckExtensions, td: TdReportBody | null): TcbLevel {
  const pckTcb = `cpusvn components ${pck.cpuSvnComponents.join(',')} pcesvn ${pck.pceSvn}`;
  const sgxMatches = info.tcbLevels.filter(
    (l) => allAtLeast(pck.cpuSvnComponents, l.sgxComponents) && pck.pceSvn >= l.pceSvn,
  );
  if (sgxMatches.length === 0) {
    notFound(
      'tcb-level',
      `no TCB level of the TCB Info (FMSPC ${info.fmspc}) matches the platform's ${pckTcb}: the platform TCB is older than any level Intel lists (not supported)`,
      pckTcb,
      `a level <= ${pckTcb}`,
    );
  }
  if (info.id !== 'TDX' || td === null) return sgxMatches[0]!;
  const teeTcbSvn = td.teeTcbSvn;
  const from = teeTcbSvn[1]! > 0 ? 2 : 0;
  const level = sgxMatches.find(
    (l) => l.tdxComponents !== null && allAtLeast(teeTcbSvn, l.tdxComponents, from),
  );
  if (!level) {
    const svn = teeTcbSvn.toString('hex');
    notFound(
      'tcb-level',
      `no TDX TCB level of the TCB Info (FMSPC ${info.fmspc}) matches TEE_TCB_SVN ${svn} with the platform's ${pckTcb}`,
      svn,
      'a level <= TEE_TCB_SVN',
    );
  }
  return level;
}

function moduleMismatch(message: string, value: string, expected: string): never {
  throw new TeeError('ERR_TDX_MODULE_IDENTITY', message, { check: 'tdx-module-identity', value, expected });
}

function sameUnderMask(value: Buffer, expected: Buffer, mask: Buffer): boolean {
  for (let i = 0; i < expected.length; i++)
    if (((value[i] ?? 0) & mask[i]!) !== (expected[i]! & mask[i]!)) return false;
  return true;
}

/**
 * Checks the TDX module (Intel QVL 4.1.2.4.11 and TdxModuleCheck): MRSIGNERSEAM and SEAMATTRIBUTES
 * against `tdxModule`, or against the `tdxModuleIdentities` entry `TDX_<major version>` when the
 * major version (TEE_TCB_SVN[1]) is not 0, whose TCB level is then selected by the module ISVSVN
 * (TEE_TCB_SVN[0]). Returns that module TCB level, or null for major version 0.
 */
export function checkTdxModule(info: TcbInfo, quote: DcapQuote, td: TdReportBody): IsvSvnTcbLevel | null {
  const major = td.teeTcbSvn[1]!;
  const isvSvn = td.teeTcbSvn[0]!;
  const wantedId = `TDX_${major.toString(16).padStart(2, '0').toUpperCase()}`;
  let expected: TdxModule | null = info.tdxModule;
  let identity = null;
  if (quote.version > 3 && major > 0) {
    identity = info.tdxModuleIdentities.find((m) => m.id === wantedId) ?? null;
    if (!identity) {
      const known = info.tdxModuleIdentities.map((m) => m.id).join(', ') || 'none';
      moduleMismatch(
        `the TCB Info lists no TDX module identity ${wantedId} (TDX module major version ${major}); it lists: ${known}`,
        wantedId,
        known,
      );
    }
    expected = identity;
  }
  if (!expected) moduleMismatch('the TDX TCB Info has no tdxModule', 'none', 'tdxModule');
  if (!td.mrSignerSeam.equals(expected.mrSigner)) {
    moduleMismatch(
      'the TD report MRSIGNERSEAM differs from the TCB Info TDX module signer',
      td.mrSignerSeam.toString('hex'),
      expected.mrSigner.toString('hex'),
    );
  }
  if (!sameUnderMask(td.seamAttributes, expected.attributes, expected.attributesMask)) {
    moduleMismatch(
      'the TD report SEAMATTRIBUTES differ from the TCB Info TDX module attributes',
      td.seamAttributes.toString('hex'),
      expected.attributes.toString('hex'),
    );
  }
  if (!identity) return null;
  const level = identity.tcbLevels.find((l) => isvSvn >= l.isvSvn);
  if (!level) {
    notFound(
      'tdx-module-tcb-level',
      `no TCB level of TDX module identity ${wantedId} matches the module ISVSVN ${isvSvn}`,
      String(isvSvn),
      `>= ${identity.tcbLevels.map((l) => l.isvSvn).join('|')}`,
    );
  }
  return level;
}

/** Selects the QE TCB level by the QE report's ISVSVN (first level whose isvsvn ≤ it). */
export function matchQeTcbLevel(identity: QeIdentity, isvSvn: number): IsvSvnTcbLevel {
  const level = identity.tcbLevels.find((l) => isvSvn >= l.isvSvn);
  if (!level) {
    notFound(
      'qe-tcb-level',
      `no TCB level of the QE Identity matches the QE ISVSVN ${isvSvn}: the QE is older than any level Intel lists`,
      String(isvSvn),
      `>= ${identity.tcbLevels.map((l) => l.isvSvn).join('|')}`,
    );
  }
  return level;
}

/**
 * Combines a platform status with the status of another component (QE or TDX module), as Intel's
 * QVL `convergeTcbStatusWith…`: an out-of-date component makes an up-to-date or hardening-needed
 * platform `OutOfDate`, a configuration-needed one `OutOfDateConfigurationNeeded`; a revoked component
 * makes it `Revoked`; any other component status leaves the platform status unchanged.
 */
export function convergeTcbStatus(
  platform: TcbLevelStatus,
  component: TcbLevelStatus | null,
): TcbLevelStatus {
  if (component === 'Revoked') return 'Revoked';
  if (component === null || component === 'UpToDate') return platform;
  if (component === 'OutOfDate' || component === 'OutOfDateConfigurationNeeded') {
    if (platform === 'UpToDate' || platform === 'SWHardeningNeeded') return 'OutOfDate';
    if (platform === 'ConfigurationNeeded' || platform === 'ConfigurationAndSWHardeningNeeded')
      return 'OutOfDateConfigurationNeeded';
  }
  return platform;
}

/** The final TCB status and the union of advisories (sorted, de-duplicated). */
export function finalTcbVerdict(
  platform: TcbLevel,
  module: IsvSvnTcbLevel | null,
  qe: IsvSvnTcbLevel,
): { tcbStatus: TcbStatus; advisories: string[] } {
  // Intel's order: TDX module first, then the QE.
  const status = convergeTcbStatus(
    convergeTcbStatus(platform.status, module?.status ?? null),
    qeComponentStatus(qe.status),
  );
  const advisories = [
    ...new Set([...platform.advisories, ...(module?.advisories ?? []), ...qe.advisories]),
  ].sort();
  return { tcbStatus: status, advisories };
}

/** Intel treats every QE level status other than UpToDate and Revoked as OutOfDate. */
function qeComponentStatus(status: TcbLevelStatus): TcbLevelStatus {
  return status === 'UpToDate' || status === 'Revoked' ? status : 'OutOfDate';
}
