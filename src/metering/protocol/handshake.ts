import { createHash, diffieHellman, hkdfSync, type KeyObject, sign, verify } from 'node:crypto';
import { mdcKeyId, rawPublicKey, x25519PublicFromRaw } from './keys.ts';
import { ACCEPT_LENGTH, checkMessage, FINISH_LENGTH, HELLO_LENGTH, writeMessageHead } from './wire.ts';

/** Domain-separation labels prefixed to what each signature covers. */
const LABEL = {
  hello: Buffer.from('securecloud/metering/v1/hello\0'),
  accept: Buffer.from('securecloud/metering/v1/accept\0'),
  finish: Buffer.from('securecloud/metering/v1/finish\0'),
  keys: Buffer.from('securecloud/metering/v1/session-keys'),
};

/** A parsed hello (meter → MDC). */
export interface Hello {
  readonly meterId: string;
  readonly mdcKeyId: Buffer;
  /** Meter clock, UTC ms: strictly increasing per meter (handshake replay guard). */
  readonly time: number;
  readonly ephemeral: KeyObject;
}

/** Builds and signs a hello: head (6) | mdcKeyId (8) | time (8, BE) | meter ephemeral X25519 (32) | Ed25519 sig (64). */
export function buildHello(o: {
  meterId: string;
  meterKey: KeyObject;
  mdcPublicKey: KeyObject;
  time: number;
  ephemeral: KeyObject;
}): Uint8Array {
  const out = Buffer.alloc(HELLO_LENGTH);
  writeMessageHead(out, 'hello', o.meterId);
  mdcKeyId(o.mdcPublicKey).copy(out, 6);
  out.writeBigUInt64BE(BigInt(o.time), 14);
  rawPublicKey(o.ephemeral).copy(out, 22);
  sign(null, Buffer.concat([LABEL.hello, out.subarray(0, 54)]), o.meterKey).copy(out, 54);
  return out;
}

/** Parses a hello (structure only: signature, key id and time are the MDC's checks). */
export function parseHello(bytes: Uint8Array): Hello {
  const meterId = checkMessage(bytes, 'hello');
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const time = b.readBigUInt64BE(14);
  return {
    meterId,
    mdcKeyId: Buffer.from(b.subarray(6, 14)),
    time: time > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(time),
    ephemeral: x25519PublicFromRaw(b.subarray(22, 54)),
  };
}

/** True when the hello's signature verifies with the meter's public key. */
export function verifyHello(hello: Uint8Array, meterPublicKey: KeyObject): boolean {
  const signed = Buffer.concat([LABEL.hello, hello.subarray(0, 54)]);
  return verify(null, signed, meterPublicKey, hello.subarray(54, HELLO_LENGTH));
}

/** Builds and signs an accept: head (6) | session id (8) | MDC ephemeral X25519 (32) | sig over hello ‖ accept[0..46) (64). */
export function buildAccept(o: {
  hello: Uint8Array;
  meterId: string;
  sessionId: Uint8Array;
  mdcKey: KeyObject;
  ephemeral: KeyObject;
}): Uint8Array {
  const out = Buffer.alloc(ACCEPT_LENGTH);
  writeMessageHead(out, 'accept', o.meterId);
  out.set(o.sessionId, 6);
  rawPublicKey(o.ephemeral).copy(out, 14);
  sign(null, Buffer.concat([LABEL.accept, o.hello, out.subarray(0, 46)]), o.mdcKey).copy(out, 46);
  return out;
}

/** Parses an accept: meter id, session id and the MDC's ephemeral key. */
export function parseAccept(bytes: Uint8Array): { meterId: string; sessionId: Buffer; ephemeral: KeyObject } {
  const meterId = checkMessage(bytes, 'accept');
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    meterId,
    sessionId: Buffer.from(b.subarray(6, 14)),
    ephemeral: x25519PublicFromRaw(b.subarray(14, 46)),
  };
}

/** True when the accept's signature (over hello ‖ accept) verifies with the MDC's public key. */
export function verifyAccept(hello: Uint8Array, accept: Uint8Array, mdcPublicKey: KeyObject): boolean {
  const signed = Buffer.concat([LABEL.accept, hello, accept.subarray(0, 46)]);
  return verify(null, signed, mdcPublicKey, accept.subarray(46, ACCEPT_LENGTH));
}

/** Builds and signs a finish: head (6) | session id (8) | meter sig over hello ‖ accept ‖ finish[0..14) (64). */
export function buildFinish(
  hello: Uint8Array,
  accept: Uint8Array,
  meterId: string,
  meterKey: KeyObject,
): Uint8Array {
  const out = Buffer.alloc(FINISH_LENGTH);
  writeMessageHead(out, 'finish', meterId);
  out.set(accept.subarray(6, 14), 6);
  sign(null, Buffer.concat([LABEL.finish, hello, accept, out.subarray(0, 14)]), meterKey).copy(out, 14);
  return out;
}

/** Parses a finish and verifies its signature over the whole transcript. */
export function parseFinish(bytes: Uint8Array): { meterId: string; sessionId: Buffer } {
  const meterId = checkMessage(bytes, 'finish');
  return { meterId, sessionId: Buffer.from(bytes.subarray(6, 14)) };
}

/** True when the finish's signature verifies with the meter's public key. */
export function verifyFinish(
  hello: Uint8Array,
  accept: Uint8Array,
  finish: Uint8Array,
  meterKey: KeyObject,
): boolean {
  const signed = Buffer.concat([LABEL.finish, hello, accept, finish.subarray(0, 14)]);
  return verify(null, signed, meterKey, finish.subarray(14, FINISH_LENGTH));
}

/** The session keys: HKDF-SHA256(X25519(e_meter, e_mdc), salt = SHA-256(hello ‖ accept), info = label). */
export function deriveSessionKeys(
  ownEphemeral: KeyObject,
  peerEphemeral: KeyObject,
  hello: Uint8Array,
  accept: Uint8Array,
): { up: Buffer; down: Buffer } {
  const shared = diffieHellman({ privateKey: ownEphemeral, publicKey: peerEphemeral });
  const salt = createHash('sha256').update(hello).update(accept).digest();
  const okm = Buffer.from(hkdfSync('sha256', shared, salt, LABEL.keys, 64));
  shared.fill(0);
  return { up: okm.subarray(0, 32), down: okm.subarray(32, 64) };
}
