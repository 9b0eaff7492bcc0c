import type { CheckRunner, TcbVerdict } from '../appraisal.ts';
import { TeeError } from '../errors.ts';
import { assertNotRevoked, type ParsedCrl } from '../pki.ts';
import type { DcapCollateral } from '../types.ts';
import type { CollateralVerifier, SignedJson, Verified } from './collateral-verifier.ts';
import type { PckExtensions } from './pck-extensions.ts';
import { assertQeMatchesIdentity, type QeIdentity } from './qe-identity.ts';
import type { DcapQuote, SgxReportBody } from './quote.ts';
import type { IsvSvnTcbLevel, TcbInfo, TcbLevel } from './tcb-info.ts';
import { checkTdxModule, finalTcbVerdict, matchPlatformTcbLevel, matchQeTcbLevel } from './tcb-level.ts';

/** The state the TCB checks need from the earlier (authenticity) checks. */
export interface TcbCheckInput {
  readonly runner: CheckRunner;
  readonly quote: DcapQuote;
  /** The QE report body (signature and binding already verified). */
  readonly qe: SgxReportBody;
  readonly pck: PckExtensions;
  readonly at: Date;
  readonly dcap: DcapCollateral | undefined;
  readonly cv: CollateralVerifier;
  readonly rootCrl: ParsedCrl | null;
}

const UNKNOWN: TcbVerdict = { tcbStatus: 'Unknown', advisories: [] };

type DocKind = 'tcbInfo' | 'qeIdentity';

/** The parts of a signed document that were supplied, or null when none was. */
function suppliedDoc(dcap: DcapCollateral | undefined, kind: DocKind): Partial<SignedJson> | null {
  const text = dcap?.[kind];
  const signature = dcap?.[`${kind}Signature`];
  const issuerChain = dcap?.[`${kind}IssuerChain`];
  if (text === undefined && signature === undefined) return null;
  return {
    ...(text !== undefined ? { text } : {}),
    ...(signature ? { signature } : {}),
    ...(issuerChain !== undefined ? { issuerChain } : {}),
  };
}

/** Throws `ERR_COLLATERAL_MISSING` when only some parts of a signed document were supplied. */
function completeDoc(doc: Partial<SignedJson>, kind: DocKind): SignedJson {
  const { text, signature, issuerChain } = doc;
  if (text !== undefined && signature !== undefined && issuerChain !== undefined)
    return { text, signature, issuerChain };
  const missing = [
    text === undefined && kind,
    signature === undefined && `${kind}Signature`,
    issuerChain === undefined && `${kind}IssuerChain`,
  ];
  const list = missing.filter(Boolean).join(', ');
  throw new TeeError(
    'ERR_COLLATERAL_MISSING',
    `${kind} collateral is incomplete (${list} missing); supply the document, its signature and its issuer chain`,
    {
      check: kind === 'tcbInfo' ? 'tcb-info' : 'qe-identity',
      value: list,
    },
  );
}

function mismatch(check: string, message: string, value: string, expected: string): never {
  throw new TeeError('ERR_COLLATERAL_MISMATCH', message, { check, value, expected });
}

function assertTcbInfoMatches(info: TcbInfo, quote: DcapQuote, pck: PckExtensions): void {
  const wantId = quote.td ? 'TDX' : 'SGX';
  if (info.id !== wantId) {
    mismatch(
      'tcb-info-match',
      `the TCB Info is for ${info.id} (v${info.version}) but the quote is an ${wantId} quote; supply the ${wantId} TCB Info for FMSPC ${pck.fmspc}`,
      info.id,
      wantId,
    );
  }
  if (info.fmspc !== pck.fmspc) {
    mismatch(
      'tcb-info-match',
      `the TCB Info is for FMSPC ${info.fmspc} but the PCK certificate says ${pck.fmspc}; supply the TCB Info of this platform`,
      info.fmspc,
      pck.fmspc,
    );
  }
  if (info.pceId !== pck.pceId) {
    mismatch(
      'tcb-info-match',
      `the TCB Info is for PCE-ID ${info.pceId} but the PCK certificate says ${pck.pceId}`,
      info.pceId,
      pck.pceId,
    );
  }
}

function assertQeIdentityFor(identity: QeIdentity, quote: DcapQuote): void {
  const want = quote.td ? 'TD_QE' : 'QE';
  if (identity.id !== want) {
    mismatch(
      'qe-identity-match',
      `the QE Identity is for ${identity.id} but an ${quote.td ? 'TDX' : 'SGX'} quote needs the ${want} identity`,
      identity.id,
      want,
    );
  }
}

function verifiedDoc<T>(input: TcbCheckInput, check: string, verify: () => Verified<T>): T | undefined {
  return input.runner.run(check, () => {
    const doc = verify();
    if (input.rootCrl) assertNotRevoked(doc.signer, input.rootCrl, `${check}-issuer-chain`);
    return doc.value;
  });
}

const NO_COLLATERAL =
  'the TCB cannot be judged without it, so the TCB status is Unknown; supply TCB collateral (--collateral: Intel PCS tcbInfo and enclaveIdentity bodies with their issuer chains, or a dcap-qvl collateral JSON)';

function tcbInfoStep(input: TcbCheckInput): TcbInfo | undefined {
  const r = input.runner;
  const doc = suppliedDoc(input.dcap, 'tcbInfo');
  if (doc === null) {
    r.skip('tcb-info', `no TCB Info supplied: ${NO_COLLATERAL}`);
    return undefined;
  }
  const info = verifiedDoc(input, 'tcb-info', () => input.cv.tcbInfo(completeDoc(doc, 'tcbInfo'), input.at));
  r.run('tcb-info-match', () => assertTcbInfoMatches(info!, input.quote, input.pck));
  return info;
}

function qeIdentityStep(input: TcbCheckInput): IsvSvnTcbLevel | undefined {
  const r = input.runner;
  const doc = suppliedDoc(input.dcap, 'qeIdentity');
  if (doc === null) {
    r.skip('qe-identity', `no QE Identity supplied: ${NO_COLLATERAL}`);
    return undefined;
  }
  const identity = verifiedDoc(input, 'qe-identity', () =>
    input.cv.qeIdentity(completeDoc(doc, 'qeIdentity'), input.at),
  );
  r.run('qe-identity-match', () => {
    assertQeIdentityFor(identity!, input.quote);
    assertQeMatchesIdentity(input.qe, identity!);
  });
  return r.run('qe-tcb-level', () => matchQeTcbLevel(identity!, input.qe.isvSvn));
}

/**
 * Runs the collateral checks (TCB Info, QE Identity, TDX module, TCB level) and returns the final
 * TCB verdict. Without TCB Info or QE Identity the checks are recorded as skipped and the status is
 * `Unknown`: the quote may be genuine, but its TCB cannot be judged.
 */
export function checkTcbCollateral(input: TcbCheckInput): TcbVerdict {
  const r = input.runner;
  const info = tcbInfoStep(input);
  const qeLevel = qeIdentityStep(input);
  const td = input.quote.td;
  let module: IsvSvnTcbLevel | null | undefined = null;
  if (info && td) module = r.run('tdx-module-identity', () => checkTdxModule(info, input.quote, td));
  let platform: TcbLevel | undefined;
  if (info) platform = r.run('tcb-level', () => matchPlatformTcbLevel(info, input.pck, td));
  if (!r.ok || !platform || !qeLevel || module === undefined) return UNKNOWN;
  return finalTcbVerdict(platform, module, qeLevel);
}
