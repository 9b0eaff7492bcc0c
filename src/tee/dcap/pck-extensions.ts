import { DER, type DerNode, decodeInteger, decodeOid, derChildren, expectTag, parseDer } from '../der.ts';
import { TeeError } from '../errors.ts';
import type { CertInfo } from '../pki.ts';

/** The Intel SGX extension of PCK certificates. */
export const SGX_EXTENSION_OID = '1.2.840.113741.1.13.1';

/** What the SGX extension of a PCK certificate says about the platform. */
export interface PckExtensions {
  /** Platform Provisioning ID, hex (16 bytes). */
  readonly ppid: string;
  /** TCB components cpusvn 1..16 (index 0 is component 1). */
  readonly cpuSvnComponents: readonly number[];
  readonly pceSvn: number;
  /** CPUSVN as raw bytes, hex (16 bytes). */
  readonly cpuSvn: string;
  /** PCE-ID, hex (2 bytes). */
  readonly pceId: string;
  /** FMSPC, lower-case hex (6 bytes). */
  readonly fmspc: string;
  /** SGX type: 0 Standard, 1 Scalable, 2 Scalable with integrity. */
  readonly sgxType: number;
}

function fail(message: string, value?: string): never {
  throw new TeeError('ERR_CERT_EXTENSION', `PCK certificate SGX extension: ${message}`, {
    check: 'pck-extension',
    ...(value !== undefined ? { value } : {}),
  });
}

function octets(node: DerNode | undefined, size: number, field: string): Buffer {
  const n = expectTag(node, DER.OCTET_STRING, field);
  if (n.content.length !== size)
    fail(`${field} has ${n.content.length} bytes, expected ${size}`, n.content.toString('hex'));
  return n.content;
}

function smallInt(node: DerNode | undefined, tag: number, field: string, max: number): number {
  const n = expectTag(node, tag, field);
  const v = decodeInteger(n.content);
  if (n.content.length === 0 || n.content.length > 3 || v > BigInt(max))
    fail(`${field} is out of range`, n.content.toString('hex'));
  return Number(v);
}

/** Splits a SEQUENCE OF SEQUENCE { OID, value } into a map keyed by the OID's last arc. */
function members(node: DerNode, prefix: string, what: string): Map<number, DerNode> {
  const out = new Map<number, DerNode>();
  for (const item of derChildren(expectTag(node, DER.SEQUENCE, what))) {
    const [oid, value] = derChildren(expectTag(item, DER.SEQUENCE, what));
    const id = decodeOid(expectTag(oid, DER.OID, `${what} id`).content);
    if (!id.startsWith(`${prefix}.`) || !value) continue;
    const arc = Number(id.slice(prefix.length + 1));
    if (out.has(arc)) fail(`${what} repeats ${id}`);
    out.set(arc, value);
  }
  return out;
}

function parseTcb(node: DerNode): { components: number[]; pceSvn: number; cpuSvn: string } {
  const prefix = `${SGX_EXTENSION_OID}.2`;
  const m = members(node, prefix, 'TCB');
  const components: number[] = [];
  for (let i = 1; i <= 16; i++) components.push(smallInt(m.get(i), DER.INTEGER, `TCB component ${i}`, 255));
  return {
    components,
    pceSvn: smallInt(m.get(17), DER.INTEGER, 'PCESVN', 65535),
    cpuSvn: octets(m.get(18), 16, 'CPUSVN').toString('hex'),
  };
}

function parseValue(der: Buffer): PckExtensions {
  const m = members(parseDer(der, 'SGX extension'), SGX_EXTENSION_OID, 'SGX extension');
  const tcbNode = m.get(2);
  if (!tcbNode) fail('the TCB member is missing');
  const tcb = parseTcb(tcbNode);
  return {
    ppid: octets(m.get(1), 16, 'PPID').toString('hex'),
    cpuSvnComponents: tcb.components,
    pceSvn: tcb.pceSvn,
    cpuSvn: tcb.cpuSvn,
    pceId: octets(m.get(3), 2, 'PCE-ID').toString('hex'),
    fmspc: octets(m.get(4), 6, 'FMSPC').toString('hex'),
    sgxType: smallInt(m.get(5), DER.ENUMERATED, 'SGX type', 255),
  };
}

/** Parses the SGX extension of a PCK certificate; anything missing or malformed is `ERR_CERT_EXTENSION`. */
export function parsePckExtensions(cert: CertInfo): PckExtensions {
  const value = cert.extensions.get(SGX_EXTENSION_OID);
  if (!value)
    fail(
      `certificate "${cert.subjectCn ?? '?'}" has no extension ${SGX_EXTENSION_OID}; is it a PCK certificate?`,
    );
  try {
    return parseValue(value);
  } catch (err) {
    if (err instanceof TeeError && err.code !== 'ERR_CERT_EXTENSION') fail(err.message);
    throw err;
  }
}
