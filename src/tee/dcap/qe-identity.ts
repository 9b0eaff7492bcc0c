import { TeeError } from '../errors.ts';
import { asDate, asHex, asInt, asString, malformedField, parseJsonObject } from './json-fields.ts';
import type { SgxReportBody } from './quote.ts';
import { type IsvSvnTcbLevel, parseIsvSvnLevels } from './tcb-info.ts';

/** Intel Enclave Identity (QE Identity) v2, parsed and validated. */
export interface QeIdentity {
  /** `QE` (SGX), `TD_QE` (TDX) or `QVE`. */
  readonly id: string;
  readonly version: 2;
  readonly issueDate: Date;
  readonly nextUpdate: Date;
  readonly tcbEvaluationDataNumber: number | null;
  readonly miscselect: Buffer;
  readonly miscselectMask: Buffer;
  readonly attributes: Buffer;
  readonly attributesMask: Buffer;
  readonly mrSigner: Buffer;
  readonly isvProdId: number;
  readonly tcbLevels: readonly IsvSvnTcbLevel[];
}

/** Parses the exact `enclaveIdentity` text (the signed object). Only version 2 is supported. */
export function parseQeIdentity(text: string): QeIdentity {
  const o = parseJsonObject(text, 'QE Identity');
  const version = asInt(o.version, 'enclaveIdentity.version');
  if (version !== 2)
    malformedField('enclaveIdentity.version', 'only Enclave Identity version 2 is supported', version);
  const id = asString(o.id, 'enclaveIdentity.id');
  if (!['QE', 'TD_QE', 'QVE'].includes(id))
    malformedField('enclaveIdentity.id', 'expected QE, TD_QE or QVE', id);
  const tcbLevels = parseIsvSvnLevels(o.tcbLevels, 'enclaveIdentity.tcbLevels');
  if (tcbLevels.length === 0) malformedField('enclaveIdentity.tcbLevels', 'no TCB levels');
  return {
    id,
    version: 2,
    issueDate: asDate(o.issueDate, 'enclaveIdentity.issueDate'),
    nextUpdate: asDate(o.nextUpdate, 'enclaveIdentity.nextUpdate'),
    tcbEvaluationDataNumber:
      o.tcbEvaluationDataNumber === undefined
        ? null
        : asInt(o.tcbEvaluationDataNumber, 'enclaveIdentity.tcbEvaluationDataNumber', 2 ** 31),
    miscselect: asHex(o.miscselect, 'enclaveIdentity.miscselect', 4),
    miscselectMask: asHex(o.miscselectMask, 'enclaveIdentity.miscselectMask', 4),
    attributes: asHex(o.attributes, 'enclaveIdentity.attributes', 16),
    attributesMask: asHex(o.attributesMask, 'enclaveIdentity.attributesMask', 16),
    mrSigner: asHex(o.mrsigner, 'enclaveIdentity.mrsigner', 32),
    isvProdId: asInt(o.isvprodid, 'enclaveIdentity.isvprodid'),
    tcbLevels,
  };
}

function masked(value: Buffer, mask: Buffer): Buffer {
  const out = Buffer.alloc(value.length);
  for (let i = 0; i < value.length; i++) out[i] = value[i]! & (mask[i] ?? 0);
  return out;
}

function mismatch(field: string, value: string, expected: string): never {
  throw new TeeError(
    'ERR_QE_IDENTITY_MISMATCH',
    `the QE report's ${field} ${value} does not match the QE Identity (${expected})`,
    {
      check: 'qe-identity-match',
      value,
      expected,
    },
  );
}

/**
 * Checks the QE report against the QE Identity (Intel QVL 4.1.2.9.5–8): MISCSELECT and ATTRIBUTES
 * under their masks, MRSIGNER and ISVPRODID. Throws `ERR_QE_IDENTITY_MISMATCH`.
 */
export function assertQeMatchesIdentity(qe: SgxReportBody, identity: QeIdentity): void {
  const misc = masked(qe.miscSelect, identity.miscselectMask);
  if (!misc.equals(identity.miscselect)) {
    mismatch('MISCSELECT (masked)', misc.toString('hex'), identity.miscselect.toString('hex'));
  }
  const attrs = masked(qe.attributes, identity.attributesMask);
  if (!attrs.equals(identity.attributes)) {
    mismatch('ATTRIBUTES (masked)', attrs.toString('hex'), identity.attributes.toString('hex'));
  }
  if (!qe.mrSigner.equals(identity.mrSigner))
    mismatch('MRSIGNER', qe.mrSigner.toString('hex'), identity.mrSigner.toString('hex'));
  if (qe.isvProdId !== identity.isvProdId)
    mismatch('ISVPRODID', String(qe.isvProdId), String(identity.isvProdId));
}
