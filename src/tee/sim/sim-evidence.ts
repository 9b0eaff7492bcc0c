/**
 * The `sim-v1` evidence format of the SIMULATION backend. It PROTECTS NOTHING: the "platform" is a
 * key pair in a file on the same machine, so anyone who can read that file (or run the sim backend
 * with any measurement they like) can produce evidence for any measurement. It exists so that the
 * whole attestation flow can be developed and tested on machines without a TEE.
 *
 * Layout (240 bytes, integers little-endian):
 *
 * | offset | size | field                                                        |
 * |-------:|-----:|--------------------------------------------------------------|
 * |      0 |    8 | magic `SCSIMEV1`                                             |
 * |      8 |    2 | version, `1`                                                 |
 * |     10 |   32 | measurement (see `measureService`)                           |
 * |     42 |   32 | signer (32 zero bytes when none was configured)              |
 * |     74 |    2 | product id                                                   |
 * |     76 |    2 | svn                                                          |
 * |     78 |    2 | flags: bit 0 = debug; every other bit must be zero           |
 * |     80 |   64 | report data                                                  |
 * |    144 |   32 | platform public key (raw Ed25519)                            |
 * |    176 |   64 | Ed25519 signature by the platform key                        |
 *
 * The signature covers {@link SIM_SIGNATURE_DOMAIN} (ASCII, ending in a NUL byte) followed by bytes
 * 0–175, so that a sim platform key cannot be used to forge any other signed securecloud object.
 */
import { createHash } from 'node:crypto';
import { ByteReader, toHex } from '../bytes.ts';
import { TeeError } from '../errors.ts';

export const SIM_EVIDENCE_MAGIC = 'SCSIMEV1';
export const SIM_EVIDENCE_VERSION = 1;
/** Total size of `sim-v1` evidence. */
export const SIM_EVIDENCE_SIZE = 240;
/** Size of the signed part. */
export const SIM_SIGNED_SIZE = 176;
/** Domain-separation prefix of the signed message. */
export const SIM_SIGNATURE_DOMAIN = 'securecloud-sim-evidence-v1\0';
/** Flags bit: the evidence claims a debug configuration. */
export const SIM_FLAG_DEBUG = 0x0001;

const MAGIC = Buffer.from(SIM_EVIDENCE_MAGIC, 'latin1');

/** The fields of `sim-v1` evidence. */
export interface SimEvidenceFields {
  readonly measurement: Uint8Array;
  readonly signer: Uint8Array;
  readonly productId: number;
  readonly svn: number;
  readonly debug: boolean;
  readonly reportData: Uint8Array;
  readonly platformKey: Uint8Array;
}

/** Parsed `sim-v1` evidence: its fields, the signed bytes and the signature. */
export interface ParsedSimEvidence extends SimEvidenceFields {
  readonly signed: Uint8Array;
  readonly signature: Uint8Array;
}

/** True when `evidence` starts with the `sim-v1` magic. */
export function isSimEvidence(evidence: Uint8Array): boolean {
  return evidence.length >= MAGIC.length && MAGIC.equals(evidence.subarray(0, MAGIC.length));
}

/** Encodes the signed part (bytes 0–175) of `sim-v1` evidence. */
export function encodeSimEvidenceBody(fields: SimEvidenceFields): Buffer {
  const out = Buffer.alloc(SIM_SIGNED_SIZE);
  MAGIC.copy(out, 0);
  out.writeUInt16LE(SIM_EVIDENCE_VERSION, 8);
  Buffer.from(fields.measurement).copy(out, 10);
  Buffer.from(fields.signer).copy(out, 42);
  out.writeUInt16LE(fields.productId, 74);
  out.writeUInt16LE(fields.svn, 76);
  out.writeUInt16LE(fields.debug ? SIM_FLAG_DEBUG : 0, 78);
  Buffer.from(fields.reportData).copy(out, 80);
  Buffer.from(fields.platformKey).copy(out, 144);
  return out;
}

/** The message the platform key signs: the domain prefix followed by the signed part. */
export function simSigningInput(signed: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(SIM_SIGNATURE_DOMAIN, 'latin1'), signed]);
}

/** Parses `sim-v1` evidence without verifying it. Throws a TeeError (`ERR_EVIDENCE_*`) on malformed input. */
export function parseSimEvidence(evidence: Uint8Array): ParsedSimEvidence {
  if (!(evidence instanceof Uint8Array)) throw new TypeError('evidence must be a Uint8Array');
  const r = new ByteReader(evidence, 'sim evidence');
  const magic = r.bytes(8, 'magic');
  if (!magic.equals(MAGIC)) {
    throw new TeeError('ERR_EVIDENCE_FORMAT', 'not sim evidence: the magic is not SCSIMEV1', {
      check: 'parse',
      value: magic.toString('hex'),
      expected: MAGIC.toString('hex'),
    });
  }
  const version = r.u16('version');
  if (version !== SIM_EVIDENCE_VERSION) {
    throw new TeeError('ERR_EVIDENCE_FORMAT', `sim evidence version ${version} is not supported`, {
      check: 'parse',
      value: String(version),
      expected: String(SIM_EVIDENCE_VERSION),
    });
  }
  const measurement = r.bytes(32, 'measurement');
  const signer = r.bytes(32, 'signer');
  const productId = r.u16('productId');
  const svn = r.u16('svn');
  const flags = r.u16('flags');
  const reportData = r.bytes(64, 'reportData');
  const platformKey = r.bytes(32, 'platformKey');
  const signature = r.bytes(64, 'signature');
  if ((flags & ~SIM_FLAG_DEBUG) !== 0) {
    throw new TeeError(
      'ERR_EVIDENCE_MALFORMED',
      `sim evidence has unknown flag bits set (0x${flags.toString(16)})`,
      {
        check: 'parse',
        value: `0x${flags.toString(16)}`,
        expected: '0x0 or 0x1',
      },
    );
  }
  if (r.remaining !== 0) {
    throw new TeeError('ERR_EVIDENCE_MALFORMED', `sim evidence has ${r.remaining} trailing bytes`, {
      check: 'parse',
      value: String(evidence.length),
      expected: String(SIM_EVIDENCE_SIZE),
    });
  }
  const signed = evidence.subarray(0, SIM_SIGNED_SIZE);
  const debug = (flags & SIM_FLAG_DEBUG) !== 0;
  return { measurement, signer, productId, svn, debug, reportData, platformKey, signed, signature };
}

/** The fingerprint of a raw sim platform public key: `sha256:` and the hex SHA-256 of the 32 bytes. */
export function simKeyFingerprint(rawPublicKey: Uint8Array): string {
  return `sha256:${toHex(createHash('sha256').update(rawPublicKey).digest())}`;
}
