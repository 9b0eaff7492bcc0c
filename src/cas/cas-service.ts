/**
 * The CAS in process, independent of HTTP: sealed state, the policy in force, users, secrets,
 * nonces, instance leases, attestation decisions, audit. The server, the CLI, tests and the
 * benchmark all drive this class.
 */
import { createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDefaultVerifierSet, type EvidenceVerifierSet, type TeeBackend } from '../tee/index.ts';
import { createMetricsRegistry, type MetricsRegistry } from '../platform/metrics.ts';
import { type AttestInput, decideAttestation } from './attestation.ts';
import { type AuditEntry, type AuditEntryInput, AuditLog } from './audit-log.ts';
import { serviceIdentityOf } from './ca.ts';
import { type CasLogger, silentLogger } from './cas-log.ts';
import { type CasMetrics, createCasMetrics } from './cas-metrics.ts';
import { CasState } from './cas-state.ts';
import { CasError } from './errors.ts';
import { InstanceLeases } from './instance-leases.ts';
import { NonceStore } from './nonce-store.ts';
import { findUserByPublicKey, permissionsOf } from './policy.ts';
import type { Permission } from './policy-types.ts';
import { checkPolicyUpdate, reconcileSecrets } from './policy-update.ts';
import {
  type AttestGrant,
  bindingReportData,
  CAS_TLS_NAME,
  type CasStatus,
  DEFAULT_LEASE_SECONDS,
  NONCE_TTL_SECONDS,
  type NonceAnswer,
  type PolicyRecord,
  type PolicySignature,
  type SecretGrant,
} from './protocol.ts';
import { createUserProvidedSecret, secretFields } from './secrets.ts';
import { StateStore } from './state-store.ts';

export type { AttestInput } from './attestation.ts';

/** Options of {@link CasService.open}. */
export interface CasServiceOptions {
  /** The data directory: sealed state, audit log, `root.pem`. */
  readonly dataDir: string;
  /** The CAS's own TEE backend: its sealer protects the state, its evidence identifies the CAS. */
  readonly backend: TeeBackend;
  /** The CAS's own measurement (shown in status). */
  readonly measurement: string;
  /** Verifiers of service evidence. Default: `createDefaultVerifierSet()`. */
  readonly verifiers?: EvidenceVerifierSet;
  /** The clock (verification time, nonces, leases). Default: the system clock. */
  readonly now?: () => Date;
  readonly logger?: CasLogger;
  /** Where the CAS metrics are registered. Default: a registry of its own. */
  readonly metrics?: MetricsRegistry;
  /** Recovery public keys (X25519 or P-256) the state key is wrapped to. */
  readonly recoveryPublicKeys?: readonly KeyObject[];
  /** Host names / IP addresses for the CAS TLS certificate, besides `cas.securecloud.internal`. */
  readonly tlsNames?: readonly string[];
  readonly leaseSeconds?: number;
  readonly maxNonces?: number;
}

/** A user request's identity: the SPKI (DER) of the TLS client certificate, or null. */
export type CallerKey = Uint8Array | null;

/** The in-process CAS. Create with {@link CasService.open}; call {@link close} when done. */
export class CasService {
  readonly dataDir: string;
  readonly simulation: boolean;
  readonly measurement: string;
  readonly metrics: CasMetrics;
  /** The registry holding {@link metrics} (served at `/metrics`). */
  readonly registry: MetricsRegistry;
  readonly #backend: TeeBackend;
  readonly #store: StateStore;
  readonly #state: CasState;
  readonly #audit: AuditLog;
  readonly #verifiers: EvidenceVerifierSet;
  readonly #now: () => Date;
  readonly #log: CasLogger;
  readonly #nonces: NonceStore;
  readonly #leases: InstanceLeases;
  readonly #tls: { certPem: string; spki: Buffer };
  readonly #root: X509Certificate;
  #lock: Promise<unknown> = Promise.resolve();
  #dirty = false;
  #flushing: Promise<void> | null = null;
  #closed = false;

  private constructor(o: CasServiceOptions, store: StateStore, state: CasState, audit: AuditLog) {
    this.dataDir = o.dataDir;
    this.simulation = o.backend.simulation;
    this.measurement = o.measurement;
    this.#backend = o.backend;
    this.#store = store;
    this.#state = state;
    this.#audit = audit;
    this.#verifiers = o.verifiers ?? createDefaultVerifierSet();
    this.#now = o.now ?? (() => new Date());
    this.#log = o.logger ?? silentLogger;
    const clock = () => this.#now().getTime();
    this.#nonces = new NonceStore({ ttlMs: NONCE_TTL_SECONDS * 1000, max: o.maxNonces, now: clock });
    this.#leases = new InstanceLeases({ leaseMs: (o.leaseSeconds ?? DEFAULT_LEASE_SECONDS) * 1000, now: clock });
    const tlsPublic = createPublicKey(state.tlsKey());
    const names = [...new Set([CAS_TLS_NAME, 'localhost', '127.0.0.1', ...(o.tlsNames ?? [])])];
    this.#tls = {
      certPem: state.ca.issueTlsCertificate(names, tlsPublic, 397),
      spki: tlsPublic.export({ type: 'spki', format: 'der' }),
    };
    this.#root = new X509Certificate(state.ca.rootPem);
    this.registry = o.metrics ?? createMetricsRegistry();
    this.metrics = createCasMetrics(this.registry);
    this.metrics.simulation.set({}, this.simulation ? 1 : 0);
    this.registry.onCollect(() => this.#collect());
  }

  /**
   * Opens the CAS in `dataDir`: unseals the state (or creates it: CA, keys), verifies the audit log
   * against the sealed head, writes `root.pem`, and records a `start` entry.
   *
   * @throws CasError ERR_STATE_TAMPERED (state does not unseal), ERR_AUDIT_TAMPERED (log altered).
   */
  static async open(options: CasServiceOptions): Promise<CasService> {
    const sealer = await options.backend.sealer();
    const store = await StateStore.open(options.dataDir, sealer, {
      recoveryPublicKeys: options.recoveryPublicKeys,
    });
    const saved = await store.load();
    const state = saved === null ? CasState.create() : CasState.fromJson(saved);
    if (saved === null) await store.save(state.toJson());
    const audit = await AuditLog.open(join(options.dataDir, 'audit.log'), state.auditKeys(), state.auditHead);
    await writeFile(join(options.dataDir, 'root.pem'), state.ca.rootPem, { mode: 0o644 });
    const cas = new CasService(options, store, state, audit);
    await cas.#record({
      kind: 'start',
      actor: 'cas',
      outcome: 'ok',
      detail: { measurement: options.measurement, simulation: cas.simulation, platform: options.backend.platform },
    });
    return cas;
  }

  /** PEM of the CAS root CA (what clients pin). */
  get rootPem(): string {
    return this.#state.ca.rootPem;
  }

  /** The TLS certificate and key of the CAS endpoint. The key never leaves the process otherwise. */
  tlsCredentials(): { certPem: string; keyPem: string; chainPem: string } {
    return {
      certPem: this.#tls.certPem,
      keyPem: this.#state.tlsKey().export({ type: 'pkcs8', format: 'pem' }) as string,
      chainPem: `${this.#tls.certPem}${this.#state.ca.rootPem}`,
    };
  }

  /** The CAS's own evidence for `nonce` (64 hex digits), bound to its TLS key. */
  async ownEvidence(nonce: string): Promise<{ evidence: Uint8Array; platform: string; measurement: string }> {
    if (typeof nonce !== 'string' || !/^[0-9a-fA-F]{64}$/.test(nonce))
      throw new CasError('ERR_BAD_REQUEST', 'nonce must be 32 bytes in hex (64 digits)', { path: 'nonce' });
    const evidence = await this.#backend.getEvidence(bindingReportData(this.#tls.spki, Buffer.from(nonce, 'hex')));
    return { evidence, platform: this.#backend.platform, measurement: this.measurement };
  }

  /** Public status: the policy in force, live instances, audit head. */
  status(): CasStatus {
    const policy = this.#state.current;
    const last = this.#state.policies.at(-1);
    const counts = this.#leases.counts();
    return {
      policy:
        policy && last ? { name: policy.name, hash: last.hash, version: this.#state.policies.length } : null,
      services: Object.fromEntries(Object.keys(policy?.services ?? {}).map((s) => [s, { instances: counts[s] ?? 0 }])),
      simulation: this.simulation,
      platform: this.#backend.platform,
      measurement: this.measurement,
      auditHead: this.#audit.head(),
      auditPublicKey: this.#state.auditKeys().verify.export({ type: 'spki', format: 'pem' }) as string,
    };
  }

  /** Applies a new policy (see the update rules in policy-update.ts). Audited, granted or refused. */
  applyPolicy(text: string, signatures: readonly PolicySignature[]): Promise<PolicyRecord> {
    return this.#exclusive(async () => {
      const last = this.#state.policies.at(-1);
      const inForce = this.#state.current && last ? { policy: this.#state.current, hash: last.hash } : null;
      let update: ReturnType<typeof checkPolicyUpdate>;
      try {
        update = checkPolicyUpdate(inForce, text, signatures);
      } catch (err) {
        if (err instanceof CasError) {
          this.metrics.policyUpdates.inc({ result: 'refused' });
          await this.#record({ kind: 'policy', actor: signers(signatures), outcome: 'refused', reason: err.code });
        }
        throw err;
      }
      const entry = {
        text,
        hash: update.hash,
        name: update.policy.name,
        predecessor: update.policy.predecessor,
        appliedAt: this.#now().toISOString(),
        signers: update.signers,
      };
      const before = { policies: this.#state.policies, current: this.#state.current, secrets: this.#state.secrets };
      this.#state.secrets = reconcileSecrets(update.policy, this.#state.secrets, this.#state.ca);
      this.#state.policies = [...this.#state.policies, entry];
      this.#state.current = update.policy;
      try {
        await this.#save();
      } catch (err) {
        Object.assign(this.#state, before);
        throw err;
      }
      this.#leases.retain(new Set(Object.keys(update.policy.services)));
      this.metrics.policyUpdates.inc({ result: 'ok' });
      const version = this.#state.policies.length;
      const detail = { hash: update.hash, name: update.policy.name, predecessor: update.policy.predecessor, version };
      await this.#record({ kind: 'policy', actor: update.signers.join(','), outcome: 'ok', detail });
      this.#log.log('info', 'policy applied', { ...detail, signers: update.signers.join(',') });
      return { ...detail, appliedAt: entry.appliedAt, signers: update.signers };
    });
  }

  /** The policy in force (user with any role). */
  policyInForce(caller: CallerKey): { text: string; hash: string } {
    this.#authorize(caller, null);
    const last = this.#state.policies.at(-1)!;
    return { text: last.text, hash: last.hash };
  }

  /** Every policy applied, oldest first (user with any role). */
  policyHistory(caller: CallerKey): PolicyRecord[] {
    this.#authorize(caller, null);
    return this.#state.policies.map((p, i) => ({
      hash: p.hash,
      name: p.name,
      predecessor: p.predecessor,
      appliedAt: p.appliedAt,
      signers: p.signers,
      version: i + 1,
    }));
  }

  /** Uploads a user-provided secret (write-secret). */
  putSecret(caller: CallerKey, name: string, value: Uint8Array): Promise<void> {
    return this.#exclusive(async () => {
      const user = this.#authorize(caller, 'write-secret');
      const spec = this.#secretSpec(name);
      if (spec.type !== 'user-provided') {
        this.metrics.secretOperations.inc({ operation: 'write', result: 'refused' });
        throw new CasError(
          'ERR_SECRET_NOT_WRITABLE',
          `secret "${name}" is ${spec.type}: the CAS generates it; only user-provided secrets are uploaded`,
        );
      }
      const before = this.#state.secrets;
      this.#state.secrets = new Map(before).set(name, createUserProvidedSecret(name, value));
      try {
        await this.#save();
      } catch (err) {
        this.#state.secrets = before;
        throw err;
      }
      this.metrics.secretOperations.inc({ operation: 'write', result: 'ok' });
      await this.#record({ kind: 'secret-write', actor: user, outcome: 'ok', detail: { name, bytes: value.length } });
    });
  }

  /** Reads a generated secret (read-secret). Never user-provided ones. */
  async getSecret(caller: CallerKey, name: string): Promise<{ name: string } & SecretGrant> {
    const user = this.#authorize(caller, 'read-secret');
    const spec = this.#secretSpec(name);
    if (spec.type === 'user-provided') {
      this.metrics.secretOperations.inc({ operation: 'read', result: 'refused' });
      throw new CasError('ERR_SECRET_NOT_READABLE', `secret "${name}" is user-provided: it is write-only`);
    }
    const secret = this.#state.secrets.get(name);
    if (secret === undefined) throw new CasError('ERR_SECRET_UNKNOWN', `secret "${name}" has no value`);
    await this.#record({ kind: 'secret-read', actor: user, outcome: 'ok', detail: { name } });
    this.metrics.secretOperations.inc({ operation: 'read', result: 'ok' });
    return { name, type: secret.type, fields: secretFields(secret) };
  }

  /** Audit entries from `from` (read-audit). */
  async auditEntries(caller: CallerKey, from = 1): Promise<AuditEntry[]> {
    this.#authorize(caller, 'read-audit');
    const out: AuditEntry[] = [];
    for await (const e of this.#audit.entries({ from })) out.push(e);
    return out;
  }

  /** A single-use nonce for `service` (60 s). */
  createNonce(service: string): NonceAnswer {
    const { nonce, expiresAt } = this.#nonces.issue(service);
    return { nonce, expiresAt: expiresAt.toISOString() };
  }

  /**
   * Attests a service instance. Granted: certificate, secrets, rendered env/files/args. Refused:
   * CasError ERR_ATTESTATION_REFUSED with `refusal`. Every attempt is audited and counted.
   */
  async attest(input: AttestInput): Promise<AttestGrant> {
    const stop = this.metrics.attestationSeconds.startTimer();
    const outcome = await decideAttestation(
      {
        policy: this.#state.current,
        ca: this.#state.ca,
        secrets: this.#state.secrets,
        verifiers: this.#verifiers,
        nonces: this.#nonces,
        leases: this.#leases,
        at: this.#now(),
        simulation: this.simulation,
        onVerified: (s, platform) => this.metrics.verificationSeconds.observe({ platform }, s),
      },
      input,
    );
    const known = this.#state.current && Object.hasOwn(this.#state.current.services, input.service);
    const service = known ? input.service : '(unknown)';
    if (!outcome.granted) {
      this.#state.counters.refused++;
      stop({ result: 'refused' });
      this.metrics.attestations.inc({ result: 'refused', reason: outcome.refusal, service });
      const detail = { ...outcome.facts, message: outcome.message };
      this.#log.log('warn', 'attestation refused', { refusal: outcome.refusal, ...detail });
      await this.#record({ kind: 'attestation', actor: service, outcome: 'refused', reason: outcome.refusal, detail });
      throw new CasError('ERR_ATTESTATION_REFUSED', outcome.message, { refusal: outcome.refusal });
    }
    try {
      await this.#record({ kind: 'attestation', actor: service, outcome: 'granted', detail: outcome.facts });
    } catch (err) {
      this.#leases.release(outcome.grant.instanceId, input.service);
      throw err;
    }
    this.#state.counters.granted++;
    stop({ result: 'granted' });
    this.metrics.attestations.inc({ result: 'granted', reason: 'none', service });
    this.#log.log('info', 'attestation granted', outcome.facts);
    return outcome.grant;
  }

  /** Renews the lease of the instance whose CAS-issued certificate the caller presented. */
  heartbeat(certificate: X509Certificate | null, instanceId: string): { leaseSeconds: number } {
    const { service } = this.#instanceOf(certificate, instanceId);
    if (!this.#leases.renew(instanceId, service)) {
      throw new CasError(
        'ERR_NOT_FOUND',
        `instance ${instanceId} of "${service}" has no live lease (expired, released, or the CAS restarted): attest again`,
      );
    }
    return { leaseSeconds: this.#leases.leaseSeconds };
  }

  /** Ends the lease of the caller's instance. */
  release(certificate: X509Certificate | null, instanceId: string): void {
    const { service } = this.#instanceOf(certificate, instanceId);
    if (!this.#leases.release(instanceId, service))
      throw new CasError('ERR_NOT_FOUND', `instance ${instanceId} of "${service}" has no live lease`);
  }

  #collect(): void {
    this.metrics.instances.reset();
    const counts = this.#leases.counts();
    for (const service of Object.keys(this.#state.current?.services ?? {}))
      this.metrics.instances.set({ service }, counts[service] ?? 0);
    this.metrics.nonces.set({}, this.#nonces.size);
    this.metrics.policyVersion.reset();
    if (this.#state.current)
      this.metrics.policyVersion.set({ name: this.#state.current.name }, this.#state.policies.length);
  }

  /** Saves the state (audit head, counters) and closes the audit log and the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#lock.catch(() => undefined);
    await this.#audit.close();
    await this.#flushing;
    await this.#save();
    await this.#store.close();
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new CasError('ERR_INTERNAL', 'the CAS is closing'));
    const run = this.#lock.then(fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  async #save(): Promise<void> {
    this.#state.auditHead = this.#audit.head();
    await this.#store.save(this.#state.toJson());
  }

  /**
   * Appends to the audit log, then saves the new head in the background: at most one save runs and
   * one more follows for everything appended meanwhile. The log may run ahead of the sealed head
   * (the log's own chain still covers those entries); close() saves the final head.
   */
  async #record(entry: AuditEntryInput): Promise<void> {
    await this.#audit.append(entry);
    this.#dirty = true;
    if (this.#flushing !== null || this.#closed) return;
    this.#flushing = (async () => {
      while (this.#dirty && !this.#closed) {
        this.#dirty = false;
        await this.#save();
      }
    })()
      .catch((err) => this.#log.log('error', 'cannot save the audit head', { error: String(err) }))
      .finally(() => {
        this.#flushing = null;
      });
  }

  #authorize(caller: CallerKey, permission: Permission | null): string {
    const policy = this.#state.current;
    if (policy === null) throw new CasError('ERR_UNAUTHORIZED', 'no policy is in force, so there are no users yet');
    if (caller === null) {
      throw new CasError(
        'ERR_UNAUTHORIZED',
        'this request needs a user certificate (mutual TLS): pass --as KEY.pem with a key listed in the policy',
      );
    }
    const user = findUserByPublicKey(policy, caller);
    if (user === null)
      throw new CasError('ERR_UNAUTHORIZED', `the client certificate is not one of the users of policy "${policy.name}"`);
    if (permission !== null && !permissionsOf(policy, user).has(permission)) {
      throw new CasError('ERR_FORBIDDEN', `user "${user}" has no role that allows ${permission}`);
    }
    return user;
  }

  #secretSpec(name: string) {
    const secrets = this.#state.current?.secrets ?? {};
    const spec = Object.hasOwn(secrets, name) ? secrets[name] : undefined;
    if (spec === undefined) throw new CasError('ERR_SECRET_UNKNOWN', `the policy in force has no secret "${name}"`);
    return spec;
  }

  #instanceOf(certificate: X509Certificate | null, instanceId: string): { service: string } {
    if (certificate === null)
      throw new CasError('ERR_UNAUTHORIZED', 'present the instance certificate the CAS issued (mutual TLS)');
    const root = this.#root;
    const now = this.#now().getTime();
    const valid =
      certificate.checkIssued(root) &&
      certificate.verify(root.publicKey) &&
      Date.parse(certificate.validFrom) <= now &&
      now <= Date.parse(certificate.validTo);
    const identity = valid ? serviceIdentityOf(certificate) : null;
    if (identity === null) throw new CasError('ERR_UNAUTHORIZED', 'the client certificate is not a valid CAS-issued instance certificate');
    if (identity.instanceId !== instanceId)
      throw new CasError('ERR_FORBIDDEN', `the certificate is for instance ${identity.instanceId}, not ${instanceId}`);
    return identity;
  }
}

function signers(signatures: readonly PolicySignature[]): string {
  const names = signatures.map((s) => String(s?.user)).filter((u) => u.length <= 64);
  return names.length > 0 ? names.join(',').slice(0, 512) : '(unsigned)';
}
