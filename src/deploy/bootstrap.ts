/**
 * The steps of `securecloud up` before the services start and right after the CAS does: development
 * keys (owner, recovery), meter provisioning, recovery of a CAS state sealed by another build,
 * verification of the CAS's own evidence, the policy, the user-provided secrets.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  bindingReportData,
  type CasClient,
  createCasClient,
  generateRecoveryKeyPair,
  generateUserKey,
  isCasError,
} from '../cas/index.ts';
import { MDC_SECRETS } from '../metering/policy.ts';
import { createDefaultVerifierSet } from '../tee/index.ts';
import type { Deployment } from './deployment-file.ts';
import { deploymentPolicyText, isSamePolicy } from './deployment-policy.ts';
import { DeployError } from './errors.ts';
import { SECURECLOUD_BIN } from './managed-service.ts';
import type { DataLayout } from './service-specs.ts';

/** A progress line sink. */
export type Say = (line: string) => void;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function writeNew(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, text, { mode: 0o600, flag: 'wx' });
}

/**
 * Creates the development recovery key pair (once). The CAS wraps its state key to the public half,
 * so that `up` can take the state over after a code change. Production keeps the private half offline.
 */
export async function ensureRecoveryKey(l: DataLayout, say: Say): Promise<void> {
  if (await exists(l.recoveryKey)) return;
  const pair = generateRecoveryKeyPair('x25519');
  await writeNew(l.recoveryKey, pair.privatePem);
  await writeNew(l.recoveryPublicKey, pair.publicPem);
  say(
    `recovery key pair created in ${dirname(l.recoveryKey)} (development convenience: lets \`up\` recover the CAS state after a code change; in production keep the private key offline)`,
  );
}

/** Creates the owner's user key (once): the supervisor signs the policy and uploads secrets with it. */
export async function ensureOwnerKey(l: DataLayout, say: Say): Promise<string> {
  if (await exists(l.ownerKey)) return readFile(l.ownerKey, 'utf8');
  if (await exists(join(l.cas, 'state.sealed')))
    throw new DeployError(
      'ERR_OWNER_KEY',
      `${l.ownerKey} is missing but the CAS in ${l.cas} already has a policy that only its owner key can update: restore the key, or start from scratch with \`securecloud reset\``,
    );
  const key = generateUserKey('owner');
  await writeNew(l.ownerKey, key.pem);
  say(`owner key created: ${l.ownerKey} (signs the policy, uploads secrets; mode 0600)`);
  return key.pem;
}

/** Runs `securecloud ARGS…` to completion, appending stderr to `logFile`; rejects on a non-zero exit. */
export async function runOnce(
  args: readonly string[],
  logFile: string,
  onStderr?: (line: string) => void,
): Promise<string> {
  const log = await open(logFile, 'a', 0o600);
  try {
    return await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [SECURECLOUD_BIN, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let tail = '';
      child.stdout!.setEncoding('utf8').on('data', (c: string) => {
        out += c;
      });
      child.stderr!.setEncoding('utf8').on('data', (c: string) => {
        void log.write(c);
        tail = (tail + c).slice(-2000);
        for (const line of c.split('\n')) if (line.trim() !== '') onStderr?.(line);
      });
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        code === 0
          ? resolve(out)
          : reject(
              new Error(
                `securecloud ${args[0]} ${args[1] ?? ''} failed (${signal ?? `exit ${code}`}): ${tail.trim()}`,
              ),
            ),
      );
    });
  } finally {
    await log.close();
  }
}

/** What provisioning wrote (provision.json). */
export interface Provisioned {
  readonly count: number;
  readonly registrySha256: string;
}

/** Provisions the meters once (`securecloud meters provision`); later runs reuse them. */
export async function ensureMeters(d: Deployment, l: DataLayout, say: Say): Promise<Provisioned> {
  const file = join(l.meters, 'provision.json');
  if (!(await exists(file))) {
    say(`provisioning meters 0/${d.meters.count}`);
    await runOnce(
      ['meters', 'provision', '--count', String(d.meters.count), '--out', l.meters],
      join(l.logs, 'provision.log'),
      (line) => {
        const m = /^provisioned (\d+)\/(\d+) meters/.exec(line);
        if (m) say(`provisioning meters ${m[1]}/${m[2]}`);
      },
    );
  }
  const p = JSON.parse(await readFile(file, 'utf8')) as { count?: unknown; registrySha256?: unknown };
  if (typeof p.count !== 'number' || typeof p.registrySha256 !== 'string')
    throw new DeployError(
      'ERR_METERS',
      `${file} is not a provisioning record: remove ${l.meters} and run up again`,
    );
  if (p.count < d.meters.count)
    throw new DeployError(
      'ERR_METERS',
      `meters.count is ${d.meters.count} but ${l.meters} holds ${p.count} provisioned meters: lower meters.count, or \`securecloud reset\` to provision again (this erases the stored readings)`,
    );
  return { count: p.count, registrySha256: p.registrySha256 };
}

/** True when the CAS log (from `offset`) says its sealed state was made by another build. */
export async function casStateNeedsRecovery(logFile: string, offset: number): Promise<boolean> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const since = text.slice(offset);
  return since.includes('ERR_STATE_TAMPERED') && since.includes('does not unseal');
}

/**
 * Verifies the CAS's own evidence (bound to its TLS key and our nonce) and, unless null, its measurement.
 */
export async function verifyCas(
  url: string,
  rootPem: string,
  expectedMeasurement: string | null,
  simulation: boolean,
): Promise<{ platform: string; simulation: boolean; measurement: string }> {
  const client = createCasClient({ url, rootPem });
  const nonce = randomBytes(32);
  try {
    const own = await client.evidence(nonce.toString('hex'));
    const result = await createDefaultVerifierSet().verify(own.evidence, {
      at: new Date(),
      allowSimulation: simulation,
    });
    const refuse = (why: string): never => {
      throw new DeployError('ERR_SERVICE_START', `the CAS at ${url} failed verification: ${why}`);
    };
    if (!result.accepted) refuse(`[${result.refusal?.code}] ${result.refusal?.message}`);
    if (result.reportData !== bindingReportData(own.peerSpki, nonce).toString('hex'))
      refuse("its evidence does not bind this TLS connection's key and our nonce");
    if (expectedMeasurement !== null && result.measurement !== expectedMeasurement)
      refuse(`measurement ${result.measurement}, expected ${expectedMeasurement} (the code in src/)`);
    return { platform: own.platform, simulation: own.simulation, measurement: result.measurement };
  } finally {
    client.close();
  }
}

/** What {@link applyPolicyAndSecrets} did. */
export interface PolicyOutcome {
  readonly hash: string;
  readonly changed: boolean;
  /** The MDC audit token (read-only API of the MDCs). Never printed. */
  readonly auditToken: string;
}

/**
 * Applies the deployment's policy when it differs from the one in force (signed by the owner, with
 * the right predecessor), then uploads the user-provided secrets of the MDC.
 */
export async function applyPolicyAndSecrets(o: {
  url: string;
  rootPem: string;
  ownerKeyPem: string;
  policy: Record<string, unknown>;
  layout: DataLayout;
  provisioned: Provisioned;
  sign: (text: string) => string;
}): Promise<PolicyOutcome> {
  const cas = createCasClient({ url: o.url, rootPem: o.rootPem, userKeyPem: o.ownerKeyPem });
  try {
    const status = await cas.status();
    let hash = status.policy?.hash ?? null;
    let changed = false;
    let same = false;
    if (hash !== null) {
      const current = await cas.policy().catch((err: unknown) => {
        if (isCasError(err) && (err.code === 'ERR_UNAUTHORIZED' || err.code === 'ERR_FORBIDDEN'))
          throw new DeployError(
            'ERR_OWNER_KEY',
            `the CAS does not know the owner key ${o.layout.ownerKey} (${err.message}): restore the owner key of this CAS, or \`securecloud reset\``,
          );
        throw err;
      });
      same = isSamePolicy(current.text, o.policy);
    }
    if (!same) {
      const text = deploymentPolicyText(o.policy, hash);
      const record = await cas.applyPolicy(text, [{ user: 'owner', signature: o.sign(text) }]);
      await writeFile(o.layout.policy, text, { mode: 0o600 });
      hash = record.hash;
      changed = true;
    }
    await cas.putSecret(MDC_SECRETS.identity, await readFile(join(o.layout.meters, 'mdc.key')));
    await cas.putSecret(MDC_SECRETS.registryDigest, Buffer.from(o.provisioned.registrySha256, 'utf8'));
    const token = (await cas.getSecret(MDC_SECRETS.auditToken)).fields.value;
    if (token === undefined) throw new DeployError('ERR_OWNER_KEY', 'the CAS handed out no auditToken value');
    return { hash: hash!, changed, auditToken: token };
  } finally {
    cas.close();
  }
}

/** Reads the MDC audit token from the CAS with the owner key (for `status`). */
export async function readAuditToken(url: string, rootPem: string, ownerKeyPem: string): Promise<string> {
  const cas: CasClient = createCasClient({ url, rootPem, userKeyPem: ownerKeyPem, timeoutMs: 3000 });
  try {
    return (await cas.getSecret(MDC_SECRETS.auditToken)).fields.value ?? '';
  } finally {
    cas.close();
  }
}
