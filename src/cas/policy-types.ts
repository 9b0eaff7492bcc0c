import type { Platform, TcbStatus } from '../tee/index.ts';

/** What a role may do. */
export type Permission = 'update-policy' | 'write-secret' | 'read-secret' | 'read-audit';
export const PERMISSIONS = [
  'update-policy',
  'write-secret',
  'read-secret',
  'read-audit',
] as const satisfies readonly Permission[];

/** The secret kinds the CAS generates or stores. */
export type SecretType = 'symmetric-key' | 'password' | 'key-pair' | 'certificate' | 'user-provided';

export type SecretSpec =
  | { readonly type: 'symmetric-key'; readonly bits: 128 | 192 | 256 }
  | { readonly type: 'password'; readonly length: number }
  | { readonly type: 'key-pair'; readonly algorithm: 'ed25519' | 'x25519' | 'p256' }
  | { readonly type: 'certificate'; readonly dnsNames: readonly string[]; readonly validDays: number }
  | { readonly type: 'user-provided' };

/** One way a service's evidence may be accepted (any one entry of `accept` may match). */
export type AcceptEntry =
  | { readonly measurement: string }
  | { readonly signer: string; readonly productId: number; readonly minSvn: number };

export interface ServicePolicy {
  readonly accept: readonly AcceptEntry[];
  readonly platforms: readonly Platform[];
  readonly allowSimulation: boolean;
  readonly allowDebug: boolean;
  readonly tcb: { readonly accept: readonly TcbStatus[]; readonly advisories: readonly string[] };
  readonly maxInstances: number;
  /** Templates (`{{ secrets.NAME.FIELD }}`, `{{ self.FIELD }}`) rendered at attestation. */
  readonly env: Readonly<Record<string, string>>;
  readonly files: Readonly<Record<string, string>>;
  readonly args: readonly string[];
  /** Secrets this service may receive: those its templates name, plus `secrets` listed here. */
  readonly secrets: readonly string[];
}

export interface UserPolicy {
  /** PEM of the user's certificate (its public key identifies the user). */
  readonly certificate: string;
  readonly roles: readonly string[];
}

/**
 * What a service may do on a bus channel: `publisher` (publish, push), `subscriber` (subscribe,
 * pull), `requester` (request, dealer), `replier` (reply, router).
 */
export type ChannelRole = 'publisher' | 'subscriber' | 'requester' | 'replier';
export const CHANNEL_ROLES = [
  'publisher',
  'subscriber',
  'requester',
  'replier',
] as const satisfies readonly ChannelRole[];

/** A bus channel: the services holding each role (`members` in the document grants every role). */
export interface ChannelPolicy {
  readonly publishers: readonly string[];
  readonly subscribers: readonly string[];
  readonly requesters: readonly string[];
  readonly repliers: readonly string[];
}

/** A validated policy document. */
export interface Policy {
  readonly version: 1;
  readonly name: string;
  /** SHA-256 (hex) of the policy this one replaces; null for the first. */
  readonly predecessor: string | null;
  /** Signatures of distinct `update-policy` users required to replace this policy. Default 1. */
  readonly updateThreshold: number;
  readonly users: Readonly<Record<string, UserPolicy>>;
  readonly roles: Readonly<Record<string, { readonly can: readonly Permission[] }>>;
  readonly services: Readonly<Record<string, ServicePolicy>>;
  readonly secrets: Readonly<Record<string, SecretSpec>>;
  /** Bus channels and the services allowed on each (`{}` when the document has none). */
  readonly channels: Readonly<Record<string, ChannelPolicy>>;
}
