/**
 * The CAS wire protocol: request and answer shapes shared by the server routes and the client,
 * and the limits both sides apply. Every JSON object answer also carries `simulation`.
 */
import { createHash } from 'node:crypto';
import type { Platform } from '../tee/index.ts';
import type { ChannelRole, SecretType } from './policy-types.ts';

/** The DNS name in every CAS TLS certificate; clients require it (no service may carry it). */
export const CAS_TLS_NAME = 'cas.securecloud.internal';

/** Largest request body, in bytes. */
export const MAX_BODY_BYTES = 1 << 20;
/** Largest evidence, in bytes (decoded). */
export const MAX_EVIDENCE_BYTES = 64 << 10;
/** Seconds a nonce stays valid. */
export const NONCE_TTL_SECONDS = 60;
/** Most audit entries in one `GET /v1/audit` answer; clients page with `from`. */
export const MAX_AUDIT_PAGE = 10_000;
/** Default seconds an instance lease lasts without a heartbeat. */
export const DEFAULT_LEASE_SECONDS = 60;

/** `GET /v1/status`. */
export interface CasStatus {
  readonly policy: { readonly name: string; readonly hash: string; readonly version: number } | null;
  readonly services: Readonly<Record<string, { readonly instances: number }>>;
  readonly simulation: boolean;
  readonly platform: Platform;
  readonly measurement: string;
  readonly auditHead: { readonly seq: number; readonly hash: string };
  /** SPKI PEM of the Ed25519 key that signs the audit log. */
  readonly auditPublicKey: string;
}

/** `GET /v1/evidence?nonce=HEX`: the CAS's own evidence. */
export interface CasEvidenceAnswer {
  /** Base64. */
  readonly evidence: string;
  readonly platform: Platform;
  readonly measurement: string;
  readonly simulation: boolean;
}

/** One signature of a policy document by a user. */
export interface PolicySignature {
  readonly user: string;
  /** Base64 (see `signPolicy`). */
  readonly signature: string;
}

/** `POST /v1/policy` answer and `GET /v1/policy/history` entries. */
export interface PolicyRecord {
  readonly hash: string;
  readonly name: string;
  readonly predecessor: string | null;
  readonly appliedAt: string;
  readonly signers: readonly string[];
  /** 1 for the first policy applied. */
  readonly version: number;
}

/** A secret as handed out: its type and every field (see `secretField`). */
export interface SecretGrant {
  readonly type: SecretType;
  readonly fields: Readonly<Record<string, string>>;
}

/** `POST /v1/attest/nonce` answer. */
export interface NonceAnswer {
  /** 32 bytes, hex. */
  readonly nonce: string;
  readonly expiresAt: string;
}

/** `POST /v1/attest` request (wire form). */
export interface AttestRequestWire {
  readonly service: string;
  readonly nonce: string;
  /** Base64. */
  readonly evidence: string;
  /** SPKI PEM of the service's fresh P-256 key. */
  readonly publicKey: string;
  /** Collateral files by name, base64. */
  readonly collateral?: Readonly<Record<string, string>>;
}

/** `POST /v1/attest` answer. */
export interface AttestGrant {
  readonly instanceId: string;
  /** PEM of the service certificate issued by the CAS CA. */
  readonly certificate: string;
  /** PEM of the CAS root CA. */
  readonly caCertificate: string;
  readonly secrets: Readonly<Record<string, SecretGrant>>;
  readonly env: Readonly<Record<string, string>>;
  readonly files: Readonly<Record<string, string>>;
  readonly args: readonly string[];
  readonly leaseSeconds: number;
  readonly simulation: boolean;
}

/** `PUT /v1/instances/ID/curve-key` request. */
export interface CurveKeyRequest {
  /** Z85 CURVE public key (40 characters). */
  readonly publicKey: string;
}

/** One admitted key of a channel. */
export interface ChannelKeyEntry {
  /** Z85 CURVE public key. */
  readonly publicKey: string;
  readonly service: string;
  readonly instanceId: string;
  /** The roles the policy grants the service on the channel. */
  readonly roles: readonly ChannelRole[];
}

/** `GET /v1/channels/NAME/keys` answer: the keys of the channel's live instances. */
export interface ChannelKeysAnswer {
  readonly channel: string;
  readonly keys: readonly ChannelKeyEntry[];
}

/** The body of every error answer. */
export interface ErrorAnswer {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly refusal?: string;
    readonly path?: string;
  };
}

/**
 * The report data that binds a key to a nonce: SHA-256(SPKI DER of the key ‖ nonce bytes) followed
 * by 32 zero bytes (64 bytes in all). Services put it in their evidence; the CAS checks it, and
 * `cas verify` checks the CAS's own evidence the same way against the CAS's TLS key.
 */
export function bindingReportData(spkiDer: Uint8Array, nonce: Uint8Array): Buffer {
  const digest = createHash('sha256').update(spkiDer).update(nonce).digest();
  return Buffer.concat([digest, Buffer.alloc(32)]);
}
