import { TeeError } from './errors.ts';

/** One DER element: tag, its content bytes, and the whole encoding (header + content). */
export interface DerNode {
  readonly tag: number;
  /** Content bytes (a view, no copy). */
  readonly content: Buffer;
  /** Header and content (a view), e.g. for hashing a TBSCertList. */
  readonly raw: Buffer;
}

/** DER tags used by the parsers of this context. */
export const DER = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
} as const;

const MAX_DEPTH = 32;

function fail(what: string, message: string): never {
  throw new TeeError('ERR_COLLATERAL_MALFORMED', `${what}: ${message}`, { check: 'der-parse' });
}

/**
 * Reads the DER element at `offset` of `buf`. Definite lengths only (DER); every length is
 * checked against the buffer, so hostile input gives a TeeError, never a RangeError.
 */
export function readDer(buf: Buffer, offset = 0, what = 'DER'): DerNode {
  if (offset + 2 > buf.length) fail(what, `truncated at offset ${offset}`);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) fail(what, `multi-byte tags are not supported (offset ${offset})`);
  let len = buf[offset + 1]!;
  let header = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) fail(what, `unsupported length encoding at offset ${offset}`);
    if (offset + 2 + n > buf.length) fail(what, `truncated length at offset ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[offset + 2 + i]!;
    header += n;
  }
  const end = offset + header + len;
  if (end > buf.length)
    fail(
      what,
      `element at offset ${offset} claims ${len} bytes, only ${buf.length - offset - header} remain`,
    );
  return { tag, content: buf.subarray(offset + header, end), raw: buf.subarray(offset, end) };
}

/** The children of a constructed element (SEQUENCE, SET, context tags). */
export function derChildren(node: DerNode, what = 'DER', depth = 0): DerNode[] {
  if (depth > MAX_DEPTH) fail(what, 'nesting too deep');
  const out: DerNode[] = [];
  let pos = 0;
  while (pos < node.content.length) {
    const child = readDer(node.content, pos, what);
    out.push(child);
    pos += child.raw.length;
  }
  return out;
}

/** Parses a whole buffer as one DER element; trailing bytes are an error. */
export function parseDer(buf: Uint8Array, what = 'DER'): DerNode {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const node = readDer(b, 0, what);
  if (node.raw.length !== b.length) fail(what, `${b.length - node.raw.length} trailing bytes`);
  return node;
}

/** Asserts the tag of a node and returns it. */
export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) fail(what, `missing element (expected tag 0x${tag.toString(16)})`);
  if (node.tag !== tag) fail(what, `expected tag 0x${tag.toString(16)}, found 0x${node.tag.toString(16)}`);
  return node;
}

/** Dotted-decimal text of an OBJECT IDENTIFIER's content. */
export function decodeOid(content: Buffer): string {
  if (content.length === 0) return '';
  const first = content[0]!;
  const parts: number[] = [
    Math.min(2, Math.floor(first / 40)),
    first - Math.min(2, Math.floor(first / 40)) * 40,
  ];
  let value = 0;
  for (let i = 1; i < content.length; i++) {
    const b = content[i]!;
    value = value * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/** Unsigned big-endian integer content as a bigint. */
export function decodeInteger(content: Buffer): bigint {
  if (content.length === 0) return 0n;
  return BigInt(`0x${content.toString('hex')}`);
}

/** UTCTime or GeneralizedTime (Z form, as DER requires) as a Date. */
export function decodeTime(node: DerNode, what = 'time'): Date {
  const s = node.content.toString('latin1');
  const utc = node.tag === DER.UTC_TIME ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s) : null;
  if (utc) {
    const yy = Number(utc[1]);
    return new Date(
      Date.UTC(yy >= 50 ? 1900 + yy : 2000 + yy, Number(utc[2]) - 1, +utc[3]!, +utc[4]!, +utc[5]!, +utc[6]!),
    );
  }
  const gen = node.tag === DER.GENERALIZED_TIME ? /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s) : null;
  if (gen) return new Date(Date.UTC(+gen[1]!, Number(gen[2]) - 1, +gen[3]!, +gen[4]!, +gen[5]!, +gen[6]!));
  return fail(what, `unsupported time encoding ${JSON.stringify(s)}`);
}
