/**
 * The attestation decision: from a service's request to a grant (certificate, secrets, rendered
 * configuration) or a refusal with its code, in the protocol's order. Auditing and metrics are the
 * caller's (cas-service.ts).
 */
import { createPublicKey, type KeyObject, randomBytes } from 'node:crypto';
import {
  type Collateral,
  classifyCollateral,
  type EvidenceVerifierSet,
  isTeeError,
  mergeCollateral,
  TCB_STATUSES,
  type VerificationResult,
} from '../tee/index.ts';
import { appraise } from './appraise.ts';
import type { CasCa } from './ca.ts';
import { type AttestationRefusal, CasError } from './errors.ts';
import type { InstanceLeases } from './instance-leases.ts';
import type { NonceStore } from './nonce-store.ts';
import type { Policy, ServicePolicy } from './policy-types.ts';
import { type AttestGrant, bindingReportData, MAX_EVIDENCE_BYTES, type SecretGrant } from './protocol.ts';
import { type SecretValue, secretField, secretFields } from './secrets.ts';
import { renderTemplate, type TemplateContext } from './template.ts';

/** What a service sends, decoded. */
export interface AttestInput {
  readonly service: string;
  /** Hex of the nonce from `createNonce`. */
  readonly nonce: string;
  readonly evidence: Uint8Array;
  /** SPKI PEM of the service's fresh P-256 key. */
  readonly publicKey: string;
  /** Collateral files by name (Intel DCAP or AMD SEV-SNP). */
  readonly collateral?: Readonly<Record<string, Uint8Array>>;
}

/** What the decision reads. */
export interface AttestationContext {
  readonly policy: Policy | null;
  readonly ca: CasCa;
  readonly secrets: ReadonlyMap<string, SecretValue>;
  readonly verifiers: EvidenceVerifierSet;
  readonly nonces: NonceStore;
  readonly leases: InstanceLeases;
  readonly at: Date;
  readonly simulation: boolean;
  /** Receives the seconds spent in the TEE verifier. */
  readonly onVerified?: (seconds: number, platform: string) => void;
}

/** Non-secret facts about an attempt, for the audit log and the logs. */
export type AttemptFacts = Record<string, string | number | boolean | null>;

/** The outcome of {@link decideAttestation}. */
export type AttestationOutcome =
  | { readonly granted: true; readonly grant: AttestGrant; readonly facts: AttemptFacts }
  | {
      readonly granted: false;
      readonly refusal: AttestationRefusal;
      readonly message: string;
      readonly facts: AttemptFacts;
    };

/**
 * Decides an attestation: no-policy, service-unknown, nonce-unknown-or-replayed (the nonce is
 * consumed first), evidence-invalid, binding-mismatch, platform / simulation / debug / measurement /
 * TCB (see {@link appraise}), too-many-instances, secret-not-provided. A grant starts a lease.
 * Malformed input (key, sizes) is a CasError `ERR_BAD_REQUEST`, before any decision.
 */
export async function decideAttestation(
  ctx: AttestationContext,
  input: AttestInput,
): Promise<AttestationOutcome> {
  const publicKey = readPublicKey(input.publicKey);
  if (input.evidence.length === 0 || input.evidence.length > MAX_EVIDENCE_BYTES)
    throw new CasError('ERR_BAD_REQUEST', `evidence must be 1..${MAX_EVIDENCE_BYTES} bytes`);
  const facts: AttemptFacts = { service: input.service };
  const refuse = (refusal: AttestationRefusal, message: string): AttestationOutcome => ({
    granted: false,
    refusal,
    message,
    facts,
  });
  const policy = ctx.policy;
  if (policy === null) return refuse('no-policy', 'no policy has been applied to this CAS yet');
  const service = Object.hasOwn(policy.services, input.service) ? policy.services[input.service] : undefined;
  if (service === undefined) {
    return refuse(
      'service-unknown',
      `the policy in force ("${policy.name}") has no service "${input.service}"`,
    );
  }
  if (!ctx.nonces.consume(input.nonce, input.service)) {
    return refuse(
      'nonce-unknown-or-replayed',
      'the nonce was not issued for this service, was already used, or expired (60 s): ask for a new one',
    );
  }
  const verified = await verify(ctx, input);
  if ('invalid' in verified) return refuse('evidence-invalid', verified.invalid);
  const result = verified.result;
  Object.assign(facts, {
    platform: result.platform,
    measurement: result.measurement,
    debug: result.debug,
    tcbStatus: result.tcbStatus,
    simulation: result.simulation,
  });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const expected = bindingReportData(spki, Buffer.from(input.nonce, 'hex')).toString('hex');
  if (result.reportData.toLowerCase() !== expected) {
    return refuse(
      'binding-mismatch',
      `the report data ${result.reportData.slice(0, 16)}… is not SHA-256(publicKey SPKI ‖ nonce) ‖ 32 zero bytes (${expected.slice(0, 16)}…): the evidence was made for another key or nonce`,
    );
  }
  const verdict = appraise(service, result, input.service);
  if (verdict !== null) return refuse(verdict.refusal, verdict.message);
  const live = ctx.leases.count(input.service);
  if (live >= service.maxInstances) {
    return refuse(
      'too-many-instances',
      `${live} instance(s) of "${input.service}" hold live leases and services.${input.service}.maxInstances is ${service.maxInstances}; stop one (or let its lease expire) or raise maxInstances`,
    );
  }
  const missing = service.secrets.filter((name) => !ctx.secrets.has(name));
  if (missing.length > 0) {
    return refuse(
      'secret-not-provided',
      `user-provided secret(s) ${missing.join(', ')} granted to "${input.service}" have not been uploaded yet: run \`securecloud cas secret put NAME --from FILE --as KEY.pem\``,
    );
  }
  const grant = buildGrant(ctx, input.service, service, publicKey);
  ctx.leases.add(input.service, grant.instanceId);
  facts.instanceId = grant.instanceId;
  return { granted: true, grant, facts };
}

function readPublicKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new CasError('ERR_BAD_REQUEST', 'publicKey is not a public key in SPKI PEM form', {
      path: 'publicKey',
    });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new CasError('ERR_BAD_REQUEST', 'publicKey must be a P-256 key', { path: 'publicKey' });
  return key;
}

async function verify(
  ctx: AttestationContext,
  input: AttestInput,
): Promise<{ result: VerificationResult } | { invalid: string }> {
  const start = process.hrtime.bigint();
  let platform = 'unknown';
  try {
    const collateral: Collateral = mergeCollateral(
      Object.entries(input.collateral ?? {}).map(([name, bytes]) => classifyCollateral(bytes, name)),
    );
    // Authenticity only: the service policy judges TCB, debug and simulation, each with its own code.
    const result = await ctx.verifiers.verify(input.evidence, {
      at: ctx.at,
      collateral,
      acceptTcb: TCB_STATUSES,
      allowDebug: true,
      allowSimulation: true,
    });
    platform = result.platform;
    if (!result.accepted) {
      const r = result.refusal;
      return {
        invalid: `the ${result.platform} evidence is not genuine: [${r?.code}] ${r?.check}: ${r?.message}`,
      };
    }
    return { result };
  } catch (err) {
    if (!isTeeError(err)) throw err;
    return { invalid: `the evidence cannot be verified: [${err.code}] ${err.message}` };
  } finally {
    ctx.onVerified?.(Number(process.hrtime.bigint() - start) / 1e9, platform);
  }
}

function buildGrant(
  ctx: AttestationContext,
  name: string,
  service: ServicePolicy,
  publicKey: KeyObject,
): AttestGrant {
  const instanceId = randomBytes(16).toString('hex');
  const certificate = ctx.ca.issueServiceCertificate(name, instanceId, publicKey);
  const self: Record<string, string> = {
    name,
    instanceId,
    'certificate.pem': certificate,
    'caCertificate.pem': ctx.ca.rootPem,
  };
  const template: TemplateContext = {
    secret: (secret, field) => {
      const value = ctx.secrets.get(secret);
      if (value === undefined) throw new CasError('ERR_SECRET_UNKNOWN', `secret "${secret}" does not exist`);
      return secretField(value, field);
    },
    self: (field) => (Object.hasOwn(self, field) ? self[field] : undefined),
  };
  const at = `services.${name}`;
  const secrets: Record<string, SecretGrant> = {};
  for (const secret of service.secrets) {
    const value = ctx.secrets.get(secret);
    if (value !== undefined) secrets[secret] = { type: value.type, fields: secretFields(value) };
  }
  return {
    instanceId,
    certificate,
    caCertificate: ctx.ca.rootPem,
    secrets,
    env: mapValues(service.env, (k, v) => renderTemplate(v, template, `${at}.env.${k}`)),
    files: mapValues(service.files, (k, v) => renderTemplate(v, template, `${at}.files["${k}"]`)),
    args: service.args.map((v, i) => renderTemplate(v, template, `${at}.args[${i}]`)),
    leaseSeconds: ctx.leases.leaseSeconds,
    simulation: ctx.simulation,
  };
}

function mapValues(
  obj: Readonly<Record<string, string>>,
  fn: (key: string, value: string) => string,
): Record<string, string> {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, fn(k, v)]));
}
