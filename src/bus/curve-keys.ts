/**
 * CURVE key pairs and the service's bus identity. CurveZMQ keys are plain X25519 keys (32 bytes),
 * written in Z85 (ZeroMQ RFC 32); we make them with freshRawKeyPair and only encode them here.
 */
import { inspect } from 'node:util';
import { serviceUri } from '../cas/index.ts';
import { freshRawKeyPair } from '../crypto/index.ts';
import type { AttestedService } from '../platform/index.ts';
import { BusError } from './errors.ts';
import type { BusCredential, BusIdentity } from './transport.ts';

const Z85_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const Z85_VALUES = new Map([...Z85_ALPHABET].map((c, i) => [c, i]));
/** A Z85-encoded 32-byte CURVE key: 40 characters of the Z85 alphabet. */
export const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

/** Encodes bytes (a multiple of 4 long) as Z85. */
export function z85Encode(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw new TypeError('Z85 encodes a multiple of 4 bytes');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let value = view.getUint32(i);
    let chunk = '';
    for (let j = 0; j < 5; j++) {
      chunk = Z85_ALPHABET[value % 85] + chunk;
      value = Math.floor(value / 85);
    }
    out += chunk;
  }
  return out;
}

/** Decodes Z85 text (a multiple of 5 characters); undefined when it is not valid Z85. */
export function z85Decode(text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length % 5 !== 0) return undefined;
  const out = new Uint8Array((text.length / 5) * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < text.length; i += 5) {
    let value = 0;
    for (let j = 0; j < 5; j++) {
      const digit = Z85_VALUES.get(text[i + j]!);
      if (digit === undefined) return undefined;
      value = value * 85 + digit;
    }
    if (value > 0xffffffff) return undefined;
    view.setUint32((i / 5) * 4, value);
  }
  return out;
}

/** True when `value` is a Z85-encoded 32-byte key. */
export function isCurveKey(value: unknown): value is string {
  return typeof value === 'string' && Z85_KEY.test(value) && z85Decode(value) !== undefined;
}

/** A CURVE key pair in Z85. Treat `secretKey` as a secret: keep it in a private field. */
export interface CurveKeyPair {
  readonly publicKey: string;
  readonly secretKey: string;
}

/** Makes a fresh X25519 key pair for CurveZMQ (raw bytes from src/crypto, no key objects). */
export function generateCurveKeyPair(): CurveKeyPair {
  const { publicRaw, privateRaw } = freshRawKeyPair('x25519');
  try {
    return { publicKey: z85Encode(publicRaw), secretKey: z85Encode(privateRaw) };
  } finally {
    privateRaw.fill(0);
  }
}

/**
 * A bus identity held in memory: the secret key lives in a private field, and printing the object
 * shows only the service, instance and public key.
 */
export class CurveBusIdentity implements BusIdentity {
  readonly service: string;
  readonly publicKey: string;
  readonly credential: BusCredential;
  #secretKey: string | undefined;

  constructor(service: string, keyPair: CurveKeyPair, credential: BusCredential) {
    if (!isCurveKey(keyPair.publicKey) || !isCurveKey(keyPair.secretKey))
      throw new TypeError('a CURVE key pair is two Z85 keys of 40 characters');
    this.service = service;
    this.publicKey = keyPair.publicKey;
    this.credential = credential;
    this.#secretKey = keyPair.secretKey;
  }

  useSecretKey<T>(use: (secretKeyZ85: string) => T): T {
    if (this.#secretKey === undefined)
      throw new BusError('ERR_BUS_CLOSED', `the bus identity of "${this.service}" was destroyed`);
    return use(this.#secretKey);
  }

  destroy(): void {
    // JS strings cannot be zeroed; dropping the only reference is what we can do.
    this.#secretKey = undefined;
  }

  toJSON(): Record<string, unknown> {
    return {
      service: this.service,
      instanceId: this.credential.instanceId,
      publicKey: this.publicKey,
      simulation: this.credential.simulation,
    };
  }

  [inspect.custom](): string {
    const sim = this.credential.simulation ? ' SIMULATION' : '';
    return `BusIdentity { ${this.service}/${this.credential.instanceId} ${this.publicKey}${sim} }`;
  }
}

/** The CAS call {@link createBusIdentity} needs: a client authenticated with the instance's certificate. */
export interface CurveKeyRegistrar {
  putCurveKey(instanceId: string, publicKey: string, options?: { signal?: AbortSignal }): Promise<unknown>;
}

/**
 * Creates the service's CURVE key pair and records its public key at the CAS against the attested
 * instance (`PUT /v1/instances/ID/curve-key`, mTLS with the instance certificate), which binds the
 * key to the attestation: peers' key directories list it only while the instance's lease is alive.
 *
 * @example
 * const service = await startService({ name: 'mdc', casUrl, casRootPem, tee });
 * const cas = createCasClient({ url: casUrl, rootPem: casRootPem, clientCert: instanceCert(service) });
 * const identity = await createBusIdentity(service, cas);
 */
export async function createBusIdentity(
  attested: AttestedService,
  cas: CurveKeyRegistrar,
  options: { signal?: AbortSignal } = {},
): Promise<CurveBusIdentity> {
  const keyPair = generateCurveKeyPair();
  await cas.putCurveKey(attested.instanceId, keyPair.publicKey, options);
  return new CurveBusIdentity(attested.name, keyPair, {
    certificatePem: attested.certificatePem,
    serviceUri: serviceUri(attested.name, attested.instanceId),
    instanceId: attested.instanceId,
    simulation: attested.simulation,
  });
}

/** The instance's certificate and key, for `createCasClient({ clientCert })`. */
export function instanceClientCert(attested: AttestedService): { certPem: string; keyPem: string } {
  const tls = attested.tlsOptions();
  if (typeof tls.key !== 'string')
    throw new TypeError('the attested service has no PEM key in its TLS options');
  return { certPem: attested.certificatePem, keyPem: tls.key };
}
