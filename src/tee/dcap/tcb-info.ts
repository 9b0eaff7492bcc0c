import { TCB_STATUSES, type TcbStatus } from '../types.ts';
import {
  asAdvisories,
  asArray,
  asDate,
  asHex,
  asInt,
  asObject,
  asString,
  type JsonObject,
  malformedField,
  parseJsonObject,
} from './json-fields.ts';

/** The statuses a TCB level of Intel's TCB Info / QE Identity may carry. */
export type TcbLevelStatus = Exclude<TcbStatus, 'Unknown'>;

const LEVEL_STATUSES: readonly string[] = TCB_STATUSES.filter((s) => s !== 'Unknown');

/** Reads a TCB level status; an unrecognized one is malformed collateral (Intel: UNRECOGNIZED_STATUS). */
export function asTcbLevelStatus(value: unknown, path: string): TcbLevelStatus {
  const s = asString(value, path);
  if (!LEVEL_STATUSES.includes(s))
    malformedField(path, `unrecognized TCB status (known: ${LEVEL_STATUSES.join(', ')})`, value);
  return s as TcbLevelStatus;
}

/** One platform TCB level of a TCB Info. */
export interface TcbLevel {
  /** SGX TCB components 1..16. */
  readonly sgxComponents: readonly number[];
  readonly pceSvn: number;
  /** TDX TCB components 1..16 (TDX TCB Info v3 only). */
  readonly tdxComponents: readonly number[] | null;
  readonly tcbDate: string;
  readonly status: TcbLevelStatus;
  readonly advisories: readonly string[];
}

/** A TCB level of a TDX module identity (matched by the module's ISVSVN). */
export interface IsvSvnTcbLevel {
  readonly isvSvn: number;
  readonly status: TcbLevelStatus;
  readonly advisories: readonly string[];
}

/** Expected TDX module signer and attributes. */
export interface TdxModule {
  readonly mrSigner: Buffer;
  readonly attributes: Buffer;
  readonly attributesMask: Buffer;
}

/** An entry of `tdxModuleIdentities` (`TDX_01`, `TDX_03`, …). */
export interface TdxModuleIdentity extends TdxModule {
  readonly id: string;
  readonly tcbLevels: readonly IsvSvnTcbLevel[];
}

/** Intel TCB Info (v2 SGX, v3 SGX or TDX), parsed and validated. */
export interface TcbInfo {
  readonly id: 'SGX' | 'TDX';
  readonly version: 2 | 3;
  readonly issueDate: Date;
  readonly nextUpdate: Date;
  /** Lower-case hex. */
  readonly fmspc: string;
  readonly pceId: string;
  readonly tcbEvaluationDataNumber: number | null;
  readonly tcbLevels: readonly TcbLevel[];
  readonly tdxModule: TdxModule | null;
  readonly tdxModuleIdentities: readonly TdxModuleIdentity[];
}

function components(value: unknown, path: string): number[] {
  const list = asArray(value, path);
  if (list.length !== 16) malformedField(path, `expected 16 components, found ${list.length}`);
  return list.map((c, i) => asInt(asObject(c, `${path}[${i}]`).svn, `${path}[${i}].svn`, 255));
}

function v2Components(tcb: JsonObject, path: string): number[] {
  const out: number[] = [];
  for (let i = 1; i <= 16; i++) {
    const key = `sgxtcbcomp${String(i).padStart(2, '0')}svn`;
    out.push(asInt(tcb[key], `${path}.${key}`, 255));
  }
  return out;
}

function parseLevel(value: unknown, path: string, version: 2 | 3, tdx: boolean): TcbLevel {
  const level = asObject(value, path);
  const tcb = asObject(level.tcb, `${path}.tcb`);
  return {
    sgxComponents:
      version === 2
        ? v2Components(tcb, `${path}.tcb`)
        : components(tcb.sgxtcbcomponents, `${path}.tcb.sgxtcbcomponents`),
    pceSvn: asInt(tcb.pcesvn, `${path}.tcb.pcesvn`),
    tdxComponents: tdx ? components(tcb.tdxtcbcomponents, `${path}.tcb.tdxtcbcomponents`) : null,
    tcbDate: asString(level.tcbDate, `${path}.tcbDate`),
    status: asTcbLevelStatus(level.tcbStatus, `${path}.tcbStatus`),
    advisories: asAdvisories(level.advisoryIDs, `${path}.advisoryIDs`),
  };
}

function parseModule(value: unknown, path: string): TdxModule {
  const m = asObject(value, path);
  return {
    mrSigner: asHex(m.mrsigner, `${path}.mrsigner`, 48),
    attributes: asHex(m.attributes, `${path}.attributes`, 8),
    attributesMask: asHex(m.attributesMask, `${path}.attributesMask`, 8),
  };
}

/** Parses TCB levels matched by ISVSVN (QE Identity, TDX module identities). */
export function parseIsvSvnLevels(value: unknown, path: string): IsvSvnTcbLevel[] {
  return asArray(value, path).map((v, i) => {
    const level = asObject(v, `${path}[${i}]`);
    return {
      isvSvn: asInt(asObject(level.tcb, `${path}[${i}].tcb`).isvsvn, `${path}[${i}].tcb.isvsvn`),
      status: asTcbLevelStatus(level.tcbStatus, `${path}[${i}].tcbStatus`),
      advisories: asAdvisories(level.advisoryIDs, `${path}[${i}].advisoryIDs`),
    };
  });
}

function parseModuleIdentities(value: unknown, path: string): TdxModuleIdentity[] {
  if (value === undefined) return [];
  return asArray(value, path).map((v, i) => {
    const p = `${path}[${i}]`;
    const m = asObject(v, p);
    return {
      id: asString(m.id, `${p}.id`).toUpperCase(),
      ...parseModule(m, p),
      tcbLevels: parseIsvSvnLevels(m.tcbLevels, `${p}.tcbLevels`),
    };
  });
}

/**
 * Parses the exact `tcbInfo` text (the signed object). Every field used by verification is
 * checked; anything else is `ERR_COLLATERAL_MALFORMED`.
 */
export function parseTcbInfo(text: string): TcbInfo {
  const o = parseJsonObject(text, 'TCB Info');
  const version = asInt(o.version, 'tcbInfo.version');
  if (version !== 2 && version !== 3)
    malformedField('tcbInfo.version', 'only TCB Info versions 2 and 3 are supported', version);
  const id = version === 2 ? 'SGX' : asString(o.id, 'tcbInfo.id');
  if (id !== 'SGX' && id !== 'TDX') malformedField('tcbInfo.id', 'expected "SGX" or "TDX"', id);
  const tdx = id === 'TDX';
  const levels = asArray(o.tcbLevels, 'tcbInfo.tcbLevels');
  if (levels.length === 0) malformedField('tcbInfo.tcbLevels', 'no TCB levels');
  return {
    id,
    version,
    issueDate: asDate(o.issueDate, 'tcbInfo.issueDate'),
    nextUpdate: asDate(o.nextUpdate, 'tcbInfo.nextUpdate'),
    fmspc: asHex(o.fmspc, 'tcbInfo.fmspc', 6).toString('hex'),
    pceId: asHex(o.pceId, 'tcbInfo.pceId', 2).toString('hex'),
    tcbEvaluationDataNumber:
      o.tcbEvaluationDataNumber === undefined
        ? null
        : asInt(o.tcbEvaluationDataNumber, 'tcbInfo.tcbEvaluationDataNumber', 2 ** 31),
    tcbLevels: levels.map((l, i) => parseLevel(l, `tcbInfo.tcbLevels[${i}]`, version, tdx)),
    tdxModule: tdx ? parseModule(o.tdxModule, 'tcbInfo.tdxModule') : null,
    tdxModuleIdentities: tdx
      ? parseModuleIdentities(o.tdxModuleIdentities, 'tcbInfo.tdxModuleIdentities')
      : [],
  };
}
