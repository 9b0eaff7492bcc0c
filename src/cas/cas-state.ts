/**
 * The CAS's sealed state: CA, audit and TLS keys, the policy history, the secrets, the audit head
 * and counters. Only {@link CasState.toJson} exposes key material, for `StateStore.save`.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { type FreshKeyType, freshKeyPair } from '../crypto/index.ts';
import { CasCa } from './ca.ts';
import { CasError } from './errors.ts';
import { parsePolicy } from './policy.ts';
import type { Policy } from './policy-types.ts';
import type { PolicyRecord } from './protocol.ts';
import { deserializeSecret, type SecretValue, serializeSecret } from './secrets.ts';

/** One applied policy. */
export interface PolicyEntry {
  readonly text: string;
  readonly hash: string;
  readonly name: string;
  readonly predecessor: string | null;
  readonly appliedAt: string;
  readonly signers: readonly string[];
}

/** Head of the audit log (sequence number and hash of the last entry). */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

/** Lifetime counters. */
export interface CasCounters {
  granted: number;
  refused: number;
}

/** The in-memory state of a CAS. */
export class CasState {
  readonly ca: CasCa;
  readonly #auditKey: KeyObject;
  readonly #tlsKey: KeyObject;
  policies: PolicyEntry[];
  /** The parsed policy in force (the last entry), or null. */
  current: Policy | null;
  secrets: Map<string, SecretValue>;
  auditHead: AuditHead | null;
  readonly counters: CasCounters;

  private constructor(
    ca: CasCa,
    keys: { audit: KeyObject; tls: KeyObject },
    policies: PolicyEntry[],
    secrets: Map<string, SecretValue>,
    auditHead: AuditHead | null,
    counters: CasCounters,
  ) {
    this.ca = ca;
    this.#auditKey = keys.audit;
    this.#tlsKey = keys.tls;
    this.policies = policies;
    const last = policies.at(-1);
    this.current = last === undefined ? null : parsePolicy(last.text);
    this.secrets = secrets;
    this.auditHead = auditHead;
    this.counters = counters;
  }

  /** A fresh state: new CA, audit key (Ed25519) and TLS key (P-256); no policy. */
  static create(): CasState {
    return new CasState(
      CasCa.create(),
      {
        audit: freshPrivateKey('ed25519'),
        tls: freshPrivateKey('p256'),
      },
      [],
      new Map(),
      null,
      { granted: 0, refused: 0 },
    );
  }

  /** Restores {@link toJson}. Throws CasError `ERR_STATE_TAMPERED` when the shape is wrong. */
  static fromJson(j: unknown): CasState {
    const o = j as Record<string, unknown> | null;
    const bad = (what: string) => new CasError('ERR_STATE_TAMPERED', `sealed state: ${what} is malformed`);
    if (o === null || typeof o !== 'object' || o.version !== 1) throw bad('the state (version)');
    const audit = readKey(o.auditKey, 'ed25519', bad('the audit key'));
    const tls = readKey(o.tlsKey, 'ec', bad('the TLS key'));
    if (!Array.isArray(o.policies) || !o.policies.every(isPolicyEntry)) throw bad('the policy history');
    const secrets = new Map<string, SecretValue>();
    if (o.secrets === null || typeof o.secrets !== 'object') throw bad('the secrets');
    for (const [name, value] of Object.entries(o.secrets)) secrets.set(name, deserializeSecret(value));
    const head = o.auditHead as AuditHead | null;
    if (head !== null && !(Number.isInteger(head?.seq) && typeof head?.hash === 'string'))
      throw bad('the audit head');
    const c = o.counters as CasCounters | undefined;
    if (!Number.isInteger(c?.granted) || !Number.isInteger(c?.refused)) throw bad('the counters');
    return new CasState(CasCa.fromJson(o.ca), { audit, tls }, o.policies, secrets, head, {
      granted: c!.granted,
      refused: c!.refused,
    });
  }

  /** The policy in force with its hash, or null. */
  inForce(): { policy: Policy; hash: string } | null {
    const last = this.policies.at(-1);
    return this.current && last ? { policy: this.current, hash: last.hash } : null;
  }

  /** Every policy applied, oldest first, without the texts. */
  history(): PolicyRecord[] {
    return this.policies.map(({ text: _, ...p }, i) => ({ ...p, version: i + 1 }));
  }

  /**
   * Makes `policy` (text `entry`) the policy in force with `secrets`; returns a function that undoes
   * it (when saving fails).
   */
  adoptPolicy(entry: PolicyEntry, policy: Policy, secrets: Map<string, SecretValue>): () => void {
    const before = { policies: this.policies, current: this.current, secrets: this.secrets };
    this.policies = [...this.policies, entry];
    this.current = policy;
    this.secrets = secrets;
    return () => Object.assign(this, before);
  }

  /** Stores `secret` (replacing one of the same name); returns a function that undoes it. */
  storeSecret(secret: SecretValue): () => void {
    const before = this.secrets;
    this.secrets = new Map(before).set(secret.name, secret);
    return () => {
      this.secrets = before;
    };
  }

  /** The plain form for the sealed state: holds every private key and secret value. */
  toJson(): unknown {
    return {
      version: 1,
      ca: this.ca.toJson(),
      auditKey: this.#auditKey.export({ type: 'pkcs8', format: 'pem' }),
      tlsKey: this.#tlsKey.export({ type: 'pkcs8', format: 'pem' }),
      policies: this.policies,
      secrets: Object.fromEntries([...this.secrets].map(([name, s]) => [name, serializeSecret(s)])),
      auditHead: this.auditHead,
      counters: this.counters,
    };
  }

  /** The audit log signing key pair. */
  auditKeys(): { sign: KeyObject; verify: KeyObject } {
    return { sign: this.#auditKey, verify: createPublicKey(this.#auditKey) };
  }

  /** The CAS's TLS private key. */
  tlsKey(): KeyObject {
    return this.#tlsKey;
  }
}

function readKey(value: unknown, type: 'ed25519' | 'ec', error: CasError): KeyObject {
  if (typeof value !== 'string') throw error;
  let key: KeyObject;
  try {
    key = createPrivateKey(value);
  } catch {
    throw error;
  }
  if (key.asymmetricKeyType !== type) throw error;
  return key;
}

function isPolicyEntry(value: unknown): value is PolicyEntry {
  const e = value as Partial<PolicyEntry> | null;
  return (
    e !== null &&
    typeof e === 'object' &&
    typeof e.text === 'string' &&
    typeof e.hash === 'string' &&
    typeof e.name === 'string' &&
    (e.predecessor === null || typeof e.predecessor === 'string') &&
    typeof e.appliedAt === 'string' &&
    Array.isArray(e.signers) &&
    e.signers.every((s) => typeof s === 'string')
  );
}

/** The private key object of a fresh pair (its raw copy wiped: the state serializes the key object). */
function freshPrivateKey(type: FreshKeyType): KeyObject {
  const { privateKey, privateRaw } = freshKeyPair(type);
  privateRaw.fill(0);
  return privateKey;
}
