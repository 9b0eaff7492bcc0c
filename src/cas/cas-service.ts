/**
 * The CAS in process, independent of HTTP: sealed state, the policy in force, users, secrets,
 * nonces, instance leases, attestation decisions, audit. The server, the CLI, tests and the
 * benchmark all drive this class.
 */
import { createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { createMetricsRegistry, type MetricsRegistry } from '../platform/metrics.ts';
import { createDefaultVerifierSet, type EvidenceVerifierSet, type TeeBackend } from '../tee/index.ts';
import { type AttestInput, decideAttestation } from './attestation.ts';
import type { AuditEntry } from './audit-log.ts';
import { BusKeyRegistry, listChannelKeys, recordCurveKey } from './bus-keys.ts';
import { type CasLogger, silentLogger } from './cas-log.ts';
import { type CasMetrics, collectCasGauges, createCasMetrics } from './cas-metrics.ts';
import {
  CasPersistence,
  type OfflineAuditResult,
  recoverCasState,
  verifyAuditOffline,
} from './cas-persistence.ts';
import type { CasState } from './cas-state.ts';
import { CasError } from './errors.ts';
import { InstanceLeases } from './instance-leases.ts';
import { NonceStore } from './nonce-store.ts';
import { checkPolicyUpdate, reconcileSecrets } from './policy-update.ts';
import {
  type AttestGrant,
  bindingReportData,
  CAS_TLS_NAME,
  type CasStatus,
  type ChannelKeysAnswer,
  DEFAULT_LEASE_SECONDS,
  MAX_AUDIT_PAGE,
  NONCE_TTL_SECONDS,
  type NonceAnswer,
  type PolicyRecord,
  type PolicySignature,
  type SecretGrant,
} from './protocol.ts';
import { createUserProvidedSecret, secretFields } from './secrets.ts';
import { authorizeUser, instanceServiceOf, secretSpecOf } from './user-access.ts';

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
  readonly #disk: CasPersistence;
  readonly #state: CasState;
  readonly #verifiers: EvidenceVerifierSet;
  readonly #now: () => Date;
  readonly #log: CasLogger;
  readonly #nonces: NonceStore;
  readonly #leases: InstanceLeases;
  readonly #tls: { certPem: string; spki: Buffer };
  readonly #root: X509Certificate;
  readonly #busKeys = new BusKeyRegistry();

  private constructor(o: CasServiceOptions, disk: CasPersistence) {
    const state = disk.state;
    this.dataDir = o.dataDir;
    this.simulation = o.backend.simulation;
    this.measurement = o.measurement;
    this.#backend = o.backend;
    this.#disk = disk;
    this.#state = state;
    this.#verifiers = o.verifiers ?? createDefaultVerifierSet();
    this.#now = o.now ?? (() => new Date());
    this.#log = o.logger ?? silentLogger;
    const clock = () => this.#now().getTime();
    this.#nonces = new NonceStore({ ttlMs: NONCE_TTL_SECONDS * 1000, max: o.maxNonces, now: clock });
    this.#leases = new InstanceLeases({
      leaseMs: (o.leaseSeconds ?? DEFAULT_LEASE_SECONDS) * 1000,
      now: clock,
    });
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
    this.registry.onCollect(() =>
      collectCasGauges(this.metrics, {
        services: Object.keys(this.#state.current?.services ?? {}),
        counts: this.#leases.counts(),
        nonces: this.#nonces.size,
        policy: this.#state.current && {
          name: this.#state.current.name,
          version: this.#state.policies.length,
        },
      }),
    );
  }

  /**
   * Opens the CAS in `dataDir`: unseals the state (or creates it: CA, keys), verifies the audit log
   * against the sealed head, writes `root.pem`, and records a `start` entry.
   *
   * @throws CasError ERR_STATE_TAMPERED (state does not unseal), ERR_AUDIT_TAMPERED (log altered).
   */
  static async open(options: CasServiceOptions): Promise<CasService> {
    const log = options.logger ?? silentLogger;
    const disk = await CasPersistence.open(options.dataDir, options.backend, log, options.recoveryPublicKeys);
    const cas = new CasService(options, disk);
    await disk.record({
      kind: 'start',
      actor: 'cas',
      outcome: 'ok',
      detail: {
        measurement: options.measurement,
        simulation: cas.simulation,
        platform: options.backend.platform,
      },
    });
    return cas;
  }

  /** See {@link verifyAuditOffline}. */
  static verifyAuditOffline(dataDir: string, backend: TeeBackend): Promise<OfflineAuditResult> {
    return verifyAuditOffline(dataDir, backend);
  }

  /** See {@link recoverCasState}. */
  static recover(dataDir: string, backend: TeeBackend, recoveryPrivateKey: KeyObject): Promise<void> {
    return recoverCasState(dataDir, backend, recoveryPrivateKey);
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
    const evidence = await this.#backend.getEvidence(
      bindingReportData(this.#tls.spki, Buffer.from(nonce, 'hex')),
    );
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
      services: Object.fromEntries(
        Object.keys(policy?.services ?? {}).map((s) => [s, { instances: counts[s] ?? 0 }]),
      ),
      simulation: this.simulation,
      platform: this.#backend.platform,
      measurement: this.measurement,
      auditHead: this.#disk.head(),
      auditPublicKey: this.#state.auditKeys().verify.export({ type: 'spki', format: 'pem' }) as string,
    };
  }

  /** Applies a new policy (see the update rules in policy-update.ts). Audited, granted or refused. */
  applyPolicy(text: string, signatures: readonly PolicySignature[]): Promise<PolicyRecord> {
    return this.#disk.exclusive(async () => {
      const inForce = this.#state.inForce();
      let update: ReturnType<typeof checkPolicyUpdate>;
      try {
        update = checkPolicyUpdate(inForce, text, signatures);
      } catch (err) {
        if (err instanceof CasError) {
          this.metrics.policyUpdates.inc({ result: 'refused' });
          await this.#disk.record({
            kind: 'policy',
            actor: signerNames(signatures),
            outcome: 'refused',
            reason: err.code,
          });
        }
        throw err;
      }
      const appliedAt = this.#now().toISOString();
      const { policy, hash } = update;
      const { signers } = update;
      const entry = { text, hash, name: policy.name, predecessor: policy.predecessor, appliedAt, signers };
      const secrets = reconcileSecrets(policy, this.#state.secrets, this.#state.ca);
      const undo = this.#state.adoptPolicy(entry, policy, secrets);
      await this.#disk.save().catch((err) => {
        undo();
        throw err;
      });
      this.#leases.retain(new Set(Object.keys(update.policy.services)));
      this.metrics.policyUpdates.inc({ result: 'ok' });
      const detail = {
        hash,
        name: policy.name,
        predecessor: policy.predecessor,
        version: this.#state.policies.length,
      };
      await this.#disk.record({ kind: 'policy', actor: signers.join(','), outcome: 'ok', detail });
      this.#log.log('info', 'policy applied', { ...detail, signers: signers.join(',') });
      return { ...detail, appliedAt, signers };
    });
  }

  /** The policy in force (user with any role). */
  policyInForce(caller: CallerKey): { text: string; hash: string } {
    authorizeUser(this.#state.current, caller, null);
    const last = this.#state.policies.at(-1)!;
    return { text: last.text, hash: last.hash };
  }

  /** Every policy applied, oldest first (user with any role). */
  policyHistory(caller: CallerKey): PolicyRecord[] {
    authorizeUser(this.#state.current, caller, null);
    return this.#state.history();
  }

  /** Uploads a user-provided secret (write-secret). */
  putSecret(caller: CallerKey, name: string, value: Uint8Array): Promise<void> {
    return this.#disk.exclusive(async () => {
      const user = authorizeUser(this.#state.current, caller, 'write-secret');
      const spec = secretSpecOf(this.#state.current, name);
      if (spec.type !== 'user-provided') {
        this.metrics.secretOperations.inc({ operation: 'write', result: 'refused' });
        throw new CasError(
          'ERR_SECRET_NOT_WRITABLE',
          `secret "${name}" is ${spec.type}: the CAS generates it; only user-provided secrets are uploaded`,
        );
      }
      const undo = this.#state.storeSecret(createUserProvidedSecret(name, value));
      await this.#disk.save().catch((err) => {
        undo();
        throw err;
      });
      this.metrics.secretOperations.inc({ operation: 'write', result: 'ok' });
      await this.#disk.record({
        kind: 'secret-write',
        actor: user,
        outcome: 'ok',
        detail: { name, bytes: value.length },
      });
    });
  }

  /** Reads a generated secret (read-secret). Never user-provided ones. */
  async getSecret(caller: CallerKey, name: string): Promise<{ name: string } & SecretGrant> {
    const user = authorizeUser(this.#state.current, caller, 'read-secret');
    const spec = secretSpecOf(this.#state.current, name);
    if (spec.type === 'user-provided') {
      this.metrics.secretOperations.inc({ operation: 'read', result: 'refused' });
      throw new CasError('ERR_SECRET_NOT_READABLE', `secret "${name}" is user-provided: it is write-only`);
    }
    const secret = this.#state.secrets.get(name);
    if (secret === undefined) throw new CasError('ERR_SECRET_UNKNOWN', `secret "${name}" has no value`);
    await this.#disk.record({ kind: 'secret-read', actor: user, outcome: 'ok', detail: { name } });
    this.metrics.secretOperations.inc({ operation: 'read', result: 'ok' });
    return { name, type: secret.type, fields: secretFields(secret) };
  }

  /** At most `limit` (default and maximum {@link MAX_AUDIT_PAGE}) audit entries from `from` (read-audit). */
  async auditEntries(caller: CallerKey, from = 1, limit = MAX_AUDIT_PAGE): Promise<AuditEntry[]> {
    authorizeUser(this.#state.current, caller, 'read-audit');
    return this.#disk.entries(from, Math.min(limit, MAX_AUDIT_PAGE));
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
      await this.#disk.record({
        kind: 'attestation',
        actor: service,
        outcome: 'refused',
        reason: outcome.refusal,
        detail,
      });
      throw new CasError('ERR_ATTESTATION_REFUSED', outcome.message, { refusal: outcome.refusal });
    }
    try {
      await this.#disk.record({
        kind: 'attestation',
        actor: service,
        outcome: 'granted',
        detail: outcome.facts,
      });
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
    const service = instanceServiceOf(certificate, this.#root, this.#now().getTime(), instanceId);
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
    const service = instanceServiceOf(certificate, this.#root, this.#now().getTime(), instanceId);
    if (!this.#leases.release(instanceId, service))
      throw new CasError('ERR_NOT_FOUND', `instance ${instanceId} of "${service}" has no live lease`);
  }

  /** Records the caller instance's CURVE public key for the secure bus (audited). See bus-keys.ts. */
  async putCurveKey(
    certificate: X509Certificate | null,
    instanceId: string,
    publicKey: string,
  ): Promise<void> {
    const record = recordCurveKey(this.#busContext(), certificate, instanceId, publicKey);
    await this.#disk.record({ kind: 'bus-key', actor: record.service, outcome: 'ok', detail: { ...record } });
    this.#log.log('info', 'bus key recorded', { ...record });
  }

  /** The CURVE keys of `channel`'s live instances, for a live instance of a service on it. */
  channelKeys(certificate: X509Certificate | null, channel: string): ChannelKeysAnswer {
    return listChannelKeys(this.#busContext(), certificate, channel);
  }

  #busContext() {
    const now = this.#now().getTime();
    return { policy: this.#state.current, root: this.#root, now, leases: this.#leases, keys: this.#busKeys };
  }

  /** Saves the state (audit head, counters) and closes the audit log and the store. */
  close(): Promise<void> {
    return this.#disk.close();
  }
}

function signerNames(signatures: readonly PolicySignature[]): string {
  const names = signatures.map((s) => String(s?.user)).filter((u) => u.length <= 64);
  return names.length > 0 ? names.join(',').slice(0, 512) : '(unsigned)';
}
